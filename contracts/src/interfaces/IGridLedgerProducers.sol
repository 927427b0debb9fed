// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IGridLedgerTypes} from "./IGridLedger.sol";

/// @title Grid Ledger producer types
/// @notice Types, events and errors of the producer half: bidirectional readings, energy tokens, redemption and
/// sell-back.
/// @dev Energy tokens (`EnergyToken`, 3 decimals: one base unit is one Wh) are minted lazily: a signed export register
/// delta is added to the meter's `pendingWh` by the reading (no token call on the reading's path), and
/// `claimTokens` mints the pending Wh to the meter's payer. A plant (a root feeder the registrar marked, with an
/// owner) mints the same way from its signed feeder readings: its pending Wh are its register less the register it is
/// settled up to, and `claimPlantTokens` mints them to its owner. So the total of tokens minted plus pending equals the
/// sum of accepted export deltas and accepted plant deltas, exactly, and nothing but a signed register creates a token
/// (and the registrar's final export register of a meter it exchanges, as for the import register: see
/// `recordBidirectionalMeterExchange`).
interface IGridLedgerProducerTypes is IGridLedgerTypes {
    /// @notice A bidirectional meter's signed statement: both cumulative registers at a time.
    /// @dev EIP-712 type `BidirectionalReading(uint32 meterId,uint64 importWh,uint64 exportWh,uint32 timestamp)`,
    /// signed by the meter's signer. `importWh` is OBIS 1.8.0, `exportWh` OBIS 2.8.0.
    struct BidirectionalReading {
        uint32 meterId;
        uint64 importWh;
        uint64 exportWh;
        uint32 timestamp;
    }

    /// @notice A bidirectional reading with its signature in ERC-2098 compact form.
    struct SignedBidirectionalReading {
        BidirectionalReading reading;
        bytes32 r;
        bytes32 vs;
    }

    /// @notice A meter's producer state.
    struct ProducerInfo {
        bool exports;
        bool redeemTokens;
        uint32 maxExportW;
        uint64 exportWh;
        uint64 pendingWh;
        uint64 billRedeemedWh;
    }

    /// @notice A plant's state: its owner (address(0): the feeder is no plant), its last accepted register and the Wh
    /// of it not yet minted.
    struct PlantInfo {
        address owner;
        uint64 outputWh;
        uint64 pendingWh;
    }

    /// @notice A tariff's producer prices, in payment-token base units per kWh: what the operator pays for a token
    /// sold back (`feedInPricePerKWh`), and the network charge that still applies to redeemed energy.
    struct ProducerTariff {
        uint64 feedInPricePerKWh;
        uint64 networkChargePerKWh;
    }

    /// @notice A meter's export register was enabled or rebased (a new meter continues from `exportWh`).
    event ExportEnabled(uint32 indexed meterId, uint32 maxExportW, uint64 exportWh);
    /// @notice A bidirectional reading was accepted; `exportedWh` is the export delta, added to `pendingWh`.
    event BidirectionalReadingAccepted(
        uint32 indexed meterId, uint64 importWh, uint64 exportWh, uint32 timestamp, uint64 exportedWh
    );
    /// @notice Pending tokens were minted to the meter's payer.
    event TokensClaimed(uint32 indexed meterId, address indexed payer, uint256 wh);
    /// @notice Tokens were redeemed against the meter's billed import; `amount` is the bill reduction (base units).
    event TokensRedeemed(uint32 indexed meterId, address indexed holder, uint256 wh, uint256 amount);
    /// @notice Tokens were sold back to the operator at the feed-in price; `amount` is owed to `seller` (pull).
    event TokensSoldBack(uint32 indexed meterId, address indexed seller, uint256 wh, uint256 amount);
    /// @notice The meter's payer chose whether its tokens pay its bills first.
    event RedeemTokensSet(uint32 indexed meterId, bool redeemTokens);
    /// @notice A tariff's producer prices were set (effective immediately).
    event ProducerTariffSet(uint32 indexed tariffId, uint64 feedInPricePerKWh, uint64 networkChargePerKWh);
    /// @notice Funds for feed-in payouts were deposited.
    event FeedInFundsDeposited(address indexed from, uint256 amount, uint256 funds);
    /// @notice Unused feed-in funds went back to the treasury.
    event FeedInFundsWithdrawn(address indexed treasury, uint256 amount, uint256 funds);
    /// @notice Sell-back proceeds were withdrawn by their owner.
    event ProceedsWithdrawn(address indexed account, uint256 amount);
    /// @notice A meter with an export register was exchanged: the old meter's export up to `oldFinalExportWh`
    /// (`exportedWh` since the last reading) is pending, and the export register continues from `newInitialExportWh`.
    /// Emitted with `MeterExchanged`, which carries the import register.
    event ExportExchanged(
        uint32 indexed meterId, uint64 oldFinalExportWh, uint64 newInitialExportWh, uint64 exportedWh
    );
    /// @notice A feeder became a plant: its output beyond the register `fromWh` mints energy tokens for `owner`.
    /// Each later `FeederReadingAccepted` of it adds its register's rise to the plant's pending Wh.
    event PlantEnabled(uint32 indexed feederId, address indexed owner, uint64 fromWh);
    event PlantOwnerChanged(uint32 indexed feederId, address indexed owner);
    /// @notice A plant's pending tokens were minted to its owner.
    event PlantTokensClaimed(uint32 indexed feederId, address indexed owner, uint256 wh);

