// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {PlantHandler} from "../handlers/PlantHandler.sol";
import {ProducerInvariantsBase} from "../utils/ProducerInvariantsBase.sol";

/// @dev Whatever plants, producers, consumers, relayers and the registrar interleave (plant readings good and bad,
/// claims by anyone, owner moves, late plants, meter exchanges with honest or bad final registers), energy tokens are
/// exactly the signed export and the signed plant output since each plant was enabled.
contract AttackPlantInvariantsTest is ProducerInvariantsBase {
    uint256 internal constant PLANT_KEY = 0x501A2;

    PlantHandler internal handler;

    function setUp() public {
        _deploy(false);
        handler = new PlantHandler(gl, admin, meterKey, PLANT_KEY);
        _setUpProducers(handler);
    }

    /// @dev Tokens minted, pending and settled are the accepted export deltas (signed, plus the old meters' final
    /// export at exchanges) and the accepted plant deltas, exactly; only claims mint.
    function invariant_Attack_TokensAreExactlySignedExportAndPlantOutput() public view {
        uint256 supply = kwh.totalSupply();
        assertEq(
            supply + handler.pendingAndDue() + handler.plantPending() + handler.redeemedWh() + handler.soldWh(),
            handler.exportDeltas() + handler.exchangeDeltas() + handler.plantDeltas(),
            "supply + pending + settled"
        );
        assertEq(supply, handler.mintedWh() - handler.burnedWh(), "supply");
        assertEq(handler.mintedWh(), handler.claimedWh() + handler.plantClaimedWh(), "minted only by claims");
        _assertOnlySignedExport(handler);
    }

    /// @dev Only the plant's own key mints, each signed reading once, from the register it had when it became a plant.
    function invariant_Attack_PlantsMintOnlyTheirSignedOutput() public view {
        assertEq(handler.plantUnsignedAccepted(), 0, "plant reading not signed by its key");
        assertEq(handler.plantBadAccepted(), 0, "bad plant reading accepted");
        assertEq(handler.plantAcceptedTwice(), 0, "plant replay accepted");
        assertEq(handler.plantHonestRejected(), 0, "honest plant reading rejected");
        assertEq(handler.plantMismatches(), 0, "plant register or starting register");
        assertEq(handler.plantMisdirected(), 0, "plant claim not to its owner");
        assertEq(handler.ownerMovedWithPending(), 0, "registrar moved a plant with tokens pending");
    }

    /// @dev An exchange accrues exactly the old meter's final export since its last reading, never less than signed.
    function invariant_Attack_ExchangesKeepEveryExportedWh() public view {
        assertEq(handler.exchangeMismatches(), 0, "exchange export delta");
        assertEq(handler.exchangeHonestRejected(), 0, "honest exchange rejected");
        assertEq(handler.exchangeBadAccepted(), 0, "lower or inflated final export accepted");
        assertEq(handler.importOnlyDisturbed(), 0, "producer action moved an import-only meter");
    }

    /// @dev The handler's per-period bill books assume one bill a period; an exchange issues its period's bill early, so
    /// the bills are checked on the ledger's state after every call instead: no bill redeemed beyond its energy.
    function invariant_Attack_MoneyConservedWithPlantsAndExchanges() public view {
        assertEq(address(gl).balance, handler.moneyIn() - handler.moneyOut());
        assertLe(gl.liability() + handler.totalProceeds() + pgl.feedInFunds(), address(gl).balance, "owed > held");
        assertEq(handler.redemptionCredit(), 0, "redemption made credit");
        for (uint256 i; i < handler.PRODUCERS(); ++i) {
            uint32 id = handler.ids(i);
            assertLe(pgl.producerInfo(id).billRedeemedWh, gl.billOf(id).energyWh, "bill redeemed beyond its energy");
        }
    }
}
