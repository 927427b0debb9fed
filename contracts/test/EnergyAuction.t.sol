// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

import {IEnergyAuction} from "../src/interfaces/IEnergyAuction.sol";
import {EnergyAuction} from "../src/market/EnergyAuction.sol";
import {AuctionTestBase} from "./utils/AuctionTestBase.sol";

/// @dev Offers and bids, run once per payment currency (see the two contracts at the end).
abstract contract EnergyAuctionTradingTest is AuctionTestBase {
    // ------------------------------------------------------------ offers

    function test_Offer_EscrowsTokensAndRecordsTheLot() public {
        vm.startPrank(seller);
        kwh.approve(address(auction), LOT_WH);
        vm.expectEmit(address(auction));
        emit IEnergyAuction.LotOffered(1, seller, LOT_WH, START_PRICE, T0 + DURATION, 0);
        uint256 id = auction.offer(LOT_WH, START_PRICE, DURATION);
        vm.stopPrank();
        assertEq(id, 1);
        assertEq(auction.nextLotId(), 2);
        assertEq(kwh.balanceOf(address(auction)), LOT_WH);
        assertEq(kwh.balanceOf(seller), 100_000 - LOT_WH);
        IEnergyAuction.Lot memory l = auction.lot(id);
        assertEq(l.seller, seller);
        assertEq(l.amountWh, LOT_WH);
        assertEq(l.deadline, T0 + DURATION);
        assertEq(l.feeBps, 0);
        assertEq(uint8(l.status), uint8(IEnergyAuction.LotStatus.Open));
        assertEq(l.bidder, address(0));
        assertEq(l.pricePerKWh, START_PRICE, "the start price until a bid");
        assertEq(_offer(10, 1, 1), 2, "ids count up");
    }

    function test_OfferWithPermit_NeedsNoApproval() public {
        uint256 deadline = T0 + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) =
            _permitSig(IERC20Permit(address(kwh)), SELLER_KEY, address(auction), LOT_WH, deadline);
        vm.prank(seller);
        uint256 id = auction.offerWithPermit(LOT_WH, START_PRICE, DURATION, deadline, v, r, s);
        assertEq(kwh.balanceOf(address(auction)), LOT_WH);
        assertEq(kwh.allowance(seller, address(auction)), 0, "the permit is spent");
        assertEq(kwh.nonces(seller), 1);
        assertEq(auction.lot(id).amountWh, LOT_WH);
    }

    function test_OfferWithPermit_UsedPermitStillOffers() public {
        uint256 deadline = T0 + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) =
            _permitSig(IERC20Permit(address(kwh)), SELLER_KEY, address(auction), LOT_WH, deadline);
        kwh.permit(seller, address(auction), LOT_WH, deadline, v, r, s); // someone relayed it first
        vm.prank(seller);
        auction.offerWithPermit(LOT_WH, START_PRICE, DURATION, deadline, v, r, s);
        assertEq(kwh.balanceOf(address(auction)), LOT_WH);
    }

    function test_RevertWhen_OfferWithPermitForLess() public {
        uint256 deadline = T0 + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) =
            _permitSig(IERC20Permit(address(kwh)), SELLER_KEY, address(auction), LOT_WH - 1, deadline);
        vm.prank(seller);
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(auction), uint256(0), LOT_WH
            )
        );
        auction.offerWithPermit(LOT_WH, START_PRICE, DURATION, deadline, v, r, s);
    }

    function test_RevertWhen_OfferZeroAmount() public {
        vm.prank(seller);
        vm.expectRevert(IEnergyAuction.ZeroAmount.selector);
        auction.offer(0, START_PRICE, DURATION);
    }

    function test_RevertWhen_OfferMoreThanALotHolds() public {
        uint256 max = type(uint40).max;
        vm.prank(seller);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.AmountTooLarge.selector, max + 1, max));
        auction.offer(max + 1, START_PRICE, DURATION);
    }

    function test_RevertWhen_OfferPriceOutOfRange() public {
        vm.startPrank(seller);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.PriceOutOfRange.selector, 0));
        auction.offer(LOT_WH, 0, DURATION);
        uint256 high = uint256(type(uint96).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.PriceOutOfRange.selector, high));
        auction.offer(LOT_WH, high, DURATION);
        vm.stopPrank();
    }

    function test_RevertWhen_OfferDurationOutOfRange() public {
        vm.startPrank(seller);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.InvalidDuration.selector, 0));
        auction.offer(LOT_WH, START_PRICE, 0);
        uint256 long = auction.MAX_DURATION() + 1;
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.InvalidDuration.selector, long));
        auction.offer(LOT_WH, START_PRICE, long);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.InvalidDuration.selector, type(uint256).max));
        auction.offer(LOT_WH, START_PRICE, type(uint256).max);
        vm.stopPrank();
    }

    function test_RevertWhen_DeadlineBeyond32BitTime() public {
        vm.warp(uint256(type(uint32).max) - DURATION);
        vm.prank(seller);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.InvalidDuration.selector, DURATION));
        auction.offer(LOT_WH, START_PRICE, DURATION);
    }

    function test_RevertWhen_OfferWithoutTokens() public {
        vm.startPrank(alice);
        kwh.approve(address(auction), LOT_WH);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, alice, uint256(0), LOT_WH)
        );
        auction.offer(LOT_WH, START_PRICE, DURATION);
        vm.stopPrank();
        assertEq(auction.nextLotId(), 1, "no lot");
    }

    // ------------------------------------------------------------ bids

    function test_Bid_FirstBidAtTheStartPriceEscrowsItsPayment() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        uint256 payment = LOT_WH * START_PRICE / 1000;
        _fund(alice, payment);
        vm.expectEmit(address(auction));
        emit IEnergyAuction.BidPlaced(id, alice, address(0), START_PRICE, payment);
        _bidFunded(alice, id, START_PRICE, payment);
        assertEq(_money(address(auction)), payment);
        assertEq(_money(alice), 0);
        IEnergyAuction.Lot memory l = auction.lot(id);
        assertEq(l.bidder, alice);
        assertEq(l.pricePerKWh, START_PRICE);
        assertEq(l.deadline, T0 + DURATION, "an early bid does not extend");
    }

    function test_RevertWhen_BidBelowTheStartPrice() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.BidTooLow.selector, id, START_PRICE - 1, START_PRICE));
        this.bidAs(alice, id, START_PRICE - 1);
    }

    function test_Outbid_CreditsTheRefundAndBooksTheNewBid() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        uint256 first = _bid(alice, id, START_PRICE);
        uint256 price = START_PRICE * 105 / 100;
        uint256 second = auction.paymentFor(LOT_WH, price);
        _fund(bob, second);
        vm.expectEmit(address(auction));
        emit IEnergyAuction.BidPlaced(id, bob, alice, price, second);
        _bidFunded(bob, id, price, second);
        assertEq(auction.refundOf(alice), first);
        assertEq(_money(address(auction)), first + second);
        assertEq(auction.lot(id).bidder, bob);

        vm.prank(alice);
        vm.expectEmit(address(auction));
        emit IEnergyAuction.RefundWithdrawn(alice, first);
        assertEq(auction.withdrawRefund(), first);
        assertEq(_money(alice), first);
        assertEq(auction.refundOf(alice), 0);
        assertEq(_money(address(auction)), second);
    }

    function test_RevertWhen_BidDoesNotBeatTheIncrement() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        _bid(alice, id, START_PRICE);
        uint256 minimum = START_PRICE + START_PRICE * INCREMENT_BPS / 10_000;
        (uint256 price, uint256 payment) = auction.minimumBid(id);
        assertEq(price, minimum);
        assertEq(payment, auction.paymentFor(LOT_WH, minimum));
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.BidTooLow.selector, id, minimum - 1, minimum));
        this.bidAs(bob, id, minimum - 1);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.BidTooLow.selector, id, START_PRICE, minimum));
        this.bidAs(bob, id, START_PRICE);
        _bid(bob, id, minimum);
        assertEq(auction.lot(id).bidder, bob);
    }

    function test_Increment_IsAtLeastOneBaseUnit() public {
        uint256 id = _offer(LOT_WH, 1, DURATION);
        _bid(alice, id, 1);
        (uint256 price,) = auction.minimumBid(id);
        assertEq(price, 2, "5 % of 1, rounded up");
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.BidTooLow.selector, id, 1, 2));
        this.bidAs(bob, id, 1);
    }

    function test_RevertWhen_SellerBids() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.SellerCannotBid.selector, id));
        this.bidAs(seller, id, START_PRICE);
    }

    function test_RevertWhen_BidAtOrAfterTheDeadline() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        vm.warp(T0 + DURATION);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.LotEnded.selector, id, T0 + DURATION));
        this.bidAs(alice, id, START_PRICE);
        vm.warp(T0 + DURATION + 1 days);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.LotEnded.selector, id, T0 + DURATION));
        this.bidAs(alice, id, START_PRICE * 2);
    }

    function test_RevertWhen_BidOnAClosedOrUnknownLot() public {
        uint256 cancelled = _offer(LOT_WH, START_PRICE, DURATION);
        uint256 sold = _offer(LOT_WH, START_PRICE, DURATION);
        uint256 unsold = _offer(LOT_WH, START_PRICE, DURATION);
        vm.prank(seller);
        auction.cancel(cancelled);
        _bid(alice, sold, START_PRICE);
        vm.warp(T0 + DURATION);
        auction.finalize(sold);
        auction.finalize(unsold);
        vm.expectRevert(
            abi.encodeWithSelector(IEnergyAuction.LotClosed.selector, cancelled, IEnergyAuction.LotStatus.Cancelled)
        );
        this.bidAs(bob, cancelled, START_PRICE * 2);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.LotClosed.selector, sold, IEnergyAuction.LotStatus.Sold));
        this.bidAs(bob, sold, START_PRICE * 2);
        vm.expectRevert(
            abi.encodeWithSelector(IEnergyAuction.LotClosed.selector, unsold, IEnergyAuction.LotStatus.Unsold)
        );
        this.bidAs(bob, unsold, START_PRICE * 2);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.UnknownLot.selector, 4));
        this.bidAs(bob, 4, START_PRICE * 2);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.UnknownLot.selector, 0));
        this.bidAs(bob, 0, START_PRICE * 2);
    }

    function test_RevertWhen_BidPriceAboveUint96() public {
        uint256 id = _offer(1, START_PRICE, DURATION);
        uint256 high = uint256(type(uint96).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.PriceOutOfRange.selector, high));
        this.bidAs(alice, id, high);
    }

    function test_Bid_LeaderMayRaiseItsOwnBid() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        uint256 first = _bid(alice, id, START_PRICE);
        _bid(alice, id, START_PRICE * 2);
        assertEq(auction.refundOf(alice), first, "its own earlier payment is its refund");
        assertEq(auction.lot(id).bidder, alice);
    }

    // ------------------------------------------------------------ anti-sniping

    function test_AntiSniping_LateBidExtendsTheDeadline() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        vm.warp(T0 + DURATION - EXTENSION); // exactly the window left: no extension
        _bid(alice, id, START_PRICE);
        assertEq(auction.lot(id).deadline, T0 + DURATION);
        vm.warp(T0 + DURATION - 1);
        uint256 price = START_PRICE * 2;
        uint256 payment = auction.paymentFor(LOT_WH, price);
        _fund(bob, payment);
        vm.expectEmit(address(auction));
        emit IEnergyAuction.DeadlineExtended(id, T0 + DURATION - 1 + EXTENSION);
        _bidFunded(bob, id, price, payment);
        assertEq(auction.lot(id).deadline, T0 + DURATION - 1 + EXTENSION);

        vm.warp(T0 + DURATION + 10); // after the original deadline: alice can still answer
        _bid(alice, id, START_PRICE * 3);
        assertEq(auction.lot(id).deadline, T0 + DURATION + 10 + EXTENSION);
        vm.warp(T0 + DURATION + 10 + EXTENSION);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.LotEnded.selector, id, T0 + DURATION + 10 + EXTENSION));
        this.bidAs(bob, id, START_PRICE * 4);
        auction.finalize(id);
        assertEq(kwh.balanceOf(alice), LOT_WH);
    }
}

