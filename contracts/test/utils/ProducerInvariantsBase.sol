// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IGridLedgerProducerTypes} from "../../src/interfaces/IGridLedgerProducers.sol";
import {ProducerHandler} from "../handlers/ProducerHandler.sol";
import {LedgerTestBase} from "./LedgerTestBase.sol";

/// @dev The set-up and the signed-export checks that the producer invariant suites share.
abstract contract ProducerInvariantsBase is LedgerTestBase {
    uint32 internal constant MAX_EXPORT = 10_000;

    /// @dev Registers the handler's meters (the first `PRODUCERS` with an export register; 2 and 4 prepaid), prices
    /// the tariff's feed-in and network charge, and fuzzes the handler.
    function _setUpProducers(ProducerHandler h) internal {
        vm.startPrank(admin);
        for (uint256 i; i < h.METERS(); ++i) {
            Mode mode = i == 2 || i == 4 ? Mode.Prepaid : Mode.Postpaid;
            gl.registerMeter(h.ids(i), MeterParams(meterSigner, h.householdOf(i), FEEDER, TARIFF, mode, MAX_POWER, 0));
            if (i < h.PRODUCERS()) pgl.enableExport(h.ids(i), MAX_EXPORT, 0);
        }
        pgl.setProducerTariff(TARIFF, IGridLedgerProducerTypes.ProducerTariff(80_000, 100_000));
        vm.stopPrank();
        targetContract(address(h));
    }

    /// @dev Every accepted export register was signed by the meter, is neither bad nor a replay, and added its delta;
    /// no honest reading was refused and every claim reached the meter's payer.
    function _assertOnlySignedExport(ProducerHandler h) internal view {
        assertEq(h.unsignedAccepted(), 0, "unsigned export accepted");
        assertEq(h.badAccepted(), 0, "bad export accepted");
        assertEq(h.acceptedTwice(), 0, "replay accepted");
        assertEq(h.deltaMismatches(), 0, "export delta");
        assertEq(h.honestRejected(), 0, "honest reading rejected");
        assertEq(h.misdirectedClaims(), 0, "claim not to the payer");
    }
}
