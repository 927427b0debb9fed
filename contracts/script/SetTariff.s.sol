// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IGridLedgerTypes} from "../src/interfaces/IGridLedger.sol";
import {LedgerScript} from "./LedgerScript.sol";

/// @notice Sets a tariff (a new id applies now, a change from the next period). Env: TARIFF_ID, PRICE_PER_KWH;
/// optional UTC_OFFSET (seconds), EMERGENCY_CREDIT, LOW_CREDIT_THRESHOLD, and time-of-use bands as three
/// comma-separated lists of equal length: BAND_STARTS and BAND_ENDS (local minutes of the day), BAND_PRICES.
contract SetTariff is LedgerScript {
    function run() external {
        uint256[] memory none = new uint256[](0);
        uint256[] memory starts = vm.envOr("BAND_STARTS", ",", none);
        uint256[] memory ends = vm.envOr("BAND_ENDS", ",", none);
        uint256[] memory prices = vm.envOr("BAND_PRICES", ",", none);
        require(starts.length == ends.length && ends.length == prices.length, "band lists differ in length");
        IGridLedgerTypes.Tariff memory t;
        t.pricePerKWh = uint64(vm.envUint("PRICE_PER_KWH"));
        t.utcOffsetSeconds = int32(vm.envOr("UTC_OFFSET", int256(0)));
        t.emergencyCredit = uint96(vm.envOr("EMERGENCY_CREDIT", uint256(0)));
        t.lowCreditThreshold = uint96(vm.envOr("LOW_CREDIT_THRESHOLD", uint256(0)));
        t.bands = new IGridLedgerTypes.Band[](starts.length);
        for (uint256 i; i < starts.length; ++i) {
            t.bands[i] = IGridLedgerTypes.Band(uint16(starts[i]), uint16(ends[i]), uint64(prices[i]));
        }
        uint32 tariffId = uint32(vm.envUint("TARIFF_ID"));
        vm.startBroadcast();
        ledger().setTariff(tariffId, t);
        vm.stopBroadcast();
    }
}
