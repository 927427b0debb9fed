// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {GridLedger} from "../../src/GridLedger.sol";
import {GridLedgerExtension} from "../../src/GridLedgerExtension.sol";
import {IGridLedger, IGridLedgerHotPaths} from "../../src/interfaces/IGridLedger.sol";
import {LedgerTestBase} from "../utils/LedgerTestBase.sol";

/// @dev Relayers and griefers: malleable signatures, replay on another deployment, batches starved of gas.
contract AttackRelayTest is LedgerTestBase {
    uint32 internal constant M = 7;
    uint32 internal constant N = 8;

    function setUp() public {
        _deploy(false);
        _register(M, Mode.Postpaid);
        _register(N, Mode.Postpaid);
    }

    function test_Attack_MalleableSignatureTwinRejected() public {
        skip(600);
        Reading memory r = Reading(M, 100, uint32(vm.getBlockTimestamp()));
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(meterKey, gl.readingDigest(r));
        bytes32 highS = bytes32(SECP256K1_N - uint256(s));
        uint8 flipped = v == 27 ? 28 : 27;
        vm.expectRevert(abi.encodeWithSelector(InvalidSignature.selector, M, address(0)));
        gl.submitReading(r, abi.encodePacked(rr, highS, flipped));
        // In a batch the twin's high s does not fit the compact form's 255 bits as a valid signature either.
        SignedReading[] memory batch = new SignedReading[](1);
        batch[0] = SignedReading(r, rr, bytes32(uint256(highS) | (uint256(flipped - 27) << 255)));
        vm.expectEmit(address(gl));
        emit ReadingRejected(M, InvalidSignature.selector);
        assertEq(gl.submitReadings(batch), 0);
        // The genuine signature still works, once.
        bytes memory sig = abi.encodePacked(rr, s, v);
        gl.submitReading(r, sig);
        vm.expectRevert(abi.encodeWithSelector(StaleReading.selector, M, r.timestamp, r.timestamp));
        gl.submitReading(r, sig);
    }

    function test_Attack_ReplayOnASecondDeployment() public {
        // A second operator on the same chain, same configuration, same meter id and key.
        (GridLedger l2,) = _newLedger(config);
        IGridLedger gl2 = IGridLedger(address(l2));
        vm.startPrank(admin);
        gl2.setTariff(TARIFF, _flat(PRICE));
        gl2.registerFeeder(FEEDER, feederSigner, 0, 500, FEEDER_POWER);
        gl2.registerMeter(M, MeterParams(meterSigner, payer, FEEDER, TARIFF, Mode.Postpaid, MAX_POWER, 0));
        vm.stopPrank();
        assertTrue(gl2.DOMAIN_SEPARATOR() != gl.DOMAIN_SEPARATOR());
        skip(600);
        Reading memory r = Reading(M, 1000, uint32(vm.getBlockTimestamp()));
        bytes memory sig = _sign(meterKey, r);
        gl.submitReading(r, sig);
        vm.expectRevert(); // InvalidSignature with whatever address the foreign digest recovers
        gl2.submitReading(r, sig);
        SignedReading[] memory batch = new SignedReading[](1);
        batch[0] = _signCompact(meterKey, r);
        assertEq(gl2.submitReadings(batch), 0);
        assertEq(gl2.meter(M).lastWh, 0);
        // Feeder readings too.
        FeederReading memory fr = FeederReading(FEEDER, 5000, uint32(vm.getBlockTimestamp()));
        bytes memory fsig = _signFeeder(feederKey, fr);
        vm.expectRevert();
        gl2.submitFeederReading(fr, fsig);
        gl.submitFeederReading(fr, fsig);
    }

    /// @dev Whatever gas a relayer gives a batch, a reading is either applied or left untouched (so it can be relayed
    /// again): a starved slow path never half-applies it nor takes a healthy entry with it.
    function testFuzz_Attack_StarvedBatchLosesNoReading(uint256 gasSeed) public {
        vm.warp(T0 + PERIOD + 60); // both readings close period 1: the slow path
        SignedReading[] memory batch = new SignedReading[](2);
        batch[0] = _signCompact(meterKey, Reading(M, 500, uint32(vm.getBlockTimestamp())));
        batch[1] = _signCompact(meterKey, Reading(N, 700, uint32(vm.getBlockTimestamp())));
        uint256 gasLimit = bound(gasSeed, 30_000, 400_000);
        vm.prank(relayer);
        (bool ok, bytes memory ret) =
            address(gl).call{gas: gasLimit}(abi.encodeCall(IGridLedgerHotPaths.submitReadings, (batch)));
        uint256 accepted = ok ? abi.decode(ret, (uint256)) : 0;
        MeterInfo memory m = gl.meter(M);
        MeterInfo memory n = gl.meter(N);
        uint256 applied = (m.lastWh == 500 ? 1 : 0) + (n.lastWh == 700 ? 1 : 0);
        assertEq(applied, accepted, "accepted count matches what was applied");
        assertTrue(m.lastWh == 500 || (m.lastWh == 0 && m.openPeriod == 1), "M applied or untouched");
        assertTrue(n.lastWh == 700 || (n.lastWh == 0 && n.openPeriod == 1), "N applied or untouched");
        // The household relays whatever was skipped itself, with the same signatures.
        if (m.lastWh == 0) gl.submitReading(batch[0].reading, _sign(meterKey, batch[0].reading));
        if (n.lastWh == 0) gl.submitReading(batch[1].reading, _sign(meterKey, batch[1].reading));
        assertEq(gl.meter(M).lastWh, 500);
        assertEq(gl.meter(N).lastWh, 700);
    }

    function test_Attack_OutsiderCannotCallTheBatchStep() public {
        skip(600);
        vm.expectRevert(OnlyLedger.selector);
        gl.applyBatchedReading(M, 1_000_000, uint32(vm.getBlockTimestamp()));
        assertEq(gl.meter(M).lastWh, 0);
    }

    function test_Attack_JunkAndDuplicatesInABatchSkipOnlyThemselves() public {
        skip(600);
        uint32 ts = uint32(vm.getBlockTimestamp());
        SignedReading[] memory batch = new SignedReading[](5);
        batch[0] = _signCompact(meterKey, Reading(M, 100, ts));
        batch[1] = batch[0]; // replayed in the same batch
        batch[2] = _signCompact(0xBAD, Reading(N, 100, ts)); // forged
        batch[3] = _signCompact(meterKey, Reading(99, 100, ts)); // unknown meter
        batch[4] = _signCompact(meterKey, Reading(N, 100, ts));
        assertEq(gl.submitReadings(batch), 2);
        assertEq(gl.meter(M).lastWh, 100);
        assertEq(gl.meter(N).lastWh, 100);
    }
}
