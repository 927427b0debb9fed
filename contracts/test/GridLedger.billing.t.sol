// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {LedgerTestBase} from "./utils/LedgerTestBase.sol";

contract GridLedgerBillingTest is LedgerTestBase {
    uint32 internal constant M = 7;
    uint32 internal constant P = 8; // prepaid
    uint32 internal constant PREPAID_TARIFF = 2;
    uint96 internal constant EMERGENCY = 100_000;
    uint96 internal constant LOW = 200_000;

    function setUp() public {
        _deploy(false);
        _register(M, Mode.Postpaid);
        Tariff memory t = _flat(PRICE);
        t.emergencyCredit = EMERGENCY;
        t.lowCreditThreshold = LOW;
        vm.prank(admin);
        gl.setTariff(PREPAID_TARIFF, t);
        _registerWith(P, meterSigner, Mode.Prepaid, PREPAID_TARIFF, 0);
    }

    /// @dev 1000 Wh in period 1, then time moves into period 2.
    function _periodWithEnergy() internal {
        _readAfter(M, 600, 1000);
        vm.warp(T0 + PERIOD + 60);
    }

    // ------------------------------------------------------------ postpaid bills

    function test_Bill_ProjectedBeforeAnyInteraction() public {
        _periodWithEnergy();
        Bill memory b = gl.billOf(M);
        assertEq(b.period, 1);
        assertEq(b.energyWh, 1000);
        assertEq(b.amount, _cost(1000));
        assertEq(b.dueAt, T0 + PERIOD + WINDOW);
        assertEq(gl.amountDue(M), _cost(1000));
        assertEq(gl.meterBalance(M), -int256(_cost(1000)));
        assertEq(gl.meter(M).openPeriod, 1, "nothing stored yet");
    }

    function test_Settle_IssuesBillOnce() public {
        _periodWithEnergy();
        vm.expectEmit(address(gl));
        emit BillIssued(M, 1, 1000, _cost(1000), uint32(T0 + PERIOD + WINDOW));
        gl.settle(M);
        MeterInfo memory info = gl.meter(M);
        assertEq(info.openPeriod, 2);
        assertEq(info.periodStartWh, 1000);
        assertEq(info.balance, -int256(_cost(1000)));
        vm.recordLogs();
        gl.settle(M);
        assertEq(vm.getRecordedLogs().length, 0);
    }

    function test_RevertWhen_SettleUnknownMeter() public {
        vm.expectRevert(abi.encodeWithSelector(UnknownMeter.selector, 99));
        gl.settle(99);
    }

    function test_Bill_NextPeriodReadingClosesPeriod() public {
        _periodWithEnergy();
        vm.expectEmit(address(gl));
        emit BillIssued(M, 1, 1000, _cost(1000), uint32(T0 + PERIOD + WINDOW));
        _read(M, 1500);
        assertEq(gl.billOf(M).energyWh, 1000, "the new reading's energy belongs to period 2");
        assertEq(gl.feederPeriod(FEEDER, 1).childrenWh, 1000);
    }

    function test_Bill_LateReadingCountsInOpenPeriod() public {
        _readAfter(M, 600, 1000);
        vm.warp(T0 + PERIOD + 60);
        gl.settle(M);
        // A reading taken in period 1 arrives after period 1 was billed: it is billed in period 2.
        Reading memory r = _reading(M, 1200, uint32(T0 + PERIOD - 10));
        gl.submitReading(r, _sign(meterKey, r));
        vm.warp(T0 + 2 * PERIOD + 60);
        assertEq(gl.billOf(M).period, 2);
        assertEq(gl.billOf(M).energyWh, 200);
    }

    function test_Bill_SilentMeterGetsOneBill() public {
        _readAfter(M, 600, 1000);
        vm.warp(T0 + 5 * PERIOD + 60);
        vm.recordLogs();
        gl.settle(M);
        assertEq(gl.meter(M).openPeriod, 6);
        assertEq(gl.billOf(M).period, 1);
        assertEq(gl.meterBalance(M), -int256(_cost(1000)));
    }

    function test_Permit_PostpaidWithoutDebtRunsToNextDueDate() public view {
        assertEq(gl.permitUntil(M), T0 + PERIOD + WINDOW + GRACE);
    }

    function test_Permit_UnpaidBillEndsAtDueDatePlusGrace() public {
        _periodWithEnergy();
        uint256 end = T0 + PERIOD + WINDOW + GRACE;
        assertEq(gl.permitUntil(M), end);
        vm.warp(T0 + 3 * PERIOD);
        assertEq(gl.permitUntil(M), end, "an old unpaid bill keeps its date");
        assertLt(gl.permitUntil(M), vm.getBlockTimestamp());
    }

    function test_PayBill_ExtendsPermitToNextPeriod() public {
        _periodWithEnergy();
        uint256 due = gl.amountDue(M);
        uint64 expected = uint64(T0 + 2 * PERIOD + WINDOW + GRACE);
        vm.expectEmit(address(gl));
        emit PaymentReceived(M, payer, due, 0);
        vm.expectEmit(address(gl));
        emit PermitChanged(M, expected);
        vm.prank(payer);
        gl.payBill{value: due}(M);
        assertEq(gl.permitUntil(M), expected);
        assertEq(gl.amountDue(M), 0);
        assertEq(address(gl).balance, due);
    }

    function test_PayBill_FastPathAfterSettle() public {
        _periodWithEnergy();
        _read(M, 1100);
        uint256 due = gl.amountDue(M);
        vm.prank(payer);
        gl.payBill{value: due}(M);
        assertEq(gl.meterBalance(M), 0);
        assertEq(gl.permitUntil(M), T0 + 2 * PERIOD + WINDOW + GRACE);
    }

    function test_PayBill_ExcessBecomesCredit() public {
        _periodWithEnergy();
        uint256 due = gl.amountDue(M);
        vm.prank(payer);
        gl.payBill{value: due + 1 ether}(M);
        assertEq(gl.meterBalance(M), 1 ether);
        // Next period's bill is covered by the credit: no lapse, permit moves on.
        _read(M, 2000);
        vm.warp(T0 + 2 * PERIOD + 60);
        assertEq(gl.meterBalance(M), int256(1 ether - _cost(1000)));
        assertEq(gl.permitUntil(M), T0 + 3 * PERIOD + WINDOW + GRACE);
    }

    function test_PayBill_AnyoneMayPay() public {
        _periodWithEnergy();
        uint256 due = gl.amountDue(M);
        hoax(makeAddr("friend"), due);
        gl.payBill{value: due}(M);
        assertEq(gl.amountDue(M), 0);
    }

    function test_RevertWhen_PayBillNothingDue() public {
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(NothingDue.selector, M));
        gl.payBill{value: 1}(M);
    }

    function test_RevertWhen_PayBillNothingDueAfterSettle() public {
        _readAfter(M, 60, 0);
        vm.warp(T0 + PERIOD + 60);
        _read(M, 0);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(NothingDue.selector, M));
        gl.payBill{value: 1}(M);
    }

    function test_RevertWhen_PayBillUnderpaid() public {
        _periodWithEnergy();
        uint256 due = gl.amountDue(M);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(InsufficientPayment.selector, M, due - 1, due));
        gl.payBill{value: due - 1}(M);
    }

    function test_RevertWhen_PayBillUnderpaidFastPath() public {
        _periodWithEnergy();
        gl.settle(M);
        uint256 due = gl.amountDue(M);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(InsufficientPayment.selector, M, due - 1, due));
        gl.payBill{value: due - 1}(M);
    }

    function test_RevertWhen_PayBillUnknownMeter() public {
        vm.expectRevert(abi.encodeWithSelector(UnknownMeter.selector, 99));
        gl.payBill{value: 1}(99);
    }

    function test_TopUp_PostpaidAdvanceCoversBill() public {
        vm.prank(payer);
        gl.topUp{value: 1 ether}(M, 1 ether);
        _periodWithEnergy();
        assertEq(gl.amountDue(M), 0);
        assertEq(gl.permitUntil(M), T0 + 2 * PERIOD + WINDOW + GRACE);
    }

    function test_TopUp_PartialPaymentKeepsLapse() public {
        _periodWithEnergy();
        vm.prank(payer);
        gl.topUp{value: 1}(M, 1);
        assertEq(gl.amountDue(M), _cost(1000) - 1);
        assertEq(gl.permitUntil(M), T0 + PERIOD + WINDOW + GRACE);
    }

    function test_RevertWhen_TopUpValueMismatch() public {
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(InsufficientPayment.selector, M, 1, 2));
        gl.topUp{value: 1}(M, 2);
    }

    function test_RevertWhen_TopUpZero() public {
        vm.expectRevert(ZeroAmount.selector);
        gl.topUp(M, 0);
    }

    function test_RevertWhen_TopUpUnknownMeter() public {
        vm.expectRevert(abi.encodeWithSelector(UnknownMeter.selector, 99));
        gl.topUp{value: 1}(99, 1);
    }

    function testFuzz_Bill_EqualsPricedEnergyRoundedDown(uint256 energy, uint64 price) public {
        price = uint64(bound(price, 0, 1e18));
        energy = bound(energy, 0, 20_000);
        vm.prank(admin);
        gl.setTariff(3, _flat(price));
        _registerWith(9, meterSigner, Mode.Postpaid, 3, 0);
        _readAfter(9, 3600, uint64(energy));
        vm.warp(T0 + 2 * PERIOD + 1);
        Bill memory b = gl.billOf(9);
        assertEq(b.amount, energy * price / 1000);
        // Within one base unit below the exact charge.
        assertLe(b.amount * 1000, energy * price);
        assertGt(b.amount * 1000 + 1000, energy * price);
    }

    // ------------------------------------------------------------ prepaid

    function _topUpPrepaid(uint256 amount) internal {
        vm.prank(payer);
        gl.topUp{value: amount}(P, amount);
    }

    function test_Prepaid_ConsumesCreditAndWarns() public {
        _topUpPrepaid(1_000_000);
        assertEq(gl.permitUntil(P), FOREVER);
        _readAfter(P, 3000, 2600); // 780,000 spent: 220,000 left
        assertEq(gl.meterBalance(P), 220_000);
        vm.expectEmit(address(gl));
        emit LowCredit(P, 190_000);
        _readAfter(P, 60, 2700); // 810,000 spent: 190,000 left, below 200,000
        assertEq(gl.meterBalance(P), 190_000);
        assertEq(gl.permitUntil(P), FOREVER, "emergency credit not touched yet");
    }

    function test_Prepaid_ExhaustionStartsGrace() public {
        _topUpPrepaid(1_000_000);
        _readAfter(P, 3000, 3666); // 1,099,800 spent: within 100,000 emergency credit
        assertEq(gl.permitUntil(P), FOREVER);
        skip(60);
        vm.expectEmit(address(gl));
        emit PermitChanged(P, uint64(vm.getBlockTimestamp() + GRACE));
        _read(P, 3667); // 1,100,100 spent: beyond
        assertEq(gl.permitUntil(P), vm.getBlockTimestamp() + GRACE);
        assertEq(gl.meter(P).exhaustedAt, vm.getBlockTimestamp());
    }

    function test_Prepaid_TopUpRestoresPermit() public {
        _topUpPrepaid(1_000_000);
        _readAfter(P, 3000, 3700);
        assertLt(gl.permitUntil(P), FOREVER);
        vm.expectEmit(address(gl));
        emit PermitChanged(P, FOREVER);
        _topUpPrepaid(500_000);
        assertEq(gl.permitUntil(P), FOREVER);
        assertEq(gl.meter(P).exhaustedAt, 0);
    }

    function test_Prepaid_PayBillClearsDebt() public {
        _readAfter(P, 600, 1000); // no credit: 300,000 owed
        uint256 due = gl.amountDue(P);
        assertEq(due, _cost(1000));
        vm.prank(payer);
        gl.payBill{value: due}(P);
        assertEq(gl.meterBalance(P), 0);
        assertEq(gl.permitUntil(P), FOREVER);
    }

    function test_Prepaid_PeriodCloseKeepsBalance() public {
        _topUpPrepaid(1_000_000);
        _readAfter(P, 600, 1000);
        vm.warp(T0 + PERIOD + 60);
        vm.expectEmit(address(gl));
        emit BillIssued(P, 1, 1000, _cost(1000), uint32(T0 + PERIOD));
        _read(P, 1000);
        assertEq(gl.meter(P).balance, int256(1_000_000 - _cost(1000)));
        assertEq(gl.meterBalance(P), int256(1_000_000 - _cost(1000)));
    }

    function test_Prepaid_ExhaustionAcrossPeriods() public {
        _topUpPrepaid(300_000);
        _readAfter(P, 3000, 1000); // 300,000: credit 0
        vm.warp(T0 + PERIOD + 60);
        _read(P, 1000);
        _readAfter(P, 1200, 1334); // 100,200 more: beyond emergency
        assertEq(gl.permitUntil(P), vm.getBlockTimestamp() + GRACE);
    }

    function testFuzz_Prepaid_ExhaustedExactlyBeyondEmergency(uint256 credit, uint256 energy) public {
        credit = bound(credit, 0, 10_000_000);
        energy = bound(energy, 0, 20_000);
        if (credit > 0) _topUpPrepaid(credit);
        _readAfter(P, 3600, uint64(energy));
        bool exhausted = int256(credit) - int256(_cost(energy)) + int256(uint256(EMERGENCY)) < 0;
        assertEq(gl.permitUntil(P) != FOREVER, exhausted);
        assertEq(gl.meterBalance(P), int256(credit) - int256(_cost(energy)));
    }

    // ------------------------------------------------------------ time of use

    function _touTariff() internal returns (uint32 id) {
        id = 4;
        Tariff memory t = _flat(PRICE);
        t.bands = new Band[](2);
        t.bands[0] = Band(30, 45, 600_000); // 00:30-00:45
        t.bands[1] = Band(1380, 20, 100_000); // 23:00-00:20, wraps midnight
        vm.prank(admin);
        gl.setTariff(id, t);
    }

    function test_TimeOfUse_PricesEachIntervalAtItsDearestBand() public {
        uint32 tariffId = _touTariff();
        _registerWith(9, meterSigner, Mode.Postpaid, tariffId, 0);
        vm.warp(T0 + 10 minutes);
        _read(9, 100); // night band: 100 Wh at 100,000
        vm.warp(T0 + 25 minutes);
        _read(9, 150); // base: 50 Wh at 300,000
        vm.warp(T0 + 35 minutes);
        _read(9, 350); // peak: 200 Wh at 600,000
        vm.warp(T0 + 40 minutes);
        _read(9, 400); // peak: 50 Wh
        vm.warp(T0 + 50 minutes);
        _read(9, 500); // 00:40-00:50 touches the peak band (until 00:45): 100 Wh at the peak price
        uint256 expected = (100 * 100_000 + 50 * PRICE + 350 * 600_000) / 1000;
        assertEq(gl.meterBalance(9), 0, "postpaid: charged when the period closes");
        vm.warp(T0 + PERIOD + 60);
        assertEq(gl.meterBalance(9), -int256(expected));
        assertEq(gl.billOf(9).amount, expected);
        assertEq(gl.billOf(9).energyWh, 500);
    }

    function test_TimeOfUse_PrepaidExhaustsExactly() public {
        uint32 tariffId = _touTariff();
        _registerWith(9, meterSigner, Mode.Prepaid, tariffId, 0);
        vm.prank(payer);
        gl.topUp{value: 10_000}(9, 10_000);
        vm.warp(T0 + 10 minutes);
        _read(9, 100); // 10,000 at night price: credit 0, not exhausted
        assertEq(gl.permitUntil(9), FOREVER);
        vm.warp(T0 + 25 minutes);
        _read(9, 104); // 4 Wh at 300,000: 1,200 owed, no emergency credit
        assertEq(gl.permitUntil(9), vm.getBlockTimestamp() + GRACE);
    }

    function test_PriceAt_FollowsBands() public {
        uint32 tariffId = _touTariff();
        assertEq(gl.priceAt(tariffId, T0 + 35 minutes), 600_000);
        assertEq(gl.priceAt(tariffId, T0 + 23 hours + 5 minutes), 100_000);
        assertEq(gl.priceAt(tariffId, T0 + 12 hours), PRICE);
    }

    // ------------------------------------------------------------ tariff changes

    function test_SetTariff_ChangeAppliesFromNextPeriod() public {
        vm.warp(T0 + 600);
        vm.expectEmit(address(gl));
        emit TariffSet(TARIFF, 2, 2 * PRICE, 0);
        vm.prank(admin);
        gl.setTariff(TARIFF, _flat(2 * PRICE));
        assertEq(gl.tariff(TARIFF).pricePerKWh, PRICE);
        assertEq(gl.tariffAt(TARIFF, 2).pricePerKWh, 2 * PRICE);
        _read(M, 1000);
        vm.warp(T0 + PERIOD + 600);
        _read(M, 2000);
        assertEq(gl.tariff(TARIFF).pricePerKWh, 2 * PRICE);
        vm.warp(T0 + 2 * PERIOD + 60);
        gl.settle(M);
        assertEq(gl.meterBalance(M), -int256(_cost(1000) + 2 * _cost(1000)));
    }

    function test_SetTariff_RepeatedChangeInOnePeriodOverwrites() public {
        vm.startPrank(admin);
        gl.setTariff(TARIFF, _flat(2 * PRICE));
        gl.setTariff(TARIFF, _flat(3 * PRICE));
        vm.stopPrank();
        assertEq(gl.tariffAt(TARIFF, 2).pricePerKWh, 3 * PRICE);
        assertEq(gl.tariffAt(TARIFF, 1).pricePerKWh, PRICE);
    }

    function test_SetMeterTariff_AppliesFromNextPeriod() public {
        vm.prank(admin);
        gl.setTariff(3, _flat(2 * PRICE));
        vm.expectEmit(address(gl));
        emit MeterTariffChanged(M, 3, 2);
        vm.prank(admin);
        gl.setMeterTariff(M, 3);
        _readAfter(M, 600, 1000);
        vm.warp(T0 + PERIOD + 60);
        _read(M, 2000);
        assertEq(gl.meter(M).tariffId, 3);
        vm.warp(T0 + 2 * PERIOD + 60);
        // The second interval spans the move: tariff 3, the dearer, takes what the meter's 20 kW draws in the 60 s
        // it ran in period 2 (333 Wh); the rest is period 1's.
        assertEq(gl.meterBalance(M), -int256(_cost(1667) + 2 * _cost(333)));
    }

    // ------------------------------------------------------------ friendly window, protection, pause

    function test_FriendlyWindow_MovesExpiryToWindowEnd() public {
        // Expiry 01:25 UTC falls in a 00:00-08:00 night window (UTC+1: 01:00-09:00 local, i.e. 00:00-08:00 UTC).
        vm.expectEmit(address(gl));
        emit FriendlyWindowSet(3600, 60, 540, 0);
        vm.prank(admin);
        gl.setFriendlyWindow(FriendlyWindow(3600, 60, 540, 0));
        assertEq(gl.permitUntil(M), T0 + 8 hours);
        FriendlyWindow memory w = gl.friendlyWindow();
        assertEq(w.endMinute, 540);
    }

    function test_FriendlyWindow_WrapsMidnightAndSkipsFriendlyDays() public {
        // 2026-01-01 is a Thursday (bit 3); Friday (bit 4) too; daily window 22:00-06:00.
        vm.prank(admin);
        gl.setFriendlyWindow(FriendlyWindow(0, 1320, 360, (1 << 3) | (1 << 4)));
        // Thursday and Friday are friendly, then Saturday 00:00 is in the night window: Saturday 06:00.
        assertEq(gl.permitUntil(M), T0 + 2 days + 6 hours);
    }

    function test_RevertWhen_FriendlyWindowInvalid() public {
        vm.startPrank(admin);
        vm.expectRevert(InvalidFriendlyWindow.selector);
        gl.setFriendlyWindow(FriendlyWindow(0, 1440, 0, 0));
        vm.expectRevert(InvalidFriendlyWindow.selector);
        gl.setFriendlyWindow(FriendlyWindow(0, 0, 0, 0x7f));
        vm.expectRevert(InvalidFriendlyWindow.selector);
        gl.setFriendlyWindow(FriendlyWindow(15 hours, 0, 60, 0));
        vm.stopPrank();
    }

    function test_Protected_NeverExpires() public {
        _periodWithEnergy();
        vm.expectEmit(address(gl));
        emit ProtectionSet(M, true);
        vm.expectEmit(address(gl));
        emit PermitChanged(M, FOREVER);
        vm.prank(admin);
        gl.setProtected(M, true);
        vm.warp(T0 + 100 days);
        assertEq(gl.permitUntil(M), FOREVER);
        assertTrue(gl.meter(M).isProtected);
        // Unprotected long after the due date: the unpaid bill ends the permit a grace after it became enforceable.
        vm.expectEmit(address(gl));
        emit PermitChanged(M, uint64(vm.getBlockTimestamp() + GRACE));
        vm.prank(admin);
        gl.setProtected(M, false);
        assertEq(gl.permitUntil(M), vm.getBlockTimestamp() + GRACE);
    }

    function test_Pause_HoldsRunningPermitsUntilGraceAfterResume() public {
        _periodWithEnergy();
        uint256 before = gl.permitUntil(M);
        vm.prank(admin);
        gl.pause();
        assertEq(gl.permitUntil(M), FOREVER);
        vm.warp(T0 + 5 * PERIOD);
        vm.prank(admin);
        gl.unpause();
        assertEq(gl.permitUntil(M), vm.getBlockTimestamp() + GRACE);
        assertGt(gl.permitUntil(M), before);
    }

    function test_Pause_DoesNotReviveEndedPermits() public {
        _periodWithEnergy();
        vm.warp(T0 + 3 * PERIOD);
        uint256 ended = gl.permitUntil(M);
        assertLt(ended, vm.getBlockTimestamp());
        vm.prank(admin);
        gl.pause();
        assertEq(gl.permitUntil(M), ended);
    }

    function test_RevertWhen_PayBillWhilePaused() public {
        _periodWithEnergy();
        vm.prank(admin);
        gl.pause();
        vm.prank(payer);
        vm.expectRevert(bytes4(keccak256("EnforcedPause()")));
        gl.payBill{value: 1 ether}(M);
    }

    function test_Pause_AgainWhileHeldPermitStillRuns() public {
        // Held permits end at resume + grace, moved out of a friendly window; a second pause before that end must
        // keep holding them (found by the pause invariant).
        vm.prank(admin);
        gl.setFriendlyWindow(FriendlyWindow(0, 120, 480, 0)); // 02:00-08:00
        _periodWithEnergy(); // unpaid bill: permit until 01:25
        vm.prank(admin);
        gl.pause();
        vm.warp(T0 + 1 hours + 50 minutes);
        vm.prank(admin);
        gl.unpause();
        uint64 held = gl.permitUntil(M);
        assertEq(held, T0 + 8 hours, "resume + grace lands at 02:05, moved to 08:00");
        vm.warp(T0 + 3 hours); // after resume + grace, before the window's end
        vm.prank(admin);
        gl.pause();
        assertGe(gl.permitUntil(M), held);
    }

    function test_Prepaid_TopUpAboveThresholdRearmsLowCredit() public {
        _topUpPrepaid(300_000);
        vm.expectEmit(address(gl));
        emit LowCredit(P, 0);
        _readAfter(P, 600, 1000);
        _topUpPrepaid(1_000_000);
        assertGe(gl.meterBalance(P), int256(uint256(LOW)));
        vm.expectEmit(address(gl));
        emit LowCredit(P, 190_000);
        _readAfter(P, 600, 3700);
    }

    function test_Prepaid_EmergencyChangeAtPeriodStartLiftsExhaustion() public {
        _readAfter(P, 600, 500); // 150,000 owed, emergency 100,000: exhausted
        assertLt(gl.permitUntil(P), FOREVER);
        Tariff memory t = _flat(PRICE);
        t.emergencyCredit = 200_000;
        vm.prank(admin);
        gl.setTariff(PREPAID_TARIFF, t);
        vm.warp(T0 + PERIOD + 60);
        assertEq(gl.permitUntil(P), FOREVER, "view: more emergency credit from period 2");
        gl.settle(P);
        assertEq(gl.meter(P).exhaustedAt, 0);
    }
}
