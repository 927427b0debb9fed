// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {LedgerTestBase} from "./utils/LedgerTestBase.sol";

/// @dev Nobody lowers a time-of-use bill by choosing which signed readings to relay.
contract GridLedgerTimeOfUseFairnessTest is LedgerTestBase {
    uint32 internal constant TOU = 4;
    uint32 internal constant ALL = 7; // relays every reading
    uint32 internal constant SOME = 8; // relays the same readings, some withheld
    uint256 internal constant READINGS = 8;

    function setUp() public {
        _deploy(false);
        Tariff memory t = _flat(PRICE);
        t.bands = new Band[](3);
        t.bands[0] = Band(5, 15, 900_000); // 00:05-00:15, dear
        t.bands[1] = Band(20, 35, 50_000); // 00:20-00:35, cheap
        t.bands[2] = Band(40, 50, 600_000); // 00:40-00:50
        vm.prank(admin);
        gl.setTariff(TOU, t);
        _registerWith(ALL, meterSigner, Mode.Postpaid, TOU, 0);
        _registerWith(SOME, meterSigner, Mode.Postpaid, TOU, 0);
    }

    function _relay(uint32 id, uint64 wh) internal {
        _read(id, wh);
    }

    /// @dev Readings at random times within period 1 with random plausible energy; `SOME` relays the subsequence
    /// picked by `mask` (always the last reading, so both meters report the same energy).
    function testFuzz_TimeOfUse_WithheldReadingsNeverCostLess(uint256 seed, uint8 mask) public {
        uint256 t = T0;
        uint64 wh;
        for (uint256 i; i < READINGS; ++i) {
            uint256 dt = bound(uint256(keccak256(abi.encode(seed, i))), 1, (PERIOD - 1) / READINGS);
            t += dt;
            wh += uint64(bound(uint256(keccak256(abi.encode(seed, i, 1))), 0, uint256(MAX_POWER) * dt / 3600));
            vm.warp(t);
            _relay(ALL, wh);
            if (mask & (1 << i) != 0 || i == READINGS - 1) _relay(SOME, wh);
        }
        vm.warp(T0 + PERIOD + 60);
        assertEq(gl.billOf(SOME).energyWh, gl.billOf(ALL).energyWh);
        assertGe(gl.billOf(SOME).amount, gl.billOf(ALL).amount);
    }

    /// @dev The attack the dearest-band rule stops: 1,000 Wh used in the dear band, reported only from the cheap one.
    function test_TimeOfUse_WithholdingTheDearBandsReadingDoesNotShrinkTheBill() public {
        vm.warp(T0 + 4 minutes);
        _relay(ALL, 0);
        _relay(SOME, 0);
        vm.warp(T0 + 14 minutes);
        _relay(ALL, 1000); // used in the dear band
        vm.warp(T0 + 25 minutes);
        _relay(ALL, 1010);
        _relay(SOME, 1010); // relayed only from the cheap band: the interval still touched the dear one
        vm.warp(T0 + PERIOD + 60);
        assertEq(gl.billOf(SOME).amount, 1010 * uint256(900_000) / 1000);
        assertGe(gl.billOf(SOME).amount, gl.billOf(ALL).amount);
    }

    function test_TimeOfUse_DayLongIntervalTakesDearestBandOfTheDay() public {
        vm.warp(T0 + 1 days + 2 hours); // 02:00 the next day, outside every band
        _relay(ALL, 100); // the interval since registration spans more than a day: every band
        vm.warp(T0 + 1 days + 3 hours + 60);
        // Energy of whole periods without a reading is added to the bill the reading issued (period 1's).
        assertEq(gl.meterBalance(ALL), -int256(100 * uint256(900_000) / 1000));
    }
}

/// @dev A meter that stops reporting becomes "reading overdue" and then takes the normal, fair trip path.
contract GridLedgerReadingOverdueTest is LedgerTestBase {
    uint32 internal constant M = 7;
    uint32 internal constant P = 8; // prepaid
    uint32 internal constant TIMEOUT = 3;

    function setUp() public {
        readingTimeout = TIMEOUT;
        _deploy(false);
        _register(M, Mode.Postpaid);
        _register(P, Mode.Prepaid);
        vm.prank(payer);
        gl.topUp{value: 1 ether}(P, 1 ether);
        _readAfter(M, 600, 0); // period 1: nothing used, nothing owed
        _read(P, 0);
    }

    function test_PostpaidPermit_EndsWhenReadingsOverdue() public {
        uint256 overdueAt = T0 + 4 * PERIOD; // three full periods (2, 3, 4) without a reading after period 1
        assertEq(gl.readingOverdueAt(M), overdueAt);
        vm.warp(overdueAt + 60);
        assertEq(gl.permitUntil(M), overdueAt + GRACE, "not rolling forward any more");
        vm.expectEmit(address(gl));
        emit ReadingOverdue(M, 1, overdueAt);
        gl.settle(M);
        assertEq(gl.permitUntil(M), overdueAt + GRACE);
        _read(M, 10); // a reading restores the normal permit
        assertEq(gl.permitUntil(M), T0 + 5 * PERIOD + WINDOW + GRACE);
        assertEq(gl.readingOverdueAt(M), T0 + 8 * PERIOD);
    }

    function test_PrepaidPermit_EndsWhenReadingsOverdue() public view {
        assertEq(gl.permitUntil(P), T0 + 4 * PERIOD + GRACE);
    }

    function test_ReadingOverdue_FriendlyWindowAndProtectionApply() public {
        vm.startPrank(admin);
        gl.setFriendlyWindow(FriendlyWindow(0, 240, 360, 0)); // 04:00-06:00 UTC
        assertEq(gl.permitUntil(P), T0 + 6 hours, "moved to the window's end");
        gl.setProtected(P, true);
        vm.stopPrank();
        vm.warp(T0 + 30 * PERIOD);
        assertEq(gl.permitUntil(P), FOREVER);
    }

    function test_ReadingsWithinTheTimeout_KeepPermitRolling() public {
        for (uint256 p = 2; p < 10; ++p) {
            vm.warp(T0 + (p - 1) * PERIOD + 60);
            _read(M, 0); // nothing used: nothing owed
        }
        assertEq(gl.permitUntil(M), T0 + 9 * PERIOD + WINDOW + GRACE);
    }
}
