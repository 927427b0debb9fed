// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {LedgerTestBase} from "../utils/LedgerTestBase.sol";

/// @dev Households that time their readings, and an operator that times its pauses and protection toggles.
contract AttackTimingTest is LedgerTestBase {
    uint32 internal constant HONEST = 7;
    uint32 internal constant WITHHOLDER = 8;
    uint32 internal constant TOU = 2;

    function setUp() public {
        readingTimeout = 2;
        _deploy(false);
        Tariff memory t = _flat(PRICE);
        t.bands = new Band[](2);
        t.bands[0] = Band(30, 45, 10 * PRICE); // 00:30-00:45, ten times dearer
        t.bands[1] = Band(85, 95, 3 * PRICE); // 01:25-01:35, in period 2
        vm.prank(admin);
        gl.setTariff(TOU, t);
        _registerWith(HONEST, meterSigner, Mode.Postpaid, TOU, 0);
        _registerWith(WITHHOLDER, meterSigner, Mode.Postpaid, TOU, 0);
    }

    function _submit(uint32 id, uint64 wh, uint256 ts) internal {
        Reading memory r = Reading(id, wh, uint32(ts));
        gl.submitReading(r, _sign(meterKey, r));
    }

    /// @dev Time-of-use over two periods and three bands: dropping the middle of three readings never lowers the
    /// total charged, wherever the readings fall relative to the bands and the period boundary.
    function testFuzz_Attack_WithholdingNeverLowersATimeOfUseBill(uint256 s1, uint256 s2, uint256 s3, uint256 e1)
        public
    {
        uint256 t1 = T0 + bound(s1, 1, 2 * PERIOD - 3);
        uint256 t2 = bound(s2, t1 + 1, T0 + 2 * PERIOD - 2);
        uint256 t3 = bound(s3, t2 + 1, T0 + 2 * PERIOD - 1);
        uint64 w1 = uint64(bound(e1, 0, uint256(MAX_POWER) * (t1 - T0) / 3600));
        uint64 w2 = w1 + uint64(uint256(MAX_POWER) * (t2 - t1) / 3600);
        uint64 w3 = w2 + uint64(uint256(MAX_POWER) * (t3 - t2) / 3600);
        vm.warp(t1);
        _submit(HONEST, w1, t1);
        _submit(WITHHOLDER, w1, t1);
        vm.warp(t2);
        _submit(HONEST, w2, t2);
        vm.warp(t3);
        _submit(HONEST, w3, t3);
        _submit(WITHHOLDER, w3, t3);
        vm.warp(T0 + 3 * PERIOD);
        gl.settle(HONEST);
        gl.settle(WITHHOLDER);
        assertLe(gl.meterBalance(WITHHOLDER), gl.meterBalance(HONEST), "the withholder owes at least as much");
    }

    function test_Attack_EveryPeriodReaderIsNeverOverdue() public {
        for (uint256 i; i < 8; ++i) {
            _readAfter(HONEST, PERIOD, 0); // reports every period (nothing used, so nothing owed)
            assertGt(gl.readingOverdueAt(HONEST), vm.getBlockTimestamp());
            assertGt(gl.permitUntil(HONEST), vm.getBlockTimestamp() + GRACE);
        }
    }

    function test_Attack_OldStampedReadingDoesNotResetTheOverdueClock() public {
        // Signed in period 1, relayed in period 4: the household reported nothing since period 1.
        Reading memory old = Reading(WITHHOLDER, 10, uint32(T0 + 600));
        bytes memory sig = _sign(meterKey, old);
        vm.warp(T0 + 3 * PERIOD + 60);
        uint256 overdueBefore = gl.readingOverdueAt(WITHHOLDER);
        gl.submitReading(old, sig);
        assertEq(gl.readingOverdueAt(WITHHOLDER), overdueBefore, "a late reading is as old as its stamp");
        assertLe(gl.readingOverdueAt(WITHHOLDER), vm.getBlockTimestamp());
        // A fresh reading does restart it.
        _read(WITHHOLDER, 20);
        assertGt(gl.readingOverdueAt(WITHHOLDER), vm.getBlockTimestamp());
    }

    function test_Attack_SilentHouseholdStillGetsGraceNotAnEarlyTrip() public {
        _readAfter(WITHHOLDER, 600, 10);
        vm.warp(T0 + PERIOD + 60);
        vm.prank(payer);
        gl.payBill{value: gl.amountDue(WITHHOLDER)}(WITHHOLDER);
        uint256 overdueAt = gl.readingOverdueAt(WITHHOLDER);
        assertEq(overdueAt, T0 + 3 * PERIOD);
        vm.warp(overdueAt - 1);
        assertEq(gl.permitUntil(WITHHOLDER), overdueAt + GRACE, "a grace beyond the overdue time");
        vm.warp(overdueAt + GRACE + 1);
        assertLt(gl.permitUntil(WITHHOLDER), vm.getBlockTimestamp(), "silence ends the permit");
    }

    function test_Attack_ProtectionToggleNeverTripsEarly() public {
        _readAfter(WITHHOLDER, 600, 1000);
        vm.prank(admin);
        gl.setProtected(WITHHOLDER, true);
        vm.warp(T0 + 20 * PERIOD); // long unpaid and silent while protected
        assertEq(gl.permitUntil(WITHHOLDER), FOREVER);
        vm.startPrank(admin);
        gl.setProtected(WITHHOLDER, false);
        assertGe(gl.permitUntil(WITHHOLDER), vm.getBlockTimestamp() + GRACE);
        // Toggling again does not move the lapse back either.
        gl.setProtected(WITHHOLDER, true);
        skip(60);
        gl.setProtected(WITHHOLDER, false);
        vm.stopPrank();
        assertGe(gl.permitUntil(WITHHOLDER), vm.getBlockTimestamp() + GRACE);
    }

    function test_Attack_PauseLongerThanTheTimeoutThenResume() public {
        _readAfter(HONEST, 600, 10);
        vm.prank(admin);
        gl.pause();
        vm.warp(T0 + 10 * PERIOD);
        assertEq(gl.permitUntil(HONEST), FOREVER, "held while readings and payments are impossible");
        vm.prank(admin);
        gl.unpause();
        uint256 resumed = vm.getBlockTimestamp();
        assertGe(gl.permitUntil(HONEST), resumed + GRACE);
        // The household pays and reads within the grace and keeps its supply.
        skip(60);
        vm.prank(payer);
        gl.payBill{value: gl.amountDue(HONEST)}(HONEST);
        _read(HONEST, 11);
        assertGt(gl.permitUntil(HONEST), resumed + GRACE);
        assertGt(gl.readingOverdueAt(HONEST), vm.getBlockTimestamp());
    }

    function test_Attack_CreditWithdrawalWorksWhilePaused() public {
        _registerWith(30, meterSigner, Mode.Prepaid, TARIFF, 0);
        vm.prank(payer);
        gl.topUp{value: 1 ether}(30, 1 ether);
        vm.startPrank(admin);
        gl.pause();
        gl.retireMeter(30);
        vm.stopPrank();
        uint256 before = payer.balance;
        vm.prank(payer);
        gl.withdrawCredit(30);
        assertEq(payer.balance - before, 1 ether);
    }
}
