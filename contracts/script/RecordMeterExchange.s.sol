// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IGridLedgerProducers} from "../src/interfaces/IGridLedgerProducers.sol";
import {LedgerScript} from "./LedgerScript.sol";

/// @notice Records a meter exchange (or register reset): the old register's final reading bills its energy, and the
/// meter's readings continue from the new register. Env: METER_ID, OLD_FINAL_WH (the old register's last value),
/// NEW_INITIAL_WH (the new register's first value); optional EXCHANGED_AT (unix time of the exchange; now). A meter
/// with an export register needs its export registers too, OLD_FINAL_EXPORT_WH and NEW_INITIAL_EXPORT_WH: the old
/// meter's export since its last reading becomes its payer's tokens, and the export register continues from the new
/// meter's.
contract RecordMeterExchange is LedgerScript {
    function run() external {
        uint32 meterId = uint32(vm.envUint("METER_ID"));
        uint64 oldFinalWh = uint64(vm.envUint("OLD_FINAL_WH"));
        uint64 newInitialWh = uint64(vm.envUint("NEW_INITIAL_WH"));
        uint32 exchangedAt = uint32(vm.envOr("EXCHANGED_AT", block.timestamp));
        bool bidirectional = vm.envExists("OLD_FINAL_EXPORT_WH");
        vm.startBroadcast();
        if (bidirectional) {
            IGridLedgerProducers(address(ledger()))
                .recordBidirectionalMeterExchange(
                    meterId,
                    oldFinalWh,
                    uint64(vm.envUint("OLD_FINAL_EXPORT_WH")),
                    newInitialWh,
                    uint64(vm.envUint("NEW_INITIAL_EXPORT_WH")),
                    exchangedAt
                );
        } else {
            ledger().recordMeterExchange(meterId, oldFinalWh, newInitialWh, exchangedAt);
        }
        vm.stopBroadcast();
    }
}