    /// @notice A bidirectional reading, a claim, a sell-back or the redeem-first choice for a meter whose export
    /// register is not enabled (it has no pending tokens; `redeemTokens` takes held ones from any meter).
    error ImportOnlyMeter(uint32 meterId);
    error ExportRegisterDecreased(uint32 meterId, uint64 exportWh, uint64 lastExportWh);
    /// @notice The export since the last reading implies more power than the meter's export rating.
    error ImplausibleExportPower(uint32 meterId, uint256 powerW, uint32 maxExportW);
    /// @notice The holder has fewer tokens (pending and minted) than asked for.
    error InsufficientTokens(address holder, uint256 wh, uint256 available);
    /// @notice Nothing pending to mint (for `claimPlantTokens`, the id is the plant's feeder id).
    error NothingToClaim(uint32 meterId);
    /// @notice Nothing to redeem against: no unpaid bill, or its energy is already redeemed.
    error NothingToRedeem(uint32 meterId);
    /// @notice The operator's feed-in funds cannot pay this sell-back.
    error FeedInFundsExhausted(uint256 amount, uint256 funds);
    error NoFeedInPrice(uint32 tariffId);
    error NoProceeds(address account);
    /// @notice A producer function on a deployment without an energy token.
    error NoEnergyToken();
    /// @notice `recordMeterExchange` for a meter with an export register: its exchange carries both registers
    /// (`recordBidirectionalMeterExchange`), so that its last export is not lost.
    error ExportRegisterNotExchanged(uint32 meterId);
    error NotAPlant(uint32 feederId);
    error PlantExists(uint32 feederId);
    /// @notice Plants are root feeders: a feeder's energy counts as its parent's load, a plant's is generation.
    error PlantNotRoot(uint32 feederId, uint32 parentId);
    /// @notice A plant's starting register is its meter's own: the feeder needs a first accepted reading.
    error PlantNotRead(uint32 feederId);
    /// @notice Only the owner moves a plant with pending tokens (the registrar moves one with none).
    error NotPlantOwner(uint32 feederId, address caller);
}

/// @title Grid Ledger bidirectional readings
/// @notice Served by `GridLedger` itself (hot paths).
interface IGridLedgerProducerReadings is IGridLedgerProducerTypes {
    /// @notice Submits one signed bidirectional reading. Anyone may relay it. Checks the import register as
    /// `submitReading` does, and the export register the same way against the meter's export rating.
    /// @dev So that a reading reads and writes one meter slot, the signature of a producer meter's reading (of either
    /// kind) is checked against the low 99 bits of its signer's address (the whole address is what `meter()` reports
    /// and `setMeterSigner` rotates). A forger needs a signature recovering to an address with those bits for some
    /// producer meter: about 2^99 / (number of producer meters) key generations or recoveries. A malformed signature
    /// (recovering address(0)) never matches.
    function submitBidirectionalReading(BidirectionalReading calldata r, bytes calldata sig) external;

    /// @notice Submits a batch of signed bidirectional readings; a failing entry is skipped with `ReadingRejected`.
    /// @dev Signatures are checked as by `submitBidirectionalReading` (the low 99 bits of the signer's address).
    function submitBidirectionalReadings(SignedBidirectionalReading[] calldata readings)
        external
        returns (uint256 accepted);
}

/// @title Grid Ledger bidirectional meter exchanges
/// @notice Served by `GridLedgerExtension`, beside the import-only `recordMeterExchange`.
interface IGridLedgerProducerExchange is IGridLedgerProducerTypes {
    /// @notice Records the exchange of a meter with an export register at `timestamp`, as `recordMeterExchange` does
    /// for its import register: the old meter's final registers take the checks of a signed bidirectional reading
    /// (not decreasing, within both ratings, not stale, not in the future; the registrar attests them instead of a
    /// signature) and its export since the last reading becomes pending tokens, then the old meter's final bill is
    /// issued and both registers continue from the new meter's, in the same period. The pending Wh stay pending
    /// (as `enableExport`'s rebase keeps them). Meter registrar only; not while paused. Emits `MeterExchanged` and
    /// `ExportExchanged`.
    /// @dev Trust: like the import register, the old meter's final export register is the registrar's word, bounded by
    /// the last signed register (never below: no accepted export is taken back) and by the meter's export rating
    /// since that reading (at most that much can be added). The new registers are the registrar's word as
    /// `registerMeter`'s and `enableExport`'s are; the meter's signed readings go on from them.
    function recordBidirectionalMeterExchange(
        uint32 meterId,
        uint64 oldFinalImportWh,
        uint64 oldFinalExportWh,
        uint64 newInitialImportWh,
        uint64 newInitialExportWh,
        uint32 timestamp
    ) external;
}

