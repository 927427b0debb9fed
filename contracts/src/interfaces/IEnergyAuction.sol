// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title Energy auction
/// @notice A market between neighbours for the ledger's energy tokens (`EnergyToken`: 3 decimals, one base unit is one
/// Wh). A seller offers a lot of tokens with a start price per kWh and a duration; the tokens are escrowed here. Buyers
/// bid a price per kWh for the whole lot and escrow its payment in the ledger's payment token (the native coin when the
/// ledger's `paymentToken` is address(0)). The highest bid when the deadline passes wins: anyone may then finalize the
/// lot, which sends the tokens to the winner and credits the payment, less the operator's fee, to the seller.
///
/// Rules:
/// - Money moves by pull: an outbid buyer's payment becomes its refund (`withdrawRefund`); the seller's proceeds
///   become its withdrawable balance (`withdrawProceeds`), the operator's fees accrue for the fee recipient
///   (`withdrawFees`). Nothing another account does can make a withdrawal or a finalization revert.
/// - Energy tokens move by transfer: to the winner at finalization, back to the seller when a lot ends unsold or is
///   cancelled. The energy token is the ledger's own ERC-20 with no hooks, no block list and no pause, so a transfer
///   to a nonzero address can neither fail nor call out, and parking tokens for a later pull would only cost the
///   household a transaction.
/// - Payment: `paymentFor(amountWh, pricePerKWh)` = amountWh × pricePerKWh / 1000, rounded up, so the seller is never
///   short of the price it accepted; the fee is `payment × feeBps / 10_000` rounded down, and the seller gets the
///   rest: every base unit the winner paid is either the seller's or the operator's.
/// - Increment: a first bid must be at least the start price; each later bid at least the highest bid raised by
///   `minIncrementBps` (rounded up, and by at least one base unit).
/// - Anti-sniping: a bid placed less than `extensionWindow` seconds before the deadline moves the deadline to
///   `extensionWindow` seconds after that bid (`DeadlineExtended`). Without it the best strategy is to bid in the last
///   block, which favours whoever pays for transaction ordering and leaves an outbid household, whose Home Assistant
///   polls, no time to answer; with it every bid can be answered, and the auction ends only after a quiet window. Each
///   extension costs its bidder a full increment, so a bidding war ends at the bidders' limits.
/// - A seller may cancel its lot while no bid stands (also after the deadline); never under a bid.
/// - The fee a lot pays is the one in force when it was offered (`Lot.feeBps`): the operator cannot change the terms
///   of a lot already offered. The fee and its recipient are set by the ledger's admin (see `setFee`).
/// - Clients list lots from the events (`LotOffered`, `BidPlaced`, `DeadlineExtended`, `LotFinalized`,
///   `LotCancelled`) and read their current state in one call with `lots(firstId, count)`.
interface IEnergyAuction {
    /// @notice Where a lot stands. `None`: no such lot.
    enum LotStatus {
        None,
        Open,
        Sold,
        Unsold,
        Cancelled
    }

    /// @notice A lot (two storage slots).
    /// @param seller Who offered it; receives the proceeds.
    /// @param amountWh Escrowed energy tokens (base units: Wh).
    /// @param deadline No bid from this time on (seconds since the epoch); later than offered after an extension.
    /// @param feeBps The operator's fee on the payment, fixed when the lot was offered.
    /// @param status See `LotStatus`.
    /// @param bidder The highest bidder; address(0) while no bid stands.
    /// @param pricePerKWh The start price while no bid stands, then the highest bid (payment-token base units per
    /// kWh).
    struct Lot {
        address seller;
        uint40 amountWh;
        uint32 deadline;
        uint16 feeBps;
        LotStatus status;
        address bidder;
        uint96 pricePerKWh;
    }

