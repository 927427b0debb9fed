// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {Vm} from "forge-std/Vm.sol";

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IEnergyAuction} from "../../src/interfaces/IEnergyAuction.sol";
import {EnergyAuction} from "../../src/market/EnergyAuction.sol";

/// @dev Mints and funds the handler's actors (the test contract: it can prank the ledger and owns the test dollar).
interface IAuctionBank {
    function mintWh(address to, uint256 wh) external;
    function fund(address to, uint256 amount) external;
}

/// @dev A bidder contract that accepts no native coin.
contract NoNativeReceiver {}

/// @dev Households that sell and bid in any order, a seller's second address bidding on its lots (shill), a bidder
/// that cannot receive the native coin (a griefer), late bids, bids that do not beat the increment, cancels under
/// bids, finalizations and withdrawals at any time, and fee changes under open lots.
///
/// The handler keeps its own model of every lot (from the rules, not from the contract's storage) and predicts each
/// call's outcome; the ghost books count what was paid in and out, and per actor what it must hold. The invariants
/// compare the contract with the model.
contract AuctionHandler is CommonBase, StdUtils {
    uint256 public constant ACTORS = 5;
    /// @dev Actor 4 is the seller actor 0's second address.
    uint256 public constant SHILL = 4;
    uint256 public constant INITIAL_WH = 1_000_000;
    uint256 public constant INITIAL_MONEY = 1e30;

    struct Model {
        address seller;
        uint256 amountWh;
        uint256 deadline;
        uint256 feeBps;
        IEnergyAuction.LotStatus status;
        address bidder;
        uint256 price;
        uint256 payouts;
    }

    EnergyAuction public immutable auction;
    IERC20 public immutable kwh;
    /// @dev address(0): the native coin.
    address public immutable paymentToken;
    IAuctionBank public immutable bank;
    address public immutable admin;
    /// @dev Refuses the native coin: its refunds cannot be sent to it, which must hurt nobody else.
    address public immutable griefer;
    address[ACTORS] public actors;
    address[3] public feeRecipients = [address(0xFEE1), address(0xFEE2), address(0xFEE3)];

    mapping(uint256 lotId => Model) internal _model;
    uint256 public lotCount;
    uint256 public feeBps;
    address public feeRecipient;

    // Ghost books.
    uint256 public expectedFees;
    uint256 public moneyIn;
    uint256 public moneyOut;
    mapping(address account => int256) public expectedMoneyDelta;
    mapping(address account => int256) public expectedWhDelta;
    mapping(address account => uint256) public expectedRefund;
    mapping(address account => uint256) public expectedProceeds;

    // Ghost counters: each must stay 0.
    uint256 public lateBidsAccepted;
    uint256 public unexpectedOutcomes;
    uint256 public doublePayouts;
    uint256 public othersBlocked;

    // Coverage.
    uint256 public bids;
    uint256 public outbids;
    uint256 public sold;
    uint256 public unsold;
    uint256 public cancelled;
    uint256 public extensions;
    uint256 public shillBids;
    uint256 public refusedRefunds;

    constructor(EnergyAuction auction_, IAuctionBank bank_, address admin_, address griefer_) {
        auction = auction_;
        kwh = IERC20(auction_.energyToken());
        paymentToken = auction_.paymentToken();
        bank = bank_;
        admin = admin_;
        griefer = griefer_;
        for (uint256 i; i < 3; ++i) {
            actors[i] = address(uint160(0xA0C7000 + i));
        }
        actors[3] = griefer_;
        actors[SHILL] = address(uint160(0x5111));
    }

    /// @dev Gives every actor its tokens and money and approves the auction (once, from the test's setUp).
    function fundActors() external {
        for (uint256 i; i < ACTORS; ++i) {
            address a = actors[i];
            bank.mintWh(a, INITIAL_WH);
            bank.fund(a, INITIAL_MONEY);
            vm.startPrank(a);
            kwh.approve(address(auction), type(uint256).max);
            if (paymentToken != address(0)) IERC20(paymentToken).approve(address(auction), type(uint256).max);
            vm.stopPrank();
        }
    }

    function actorCount() external pure returns (uint256) {
        return ACTORS;
    }

    function model(uint256 lotId) external view returns (Model memory) {
        return _model[lotId];
    }

    // ------------------------------------------------------------ actions

    function offer(uint256 actorSeed, uint256 wh, uint256 price, uint256 duration) external {
        address a = _actor(actorSeed);
        wh = bound(wh, 1, 50_000);
        price = bound(price, 1, 1e21);
        duration = bound(duration, 1, 2 days);
        vm.prank(a);
        try auction.offer(wh, price, duration) returns (uint256 id) {
            if (id != lotCount + 1) ++unexpectedOutcomes;
            lotCount = id;
            uint256 deadline = block.timestamp + duration;
            _model[id] = Model(a, wh, deadline, feeBps, IEnergyAuction.LotStatus.Open, address(0), price, 0);
            expectedWhDelta[a] -= int256(wh);
        } catch {
            if (kwh.balanceOf(a) >= wh) ++unexpectedOutcomes;
        }
    }

    /// @dev A bid around the lot's minimum: sometimes under it (must fail), usually at or above it.
    function bid(uint256 actorSeed, uint256 lotSeed, uint256 raise, bool under) external {
        if (lotCount == 0) return;
        uint256 id = lotSeed % lotCount + 1;
        _bid(_actor(actorSeed), id, raise, under);
    }

    /// @dev The seller's second address bids on the seller's own open lot.
    function shillBid(uint256 lotSeed, uint256 raise) external {
        if (lotCount == 0) return;
        uint256 id = lotSeed % lotCount + 1;
        if (_model[id].seller != actors[0]) return;
        ++shillBids;
        _bid(actors[SHILL], id, raise, false);
    }

    /// @dev A bid after the lot's deadline: never accepted.
    function lateBid(uint256 actorSeed, uint256 lotSeed, uint256 dt) external {
        if (lotCount == 0) return;
        uint256 id = lotSeed % lotCount + 1;
        Model storage m = _model[id];
        if (m.status != IEnergyAuction.LotStatus.Open) return;
        vm.warp(_max(block.timestamp, m.deadline + bound(dt, 0, 1 hours)));
        address a = _actor(actorSeed);
        if (a == m.seller) return;
        (bool ok,) = _sendBid(a, id, _minimum(m) * 2);
        if (ok) ++lateBidsAccepted;
    }

    function cancel(uint256 actorSeed, uint256 lotSeed) external {
        if (lotCount == 0) return;
        uint256 id = lotSeed % lotCount + 1;
        Model storage m = _model[id];
        address a = actorSeed % 3 == 0 ? _actor(actorSeed >> 8) : m.seller;
        bool expected = m.status == IEnergyAuction.LotStatus.Open && a == m.seller && m.bidder == address(0);
        vm.prank(a);
        try auction.cancel(id) {
            if (!expected) ++unexpectedOutcomes;
            m.status = IEnergyAuction.LotStatus.Cancelled;
            _payout(m);
            expectedWhDelta[m.seller] += int256(m.amountWh);
            ++cancelled;
        } catch {
            if (expected) ++unexpectedOutcomes;
        }
    }

    function finalize(uint256 lotSeed, uint256 callerSeed) external {
        if (lotCount == 0) return;
        uint256 id = lotSeed % lotCount + 1;
        Model storage m = _model[id];
        bool expected = m.status == IEnergyAuction.LotStatus.Open && block.timestamp >= m.deadline;
        vm.prank(_actor(callerSeed));
        try auction.finalize(id) {
            if (!expected) ++unexpectedOutcomes;
            _payout(m);
            if (m.bidder == address(0)) {
                m.status = IEnergyAuction.LotStatus.Unsold;
                expectedWhDelta[m.seller] += int256(m.amountWh);
                ++unsold;
            } else {
                m.status = IEnergyAuction.LotStatus.Sold;
                uint256 payment = _payment(m.amountWh, m.price);
                uint256 fee = payment * m.feeBps / 10_000;
                expectedProceeds[m.seller] += payment - fee;
                expectedFees += fee;
                expectedWhDelta[m.bidder] += int256(m.amountWh);
                ++sold;
            }
        } catch {
            if (expected) ++unexpectedOutcomes;
        }
    }

    function withdrawRefund(uint256 actorSeed) external {
        _withdraw(_actor(actorSeed), expectedRefund, auction.withdrawRefund);
    }

    function withdrawProceeds(uint256 actorSeed) external {
        _withdraw(_actor(actorSeed), expectedProceeds, auction.withdrawProceeds);
    }

    /// @dev A fee recipient, current or former, withdraws the fees: only the current one gets them.
    function withdrawFees(uint256 recipientSeed) external {
        address a = feeRecipients[recipientSeed % 3];
        bool expected = a == feeRecipient && expectedFees != 0;
        vm.prank(a);
        try auction.withdrawFees() returns (uint256 amount) {
            if (!expected || amount != expectedFees) ++unexpectedOutcomes;
            expectedFees = 0;
            expectedMoneyDelta[a] += int256(amount);
            moneyOut += amount;
        } catch {
            if (expected) ++unexpectedOutcomes;
        }
    }

    /// @dev The operator changes the fee under open lots (which keep theirs) and where fees go from now on.
    function setFee(uint256 bps, uint256 recipientSeed) external {
        bps = bound(bps, 0, 1000);
        address recipient = feeRecipients[recipientSeed % 3];
        vm.prank(admin);
        auction.setFee(uint16(bps), recipient);
        feeBps = bps;
        feeRecipient = recipient;
    }

    function warp(uint256 dt) external {
        vm.warp(block.timestamp + bound(dt, 1, 6 hours));
    }

    // ------------------------------------------------------------ sums for the invariants

    /// @dev The payments of open lots' standing bids, from the model.
    function standingBids() public view returns (uint256 sum) {
        for (uint256 id = 1; id <= lotCount; ++id) {
            Model storage m = _model[id];
            if (m.status == IEnergyAuction.LotStatus.Open && m.bidder != address(0)) {
                sum += _payment(m.amountWh, m.price);
            }
        }
    }

    /// @dev The Wh of open lots, from the model.
    function openLotsWh() public view returns (uint256 sum) {
        for (uint256 id = 1; id <= lotCount; ++id) {
            if (_model[id].status == IEnergyAuction.LotStatus.Open) sum += _model[id].amountWh;
        }
    }

    /// @dev What `a` has escrowed as the standing bidder of open lots, from the model.
    function leadingOf(address a) public view returns (uint256 sum) {
        for (uint256 id = 1; id <= lotCount; ++id) {
            Model storage m = _model[id];
            if (m.status == IEnergyAuction.LotStatus.Open && m.bidder == a) sum += _payment(m.amountWh, m.price);
        }
    }

    /// @dev Every account that may hold a refund or proceeds.
    function accounts() public view returns (address[] memory list) {
        list = new address[](ACTORS + 3);
        for (uint256 i; i < ACTORS; ++i) {
            list[i] = actors[i];
        }
        for (uint256 i; i < 3; ++i) {
            list[ACTORS + i] = feeRecipients[i];
        }
    }

    // ------------------------------------------------------------ internals

    function _bid(address a, uint256 id, uint256 raise, bool under) internal {
        Model storage m = _model[id];
        uint256 minimum = _minimum(m);
        uint256 price = under ? minimum - 1 : minimum + bound(raise, 0, minimum);
        bool expected = m.status == IEnergyAuction.LotStatus.Open && block.timestamp < m.deadline && a != m.seller
            && price >= minimum && price > 0;
        (bool ok, uint256 payment) = _sendBid(a, id, price);
        if (ok != expected) ++unexpectedOutcomes;
        if (!ok) return;
        if (block.timestamp >= m.deadline) {
            ++lateBidsAccepted;
            return;
        }
        ++bids;
        if (m.bidder != address(0)) {
            expectedRefund[m.bidder] += _payment(m.amountWh, m.price);
            ++outbids;
        }
        m.bidder = a;
        m.price = price;
        if (m.deadline - block.timestamp < auction.extensionWindow()) {
            m.deadline = block.timestamp + auction.extensionWindow();
            ++extensions;
        }
        expectedMoneyDelta[a] -= int256(payment);
        moneyIn += payment;
    }

    function _sendBid(address a, uint256 id, uint256 price) internal returns (bool ok, uint256 payment) {
        payment = _payment(_model[id].amountWh, price);
        vm.prank(a);
        if (paymentToken == address(0)) {
            try auction.bid{value: payment}(id, price) {
                ok = true;
            } catch {}
        } else {
            try auction.bid(id, price) {
                ok = true;
            } catch {}
        }
    }

    /// @dev `a` withdraws with `take`, which must pay exactly what `owed` books; only a griefer's own withdrawal of
    /// the native coin may fail while something is owed.
    function _withdraw(address a, mapping(address => uint256) storage owed, function() external returns (uint256) take)
        internal
    {
        uint256 due = owed[a];
        vm.prank(a);
        try take() returns (uint256 amount) {
            if (amount != due) ++unexpectedOutcomes;
            owed[a] = 0;
            expectedMoneyDelta[a] += int256(amount);
            moneyOut += amount;
        } catch {
            if (a == griefer && paymentToken == address(0) && due != 0) ++refusedRefunds;
            else if (due != 0) ++othersBlocked;
        }
    }

    function _payout(Model storage m) internal {
        if (++m.payouts > 1) ++doublePayouts;
    }

    function _minimum(Model storage m) internal view returns (uint256) {
        if (m.bidder == address(0)) return m.price;
        uint256 step = (m.price * auction.minIncrementBps() + 9999) / 10_000;
        return m.price + (step == 0 ? 1 : step);
    }

    /// @dev The rule, written again from the specification: amount × price / 1000, rounded up.
    function _payment(uint256 wh, uint256 price) internal pure returns (uint256) {
        return (wh * price + 999) / 1000;
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actors[seed % ACTORS];
    }

    function _max(uint256 a, uint256 b) internal pure returns (uint256) {
        return a > b ? a : b;
    }
}
