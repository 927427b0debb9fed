// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";

import {IGridLedgerTypes} from "../src/interfaces/IGridLedger.sol";
import {LocalTime} from "../src/libraries/LocalTime.sol";

contract LocalTimeTest is Test {
    uint256 internal constant T0 = 1_767_225_600; // Thursday 2026-01-01 00:00 UTC

    function _window(int32 offset, uint16 start, uint16 end, uint8 days_)
        internal
        pure
        returns (IGridLedgerTypes.FriendlyWindow memory)
    {
        return IGridLedgerTypes.FriendlyWindow(offset, start, end, days_);
    }

    function _inside(uint256 t, IGridLedgerTypes.FriendlyWindow memory w) internal pure returns (bool) {
        uint256 local = uint256(int256(t) + w.utcOffsetSeconds);
        uint256 weekday = (local / 1 days + 3) % 7;
        if (w.friendlyDays & (1 << weekday) != 0) return true;
        return LocalTime.inWindow((local % 1 days) / 60, w.startMinute, w.endMinute);
    }

    function test_Defer_NoWindowKeepsTime() public pure {
        assertEq(LocalTime.defer(T0 + 123, _window(0, 0, 0, 0)), T0 + 123);
    }

    function test_Defer_MovesToDailyWindowEnd() public pure {
        // 22:00-06:00 local at UTC+2: 23:30 local (21:30 UTC) moves to 06:00 local (04:00 UTC next day).
        uint256 t = T0 + 21 hours + 30 minutes;
        assertEq(LocalTime.defer(t, _window(2 hours, 1320, 360, 0)), T0 + 1 days + 4 hours);
    }

    function test_Defer_SkipsWeekend() public pure {
        // Saturday and Sunday (bits 5, 6); Saturday 2026-01-03 10:00 UTC moves to Monday 00:00.
        uint256 t = T0 + 2 days + 10 hours;
        assertEq(LocalTime.defer(t, _window(0, 0, 0, (1 << 5) | (1 << 6))), T0 + 4 days);
    }

    function test_MinuteOfDay_UsesOffset() public pure {
        assertEq(LocalTime.minuteOfDay(T0, -1 hours), 23 * 60);
        assertEq(LocalTime.minuteOfDay(T0 + 90, 0), 1);
    }

    function testFuzz_Defer_LeavesEveryWindowAndIsMonotone(
        uint256 a,
        uint256 b,
        int32 offset,
        uint16 start,
        uint16 end,
        uint8 days_
    ) public pure {
        a = bound(a, T0, T0 + 3650 days);
        b = bound(b, a, a + 30 days);
        offset = int32(bound(offset, -14 hours, 14 hours));
        start = uint16(bound(start, 0, 1439));
        end = uint16(bound(end, 0, 1439));
        days_ = uint8(bound(days_, 0, 0x7e));
        IGridLedgerTypes.FriendlyWindow memory w = _window(offset, start, end, days_);
        uint256 da = LocalTime.defer(a, w);
        uint256 db = LocalTime.defer(b, w);
        assertGe(da, a);
        assertLe(da, db);
        assertFalse(_inside(da, w));
        assertLe(da, a + 8 days);
    }
}