    /// @notice `seller` escrowed `amountWh` tokens in lot `lotId`.
    event LotOffered(
        uint256 indexed lotId,
        address indexed seller,
        uint256 amountWh,
        uint256 startPricePerKWh,
        uint256 deadline,
        uint256 feeBps
    );
    /// @notice `bidder` leads lot `lotId` at `pricePerKWh`, having escrowed `payment`; `previousBidder` (address(0) for
    /// a first bid) was outbid and its payment became its refund.
    event BidPlaced(
        uint256 indexed lotId,
        address indexed bidder,
        address indexed previousBidder,
        uint256 pricePerKWh,
        uint256 payment
    );
    /// @notice A late bid moved lot `lotId`'s deadline.
    event DeadlineExtended(uint256 indexed lotId, uint256 deadline);
    /// @notice Lot `lotId` ended: its tokens went to `winner` (address(0): unsold, back to the seller), `payment` was
    /// paid, of which `fee` accrued to the operator and the rest to `seller`.
    event LotFinalized(
        uint256 indexed lotId,
        address indexed winner,
        address indexed seller,
        uint256 pricePerKWh,
        uint256 payment,
        uint256 fee
    );
    /// @notice The seller cancelled lot `lotId`; its tokens went back.
    event LotCancelled(uint256 indexed lotId, address indexed seller);
    /// @notice `account` withdrew its refunds of outbid payments.
    event RefundWithdrawn(address indexed account, uint256 amount);
    /// @notice `account` withdrew its proceeds of sales.
    event ProceedsWithdrawn(address indexed account, uint256 amount);
    /// @notice The fee recipient withdrew the accrued fees.
    event FeesWithdrawn(address indexed recipient, uint256 amount);
    /// @notice The fee for lots offered from now on, and who receives fees from now on.
    event FeeSet(uint256 feeBps, address indexed recipient);

    /// @notice The ledger has no energy token: nothing to trade.
    error NoEnergyToken();
    /// @notice Constructor arguments out of range (increment over 100 %, extension window over `MAX_EXTENSION`,
    /// payment token equal to the energy token).
    error InvalidConfig();
    error ZeroAddress();
    /// @notice An offer of zero tokens.
    error ZeroAmount();
    /// @notice An offer of more tokens than a lot holds (2^40 - 1 Wh).
    error AmountTooLarge(uint256 amountWh, uint256 max);
    /// @notice A start price of zero, or a price above 2^96 - 1 base units per kWh.
    error PriceOutOfRange(uint256 pricePerKWh);
    /// @notice A duration of zero, above `MAX_DURATION`, or ending beyond the 32-bit timestamps.
    error InvalidDuration(uint256 duration);
    error UnknownLot(uint256 lotId);
    /// @notice The lot was already sold, returned or cancelled.
    error LotClosed(uint256 lotId, LotStatus status);
    /// @notice A bid at or after the lot's deadline.
    error LotEnded(uint256 lotId, uint256 deadline);
    /// @notice Finalizing before the deadline.
    error LotStillOpen(uint256 lotId, uint256 deadline);
    error SellerCannotBid(uint256 lotId);
    /// @notice The bid is below the start price or does not beat the highest bid by the increment.
    error BidTooLow(uint256 lotId, uint256 pricePerKWh, uint256 minPricePerKWh);
    error NotSeller(uint256 lotId, address caller);
    /// @notice The seller cannot cancel: a bid stands.
    error LotHasBid(uint256 lotId, address bidder);
    /// @notice Native value that is not exactly the payment (native coin), or any native value (payment token).
    error WrongPayment(uint256 sent, uint256 payment);
    /// @notice A permit for the payment token on an auction paid in the native coin.
    error NoPaymentToken();
    /// @notice The bidder has approved this contract for less than the payment.
    error InsufficientAllowance(address bidder, uint256 allowance, uint256 payment);
    /// @notice The bidder holds less than the payment.
    error InsufficientBalance(address bidder, uint256 balance, uint256 payment);
    /// @notice Fewer payment tokens arrived than were sent (a fee-on-transfer or rebasing token): refused, since
    /// every escrowed amount is owed to someone in full.
    error PaymentTokenShortfall(address token, uint256 payment, uint256 received);
    error NativeTransferFailed(address to, uint256 amount);
    /// @notice Nothing to withdraw.
    error NothingToWithdraw(address account);
    /// @notice The caller does not hold the ledger's `DEFAULT_ADMIN_ROLE`.
    error NotLedgerAdmin(address caller);
    error NotFeeRecipient(address caller);
    error FeeTooHigh(uint256 feeBps, uint256 max);

    /// @notice Offers `amountWh` energy tokens (escrowed from the caller, who must have approved this contract) at
    /// `startPricePerKWh`, open for bids for `duration` seconds. Returns the new lot's id (ids count up from 1).
    function offer(uint256 amountWh, uint256 startPricePerKWh, uint256 duration) external returns (uint256 lotId);

    /// @notice `offer` with an ERC-2612 permit of the energy token for `amountWh`, in one transaction. A permit that
    /// fails (e.g. already used by someone who relayed it) is ignored: the transfer then needs the allowance anyway.
    function offerWithPermit(
        uint256 amountWh,
        uint256 startPricePerKWh,
        uint256 duration,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 lotId);