contract EnergyAuctionTokenTest is EnergyAuctionTradingTest {
    function setUp() public {
        _setUpAuction(true);
    }

    function test_BidWithPermit_NeedsNoApproval() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        uint256 payment = auction.paymentFor(LOT_WH, START_PRICE);
        usd.mint(alice, payment);
        uint256 deadline = T0 + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) =
            _permitSig(IERC20Permit(address(usd)), ALICE_KEY, address(auction), payment, deadline);
        vm.prank(alice);
        auction.bidWithPermit(id, START_PRICE, deadline, v, r, s);
        assertEq(usd.balanceOf(address(auction)), payment);
        assertEq(usd.allowance(alice, address(auction)), 0);
        assertEq(auction.lot(id).bidder, alice);
    }

    function test_RevertWhen_BidWithoutAllowance() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        uint256 payment = auction.paymentFor(LOT_WH, START_PRICE);
        usd.mint(alice, payment);
        vm.startPrank(alice);
        usd.approve(address(auction), payment - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IEnergyAuction.InsufficientAllowance.selector, alice, payment - 1, payment)
        );
        auction.bid(id, START_PRICE);
        vm.stopPrank();
    }

    function test_RevertWhen_BidWithoutFunds() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        uint256 payment = auction.paymentFor(LOT_WH, START_PRICE);
        usd.mint(alice, payment - 1);
        vm.startPrank(alice);
        usd.approve(address(auction), payment);
        vm.expectRevert(
            abi.encodeWithSelector(IEnergyAuction.InsufficientBalance.selector, alice, payment - 1, payment)
        );
        auction.bid(id, START_PRICE);
        vm.stopPrank();
        assertEq(auction.lot(id).bidder, address(0), "no bid stands");
    }

    function test_RevertWhen_NativeValueOnATokenAuction() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        uint256 payment = auction.paymentFor(LOT_WH, START_PRICE);
        vm.deal(alice, 1 ether);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.WrongPayment.selector, 1, payment));
        auction.bid{value: 1}(id, START_PRICE);
    }
}