/// @title Grid Ledger producer accounts
/// @notice Served by `GridLedgerProducers` on the ledger's storage, reached from `GridLedger` by selector.
interface IGridLedgerProducerAccounts is IGridLedgerProducerTypes {
    /// @notice Enables (or, after a meter exchange, rebases) a meter's export register. Registrar only. A rebase keeps
    /// the pending Wh; it reverts with `RegisterOutOfRange` while more than 2^40 - 1 Wh are pending (claim them first).
    function enableExport(uint32 meterId, uint32 maxExportW, uint64 exportWh) external;

    /// @notice Makes a root feeder a plant whose signed output mints energy tokens for `owner`, from its last accepted
    /// register on (only readings accepted after this earn). Meter registrar only. Reverts `PlantNotRoot` for a feeder
    /// with a parent, `PlantNotRead` before its first reading, `PlantExists` for a plant (see `setPlantOwner`).
    function enablePlant(uint32 feederId, address owner) external;

    /// @notice Changes a plant's owner: the owner may always hand it on (pending tokens go with it, as a meter's go
    /// with its payer), the registrar only while nothing is pending (anyone may claim first).
    function setPlantOwner(uint32 feederId, address owner) external;

    /// @notice Mints the plant's pending tokens to its owner. Anyone may call it.
    function claimPlantTokens(uint32 feederId) external returns (uint256 wh);

    /// @notice The meter's payer chooses whether its pending tokens pay its bills first (at each bill's issue).
    function setRedeemTokens(uint32 meterId, bool redeemTokens) external;

    /// @notice Mints the meter's pending tokens to its payer. Anyone may call it.
    function claimTokens(uint32 meterId) external returns (uint256 wh);

    /// @notice The payer redeems `wh` tokens (its meter's pending first, then its own minted ones) against the
    /// meter's unpaid bill: the bill drops by the bill's own average price of that energy minus the network charge.
    /// Never credits more than the debt, nor more energy than the bill has left to redeem. Any meter may: an
    /// import-only household pays with tokens it bought.
    function redeemTokens(uint32 meterId, uint256 wh) external returns (uint256 amount);

    /// @notice The payer sells `wh` tokens (pending first, then minted) to the operator at its tariff's feed-in
    /// price, paid from the feed-in funds; the proceeds are withdrawn with `withdrawProceeds`.
    function sellBack(uint32 meterId, uint256 wh) external returns (uint256 amount);

    /// @notice Withdraws the caller's sell-back proceeds (pull).
    function withdrawProceeds() external returns (uint256 amount);

    /// @notice Deposits funds for feed-in payouts (native value, or `amount` of the payment token).
    function depositFeedInFunds(uint256 amount) external payable;

    /// @notice Sends unused feed-in funds to the treasury. Admin only.
    function withdrawFeedInFunds(uint256 amount) external;

    /// @notice Sets a tariff's feed-in price and network charge. Tariff setter only.
    function setProducerTariff(uint32 tariffId, ProducerTariff calldata t) external;

    /// @notice The energy token (address(0): none deployed).
    function energyToken() external view returns (address);

    /// @notice The EIP-712 type hash of `BidirectionalReading`.
    function BIDIRECTIONAL_READING_TYPEHASH() external view returns (bytes32);

    /// @notice The EIP-712 digest a meter signs for `r`.
    function bidirectionalReadingDigest(BidirectionalReading calldata r) external view returns (bytes32);

    function producerInfo(uint32 meterId) external view returns (ProducerInfo memory);

    /// @notice A plant's owner, register and pending Wh (all 0 for a feeder that is no plant).
    function plantInfo(uint32 feederId) external view returns (PlantInfo memory);

    function producerTariff(uint32 tariffId) external view returns (ProducerTariff memory);

    /// @notice Funds deposited for feed-in payouts and not yet paid out or withdrawn.
    function feedInFunds() external view returns (uint256);

    /// @notice Sell-back proceeds `account` may withdraw.
    function proceedsOf(address account) external view returns (uint256);
}

/// @title Grid Ledger producer functions
/// @notice The bidirectional reading entry points (`GridLedger`), the meter exchange with both registers
/// (`GridLedgerExtension`) and the producer accounts and plants (`GridLedgerProducers`).
interface IGridLedgerProducers is
    IGridLedgerProducerReadings,
    IGridLedgerProducerExchange,
    IGridLedgerProducerAccounts
{}
