// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ProducerHandler} from "../handlers/ProducerHandler.sol";
import {ProducerInvariantsBase} from "../utils/ProducerInvariantsBase.sol";

/// @dev Whatever producers, consumers, relayers and the operator interleave, energy tokens are exactly the signed
/// export, each Wh is settled once, money is conserved and the operator takes only its own.
contract AttackProducerInvariantsTest is ProducerInvariantsBase {
    ProducerHandler internal handler;

    function setUp() public {
        _deploy(false);
        handler = new ProducerHandler(gl, admin, meterKey);
        _setUpProducers(handler);
    }

    /// @dev Tokens in circulation, pending and settled (redeemed or sold) are the accepted export deltas, exactly;
    /// every accepted export register was signed by the meter and is neither bad nor a replay.
    function invariant_Attack_TokensAreExactlySignedExport() public view {
        uint256 supply = kwh.totalSupply();
        assertEq(
            supply + handler.pendingAndProjected() + handler.redeemedWh() + handler.soldWh(),
            handler.exportDeltas(),
            "supply + pending + settled"
        );
        assertEq(supply, handler.mintedWh() - handler.burnedWh(), "supply");
        assertEq(handler.mintedWh(), handler.claimedWh(), "minted only by claims");
        _assertOnlySignedExport(handler);
    }

    /// @dev Pending tokens belong to the payer the export was metered for: every household holds, plus the pending Wh
    /// of the meters it pays now, exactly the export metered while it paid them, plus pending tokens a payer handed on
    /// to it with a meter and tokens transferred to it, less what it redeemed, sold back, handed on and transferred.
    /// So whoever claims, the tokens reach that payer, and the registrar never moved a meter with tokens pending.
    function invariant_Attack_PendingTokensGoToThePayerTheyWereMeteredFor() public view {
        for (uint256 i; i < handler.METERS(); ++i) {
            assertEq(gl.meter(handler.ids(i)).payer, handler.payerOfMeter(handler.ids(i)), "payer");
        }
        for (uint256 h; h < handler.HOUSEHOLDS(); ++h) {
            address holder = handler.householdOf(h);
            uint256 pending;
            for (uint256 i; i < handler.PRODUCERS(); ++i) {
                uint32 id = handler.ids(i);
                if (handler.payerOfMeter(id) == holder) pending += handler.storedPendingWh(id);
            }
            assertEq(
                kwh.balanceOf(holder) + pending + handler.tokensOut(holder),
                handler.tokensIn(holder),
                "tokens reached another payer"
            );
        }
        assertEq(handler.registrarMovedPending(), 0, "the registrar moved a meter with tokens pending");
    }

    /// @dev Redemption burns what it redeems, a bill's energy is redeemed at most once, sell-back pays the feed-in.
    function invariant_Attack_EachWhSettledOnce() public view {
        assertEq(handler.burnMismatches(), 0, "tokens taken != Wh settled");
        assertEq(handler.overRedeemedBills(), 0, "bill redeemed beyond its energy");
        assertEq(handler.sellBackMismatches(), 0, "sell-back payout");
        assertLe(handler.burnedWh(), handler.redeemedWh() + handler.soldWh(), "burned beyond settled");
    }

    function invariant_Attack_MoneyConservedWithFeedIn() public view {
        assertEq(address(gl).balance, handler.moneyIn() - handler.moneyOut());
    }

    /// @dev Households' credit, their sell-back proceeds and the feed-in funds stay in the ledger whatever the
    /// operator withdraws; redemption never turns a debt into credit.
    function invariant_Attack_OperatorTakesOnlyItsOwn() public view {
        assertLe(gl.liability() + handler.totalProceeds() + pgl.feedInFunds(), address(gl).balance, "owed > held");
        uint256 positive;
        for (uint256 i; i < handler.METERS(); ++i) {
            int256 b = gl.meter(handler.ids(i)).balance;
            if (b > 0) positive += uint256(b);
        }
        assertEq(gl.liability(), positive, "liability");
        assertEq(handler.operatorOverreach(), 0, "operator took what it owes");
        assertEq(handler.stuckWithdrawals(), 0, "proceeds not paid out");
        assertEq(handler.redemptionCredit(), 0, "redemption made credit");
        assertEq(handler.redemptionOverpriced(), 0, "redemption took more off than the energy's price");
    }

    function invariant_Attack_ImportOnlyBillsUntouched() public view {
        assertEq(handler.importOnlyDisturbed(), 0, "producer action moved an import-only meter");
        assertEq(handler.importOnlyMispriced(), 0, "import-only bill");
    }
}
