// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IGridLedgerTypes} from "../src/interfaces/IGridLedger.sol";
import {LedgerScript} from "./LedgerScript.sol";

/// @notice Registers a meter. Env: METER_ID, METER_SIGNER, PAYER, FEEDER_ID, TARIFF_ID; optional MODE
/// ("postpaid" default, or "prepaid"), MAX_POWER_W (20000), INITIAL_WH (0).
contract RegisterMeter is LedgerScript {
    function run() external {
        uint32 meterId = uint32(vm.envUint("METER_ID"));
        bool prepaid = keccak256(bytes(vm.envOr("MODE", string("postpaid")))) == keccak256("prepaid");
        IGridLedgerTypes.MeterParams memory p = IGridLedgerTypes.MeterParams({
            signer: vm.envAddress("METER_SIGNER"),
            payer: vm.envAddress("PAYER"),
            feederId: uint32(vm.envUint("FEEDER_ID")),
            tariffId: uint32(vm.envUint("TARIFF_ID")),
            mode: prepaid ? IGridLedgerTypes.Mode.Prepaid : IGridLedgerTypes.Mode.Postpaid,
            maxPowerW: uint32(vm.envOr("MAX_POWER_W", uint256(20_000))),
            initialWh: uint64(vm.envOr("INITIAL_WH", uint256(0)))
        });
        vm.startBroadcast();
        ledger().registerMeter(meterId, p);
        vm.stopBroadcast();
    }
}
