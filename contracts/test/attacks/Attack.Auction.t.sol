// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

import {GridLedger} from "../../src/GridLedger.sol";
import {GridLedgerBase} from "../../src/GridLedgerBase.sol";
import {IEnergyAuction} from "../../src/interfaces/IEnergyAuction.sol";
import {EnergyAuction} from "../../src/market/EnergyAuction.sol";
import {EnergyToken} from "../../src/token/EnergyToken.sol";
import {NoNativeReceiver} from "../handlers/AuctionHandler.sol";
import {FeeOnTransferToken} from "../mocks/FeeOnTransferToken.sol";
import {AuctionTestBase} from "../utils/AuctionTestBase.sol";

/// @dev A payment token whose every transfer calls back into the auction, as a hostile token's hook would: it tries to
/// bid, withdraw, finalize and cancel from inside the auction's own transfer.
contract AuctionHookToken is ERC20 {
    EnergyAuction public auction;
    uint256 public lotId;
    uint256 public reentries;
    uint256 public reentriesRefused;

    constructor() ERC20("Hook USD", "hUSD") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function aim(EnergyAuction auction_, uint256 lotId_) external {
        auction = auction_;
        lotId = lotId_;
        _approve(address(this), address(auction_), type(uint256).max);
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (address(auction) == address(0) || from == address(0) || to == address(0)) return;
        ++reentries;
        bytes[5] memory calls = [
            abi.encodeCall(IEnergyAuction.bid, (lotId, 10 ** 12)),
            abi.encodeCall(IEnergyAuction.withdrawRefund, ()),
            abi.encodeCall(IEnergyAuction.withdrawProceeds, ()),
            abi.encodeCall(IEnergyAuction.finalize, (lotId)),
            abi.encodeCall(IEnergyAuction.cancel, (lotId))
        ];
        for (uint256 i; i < calls.length; ++i) {
            (bool ok,) = address(auction).call(calls[i]);
            if (!ok) ++reentriesRefused;
        }
    }
}

