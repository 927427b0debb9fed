// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {LedgerScript} from "./LedgerScript.sol";

/// @notice Registers a feeder. Env: FEEDER_ID, FEEDER_SIGNER; optional PARENT_ID (0: root), LOSS_TOLERANCE_BPS (500),
/// MAX_POWER_W (the feeder's rating, default 1,000,000 W).
contract RegisterFeeder is LedgerScript {
    function run() external {
        uint32 feederId = uint32(vm.envUint("FEEDER_ID"));
        address signer = vm.envAddress("FEEDER_SIGNER");
        uint32 parentId = uint32(vm.envOr("PARENT_ID", uint256(0)));
        uint16 tolerance = uint16(vm.envOr("LOSS_TOLERANCE_BPS", uint256(500)));
        uint32 maxPowerW = uint32(vm.envOr("MAX_POWER_W", uint256(1_000_000)));
        vm.startBroadcast();
        ledger().registerFeeder(feederId, signer, parentId, tolerance, maxPowerW);
        vm.stopBroadcast();
    }
}
