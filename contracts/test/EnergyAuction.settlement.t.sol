// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IEnergyAuction} from "../src/interfaces/IEnergyAuction.sol";
import {AuctionTestBase} from "./utils/AuctionTestBase.sol";

/// @dev Finalization, cancellation, withdrawals, the fee and the views, run once per payment currency.
abstract contract EnergyAuctionSettlementTest is AuctionTestBase {
    // ------------------------------------------------------------ finalize

    function test_Finalize_SoldSendsTokensAndCreditsSellerAndFee() public {
        _setFee(250); // 2.5 %
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        _bid(alice, id, START_PRICE);
        uint256 price = 123_457;
        uint256 payment = _bid(bob, id, price);
        assertEq(payment, (LOT_WH * price + 999) / 1000, "rounded up");
        uint256 fee = payment * 250 / 10_000;
        vm.warp(T0 + DURATION);
        vm.expectEmit(address(auction));
        emit IEnergyAuction.LotFinalized(id, bob, seller, price, payment, fee);
        vm.prank(carol); // anyone
        auction.finalize(id);
        assertEq(kwh.balanceOf(bob), LOT_WH);
        assertEq(kwh.balanceOf(address(auction)), 0);
        assertEq(auction.proceedsOf(seller), payment - fee);
        assertEq(auction.fees(), fee);
        assertEq(uint8(_status(id)), uint8(IEnergyAuction.LotStatus.Sold));

        vm.prank(seller);
        vm.expectEmit(address(auction));
        emit IEnergyAuction.ProceedsWithdrawn(seller, payment - fee);
        auction.withdrawProceeds();
        vm.prank(feeSink);
        vm.expectEmit(address(auction));
        emit IEnergyAuction.FeesWithdrawn(feeSink, fee);
        auction.withdrawFees();
        vm.prank(alice);
        auction.withdrawRefund();
        assertEq(_money(seller), payment - fee);
        assertEq(_money(feeSink), fee);
        assertEq(_money(address(auction)), 0, "nothing left in escrow");
    }

    function test_Finalize_UnsoldReturnsTheTokens() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        vm.warp(T0 + DURATION);
        vm.expectEmit(address(auction));
        emit IEnergyAuction.LotFinalized(id, address(0), seller, 0, 0, 0);
        auction.finalize(id);
        assertEq(kwh.balanceOf(seller), 100_000);
        assertEq(kwh.balanceOf(address(auction)), 0);
        assertEq(uint8(_status(id)), uint8(IEnergyAuction.LotStatus.Unsold));
        assertEq(auction.proceedsOf(seller), 0);
    }

    function test_RevertWhen_FinalizeBeforeTheDeadline() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        _bid(alice, id, START_PRICE);
        vm.warp(T0 + DURATION - 1);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.LotStillOpen.selector, id, T0 + DURATION));
        auction.finalize(id);
    }

    function test_RevertWhen_FinalizeTwice() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        _bid(alice, id, START_PRICE);
        vm.warp(T0 + DURATION);
        auction.finalize(id);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.LotClosed.selector, id, IEnergyAuction.LotStatus.Sold));
        auction.finalize(id);
        assertEq(auction.proceedsOf(seller), auction.paymentFor(LOT_WH, START_PRICE), "credited once");
    }

    function test_RevertWhen_FinalizeUnknownLot() public {
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.UnknownLot.selector, 1));
        auction.finalize(1);
    }

    // ------------------------------------------------------------ cancel

    function test_Cancel_ReturnsTheTokens() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        vm.prank(seller);
        vm.expectEmit(address(auction));
        emit IEnergyAuction.LotCancelled(id, seller);
        auction.cancel(id);
        assertEq(kwh.balanceOf(seller), 100_000);
        assertEq(uint8(_status(id)), uint8(IEnergyAuction.LotStatus.Cancelled));
        vm.prank(seller);
        vm.expectRevert(
            abi.encodeWithSelector(IEnergyAuction.LotClosed.selector, id, IEnergyAuction.LotStatus.Cancelled)
        );
        auction.cancel(id);
        vm.expectRevert(
            abi.encodeWithSelector(IEnergyAuction.LotClosed.selector, id, IEnergyAuction.LotStatus.Cancelled)
        );
        auction.finalize(id);
    }

    function test_Cancel_AfterTheDeadlineWithoutABid() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        vm.warp(T0 + DURATION + 1);
        vm.prank(seller);
        auction.cancel(id);
        assertEq(kwh.balanceOf(seller), 100_000);
    }

    function test_RevertWhen_CancelUnderABid() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        _bid(alice, id, START_PRICE);
        vm.prank(seller);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.LotHasBid.selector, id, alice));
        auction.cancel(id);
        vm.warp(T0 + DURATION + 1);
        vm.prank(seller);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.LotHasBid.selector, id, alice));
        auction.cancel(id);
    }

    function test_RevertWhen_CancelByAnotherAccount() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.NotSeller.selector, id, alice));
        auction.cancel(id);
    }

    function test_RevertWhen_CancelUnknownLot() public {
        vm.prank(seller);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.UnknownLot.selector, 9));
        auction.cancel(9);
    }

    // ------------------------------------------------------------ withdrawals

    function test_RevertWhen_WithdrawNothing() public {
        vm.startPrank(alice);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.NothingToWithdraw.selector, alice));
        auction.withdrawRefund();
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.NothingToWithdraw.selector, alice));
        auction.withdrawProceeds();
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.NotFeeRecipient.selector, alice));
        auction.withdrawFees();
        vm.stopPrank();
        _setFee(100);
        vm.prank(feeSink);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.NothingToWithdraw.selector, feeSink));
        auction.withdrawFees();
    }

    function test_Withdraw_RefundsAddUpAcrossLots() public {
        uint256 a = _offer(LOT_WH, START_PRICE, DURATION);
        uint256 b = _offer(1000, START_PRICE, DURATION);
        uint256 first = _bid(alice, a, START_PRICE);
        uint256 second = _bid(alice, b, START_PRICE);
        _bid(bob, a, START_PRICE * 2);
        _bid(bob, b, START_PRICE * 2);
        assertEq(auction.refundOf(alice), first + second);
        vm.prank(alice);
        assertEq(auction.withdrawRefund(), first + second);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.NothingToWithdraw.selector, alice));
        auction.withdrawRefund();
    }

    // ------------------------------------------------------------ fee

    function test_SetFee_ByTheLedgerAdmin() public {
        vm.expectEmit(address(auction));
        emit IEnergyAuction.FeeSet(100, feeSink);
        _setFee(100);
        assertEq(auction.feeBps(), 100);
        assertEq(auction.feeRecipient(), feeSink);
        assertEq(auction.lot(_offer(LOT_WH, START_PRICE, DURATION)).feeBps, 100, "a new lot fixes it");
    }

    function test_RevertWhen_SetFeeByAnyoneElse() public {
        // Even a holder of another ledger role.
        bytes32 tariffSetter = ledger.TARIFF_SETTER_ROLE();
        vm.prank(admin);
        ledger.grantRole(tariffSetter, alice);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.NotLedgerAdmin.selector, alice));
        auction.setFee(100, alice);
    }

    function test_RevertWhen_FeeTooHighOrNoRecipient() public {
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.FeeTooHigh.selector, 1001, 1000));
        auction.setFee(1001, feeSink);
        vm.expectRevert(IEnergyAuction.ZeroAddress.selector);
        auction.setFee(0, address(0));
        vm.stopPrank();
    }

    function test_Fee_IsFixedWhenTheLotIsOffered() public {
        _setFee(100);
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        address newSink = makeAddr("newSink");
        vm.prank(admin);
        auction.setFee(1000, newSink);
        uint256 payment = _bid(alice, id, START_PRICE);
        vm.warp(T0 + DURATION);
        auction.finalize(id);
        uint256 fee = payment / 100;
        assertEq(auction.proceedsOf(seller), payment - fee, "the offered lot keeps its 1 %");
        assertEq(auction.fees(), fee);
        vm.prank(feeSink);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.NotFeeRecipient.selector, feeSink));
        auction.withdrawFees();
        vm.prank(newSink);
        assertEq(auction.withdrawFees(), fee, "fees go to the recipient in force");
        assertEq(auction.lot(_offer(LOT_WH, START_PRICE, DURATION)).feeBps, 1000);
    }

    function test_Fee_FollowsTheLedgerAdminTransfer() public {
        address next = makeAddr("nextAdmin");
        vm.prank(admin);
        ledger.beginDefaultAdminTransfer(next);
        vm.warp(T0 + 2 days);
        vm.prank(next);
        ledger.acceptDefaultAdminTransfer();
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.NotLedgerAdmin.selector, admin));
        auction.setFee(100, feeSink);
        vm.prank(next);
        auction.setFee(100, feeSink);
        assertEq(auction.feeBps(), 100);
    }

    // ------------------------------------------------------------ views

    function test_Lots_ListsARangeClampedToTheLastLot() public {
        _offer(LOT_WH, START_PRICE, DURATION);
        _offer(1000, START_PRICE, DURATION);
        _offer(500, START_PRICE, DURATION);
        IEnergyAuction.Lot[] memory list = auction.lots(2, 10);
        assertEq(list.length, 2);
        assertEq(list[0].amountWh, 1000);
        assertEq(list[1].amountWh, 500);
        assertEq(auction.lots(4, 10).length, 0);
        assertEq(auction.lots(1, 1).length, 1);
        assertEq(auction.lots(type(uint256).max, type(uint256).max).length, 0);
        assertEq(uint8(auction.lot(99).status), uint8(IEnergyAuction.LotStatus.None));
    }

    function test_Deployment_ReadsTheLedger() public view {
        assertEq(auction.ledger(), address(ledger));
        assertEq(auction.energyToken(), address(kwh));
        assertEq(auction.paymentToken(), native ? address(0) : address(usd));
        assertEq(auction.minIncrementBps(), INCREMENT_BPS);
        assertEq(auction.extensionWindow(), EXTENSION);
        assertEq(auction.MAX_FEE_BPS(), 1000);
    }

    // ------------------------------------------------------------ fuzz

    /// @dev The payment is the exact price rounded up: never short by a base unit, never over by one.
    function testFuzz_PaymentRoundsUp(uint256 wh, uint256 price) public view {
        wh = bound(wh, 1, type(uint40).max);
        price = bound(price, 1, type(uint96).max);
        uint256 payment = auction.paymentFor(wh, price);
        assertGe(payment * 1000, wh * price, "seller short");
        assertLt(payment * 1000, wh * price + 1000, "buyer over by a base unit");
    }

    /// @dev Offer, a few bids and finalize, with any amount, prices and fee: every base unit paid is either the
    /// seller's, the fee recipient's or an outbid bidder's refund, and the winner gets every Wh.
    function testFuzz_AuctionConservesMoneyAndTokens(uint256 wh, uint256 start, uint16 fee, uint8 bids, uint256 raise)
        public
    {
        wh = bound(wh, 1, 100_000);
        start = bound(start, 1, 1e24);
        fee = uint16(bound(fee, 0, 1000));
        bids = uint8(bound(bids, 1, 6));
        _setFee(fee);
        uint256 id = _offer(wh, start, DURATION);
        address[3] memory bidders = [alice, bob, carol];
        uint256 paid;
        uint256 last;
        for (uint256 i; i < bids; ++i) {
            (uint256 minimum,) = auction.minimumBid(id);
            uint256 price = minimum + bound(uint256(keccak256(abi.encode(raise, i))), 0, minimum);
            last = _bid(bidders[i % 3], id, price);
            paid += last;
        }
        vm.warp(T0 + DURATION);
        auction.finalize(id);
        uint256 refunds = auction.refundOf(alice) + auction.refundOf(bob) + auction.refundOf(carol);
        uint256 proceeds = auction.proceedsOf(seller) + auction.fees();
        assertEq(refunds + proceeds, paid, "money");
        assertEq(proceeds, last, "the winning payment");
        assertEq(auction.fees(), last * fee / 10_000);
        assertEq(_money(address(auction)), paid);
        assertEq(kwh.balanceOf(bidders[(bids - 1) % 3]), wh);
        assertEq(kwh.balanceOf(address(auction)), 0);
    }
}

contract EnergyAuctionSettlementTokenTest is EnergyAuctionSettlementTest {
    function setUp() public {
        _setUpAuction(true);
    }
}

contract EnergyAuctionSettlementNativeTest is EnergyAuctionSettlementTest {
    function setUp() public {
        _setUpAuction(false);
    }
}