contract EnergyAuctionNativeTest is EnergyAuctionTradingTest {
    function setUp() public {
        _setUpAuction(false);
    }

    function test_RevertWhen_ValueIsNotThePayment() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        uint256 payment = auction.paymentFor(LOT_WH, START_PRICE);
        vm.deal(alice, 1 ether);
        vm.startPrank(alice);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.WrongPayment.selector, payment - 1, payment));
        auction.bid{value: payment - 1}(id, START_PRICE);
        vm.expectRevert(abi.encodeWithSelector(IEnergyAuction.WrongPayment.selector, payment + 1, payment));
        auction.bid{value: payment + 1}(id, START_PRICE);
        vm.stopPrank();
    }

    function test_RevertWhen_BidWithPermitOnANativeAuction() public {
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        vm.prank(alice);
        vm.expectRevert(IEnergyAuction.NoPaymentToken.selector);
        auction.bidWithPermit(id, START_PRICE, T0, 27, bytes32(0), bytes32(0));
    }

    function test_RevertWhen_ConstructorArgumentsOutOfRange() public {
        vm.expectRevert(IEnergyAuction.InvalidConfig.selector);
        new EnergyAuction(address(ledger), 10_001, EXTENSION);
        vm.expectRevert(IEnergyAuction.InvalidConfig.selector);
        new EnergyAuction(address(ledger), INCREMENT_BPS, 1 days + 1);
        vm.expectRevert(IEnergyAuction.ZeroAddress.selector);
        new EnergyAuction(address(0), INCREMENT_BPS, EXTENSION);
        NoTokenLedger bare = new NoTokenLedger();
        vm.expectRevert(IEnergyAuction.NoEnergyToken.selector);
        new EnergyAuction(address(bare), INCREMENT_BPS, EXTENSION);
    }

    function test_NoExtensionWindow_NeverExtends() public {
        auction = new EnergyAuction(address(ledger), INCREMENT_BPS, 0);
        uint256 id = _offer(LOT_WH, START_PRICE, DURATION);
        vm.warp(T0 + DURATION - 1);
        _bid(alice, id, START_PRICE);
        assertEq(auction.lot(id).deadline, T0 + DURATION);
    }
}

/// @dev A ledger deployed without an energy token answers `energyToken()` with address(0).
contract NoTokenLedger {
    function energyToken() external pure returns (address) {
        return address(0);
    }

    function paymentToken() external pure returns (address) {
        return address(0);
    }
}
