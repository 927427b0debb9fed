// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IGridLedgerTypes} from "../src/interfaces/IGridLedger.sol";
import {LedgerScript} from "./LedgerScript.sol";

/// @notice Sets the friendly schedule. Env (all optional, default 0): UTC_OFFSET (seconds), START_MINUTE,
/// END_MINUTE (local minutes of the day; equal disables the daily window), FRIENDLY_DAYS (bit 0 Monday .. 6 Sunday).
contract SetFriendlyWindow is LedgerScript {
    function run() external {
        IGridLedgerTypes.FriendlyWindow memory w = IGridLedgerTypes.FriendlyWindow({
            utcOffsetSeconds: int32(vm.envOr("UTC_OFFSET", int256(0))),
            startMinute: uint16(vm.envOr("START_MINUTE", uint256(0))),
            endMinute: uint16(vm.envOr("END_MINUTE", uint256(0))),
            friendlyDays: uint8(vm.envOr("FRIENDLY_DAYS", uint256(0)))
        });
        vm.startBroadcast();
        ledger().setFriendlyWindow(w);
        vm.stopBroadcast();
    }
}
