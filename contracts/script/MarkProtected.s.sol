// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {LedgerScript} from "./LedgerScript.sol";

/// @notice Marks a household protected (its permit never ends). Env: METER_ID; optional PROTECTED (true; false
/// removes the protection).
contract MarkProtected is LedgerScript {
    function run() external {
        uint32 meterId = uint32(vm.envUint("METER_ID"));
        bool isProtected = vm.envOr("PROTECTED", true);
        vm.startBroadcast();
        ledger().setProtected(meterId, isProtected);
        vm.stopBroadcast();
    }
}