/// @dev Attacks on the auction: a seller bidding through a second address, a re-entering payment token, a fee-on-
/// transfer token, a bidder that refuses payments (trying to block others), a sniper, a relayed permit.
contract AttackAuctionTest is AuctionTestBase {
    address internal shill = makeAddr("shill");

    function setUp() public {
        _setUpAuction(false);
    }

    /// @dev The seller's second address can bid (no contract can tell two addresses of one person apart), but it
    /// only raises the price an honest buyer pays if that buyer values the lot more; if the shill wins, the seller
    /// buys its own tokens back and pays the fee. Honest bidders' money is never at risk.
    function test_Attack_ShillBiddingOnlyCostsTheSeller() public {
        _setFee(200);
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        uint256 honest = _bid(alice, id, START_PRICE);
        uint256 shillPaid = _bid(shill, id, START_PRICE * 3);
        assertEq(auction.refundOf(alice), honest, "the honest bidder's money is its refund, whole");
        vm.warp(T0 + DURATION);
        auction.finalize(id);
        assertEq(kwh.balanceOf(shill), LOT_WH, "the seller's tokens came back to it");
        uint256 fee = shillPaid * 200 / 10_000;
        assertEq(auction.proceedsOf(seller), shillPaid - fee, "the seller lost the fee");
        vm.prank(alice);
        auction.withdrawRefund();
        assertEq(_money(alice), honest);
    }

    /// @dev A bidder that accepts no native coin (a contract) leads, is outbid, and wins another lot: nobody else's
    /// bid, finalization or withdrawal depends on it; only its own withdrawal fails, and its money stays owed to it.
    function test_Attack_RefusingBidderBlocksNobody() public {
        address griefer = address(new NoNativeReceiver());
        uint256 a = _offer(LOT_WH, START_PRICE, DURATION);
        uint256 b = _offer(1000, START_PRICE, DURATION);
        uint256 lost = _bid(griefer, a, START_PRICE);
        _bid(griefer, b, START_PRICE);
        uint256 alicePaid = _bid(alice, a, START_PRICE * 2);
        vm.warp(T0 + DURATION);
        auction.finalize(a);
        auction.finalize(b);
        assertEq(kwh.balanceOf(alice), LOT_WH);
        assertEq(kwh.balanceOf(griefer), 1000, "a winner that refuses coin still gets its tokens");
        vm.prank(griefer);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.NativeTransferFailed.selector, griefer, lost));
        auction.withdrawRefund();
        assertEq(auction.refundOf(griefer), lost, "still owed");
        vm.prank(seller);
        auction.withdrawProceeds();
        assertEq(_money(seller), alicePaid + auction.paymentFor(1000, START_PRICE));
        assertEq(_money(address(auction)), lost, "only the griefer's own refund is left");
    }

    /// @dev A sniper's bid in the last second moves the deadline, so the outbid household can answer.
    function test_Attack_SnipingIsAnswered() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        _bid(alice, id, START_PRICE);
        vm.warp(T0 + DURATION - 1);
        _bid(bob, id, START_PRICE * 106 / 100);
        vm.warp(T0 + DURATION + EXTENSION - 60);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.LotStillOpen.selector, id, T0 + DURATION - 1 + EXTENSION));
        auction.finalize(id);
        _bid(alice, id, START_PRICE * 2);
        vm.warp(T0 + DURATION + 2 * EXTENSION);
        auction.finalize(id);
        assertEq(kwh.balanceOf(alice), LOT_WH);
    }

    /// @dev Someone relays a bidder's permit before the bid: the bid goes through on the allowance it set.
    function test_Attack_RelayedBidPermitStillBids() public {
        _setUpAuction(true);
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        uint256 payment = auction.paymentFor(LOT_WH, START_PRICE);
        usd.mint(alice, payment);
        (uint8 v, bytes32 r, bytes32 s) =
            _permitSig(IERC20Permit(address(usd)), ALICE_KEY, address(auction), payment, T0 + 1 hours);
        usd.permit(alice, address(auction), payment, T0 + 1 hours, v, r, s);
        vm.prank(alice);
        auction.bidWithPermit(id, START_PRICE, T0 + 1 hours, v, r, s);
        assertEq(auction.lot(id).bidder, alice);
    }

    /// @dev A payment token that keeps a fee on transfer would leave the escrow short of the bid it books: refused.
    function test_Attack_FeeOnTransferPaymentIsRefused() public {
        FeeOnTransferToken fot = new FeeOnTransferToken();
        _redeployWith(address(fot));
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        uint256 payment = auction.paymentFor(LOT_WH, START_PRICE);
        fot.mint(alice, payment);
        vm.startPrank(alice);
        fot.approve(address(auction), payment);
        vm.expectRevert(
            abi.encodeWithSelector(
                IEnergyAuction.PaymentTokenShortfall.selector, address(fot), payment, payment - payment / 100
            )
        );
        auction.bid(id, START_PRICE);
        vm.stopPrank();
        assertEq(auction.lot(id).bidder, address(0));
        assertEq(fot.balanceOf(address(auction)), 0);
    }

    /// @dev A payment token re-enters the auction from inside every transfer (bids, withdrawals): each re-entry is
    /// refused and the books hold.
    function test_Attack_ReentrantPaymentTokenIsRefused() public {
        AuctionHookToken hook = new AuctionHookToken();
        _redeployWith(address(hook));
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        hook.mint(address(hook), 1e18);
        hook.aim(auction, id);
        uint256 first = auction.paymentFor(LOT_WH, START_PRICE);
        uint256 second = auction.paymentFor(LOT_WH, START_PRICE * 2);
        hook.mint(alice, first);
        hook.mint(bob, second);
        vm.prank(alice);
        hook.approve(address(auction), first);
        vm.prank(alice);
        auction.bid(id, START_PRICE);
        vm.prank(bob);
        hook.approve(address(auction), second);
        vm.prank(bob);
        auction.bid(id, START_PRICE * 2);
        vm.prank(alice);
        auction.withdrawRefund();
        vm.warp(T0 + DURATION);
        auction.finalize(id);
        vm.prank(seller);
        auction.withdrawProceeds();
        assertEq(hook.reentries(), 4, "two bids, two withdrawals");
        assertEq(hook.reentriesRefused(), 20, "every re-entry reverted");
        assertEq(hook.balanceOf(alice), first);
        assertEq(hook.balanceOf(seller), second);
        assertEq(hook.balanceOf(address(auction)), 0);
        assertEq(auction.lot(id).bidder, bob);
        assertEq(kwh.balanceOf(bob), LOT_WH);
    }

    /// @dev The operator cannot change an open lot's fee, and has no way to move escrowed money or tokens.
    function test_Attack_OperatorCannotReachTheEscrow() public {
        _setFee(100);
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        uint256 payment = _bid(alice, id, START_PRICE);
        vm.startPrank(admin);
        auction.setFee(1000, admin);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.NothingToWithdraw.selector, admin));
        auction.withdrawProceeds();
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.NothingToWithdraw.selector, admin));
        auction.withdrawRefund();
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.NothingToWithdraw.selector, admin));
        auction.withdrawFees();
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.NotSeller.selector, id, admin));
        auction.cancel(id);
        vm.stopPrank();
        vm.warp(T0 + DURATION);
        auction.finalize(id);
        assertEq(auction.fees(), payment / 100, "1 %, as offered");
        assertEq(auction.proceedsOf(seller), payment - payment / 100);
    }

    /// @dev A fresh ledger and auction paid in `token`, the seller holding energy tokens again.
    function _redeployWith(address token) internal {
        GridLedgerBase.Config memory c = config;
        c.paymentToken = token;
        GridLedger l;
        EnergyToken energy;
        (l, energy) = _newLedger(c);
        ledger = l;
        kwh = energy;
        auction = new EnergyAuction(address(l), INCREMENT_BPS, EXTENSION);
        native = false;
        _mintWh(seller, 100_000);
    }
}
