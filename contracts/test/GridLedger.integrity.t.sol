// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {LedgerTestBase} from "./utils/LedgerTestBase.sol";

/// @dev The ledger's promises at their edges: money the operator cannot take, no feeder that can block a household,
/// no batch sunk by one meter, no trip without notice, no amount that wraps, no reading from a period not yet begun.
contract GridLedgerIntegrityTest is LedgerTestBase {
    uint32 internal constant M = 7;
    uint32 internal constant P = 8; // prepaid
    uint32 internal constant SIBLING = 9;
    uint32 internal constant CHILD_FEEDER = 2;
    uint256 internal constant METERS_SLOT = 7; // `_meters` in the storage layout
    uint256 internal constant FEEDER_PERIODS_SLOT = 9; // `_feederPeriods`

    function setUp() public {
        _deploy(false);
        _register(M, Mode.Postpaid);
        _register(P, Mode.Prepaid);
        _register(SIBLING, Mode.Postpaid);
    }

    function _meterSlot(uint32 id, uint256 i) internal pure returns (bytes32) {
        return bytes32(uint256(keccak256(abi.encode(uint256(id), METERS_SLOT))) + i);
    }

    function _feederPeriodSlot(uint32 feederId, uint32 period) internal pure returns (bytes32) {
        return keccak256(abi.encode(uint256(period), keccak256(abi.encode(uint256(feederId), FEEDER_PERIODS_SLOT))));
    }

    function _topUp(uint32 id, uint256 amount) internal {
        vm.prank(payer);
        gl.topUp{value: amount}(id, amount);
    }

    // ------------------------------------------------------------ 1. money the operator cannot take

    function test_RevertWhen_WithdrawTakesPrepaidCredit() public {
        _topUp(P, 1 ether);
        assertEq(gl.liability(), 1 ether);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(WithdrawalExceedsBalance.selector, 1 ether, 0));
        gl.withdraw(1 ether);
    }

    function test_Withdraw_TakesPaidBillsButNotOverpayment() public {
        _readAfter(M, 600, 1000);
        vm.warp(T0 + PERIOD + 60);
        uint256 due = gl.amountDue(M);
        vm.prank(payer);
        gl.payBill{value: due + 5}(M); // slow path: closes the period, 5 over
        assertEq(gl.liability(), 5);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(WithdrawalExceedsBalance.selector, due + 1, due));
        gl.withdraw(due + 1);
        vm.prank(admin);
        gl.withdraw(due);
        assertEq(address(gl).balance, 5);
    }

    function test_Liability_FollowsFastPathOverpaymentAndUse() public {
        _readAfter(M, 600, 1000);
        vm.warp(T0 + PERIOD + 60);
        gl.settle(M);
        uint256 due = gl.amountDue(M);
        vm.prank(payer);
        gl.payBill{value: due + 1000}(M); // fast path: only the account slot
        assertEq(gl.liability(), 1000);
        _readAfter(M, 60, 1002); // 600 of the 1,000 credit used when the period closes
        vm.warp(T0 + 2 * PERIOD + 60);
        gl.settle(M);
        assertEq(gl.liability(), 400);
        assertEq(gl.meter(M).balance, 400);
    }

    function test_WithdrawCredit_RetiredMeterPayerTakesUnusedCredit() public {
        _topUp(P, 1 ether);
        _readAfter(P, 600, 1000);
        vm.expectEmit(address(gl));
        emit MeterRetired(P, int256(1 ether - _cost(1000)));
        vm.prank(admin);
        gl.retireMeter(P);
        assertEq(gl.liability(), 1 ether - _cost(1000), "the final bill was charged");
        uint256 before = payer.balance;
        vm.expectEmit(address(gl));
        emit CreditWithdrawn(P, payer, 1 ether - _cost(1000));
        vm.prank(payer);
        gl.withdrawCredit(P);
        assertEq(payer.balance - before, 1 ether - _cost(1000));
        assertEq(gl.liability(), 0);
        assertEq(address(gl).balance, _cost(1000), "the operator keeps what was used");
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(NoCredit.selector, P));
        gl.withdrawCredit(P);
    }

    function test_RevertWhen_WithdrawCreditNotRetiredOrNotPayer() public {
        _topUp(P, 1 ether);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(NotRetired.selector, P));
        gl.withdrawCredit(P);
        vm.prank(admin);
        gl.retireMeter(P);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(NotPayer.selector, P, relayer));
        gl.withdrawCredit(P);
    }

    function test_RevertWhen_RetiredMeterReadsOrTopsUp() public {
        vm.prank(admin);
        gl.retireMeter(M);
        skip(60);
        Reading memory r = _reading(M, 10, uint32(vm.getBlockTimestamp()));
        bytes memory sig = _sign(meterKey, r);
        vm.expectRevert(abi.encodeWithSelector(RetiredMeter.selector, M));
        gl.submitReading(r, sig);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(RetiredMeter.selector, M));
        gl.topUp{value: 1}(M, 1);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(RetiredMeter.selector, M));
        gl.retireMeter(M);
    }

    // ------------------------------------------------------------ 2. feeders never block households

    function _feederRead(uint32 feederId, uint256 key, uint64 wh) internal {
        FeederReading memory r = FeederReading(feederId, wh, uint32(vm.getBlockTimestamp()));
        gl.submitFeederReading(r, _signFeeder(key, r));
    }

    function test_RevertWhen_FeederReadingImpliesMoreThanItsRating() public {
        vm.prank(admin);
        gl.registerFeeder(CHILD_FEEDER, vm.addr(0xF2), FEEDER, 100, 50_000);
        skip(10);
        _feederRead(CHILD_FEEDER, 0xF2, 0);
        skip(10);
        FeederReading memory r = FeederReading(CHILD_FEEDER, type(uint40).max, uint32(vm.getBlockTimestamp()));
        bytes memory sig = _signFeeder(0xF2, r);
        vm.expectRevert(
            abi.encodeWithSelector(ImplausiblePower.selector, CHILD_FEEDER, uint256(type(uint40).max) * 360, 50_000)
        );
        gl.submitFeederReading(r, sig);
        r.wh = type(uint64).max;
        sig = _signFeeder(0xF2, r);
        vm.expectRevert(abi.encodeWithSelector(RegisterOutOfRange.selector, CHILD_FEEDER, type(uint64).max));
        gl.submitFeederReading(r, sig);
    }

    function test_RevertWhen_FeederReadingInNextPeriod() public {
        vm.warp(T0 + PERIOD - 10);
        FeederReading memory r = FeederReading(FEEDER, 0, uint32(T0 + PERIOD + 10));
        bytes memory sig = _signFeeder(feederKey, r);
        vm.expectRevert(abi.encodeWithSelector(FutureReading.selector, FEEDER, r.timestamp, T0 + PERIOD - 10));
        gl.submitFeederReading(r, sig);
    }

    /// @dev The feeder's children sum of period 1 is one short of 2^64 - 1 (as extreme feeder data left it): the
    /// households under it still read, close, pay and are re-tariffed; the sum saturates and says so.
    function test_FeederSumAtLimit_NeverBlocksHouseholds() public {
        vm.store(address(gl), _feederPeriodSlot(FEEDER, 1), bytes32(uint256(type(uint64).max - 1) << 64));
        _readAfter(SIBLING, 600, 1000);
        vm.warp(T0 + PERIOD + 60);
        vm.expectEmit(address(gl));
        emit FeederSumSaturated(FEEDER, 1);
        _read(SIBLING, 1001); // closes period 1
        assertEq(gl.feederPeriod(FEEDER, 1).childrenWh, type(uint64).max);
        vm.prank(payer);
        gl.payBill{value: _cost(1000)}(SIBLING);
        assertEq(gl.amountDue(SIBLING), 0);
        _readAfter(M, 60, 10);
        vm.prank(admin);
        gl.setMeterTariff(M, TARIFF);
        gl.settle(M);
        vm.store(address(gl), _feederPeriodSlot(FEEDER, 2), bytes32(uint256(type(uint64).max) << 64));
        vm.warp(T0 + 2 * PERIOD + 60);
        gl.settle(SIBLING);
        gl.settle(M);
        assertEq(gl.meter(M).openPeriod, 3);
    }

    // ------------------------------------------------------------ 3. one bad meter never sinks a batch

    function test_SubmitReadings_SkipsEntryWhoseProcessingReverts() public {
        _readAfter(M, 600, 1000);
        _readAfter(SIBLING, 0, 1000);
        // Meter M's next tariff is corrupt: closing its period reverts (UnknownTariff), whatever the cause.
        bytes32 slot2 = _meterSlot(M, 2);
        uint256 w = uint256(vm.load(address(gl), slot2));
        vm.store(address(gl), slot2, bytes32((w & ~(uint256(type(uint32).max) << 64)) | uint256(999) << 64));
        vm.warp(T0 + PERIOD + 60);
        SignedReading[] memory batch = new SignedReading[](2);
        batch[0] = _signCompact(meterKey, _reading(M, 1100, uint32(vm.getBlockTimestamp())));
        batch[1] = _signCompact(meterKey, _reading(SIBLING, 1100, uint32(vm.getBlockTimestamp())));
        vm.expectEmit(address(gl));
        emit ReadingRejected(M, UnknownTariff.selector);
        vm.expectEmit(address(gl));
        emit ReadingAccepted(SIBLING, 1100, uint32(vm.getBlockTimestamp()));
        assertEq(gl.submitReadings(batch), 1);
        assertEq(gl.meter(M).lastWh, 1000, "the failed entry left no trace");
        assertEq(gl.meter(SIBLING).lastWh, 1100);
    }

    function test_RevertWhen_BatchStepCalledFromOutside() public {
        vm.expectRevert(OnlyLedger.selector);
        gl.applyBatchedReading(M, 10, uint32(vm.getBlockTimestamp()));
    }

    // ------------------------------------------------------------ 6. no trip without notice

    function test_PrepaidExhaustion_RelayedLate_GetsGraceFromArrival() public {
        _topUp(P, 100_000);
        vm.warp(T0 + 1200);
        Reading memory r = _reading(P, 1000, uint32(vm.getBlockTimestamp())); // 300,000: beyond credit
        vm.warp(T0 + 1200 + 2 * GRACE); // relayed late
        vm.prank(relayer);
        gl.submitReading(r, _sign(meterKey, r));
        assertEq(gl.permitUntil(P), vm.getBlockTimestamp() + GRACE);
    }

    function test_Unprotect_LongUnpaid_GetsGraceFromNow() public {
        _readAfter(M, 600, 1000);
        vm.prank(admin);
        gl.setProtected(M, true);
        vm.warp(T0 + 50 * PERIOD);
        vm.prank(admin);
        gl.setProtected(M, false);
        assertEq(gl.permitUntil(M), vm.getBlockTimestamp() + GRACE);
    }

    function test_PostpaidBill_CompletedByLateReading_GetsGraceFromArrival() public {
        vm.warp(T0 + 3000);
        Reading memory r = _reading(M, 1000, uint32(vm.getBlockTimestamp()));
        vm.warp(T0 + PERIOD + WINDOW + 2 * GRACE); // past the bill's due date + grace
        vm.prank(relayer);
        gl.submitReading(r, _sign(meterKey, r));
        assertEq(gl.meter(M).openPeriod, 2, "the late reading closed its period");
        assertEq(gl.amountDue(M), _cost(1000));
        assertEq(gl.permitUntil(M), vm.getBlockTimestamp() + GRACE);
    }

    function test_FriendlyWindowRemoved_RunningPermitGetsGraceFromChange() public {
        _readAfter(M, 600, 1000);
        vm.prank(admin);
        gl.setFriendlyWindow(FriendlyWindow(0, 0, 360, 0)); // 00:00-06:00 UTC
        assertEq(gl.permitUntil(M), T0 + 6 hours, "the unpaid bill's end (01:25) moved to 06:00");
        vm.warp(T0 + 3 hours);
        vm.prank(admin);
        gl.setFriendlyWindow(FriendlyWindow(0, 0, 0, 0)); // removed: the raw end, 01:25, has passed
        assertEq(gl.permitUntil(M), T0 + 3 hours + GRACE);
        vm.warp(T0 + 3 hours + GRACE);
        assertEq(gl.permitUntil(M), T0 + 3 hours + GRACE, "and then it ends");
    }

    function test_RevertWhen_FriendlyWindowChangedAgainWithinGrace() public {
        vm.startPrank(admin);
        gl.setFriendlyWindow(FriendlyWindow(0, 0, 360, 0));
        vm.expectRevert(abi.encodeWithSelector(FriendlyWindowChangeTooSoon.selector, T0 + GRACE));
        gl.setFriendlyWindow(FriendlyWindow(0, 0, 0, 0));
        vm.warp(T0 + GRACE);
        gl.setFriendlyWindow(FriendlyWindow(0, 0, 0, 0));
        vm.stopPrank();
    }

    function test_PostpaidBill_KnownBeforeItsEnd_KeepsItsDueDate() public {
        _readAfter(M, 600, 1000);
        vm.warp(T0 + 3 * PERIOD);
        gl.settle(M);
        assertEq(gl.permitUntil(M), T0 + PERIOD + WINDOW + GRACE);
    }

    // ------------------------------------------------------------ 7. money arithmetic

    function test_RevertWhen_NativeOverpaymentUnrepresentable() public {
        _readAfter(M, 600, 1000);
        vm.warp(T0 + PERIOD + 60);
        gl.settle(M);
        uint256 due = gl.amountDue(M);
        uint256 huge = (uint256(1) << 95) + due;
        vm.deal(payer, 2 * huge + (uint256(1) << 96));
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(AmountOutOfRange.selector, huge));
        gl.payBill{value: huge}(M);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(AmountOutOfRange.selector, (uint256(1) << 96) + due));
        gl.payBill{value: (uint256(1) << 96) + due}(M);
        // The largest representable overpayment is accepted and accounted to the last unit.
        uint256 most = uint256(uint96(type(int96).max)) + due;
        vm.prank(payer);
        gl.payBill{value: most}(M);
        assertEq(gl.meter(M).balance, type(int96).max);
        assertEq(gl.liability(), uint256(uint96(type(int96).max)));
        assertEq(address(gl).balance, most);
    }

    function test_RevertWhen_TopUpOverflowsBalance() public {
        _topUp(P, 1);
        uint256 rest = uint256(uint96(type(int96).max));
        vm.deal(payer, rest);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(AmountOutOfRange.selector, rest));
        gl.topUp{value: rest}(P, rest);
    }

    // ------------------------------------------------------------ 8. clock skew and junk

    function test_RevertWhen_ReadingWithinSkewButInNextPeriod() public {
        vm.warp(T0 + PERIOD - 10);
        Reading memory r = _reading(M, 10, uint32(T0 + PERIOD + 10));
        bytes memory sig = _sign(meterKey, r);
        vm.expectRevert(abi.encodeWithSelector(FutureReading.selector, M, r.timestamp, T0 + PERIOD - 10));
        gl.submitReading(r, sig);
        assertEq(gl.meter(M).openPeriod, 1, "the open period was not closed early");
    }

    function test_SubmitReadings_JunkEntriesAreCheap() public {
        SignedReading[] memory junk = new SignedReading[](20);
        for (uint256 i; i < junk.length; ++i) {
            junk[i] = _signCompact(meterKey, _reading(uint32(1000 + i), 10, uint32(vm.getBlockTimestamp())));
        }
        uint256 before = gasleft();
        assertEq(gl.submitReadings(junk), 0);
        uint256 perEntry = (before - gasleft()) / junk.length;
        // A cold slot read (2,100) and the ReadingRejected log (1,381) are most of it; recovering the signature first
        // cost 9,567 per entry.
        assertLt(perEntry, 5000, "an unknown meter is rejected before any signature is recovered");
    }
}