    /// @notice Bids `pricePerKWh` for the whole of lot `lotId` and escrows its payment (`paymentFor`): the exact native
    /// value, or that amount of the payment token from the caller's allowance. The previous highest bid becomes its
    /// bidder's refund. The seller cannot bid on its own lot (another address of the seller can: see the attack
    /// tests; it only risks buying its own tokens and paying the fee).
    function bid(uint256 lotId, uint256 pricePerKWh) external payable;

    /// @notice `bid` with an ERC-2612 permit of the payment token for the payment (token auctions only). A failing
    /// permit is ignored, as in `offerWithPermit`.
    function bidWithPermit(uint256 lotId, uint256 pricePerKWh, uint256 permitDeadline, uint8 v, bytes32 r, bytes32 s)
        external;

    /// @notice The seller takes back lot `lotId` while no bid stands (before or after the deadline).
    function cancel(uint256 lotId) external;

    /// @notice Ends lot `lotId` once its deadline has passed. Anyone may call it, once: with a bid, the tokens go to
    /// the winner and the payment is credited to the seller (less the fee, which accrues to the operator); without,
    /// the tokens go back to the seller.
    function finalize(uint256 lotId) external;

    /// @notice Sends the caller all its refunds of outbid payments.
    function withdrawRefund() external returns (uint256 amount);

    /// @notice Sends the caller all its proceeds of sales.
    function withdrawProceeds() external returns (uint256 amount);

    /// @notice Sends the fee recipient (the caller) all fees accrued so far.
    function withdrawFees() external returns (uint256 amount);

    /// @notice Sets the fee for lots offered from now on (at most `MAX_FEE_BPS`) and the account that withdraws the
    /// fees (all accrued fees, also those accrued before).
    /// @dev Only an account holding the ledger's `DEFAULT_ADMIN_ROLE`: roles live in one place, the ledger, and the
    /// fee recipient decides where operator money goes, as the ledger's treasury does, which only that role sets. So
    /// the auction inherits the ledger's two-step, delayed admin transfer and needs no roles of its own.
    function setFee(uint16 feeBps, address recipient) external;

    /// @notice The ledger whose energy token is traded, whose payment token pays, and whose admin sets the fee.
    function ledger() external view returns (address);

    /// @notice The traded token, fixed at deployment: there is no token parameter, so no other token can be offered.
    function energyToken() external view returns (address);

    /// @notice The ledger's payment token; address(0) is the native coin.
    function paymentToken() external view returns (address);

    /// @notice How much a bid must beat the highest bid by, in basis points of its price.
    function minIncrementBps() external view returns (uint16);

    /// @notice The anti-sniping window, in seconds (0: no extensions).
    function extensionWindow() external view returns (uint32);

    /// @notice The highest fee, in basis points (10 %).
    function MAX_FEE_BPS() external view returns (uint16);

    /// @notice The longest duration of an offer, in seconds.
    function MAX_DURATION() external view returns (uint32);

    /// @notice The longest anti-sniping window, in seconds.
    function MAX_EXTENSION() external view returns (uint32);

    /// @notice The fee, in basis points, of lots offered now.
    function feeBps() external view returns (uint16);

    /// @notice The account that withdraws the fees (address(0) until the first `setFee`).
    function feeRecipient() external view returns (address);

    /// @notice Fees accrued and not yet withdrawn.
    function fees() external view returns (uint256);

    /// @notice The id the next lot will get; lots 1 to `nextLotId() - 1` exist.
    function nextLotId() external view returns (uint256);

    /// @notice Lot `lotId` (all zero, status `None`, if there is no such lot).
    function lot(uint256 lotId) external view returns (Lot memory);

    /// @notice Up to `count` lots from `firstId` on (fewer past the last lot): one call for a client's list.
    function lots(uint256 firstId, uint256 count) external view returns (Lot[] memory);

    /// @notice The lowest price a bid on lot `lotId` may have now, and its payment.
    function minimumBid(uint256 lotId) external view returns (uint256 pricePerKWh, uint256 payment);

    /// @notice The payment of a bid of `pricePerKWh` for `amountWh`: amountWh × pricePerKWh / 1000, rounded up.
    function paymentFor(uint256 amountWh, uint256 pricePerKWh) external pure returns (uint256);

    /// @notice `account`'s withdrawable refunds of outbid payments.
    function refundOf(address account) external view returns (uint256);

    /// @notice `account`'s withdrawable proceeds of sales.
    function proceedsOf(address account) external view returns (uint256);
}
