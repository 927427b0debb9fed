// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {StdInvariant} from "forge-std/StdInvariant.sol";

import {IEnergyAuction} from "../src/interfaces/IEnergyAuction.sol";
import {AuctionHandler, IAuctionBank, NoNativeReceiver} from "./handlers/AuctionHandler.sol";
import {AuctionTestBase} from "./utils/AuctionTestBase.sol";

/// @dev Whatever households, a seller's shill, a griefer and the operator interleave: the escrow holds exactly what
/// is owed, every lot pays out once, no bid lands after its deadline, and nobody gains or loses a Wh or a base unit
/// beyond what the rules give them (per account, against the handler's own model).
abstract contract EnergyAuctionInvariantsTest is AuctionTestBase, IAuctionBank {
    AuctionHandler internal handler;

    function _setUpInvariants(bool token) internal {
        _setUpAuction(token);
        handler = new AuctionHandler(auction, this, admin, address(new NoNativeReceiver()));
        handler.fundActors();
        bytes4[] memory selectors = new bytes4[](11);
        selectors[0] = AuctionHandler.offer.selector;
        selectors[1] = AuctionHandler.bid.selector;
        selectors[2] = AuctionHandler.shillBid.selector;
        selectors[3] = AuctionHandler.lateBid.selector;
        selectors[4] = AuctionHandler.cancel.selector;
        selectors[5] = AuctionHandler.finalize.selector;
        selectors[6] = AuctionHandler.withdrawRefund.selector;
        selectors[7] = AuctionHandler.withdrawProceeds.selector;
        selectors[8] = AuctionHandler.warp.selector;
        selectors[9] = AuctionHandler.setFee.selector;
        selectors[10] = AuctionHandler.withdrawFees.selector;
        targetSelector(StdInvariant.FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    function mintWh(address to, uint256 wh) external {
        _mintWh(to, wh);
    }

    function fund(address to, uint256 amount) external {
        _fund(to, amount);
    }

    /// @dev Escrowed money = standing bids of open lots + withdrawable refunds + unwithdrawn proceeds and fees.
    /// (`fees` is checked against the model in `invariant_NoAccountGainsOrLoses`.)
    function invariant_EscrowedMoneyIsExactlyOwed() public view {
        address[] memory accounts = handler.accounts();
        uint256 owed = handler.standingBids() + auction.fees();
        for (uint256 i; i < accounts.length; ++i) {
            owed += auction.refundOf(accounts[i]) + auction.proceedsOf(accounts[i]);
        }
        assertEq(_money(address(auction)), owed, "held != owed");
        assertEq(_money(address(auction)), handler.moneyIn() - handler.moneyOut(), "held != in - out");
    }

    /// @dev Escrowed tokens = tokens of open lots.
    function invariant_EscrowedTokensAreTheOpenLots() public view {
        assertEq(kwh.balanceOf(address(auction)), handler.openLotsWh());
    }

    /// @dev Every account holds, and is owed, exactly what the rules give it: nothing lost, nothing made.
    function invariant_NoAccountGainsOrLoses() public view {
        address[] memory accounts = handler.accounts();
        uint256 actors = handler.actorCount();
        for (uint256 i; i < accounts.length; ++i) {
            address a = accounts[i];
            uint256 initialWh = i < actors ? handler.INITIAL_WH() : 0;
            uint256 initialMoney = i < actors ? handler.INITIAL_MONEY() : 0;
            assertEq(int256(kwh.balanceOf(a)), int256(initialWh) + handler.expectedWhDelta(a), "tokens");
            assertEq(int256(_money(a)), int256(initialMoney) + handler.expectedMoneyDelta(a), "money");
            assertEq(auction.refundOf(a), handler.expectedRefund(a), "refund");
            assertEq(auction.proceedsOf(a), handler.expectedProceeds(a), "proceeds");
        }
        assertEq(auction.fees(), handler.expectedFees(), "fees");
    }

    /// @dev The contract's lots are the model's: status, standing bid, deadline (with its extensions).
    function invariant_LotsFollowTheRules() public view {
        for (uint256 id = 1; id <= handler.lotCount(); ++id) {
            IEnergyAuction.Lot memory l = auction.lot(id);
            AuctionHandler.Model memory m = handler.model(id);
            assertEq(uint8(l.status), uint8(m.status), "status");
            assertEq(l.bidder, m.bidder, "bidder");
            assertEq(l.pricePerKWh, m.price, "price");
            assertEq(l.deadline, m.deadline, "deadline");
            assertEq(l.feeBps, m.feeBps, "fee fixed at offer");
            assertLe(m.payouts, 1, "paid out twice");
        }
        assertEq(auction.nextLotId(), handler.lotCount() + 1);
    }

    function invariant_NoLateBidNoDoublePayoutNoSurprise() public view {
        assertEq(handler.lateBidsAccepted(), 0, "bid after the deadline");
        assertEq(handler.doublePayouts(), 0, "lot paid out twice");
        assertEq(handler.unexpectedOutcomes(), 0, "a call did not do what the rules say");
        assertEq(handler.othersBlocked(), 0, "a withdrawal blocked by someone else");
    }

    /// @dev The handler's actions reach every path the invariants speak about: a fixed sequence through them.
    function test_HandlerReachesEveryPath() public {
        handler.setFee(250, 1);
        handler.offer(0, 2500, 100_000, 1 hours); // lot 1: actor 0
        handler.offer(1, 1000, 50_000, 1 hours); // lot 2: actor 1
        handler.offer(2, 700, 70_000, 1 hours); // lot 3: actor 2
        handler.bid(3, 0, 0, false); // the griefer leads lot 1
        handler.bid(1, 0, 10, true); // under the increment: refused
        handler.shillBid(0, 5); // actor 0's second address outbids the griefer
        handler.bid(2, 0, 1000, false);
        handler.cancel(1, 1); // lot 2 cancelled by its seller
        handler.cancel(0, 0); // lot 1: under a bid, refused
        vm.warp(block.timestamp + 1 hours - 1);
        handler.bid(1, 0, 0, false); // a late bid: extended
        handler.lateBid(3, 0, 30);
        handler.finalize(0, 0);
        handler.finalize(2, 0); // lot 3: unsold
        handler.withdrawRefund(3);
        handler.withdrawRefund(4);
        handler.withdrawProceeds(0); // actor 0, the seller
        handler.withdrawFees(0); // a former recipient: refused
        handler.withdrawFees(1);
        assertEq(handler.sold(), 1);
        assertEq(handler.unsold(), 1);
        assertEq(handler.cancelled(), 1);
        assertEq(handler.outbids(), 3);
        assertEq(handler.extensions(), 1);
        assertEq(handler.shillBids(), 1);
        assertEq(handler.refusedRefunds(), native ? 1 : 0, "the griefer cannot take its refund in the native coin");
        assertEq(handler.unexpectedOutcomes(), 0);
        assertEq(handler.lateBidsAccepted(), 0);
        assertGt(_money(handler.feeRecipients(1)), 0, "fees withdrawn");
        assertEq(auction.fees(), 0);
        invariant_EscrowedMoneyIsExactlyOwed();
        invariant_EscrowedTokensAreTheOpenLots();
        invariant_NoAccountGainsOrLoses();
        invariant_LotsFollowTheRules();
    }
}

contract EnergyAuctionInvariantsNativeTest is EnergyAuctionInvariantsTest {
    function setUp() public {
        _setUpInvariants(false);
    }
}

contract EnergyAuctionInvariantsTokenTest is EnergyAuctionInvariantsTest {
    function setUp() public {
        _setUpInvariants(true);
    }
}
