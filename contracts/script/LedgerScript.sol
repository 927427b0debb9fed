// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Script} from "forge-std/Script.sol";
import {VmSafe} from "forge-std/Vm.sol";

import {IGridLedger} from "../src/interfaces/IGridLedger.sol";

/// @dev Shared by the operator scripts: where deployments are recorded and which ledger to talk to.
abstract contract LedgerScript is Script {
    /// @dev `DEPLOYMENTS_PATH`, or deployments/<chain id>.json (paths must stay under deployments/).
    function deploymentsPath() internal view returns (string memory) {
        return vm.envOr(
            "DEPLOYMENTS_PATH", string.concat(vm.projectRoot(), "/deployments/", vm.toString(block.chainid), ".json")
        );
    }

    /// @dev `LEDGER`, or the `gridLedger` address recorded by Deploy for this chain.
    function ledger() internal view returns (IGridLedger) {
        address fromEnv = vm.envOr("LEDGER", address(0));
        if (fromEnv != address(0)) return IGridLedger(fromEnv);
        return IGridLedger(vm.parseJsonAddress(vm.readFile(deploymentsPath()), ".gridLedger"));
    }

    /// @dev The account `--private-key` (or `--account`) broadcasts from.
    function broadcaster() internal returns (address sender) {
        (VmSafe.CallerMode mode, address msgSender,) = vm.readCallers();
        require(mode == VmSafe.CallerMode.RecurrentBroadcast, "broadcast first");
        sender = msgSender;
    }
}
