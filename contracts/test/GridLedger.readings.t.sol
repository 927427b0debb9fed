// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {LedgerTestBase} from "./utils/LedgerTestBase.sol";

contract GridLedgerReadingsTest is LedgerTestBase {
    uint32 internal constant M = 7;

    function setUp() public {
        _deploy(false);
        _register(M, Mode.Postpaid);
    }

    function _structHash(Reading memory r) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(keccak256("Reading(uint32 meterId,uint64 wh,uint32 timestamp)"), r.meterId, r.wh, r.timestamp)
        );
    }

    function _digestFor(uint256 chainId, address verifying, Reading memory r) internal pure returns (bytes32) {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("GridLedger"),
                keccak256("1"),
                chainId,
                verifying
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, _structHash(r)));
    }

    function _expectReject(Reading memory r, bytes memory sig, bytes memory err) internal {
        vm.expectRevert(err);
        gl.submitReading(r, sig);
    }

    // ------------------------------------------------------------ single readings

    function test_SubmitReading_UpdatesRegisterAndEmits() public {
        skip(60);
        Reading memory r = _reading(M, 250, uint32(vm.getBlockTimestamp()));
        bytes memory sig = _sign(meterKey, r);
        vm.expectEmit(address(gl));
        emit ReadingAccepted(M, 250, uint32(vm.getBlockTimestamp()));
        vm.prank(relayer);
        gl.submitReading(r, sig);
        MeterInfo memory info = gl.meter(M);
        assertEq(info.lastWh, 250);
        assertEq(info.lastTimestamp, vm.getBlockTimestamp());
    }

    function test_SubmitReading_AcceptsCompactSignature() public {
        skip(60);
        Reading memory r = _reading(M, 10, uint32(vm.getBlockTimestamp()));
        SignedReading memory sr = _signCompact(meterKey, r);
        gl.submitReading(r, abi.encodePacked(sr.r, sr.vs));
        assertEq(gl.meter(M).lastWh, 10);
    }

    function test_SubmitReading_DigestMatchesEip712() public view {
        Reading memory r = _reading(M, 123, uint32(vm.getBlockTimestamp()));
        assertEq(gl.readingDigest(r), _digestFor(block.chainid, address(gl), r));
        assertEq(gl.READING_TYPEHASH(), keccak256("Reading(uint32 meterId,uint64 wh,uint32 timestamp)"));
    }

    function test_SubmitReading_AcceptsSmallFutureSkew() public {
        Reading memory r = _reading(M, 1, uint32(vm.getBlockTimestamp() + SKEW));
        gl.submitReading(r, _sign(meterKey, r));
        assertEq(gl.meter(M).lastTimestamp, vm.getBlockTimestamp() + SKEW);
    }

    function test_RevertWhen_MeterUnknown() public {
        Reading memory r = _reading(99, 1, uint32(vm.getBlockTimestamp()));
        _expectReject(r, _sign(meterKey, r), abi.encodeWithSelector(UnknownMeter.selector, 99));
    }

    function test_RevertWhen_RegisterOutOfRange() public {
        skip(1 days);
        Reading memory r = _reading(M, uint64(1) << 40, uint32(vm.getBlockTimestamp()));
        _expectReject(r, _sign(meterKey, r), abi.encodeWithSelector(RegisterOutOfRange.selector, M, uint64(1) << 40));
    }

    function test_RevertWhen_ReadingInFuture() public {
        Reading memory r = _reading(M, 1, uint32(vm.getBlockTimestamp() + SKEW + 1));
        _expectReject(
            r,
            _sign(meterKey, r),
            abi.encodeWithSelector(FutureReading.selector, M, r.timestamp, vm.getBlockTimestamp())
        );
    }

    function test_RevertWhen_ReadingReplayed() public {
        skip(60);
        Reading memory r = _reading(M, 5, uint32(vm.getBlockTimestamp()));
        bytes memory sig = _sign(meterKey, r);
        gl.submitReading(r, sig);
        _expectReject(r, sig, abi.encodeWithSelector(StaleReading.selector, M, r.timestamp, r.timestamp));
    }

    function test_RevertWhen_ReadingOlderThanLast() public {
        skip(60);
        _read(M, 5);
        Reading memory r = _reading(M, 6, uint32(vm.getBlockTimestamp() - 1));
        _expectReject(
            r, _sign(meterKey, r), abi.encodeWithSelector(StaleReading.selector, M, r.timestamp, vm.getBlockTimestamp())
        );
    }

    function test_RevertWhen_RegisterDecreases() public {
        skip(60);
        _read(M, 50);
        skip(60);
        Reading memory r = _reading(M, 49, uint32(vm.getBlockTimestamp()));
        _expectReject(r, _sign(meterKey, r), abi.encodeWithSelector(RegisterDecreased.selector, M, 49, 50));
    }

    function test_RevertWhen_PowerImplausible() public {
        skip(3600);
        // 20,001 Wh in one hour is 20,001 W, one watt above the rating.
        Reading memory r = _reading(M, 20_001, uint32(vm.getBlockTimestamp()));
        _expectReject(r, _sign(meterKey, r), abi.encodeWithSelector(ImplausiblePower.selector, M, 20_001, MAX_POWER));
    }

    function test_SubmitReading_AcceptsRatedPower() public {
        skip(3600);
        _read(M, 20_000);
        assertEq(gl.meter(M).lastWh, 20_000);
    }

    function test_RevertWhen_SignedByOtherKey() public {
        skip(60);
        Reading memory r = _reading(M, 5, uint32(vm.getBlockTimestamp()));
        _expectReject(r, _sign(0xBAD, r), abi.encodeWithSelector(InvalidSignature.selector, M, vm.addr(0xBAD)));
    }

    function test_RevertWhen_SignatureHighS() public {
        skip(60);
        Reading memory r = _reading(M, 5, uint32(vm.getBlockTimestamp()));
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(meterKey, gl.readingDigest(r));
        bytes memory malleated =
            abi.encodePacked(rr, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        // The twin recovers the same signer with ecrecover; the ledger rejects it.
        assertEq(ecrecover(gl.readingDigest(r), v == 27 ? 28 : 27, rr, bytes32(SECP256K1_N - uint256(s))), meterSigner);
        _expectReject(r, malleated, abi.encodeWithSelector(InvalidSignature.selector, M, address(0)));
    }

    function test_RevertWhen_SignedForOtherChain() public {
        skip(60);
        Reading memory r = _reading(M, 5, uint32(vm.getBlockTimestamp()));
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(meterKey, _digestFor(block.chainid + 1, address(gl), r));
        vm.expectPartialRevert(InvalidSignature.selector);
        gl.submitReading(r, abi.encodePacked(rr, s, v));
    }

    function test_RevertWhen_SignedForOtherContract() public {
        skip(60);
        Reading memory r = _reading(M, 5, uint32(vm.getBlockTimestamp()));
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(meterKey, _digestFor(block.chainid, address(0xBEEF), r));
        vm.expectPartialRevert(InvalidSignature.selector);
        gl.submitReading(r, abi.encodePacked(rr, s, v));
    }

    function test_RevertWhen_SignedForOtherChainAfterFork() public {
        skip(60);
        Reading memory r = _reading(M, 5, uint32(vm.getBlockTimestamp()));
        bytes memory sig = _sign(meterKey, r);
        vm.chainId(block.chainid + 1);
        vm.expectPartialRevert(InvalidSignature.selector);
        gl.submitReading(r, sig);
    }

    function test_RevertWhen_SignatureMalformed() public {
        skip(60);
        Reading memory r = _reading(M, 5, uint32(vm.getBlockTimestamp()));
        _expectReject(r, hex"0102", abi.encodeWithSelector(InvalidSignature.selector, M, address(0)));
    }

    function test_RevertWhen_ReadingWhilePaused() public {
        vm.prank(admin);
        gl.pause();
        skip(60);
        Reading memory r = _reading(M, 5, uint32(vm.getBlockTimestamp()));
        _expectReject(r, _sign(meterKey, r), abi.encodeWithSelector(Pausable.EnforcedPause.selector));
    }

    function test_SetMeterSigner_RotatesAttestationKey() public {
        vm.prank(admin);
        gl.setMeterSigner(M, vm.addr(0xB0B));
        skip(60);
        Reading memory r = _reading(M, 5, uint32(vm.getBlockTimestamp()));
        _expectReject(r, _sign(meterKey, r), abi.encodeWithSelector(InvalidSignature.selector, M, meterSigner));
        gl.submitReading(r, _sign(0xB0B, r));
        assertEq(gl.meter(M).signer, vm.addr(0xB0B));
    }

    // ------------------------------------------------------------ batches

    function test_SubmitReadings_SkipsBadEntries() public {
        _register(8, Mode.Postpaid);
        skip(60);
        uint32 ts = uint32(vm.getBlockTimestamp());
        SignedReading[] memory batch = new SignedReading[](4);
        batch[0] = _signCompact(meterKey, _reading(M, 10, ts));
        batch[1] = _signCompact(0xBAD, _reading(8, 10, ts));
        batch[2] = _signCompact(meterKey, _reading(M, 20, ts)); // replay of M at the same time
        batch[3] = _signCompact(meterKey, _reading(8, 11, ts));
        vm.expectEmit(address(gl));
        emit ReadingAccepted(M, 10, ts);
        vm.expectEmit(address(gl));
        emit ReadingRejected(8, InvalidSignature.selector);
        vm.expectEmit(address(gl));
        emit ReadingRejected(M, StaleReading.selector);
        vm.expectEmit(address(gl));
        emit ReadingAccepted(8, 11, ts);
        assertEq(gl.submitReadings(batch), 2);
        assertEq(gl.meter(M).lastWh, 10);
        assertEq(gl.meter(8).lastWh, 11);
    }

    function test_SubmitReadings_RejectsEveryKind() public {
        skip(3600);
        uint32 ts = uint32(vm.getBlockTimestamp());
        SignedReading[] memory batch = new SignedReading[](5);
        batch[0] = _signCompact(meterKey, _reading(99, 1, ts));
        batch[1] = _signCompact(meterKey, _reading(M, uint64(1) << 40, ts));
        batch[2] = _signCompact(meterKey, _reading(M, 1, ts + SKEW + 1));
        batch[3] = _signCompact(meterKey, _reading(M, 20_001, ts));
        batch[4] = _signCompact(meterKey, _reading(M, 1, uint32(T0 - 1)));
        bytes4[5] memory reasons = [
            UnknownMeter.selector,
            RegisterOutOfRange.selector,
            FutureReading.selector,
            ImplausiblePower.selector,
            StaleReading.selector
        ];
        for (uint256 i; i < 5; ++i) {
            vm.expectEmit(address(gl));
            emit ReadingRejected(batch[i].reading.meterId, reasons[i]);
        }
        assertEq(gl.submitReadings(batch), 0);
    }

    function test_SubmitReadings_RejectsDecrease() public {
        skip(60);
        _read(M, 50);
        skip(60);
        SignedReading[] memory batch = new SignedReading[](1);
        batch[0] = _signCompact(meterKey, _reading(M, 40, uint32(vm.getBlockTimestamp())));
        vm.expectEmit(address(gl));
        emit ReadingRejected(M, RegisterDecreased.selector);
        assertEq(gl.submitReadings(batch), 0);
    }

    function test_RevertWhen_BatchWhilePaused() public {
        vm.prank(admin);
        gl.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        gl.submitReadings(new SignedReading[](0));
    }

    function testFuzz_SubmitReading_AcceptedIffPlausible(uint256 dt, uint256 energy) public {
        dt = bound(dt, 1, 30 days);
        energy = bound(energy, 0, uint256(MAX_POWER) * dt / 3600 * 2 + 10);
        skip(dt);
        Reading memory r = _reading(M, uint64(energy), uint32(vm.getBlockTimestamp()));
        bytes memory sig = _sign(meterKey, r);
        if (energy * 3600 > uint256(MAX_POWER) * dt) {
            vm.expectPartialRevert(ImplausiblePower.selector);
            gl.submitReading(r, sig);
        } else {
            gl.submitReading(r, sig);
            assertEq(gl.meter(M).lastWh, energy);
        }
    }

    // ------------------------------------------------------------ feeders

    function _feederRead(uint32 feederId, uint256 key, uint64 wh) internal {
        FeederReading memory r = FeederReading(feederId, wh, uint32(vm.getBlockTimestamp()));
        gl.submitFeederReading(r, _signFeeder(key, r));
    }

    function test_SubmitFeederReading_FirstSetsBaseline() public {
        skip(60);
        _feederRead(FEEDER, feederKey, 1_000_000);
        assertEq(gl.feederPeriod(FEEDER, 1).feederWh, 0);
        FeederInfo memory f = gl.feeder(FEEDER);
        assertEq(f.lastWh, 1_000_000);
        assertEq(f.lastTimestamp, vm.getBlockTimestamp());
        skip(60);
        vm.expectEmit(address(gl));
        emit FeederReadingAccepted(FEEDER, 1, 1_000_500, uint32(vm.getBlockTimestamp()));
        _feederRead(FEEDER, feederKey, 1_000_500);
        assertEq(gl.feederPeriod(FEEDER, 1).feederWh, 500);
    }

    function test_SubmitFeederReading_CountsForParent() public {
        vm.prank(admin);
        gl.registerFeeder(2, vm.addr(0xF2), FEEDER, 100, FEEDER_POWER);
        skip(60);
        _feederRead(2, 0xF2, 100);
        skip(60);
        _feederRead(2, 0xF2, 400);
        assertEq(gl.feederPeriod(2, 1).feederWh, 300);
        assertEq(gl.feederPeriod(FEEDER, 1).childrenWh, 300);
    }

    /// @dev The running period shows its energy before any later reading stores it; a silent period stays empty; the
    /// energy since the last reading counts in the period of the reading that reports it; each is stored once.
    function test_FeederPeriod_RunningPeriodShownThenStoredOnce() public {
        vm.prank(admin);
        gl.registerFeeder(2, vm.addr(0xF2), FEEDER, 100, FEEDER_POWER);
        skip(60);
        _feederRead(2, 0xF2, 1000);
        skip(60);
        _feederRead(2, 0xF2, 1500);
        assertEq(gl.feederPeriod(2, 1).feederWh, 500);
        assertEq(gl.feederPeriod(FEEDER, 1).childrenWh, 500);
        // Silent through period 2; the first reading of period 3 reports 1000 Wh.
        vm.warp(T0 + 2 * PERIOD + 60);
        _feederRead(2, 0xF2, 2500);
        assertEq(gl.feederPeriod(2, 1).feederWh, 500);
        assertEq(gl.feederPeriod(2, 2).feederWh, 0);
        assertEq(gl.feederPeriod(2, 3).feederWh, 1000);
        skip(60);
        _feederRead(2, 0xF2, 2700);
        assertEq(gl.feederPeriod(2, 1).feederWh, 500);
        assertEq(gl.feederPeriod(2, 3).feederWh, 1200);
        assertEq(gl.feederPeriod(FEEDER, 1).childrenWh, 500);
        assertEq(gl.feederPeriod(FEEDER, 2).childrenWh, 0);
        assertEq(gl.feederPeriod(FEEDER, 3).childrenWh, 1200);
        // Period 4 stores period 3 and starts from nothing.
        vm.warp(T0 + 3 * PERIOD + 60);
        _feederRead(2, 0xF2, 2700);
        assertEq(gl.feederPeriod(2, 3).feederWh, 1200);
        assertEq(gl.feederPeriod(2, 4).feederWh, 0);
    }

    /// @dev A feeder silent since its period's readings: a loss check of that period sees its running energy.
    function test_CheckLoss_SeesSilentFeedersRunningPeriod() public {
        skip(60);
        _feederRead(FEEDER, feederKey, 0);
        skip(60);
        _feederRead(FEEDER, feederKey, 10_000);
        vm.warp(T0 + 2 * PERIOD + 60);
        assertEq(gl.feederPeriod(FEEDER, 1).feederWh, 10_000);
        vm.expectEmit(address(gl));
        emit LossChecked(FEEDER, 1, 10_000, 0);
        vm.expectEmit(address(gl));
        emit LossDetected(FEEDER, 1, 10_000, 0, 10_000);
        gl.checkLoss(FEEDER, 1);
        // Its next reading stores the same energy: the period keeps its figures and its check.
        _feederRead(FEEDER, feederKey, 10_000);
        FeederPeriod memory fp = gl.feederPeriod(FEEDER, 1);
        assertEq(fp.feederWh, 10_000);
        assertTrue(fp.checked);
        assertEq(gl.feederPeriod(FEEDER, 3).feederWh, 0);
    }

    function test_RevertWhen_FeederUnknown() public {
        FeederReading memory r = FeederReading(42, 1, uint32(vm.getBlockTimestamp()));
        bytes memory sig = _signFeeder(feederKey, r);
        vm.expectRevert(abi.encodeWithSelector(UnknownFeeder.selector, 42));
        gl.submitFeederReading(r, sig);
    }

    function test_RevertWhen_FeederReadingInFuture() public {
        FeederReading memory r = FeederReading(FEEDER, 1, uint32(vm.getBlockTimestamp() + SKEW + 1));
        bytes memory sig = _signFeeder(feederKey, r);
        vm.expectRevert(abi.encodeWithSelector(FutureReading.selector, FEEDER, r.timestamp, vm.getBlockTimestamp()));
        gl.submitFeederReading(r, sig);
    }

    function test_RevertWhen_FeederReadingStale() public {
        FeederReading memory r = FeederReading(FEEDER, 1, uint32(vm.getBlockTimestamp()));
        bytes memory sig = _signFeeder(feederKey, r);
        vm.expectRevert(abi.encodeWithSelector(StaleReading.selector, FEEDER, r.timestamp, vm.getBlockTimestamp()));
        gl.submitFeederReading(r, sig);
    }

    function test_RevertWhen_FeederRegisterDecreases() public {
        skip(60);
        _feederRead(FEEDER, feederKey, 10);
        skip(60);
        FeederReading memory r = FeederReading(FEEDER, 9, uint32(vm.getBlockTimestamp()));
        bytes memory sig = _signFeeder(feederKey, r);
        vm.expectRevert(abi.encodeWithSelector(RegisterDecreased.selector, FEEDER, 9, 10));
        gl.submitFeederReading(r, sig);
    }

    function test_RevertWhen_FeederSignatureWrong() public {
        skip(60);
        FeederReading memory r = FeederReading(FEEDER, 9, uint32(vm.getBlockTimestamp()));
        bytes memory sig = _signFeeder(0xBAD, r);
        vm.expectRevert(abi.encodeWithSelector(InvalidSignature.selector, FEEDER, vm.addr(0xBAD)));
        gl.submitFeederReading(r, sig);
    }

    function test_RevertWhen_FeederReadingWhilePaused() public {
        vm.prank(admin);
        gl.pause();
        skip(60);
        FeederReading memory r = FeederReading(FEEDER, 9, uint32(vm.getBlockTimestamp()));
        bytes memory sig = _signFeeder(feederKey, r);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        gl.submitFeederReading(r, sig);
    }

    /// @dev Feeder 1 measures 10 kWh in period 1; its meter reports 9 kWh (10 % loss, tolerance 5 %).
    function _lossyPeriod() internal {
        skip(60);
        _feederRead(FEEDER, feederKey, 0);
        _read(M, 0);
        skip(1800);
        _feederRead(FEEDER, feederKey, 10_000);
        _read(M, 9000);
        skip(PERIOD);
        _read(M, 9001); // closes the meter's period 1 into the feeder's children
    }

    function test_CheckLoss_EmitsLossDetectedAboveTolerance() public {
        _lossyPeriod();
        assertEq(gl.feederPeriod(FEEDER, 1).childrenWh, 9000);
        skip(PERIOD);
        vm.expectEmit(address(gl));
        emit LossChecked(FEEDER, 1, 10_000, 9000);
        vm.expectEmit(address(gl));
        emit LossDetected(FEEDER, 1, 10_000, 9000, 1000);
        gl.checkLoss(FEEDER, 1);
        assertTrue(gl.feederPeriod(FEEDER, 1).checked);
    }

    function test_CheckLoss_SilentWithinTolerance() public {
        vm.prank(admin);
        gl.updateFeeder(FEEDER, feederSigner, 1000);
        _lossyPeriod();
        skip(PERIOD);
        vm.recordLogs();
        gl.checkLoss(FEEDER, 1);
        assertEq(vm.getRecordedLogs().length, 1); // LossChecked only
    }

    function test_SubmitFeederReading_ChecksPeriodBeforeLast() public {
        _lossyPeriod();
        skip(PERIOD);
        vm.expectEmit(address(gl));
        emit LossDetected(FEEDER, 1, 10_000, 9000, 1000);
        _feederRead(FEEDER, feederKey, 10_100);
        assertTrue(gl.feederPeriod(FEEDER, 1).checked);
    }

    function test_RevertWhen_CheckLossTooEarly() public {
        skip(PERIOD);
        vm.expectRevert(abi.encodeWithSelector(PeriodNotOver.selector, FEEDER, 1));
        gl.checkLoss(FEEDER, 1);
    }

    function test_RevertWhen_CheckLossTwice() public {
        skip(3 * PERIOD);
        gl.checkLoss(FEEDER, 1);
        vm.expectRevert(abi.encodeWithSelector(LossAlreadyChecked.selector, FEEDER, 1));
        gl.checkLoss(FEEDER, 1);
    }

    function test_RevertWhen_CheckLossOfUnknownFeeder() public {
        vm.expectRevert(abi.encodeWithSelector(UnknownFeeder.selector, 5));
        gl.checkLoss(5, 1);
    }
}
