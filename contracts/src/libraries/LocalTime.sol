// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IGridLedger} from "../interfaces/IGridLedger.sol";

/// @title LocalTime
/// @notice Local wall-clock arithmetic for tariff bands and the operator's friendly window.
/// @dev Local time is UTC plus a fixed offset; calendar days start at local midnight and 1970-01-01 was a Thursday.
library LocalTime {
    uint256 internal constant DAY = 86_400;
    /// @dev Offsets beyond ±14 h do not exist anywhere.
    int256 internal constant MAX_OFFSET = 14 hours;

    /// @notice Minute of the local day (0..1439) of UTC time `t`.
    function minuteOfDay(uint256 t, int32 utcOffsetSeconds) internal pure returns (uint256) {
        return (_local(t, utcOffsetSeconds) % DAY) / 60;
    }

    /// @notice Local minutes since the epoch of UTC time `t` (its minute of the day is this modulo 1440).
    function minuteOf(uint256 t, int32 utcOffsetSeconds) internal pure returns (uint256) {
        return _local(t, utcOffsetSeconds) / 60;
    }

    /// @notice Whether `minute` lies in `[start, end)`, wrapping over midnight when `start > end`.
    function inWindow(uint256 minute, uint16 start, uint16 end) internal pure returns (bool) {
        if (start == end) return false;
        if (start < end) return minute >= start && minute < end;
        return minute >= start || minute < end;
    }

    /// @notice Moves `t` to the end of the friendly window (or friendly day) it falls in, repeatedly, so the result
    /// lies outside every friendly window. Monotone: `a <= b` implies `defer(a) <= defer(b)`.
    function defer(uint256 t, IGridLedger.FriendlyWindow memory w) internal pure returns (uint256) {
        if (w.friendlyDays == 0 && w.startMinute == w.endMinute) return t;
        int256 offset = w.utcOffsetSeconds;
        // At most 6 friendly days in a row (validated on set), each with one daily window: 16 steps suffice.
        for (uint256 i; i < 16; ++i) {
            uint256 local = _local(t, w.utcOffsetSeconds);
            uint256 day = local / DAY;
            uint256 weekday = (day + 3) % 7; // 0 = Monday
            if (w.friendlyDays & (1 << weekday) != 0) {
                t = uint256(int256((day + 1) * DAY) - offset);
                continue;
            }
            uint256 minute = (local % DAY) / 60;
            if (!inWindow(minute, w.startMinute, w.endMinute)) return t;
            uint256 endDay = (w.startMinute > w.endMinute && minute >= w.startMinute) ? day + 1 : day;
            t = uint256(int256(endDay * DAY + uint256(w.endMinute) * 60) - offset);
        }
        return t;
    }

    function _local(uint256 t, int32 utcOffsetSeconds) private pure returns (uint256) {
        // Timestamps handled here are real block or reading times (far above 14 h), so this cannot go negative.
        return uint256(int256(t) + utcOffsetSeconds);
    }
}
