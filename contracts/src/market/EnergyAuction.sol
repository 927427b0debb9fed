// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IEnergyAuction} from "../interfaces/IEnergyAuction.sol";
import {IGridLedgerParameters} from "../interfaces/IGridLedger.sol";
import {IGridLedgerProducerAccounts} from "../interfaces/IGridLedgerProducers.sol";

/// @title EnergyAuction
/// @notice English auctions of energy tokens for the ledger's payment token, with escrow on both sides. See
/// `IEnergyAuction` for the rules.
/// @dev A lot is two slots (`Lot`): the seller's terms and the standing bid. The start price lives in the bid's slot
/// until the first bid replaces it, so an offer writes two slots and a bid rewrites one. What this contract holds is
/// always exactly owed: energy tokens = the amounts of open lots; money = the payments of open lots' standing bids +
/// refunds + proceeds + fees. Every state-changing function is guarded against re-entry and calls out last.
contract EnergyAuction is IEnergyAuction, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @dev One slot, never zero (ids start at 1): every offer reads the fee it fixes and takes an id, every sale
    /// adds its fee, without a first write to a zero slot.
    struct Market {
        uint48 nextLotId;
        uint16 feeBps;
        uint192 fees;
    }

    /// @inheritdoc IEnergyAuction
    uint16 public constant MAX_FEE_BPS = 1000;
    /// @inheritdoc IEnergyAuction
    uint32 public constant MAX_DURATION = 30 days;
    /// @inheritdoc IEnergyAuction
    uint32 public constant MAX_EXTENSION = 1 days;
    uint256 internal constant BPS = 10_000;
    uint256 internal constant WH_PER_KWH = 1000;
    /// @dev A lot's amount is a uint40 (about 1.1 TWh).
    uint256 internal constant MAX_AMOUNT = type(uint40).max;
    bytes32 internal constant DEFAULT_ADMIN_ROLE = 0x00;

    /// @inheritdoc IEnergyAuction
    address public immutable ledger;
    /// @inheritdoc IEnergyAuction
    address public immutable energyToken;
    /// @inheritdoc IEnergyAuction
    address public immutable paymentToken;
    /// @inheritdoc IEnergyAuction
    uint16 public immutable minIncrementBps;
    /// @inheritdoc IEnergyAuction
    uint32 public immutable extensionWindow;

    /// @inheritdoc IEnergyAuction
    address public feeRecipient;
    Market internal _market;
    mapping(uint256 lotId => Lot) internal _lots;
    mapping(address account => uint256) internal _refunds;
    mapping(address account => uint256) internal _proceeds;

    /// @param ledger_ The `GridLedger`: its energy token is traded, its payment token pays, its admin sets the fee.
    /// @param minIncrementBps_ How much a bid must beat the highest by (basis points of the price; at most 100 %).
    /// Immutable, so the rules of an open lot cannot change under its bidders.
    /// @param extensionWindow_ The anti-sniping window in seconds (at most `MAX_EXTENSION`; 0: none).
    constructor(address ledger_, uint16 minIncrementBps_, uint32 extensionWindow_) {
        if (ledger_ == address(0)) revert ZeroAddress();
        address token = IGridLedgerProducerAccounts(ledger_).energyToken();
        if (token == address(0)) revert NoEnergyToken();
        address payment = IGridLedgerParameters(ledger_).paymentToken();
        if (payment == token || minIncrementBps_ > BPS || extensionWindow_ > MAX_EXTENSION) revert InvalidConfig();
        ledger = ledger_;
        energyToken = token;
        paymentToken = payment;
        minIncrementBps = minIncrementBps_;
        extensionWindow = extensionWindow_;
        _market.nextLotId = 1;
    }

    // ------------------------------------------------------------ sellers

    /// @inheritdoc IEnergyAuction
    function offer(uint256 amountWh, uint256 startPricePerKWh, uint256 duration)
        external
        nonReentrant
        returns (uint256 lotId)
    {
        lotId = _open(amountWh, startPricePerKWh, duration);
        IERC20(energyToken).safeTransferFrom(msg.sender, address(this), amountWh);
    }

    /// @inheritdoc IEnergyAuction
    function offerWithPermit(
        uint256 amountWh,
        uint256 startPricePerKWh,
        uint256 duration,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant returns (uint256 lotId) {
        lotId = _open(amountWh, startPricePerKWh, duration);
        address token = energyToken;
        try IERC20Permit(token).permit(msg.sender, address(this), amountWh, permitDeadline, v, r, s) {} catch {}
        IERC20(token).safeTransferFrom(msg.sender, address(this), amountWh);
    }

    /// @inheritdoc IEnergyAuction
    function cancel(uint256 lotId) external nonReentrant {
        Lot storage stored = _lots[lotId];
        Lot memory l = stored;
        _requireOpen(lotId, l.status);
        if (msg.sender != l.seller) revert NotSeller(lotId, msg.sender);
        if (l.bidder != address(0)) revert LotHasBid(lotId, l.bidder);
        stored.status = LotStatus.Cancelled;
        emit LotCancelled(lotId, l.seller);
        IERC20(energyToken).safeTransfer(l.seller, l.amountWh);
    }

    // ------------------------------------------------------------ buyers

    /// @inheritdoc IEnergyAuction
    function bid(uint256 lotId, uint256 pricePerKWh) external payable nonReentrant {
        uint256 payment = _placeBid(lotId, pricePerKWh);
        if (paymentToken == address(0)) {
            if (msg.value != payment) revert WrongPayment(msg.value, payment);
        } else {
            if (msg.value != 0) revert WrongPayment(msg.value, payment);
            _pullPayment(payment);
        }
    }

    /// @inheritdoc IEnergyAuction
    function bidWithPermit(uint256 lotId, uint256 pricePerKWh, uint256 permitDeadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
    {
        address token = paymentToken;
        if (token == address(0)) revert NoPaymentToken();
        uint256 payment = _placeBid(lotId, pricePerKWh);
        try IERC20Permit(token).permit(msg.sender, address(this), payment, permitDeadline, v, r, s) {} catch {}
        _pullPayment(payment);
    }

    // ------------------------------------------------------------ anyone

    /// @inheritdoc IEnergyAuction
    function finalize(uint256 lotId) external nonReentrant {
        Lot storage stored = _lots[lotId];
        Lot memory l = stored;
        _requireOpen(lotId, l.status);
        if (block.timestamp < l.deadline) revert LotStillOpen(lotId, l.deadline);
        address to = l.bidder;
        if (to == address(0)) {
            stored.status = LotStatus.Unsold;
            emit LotFinalized(lotId, address(0), l.seller, 0, 0, 0);
            to = l.seller;
        } else {
            stored.status = LotStatus.Sold;
            uint256 payment = _payment(l.amountWh, l.pricePerKWh);
            // At most 10 % of the payment, rounded down; the seller gets the rest, so nothing is left over.
            uint256 fee = payment * l.feeBps / BPS;
            _proceeds[l.seller] += payment - fee;
            // Fees are at most the money ever paid in: far below 2^192.
            if (fee != 0) _market.fees += uint192(fee);
            emit LotFinalized(lotId, to, l.seller, l.pricePerKWh, payment, fee);
        }
        IERC20(energyToken).safeTransfer(to, l.amountWh);
    }

    /// @inheritdoc IEnergyAuction
    function withdrawRefund() external nonReentrant returns (uint256 amount) {
        amount = _take(_refunds);
        emit RefundWithdrawn(msg.sender, amount);
        _sendPayment(msg.sender, amount);
    }

    /// @inheritdoc IEnergyAuction
    function withdrawProceeds() external nonReentrant returns (uint256 amount) {
        amount = _take(_proceeds);
        emit ProceedsWithdrawn(msg.sender, amount);
        _sendPayment(msg.sender, amount);
    }

    // ------------------------------------------------------------ operator

    /// @inheritdoc IEnergyAuction
    function withdrawFees() external nonReentrant returns (uint256 amount) {
        if (msg.sender != feeRecipient) revert NotFeeRecipient(msg.sender);
        amount = _market.fees;
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        _market.fees = 0;
        emit FeesWithdrawn(msg.sender, amount);
        _sendPayment(msg.sender, amount);
    }

    /// @inheritdoc IEnergyAuction
    function setFee(uint16 feeBps_, address recipient) external {
        if (!IAccessControl(ledger).hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) revert NotLedgerAdmin(msg.sender);
        if (recipient == address(0)) revert ZeroAddress();
        if (feeBps_ > MAX_FEE_BPS) revert FeeTooHigh(feeBps_, MAX_FEE_BPS);
        _market.feeBps = feeBps_;
        feeRecipient = recipient;
        emit FeeSet(feeBps_, recipient);
    }

    // ------------------------------------------------------------ views

    /// @inheritdoc IEnergyAuction
    function feeBps() external view returns (uint16) {
        return _market.feeBps;
    }

    /// @inheritdoc IEnergyAuction
    function fees() external view returns (uint256) {
        return _market.fees;
    }

    /// @inheritdoc IEnergyAuction
    function nextLotId() external view returns (uint256) {
        return _market.nextLotId;
    }

    /// @inheritdoc IEnergyAuction
    function lot(uint256 lotId) external view returns (Lot memory) {
        return _lots[lotId];
    }

    /// @inheritdoc IEnergyAuction
    function lots(uint256 firstId, uint256 count) external view returns (Lot[] memory list) {
        uint256 next = _market.nextLotId;
        uint256 available = firstId < next ? next - firstId : 0;
        list = new Lot[](Math.min(count, available));
        for (uint256 i; i < list.length; ++i) {
            list[i] = _lots[firstId + i];
        }
    }

    /// @inheritdoc IEnergyAuction
    function minimumBid(uint256 lotId) external view returns (uint256 pricePerKWh, uint256 payment) {
        Lot memory l = _lots[lotId];
        pricePerKWh = _minimumPrice(l.bidder, l.pricePerKWh);
        payment = _payment(l.amountWh, pricePerKWh);
    }

    /// @inheritdoc IEnergyAuction
    function paymentFor(uint256 amountWh, uint256 pricePerKWh) external pure returns (uint256) {
        return _payment(amountWh, pricePerKWh);
    }

    /// @inheritdoc IEnergyAuction
    function refundOf(address account) external view returns (uint256) {
        return _refunds[account];
    }

    /// @inheritdoc IEnergyAuction
    function proceedsOf(address account) external view returns (uint256) {
        return _proceeds[account];
    }

    // ------------------------------------------------------------ internals

    /// @dev Checks an offer's terms and records its lot, fixing the current fee.
    function _open(uint256 amountWh, uint256 startPricePerKWh, uint256 duration) private returns (uint256 lotId) {
        if (amountWh == 0) revert ZeroAmount();
        if (amountWh > MAX_AMOUNT) revert AmountTooLarge(amountWh, MAX_AMOUNT);
        if (startPricePerKWh == 0 || startPricePerKWh > type(uint96).max) revert PriceOutOfRange(startPricePerKWh);
        // Room for one extension after the deadline keeps every deadline a uint32.
        if (duration == 0 || duration > MAX_DURATION || block.timestamp + duration + extensionWindow > type(uint32).max)
        {
            revert InvalidDuration(duration);
        }
        uint256 deadline = block.timestamp + duration;
        Market memory m = _market;
        lotId = m.nextLotId;
        // Ids count up by one per offer: 2^48 offers cannot happen.
        unchecked {
            _market.nextLotId = m.nextLotId + 1;
        }
        _lots[lotId] = Lot({
            seller: msg.sender,
            amountWh: uint40(amountWh),
            deadline: uint32(deadline),
            feeBps: m.feeBps,
            status: LotStatus.Open,
            bidder: address(0),
            pricePerKWh: uint96(startPricePerKWh)
        });
        emit LotOffered(lotId, msg.sender, amountWh, startPricePerKWh, deadline, m.feeBps);
    }

    /// @dev Checks a bid, makes it the standing one, credits the outbid payment as its bidder's refund and extends a
    /// late bid's deadline. Returns the payment the bidder owes; the caller collects it.
    function _placeBid(uint256 lotId, uint256 pricePerKWh) private returns (uint256 payment) {
        Lot storage stored = _lots[lotId];
        Lot memory l = stored;
        _requireOpen(lotId, l.status);
        if (block.timestamp >= l.deadline) revert LotEnded(lotId, l.deadline);
        if (msg.sender == l.seller) revert SellerCannotBid(lotId);
        uint256 minimum = _minimumPrice(l.bidder, l.pricePerKWh);
        if (pricePerKWh < minimum) revert BidTooLow(lotId, pricePerKWh, minimum);
        if (pricePerKWh > type(uint96).max) revert PriceOutOfRange(pricePerKWh);
        payment = _payment(l.amountWh, pricePerKWh);
        stored.bidder = msg.sender;
        stored.pricePerKWh = uint96(pricePerKWh);
        if (l.bidder != address(0)) _refunds[l.bidder] += _payment(l.amountWh, l.pricePerKWh);
        emit BidPlaced(lotId, msg.sender, l.bidder, pricePerKWh, payment);
        uint256 window = extensionWindow;
        // The deadline is in the future here, and an offer leaves room for `window` beyond it.
        unchecked {
            if (l.deadline - block.timestamp < window) {
                uint256 deadline = block.timestamp + window;
                stored.deadline = uint32(deadline);
                emit DeadlineExtended(lotId, deadline);
            }
        }
    }

    /// @dev Pulls `payment` of the payment token from the caller. Allowance and balance are checked first so that
    /// every token reports a short bidder the same way; the amount that arrived is measured, and a token that
    /// delivers less (fee on transfer) is refused rather than leaving the escrow short of what it owes.
    function _pullPayment(uint256 payment) private {
        IERC20 token = IERC20(paymentToken);
        uint256 allowance = token.allowance(msg.sender, address(this));
        if (allowance < payment) revert InsufficientAllowance(msg.sender, allowance, payment);
        uint256 balance = token.balanceOf(msg.sender);
        if (balance < payment) revert InsufficientBalance(msg.sender, balance, payment);
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), payment);
        uint256 held = token.balanceOf(address(this));
        if (held != before + payment) {
            revert PaymentTokenShortfall(address(token), payment, held > before ? held - before : 0);
        }
    }

    /// @dev Sends `amount` of the payment (native coin or token) to `to`.
    function _sendPayment(address to, uint256 amount) private {
        address token = paymentToken;
        if (token == address(0)) {
            (bool ok,) = to.call{value: amount}("");
            if (!ok) revert NativeTransferFailed(to, amount);
        } else {
            IERC20(token).safeTransfer(to, amount);
        }
    }

    /// @dev Empties the caller's balance in `balances` and returns it; reverts when there is nothing.
    function _take(mapping(address => uint256) storage balances) private returns (uint256 amount) {
        amount = balances[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        balances[msg.sender] = 0;
    }

    function _requireOpen(uint256 lotId, LotStatus status) private pure {
        if (status == LotStatus.Open) return;
        if (status == LotStatus.None) revert UnknownLot(lotId);
        revert LotClosed(lotId, status);
    }

    /// @dev The start price while no bid stands; else the highest bid raised by the increment (rounded up, at least
    /// one base unit). At most 2^96 × 2: no overflow.
    function _minimumPrice(address bidder, uint256 price) private view returns (uint256) {
        if (bidder == address(0)) return price;
        return price + Math.max(1, Math.mulDiv(price, minIncrementBps, BPS, Math.Rounding.Ceil));
    }

    /// @dev amountWh × pricePerKWh / 1000, rounded up: the buyer pays any fraction of a base unit, so the seller is
    /// never short of the price it accepted.
    function _payment(uint256 amountWh, uint256 pricePerKWh) private pure returns (uint256) {
        return Math.mulDiv(amountWh, pricePerKWh, WH_PER_KWH, Math.Rounding.Ceil);
    }
}
