// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title Grid Ledger types
/// @notice Types, events and errors of `IGridLedger`.
interface IGridLedgerTypes {
    // ---------------------------------------------------------------- types

    /// @notice How a household pays: bills after each period, or credit paid in advance.
    enum Mode {
        Postpaid,
        Prepaid
    }

    /// @notice A meter's signed statement: its cumulative register at a time.
    /// @dev EIP-712 type `Reading(uint32 meterId,uint64 wh,uint32 timestamp)`, signed by the meter's signer.
    struct Reading {
        uint32 meterId;
        uint64 wh;
        uint32 timestamp;
    }

    /// @notice A reading with its signature in ERC-2098 compact form (`vs` carries the parity in its top bit).
    struct SignedReading {
        Reading reading;
        bytes32 r;
        bytes32 vs;
    }

    /// @notice A feeder meter's signed statement (transformer or plant).
    /// @dev EIP-712 type `FeederReading(uint32 feederId,uint64 wh,uint32 timestamp)`, signed by the feeder's signer.
    struct FeederReading {
        uint32 feederId;
        uint64 wh;
        uint32 timestamp;
    }

    /// @notice A time-of-use band in the tariff's local time: minutes of the day in `[startMinute, endMinute)`;
    /// `startMinute > endMinute` wraps over midnight. Local time = UTC + `utcOffsetSeconds`.
    struct Band {
        uint16 startMinute;
        uint16 endMinute;
        uint64 pricePerKWh;
    }

    /// @notice A tariff version. Energy reported by a reading whose local time falls in a band is priced at that
    /// band's price (the first matching band wins), otherwise at `pricePerKWh`. `emergencyCredit` and
    /// `lowCreditThreshold` apply to prepaid meters.
    struct Tariff {
        uint64 pricePerKWh;
        int32 utcOffsetSeconds;
        uint96 emergencyCredit;
        uint96 lowCreditThreshold;
        Band[] bands;
    }

    /// @notice Parameters of a new meter.
    struct MeterParams {
        address signer;
        address payer;
        uint32 feederId;
        uint32 tariffId;
        Mode mode;
        uint32 maxPowerW;
        uint64 initialWh;
    }

    /// @notice A meter's stored state (not projected to now; see `meterBalance`, `billOf`, `permitUntil`).
    struct MeterInfo {
        address signer;
        address payer;
        uint32 feederId;
        uint32 tariffId;
        uint32 nextTariffId;
        Mode mode;
        bool isProtected;
        uint64 lastWh;
        uint32 lastTimestamp;
        uint32 maxPowerW;
        uint32 openPeriod;
        uint64 periodStartWh;
        int256 balance;
        uint32 exhaustedAt;
    }

    /// @notice The latest bill (period 0: none yet). For prepaid meters it is the period statement, settled
    /// from credit.
    struct Bill {
        uint32 period;
        uint64 energyWh;
        uint256 amount;
        uint32 dueAt;
    }

    /// @notice A feeder: a transformer or plant meter with its own signer. `parentId` 0 is a root. `maxPowerW` is
    /// its rating: a reading implying more power is implausible.
    struct FeederInfo {
        address signer;
        uint32 parentId;
        uint16 lossToleranceBps;
        uint64 lastWh;
        uint32 lastTimestamp;
        uint32 maxPowerW;
    }

    /// @notice A feeder's energy balance for one period: what its own meter measured and what its household
    /// meters and child feeders reported.
    struct FeederPeriod {
        uint64 feederWh;
        uint64 childrenWh;
        bool checked;
    }

    /// @notice The operator's friendly schedule in local time (UTC + `utcOffsetSeconds`): no permit ends
    /// within `[startMinute, endMinute)` of any day (wrapping over midnight if `startMinute > endMinute`;
    /// equal values disable the daily window) nor on a day whose bit is set in `friendlyDays`
    /// (bit 0 = Monday ... bit 6 = Sunday). An expiry falling inside moves to the window's end.
    struct FriendlyWindow {
        int32 utcOffsetSeconds;
        uint16 startMinute;
        uint16 endMinute;
        uint8 friendlyDays;
    }

    // ---------------------------------------------------------------- events

    /// @notice A meter was registered.
    event MeterRegistered(
        uint32 indexed meterId,
        uint32 indexed feederId,
        address signer,
        address payer,
        uint32 tariffId,
        Mode mode,
        uint32 maxPowerW,
        uint64 initialWh
    );
    /// @notice A meter's attestation signer was rotated.
    event MeterSignerChanged(uint32 indexed meterId, address signer);
    /// @notice A meter's payer account changed.
    event MeterPayerChanged(uint32 indexed meterId, address payer);
    /// @notice A meter moves to another tariff from `effectivePeriod` on.
    event MeterTariffChanged(uint32 indexed meterId, uint32 indexed tariffId, uint32 effectivePeriod);
    /// @notice A feeder was registered.
    event FeederRegistered(
        uint32 indexed feederId, uint32 indexed parentId, address signer, uint16 lossToleranceBps, uint32 maxPowerW
    );
    /// @notice A feeder's signer or loss tolerance changed.
    event FeederUpdated(uint32 indexed feederId, address signer, uint16 lossToleranceBps);
    /// @notice A tariff version was set, effective from `effectivePeriod`.
    event TariffSet(uint32 indexed tariffId, uint32 effectivePeriod, uint64 pricePerKWh, uint256 bandCount);
    /// @notice A meter reading was accepted.
    event ReadingAccepted(uint32 indexed meterId, uint64 wh, uint32 timestamp);
    /// @notice A reading in a batch was skipped; `reason` is the selector of the error `submitReading` would
    /// revert with (`ReadingFailed` when that error carried no selector).
    event ReadingRejected(uint32 indexed meterId, bytes4 reason);
    /// @notice A meter has sent no reading since `lastReadingPeriod` for `readingTimeoutPeriods()` full periods:
    /// its permit runs out `grace` after `overdueAt` (moved out of the friendly window), unless a reading comes.
    event ReadingOverdue(uint32 indexed meterId, uint32 lastReadingPeriod, uint256 overdueAt);
    /// @notice A feeder's energy sum for `period` reached its 64-bit limit and stopped counting: its loss check for
    /// that period is meaningless, and nothing else is affected.
    event FeederSumSaturated(uint32 indexed feederId, uint32 indexed period);
    /// @notice A feeder reading was accepted; the energy since its previous reading counts in `period` (and, for a
    /// plant, is pending energy tokens of its owner).
    event FeederReadingAccepted(uint32 indexed feederId, uint32 indexed period, uint64 wh, uint32 timestamp);
    /// @notice A period was closed for a meter and its charge computed. Postpaid: due at `dueAt`. Prepaid:
    /// settled from credit.
    event BillIssued(uint32 indexed meterId, uint32 indexed period, uint64 energyWh, uint256 amount, uint32 dueAt);
    /// @notice A payment (bill payment or top-up) was credited to a meter; `balance` is the meter's balance after
    /// it (negative: debt).
    event PaymentReceived(uint32 indexed meterId, address indexed from, uint256 amount, int256 balance);
    /// @notice A meter's `permitUntil` changed because of a state change of that meter.
    event PermitChanged(uint32 indexed meterId, uint64 permitUntil);
    /// @notice A prepaid meter's credit fell below the tariff's low-credit threshold.
    event LowCredit(uint32 indexed meterId, int256 balance);
    /// @notice A feeder's period energy was compared with its children's.
    event LossChecked(uint32 indexed feederId, uint32 indexed period, uint64 feederWh, uint64 childrenWh);
    /// @notice A feeder lost more energy than its tolerance in a period.
    event LossDetected(
        uint32 indexed feederId, uint32 indexed period, uint64 feederWh, uint64 childrenWh, uint256 lossBps
    );
    /// @notice The operator's friendly schedule changed.
    event FriendlyWindowSet(int32 utcOffsetSeconds, uint16 startMinute, uint16 endMinute, uint8 friendlyDays);
    /// @notice A household was marked protected (its permit never ends) or unmarked.
    event ProtectionSet(uint32 indexed meterId, bool isProtected);
    /// @notice The treasury changed.
    event TreasurySet(address indexed treasury);
    /// @notice Funds were sent to the treasury.
    event Withdrawn(address indexed treasury, uint256 amount);
    /// @notice A meter was retired: it takes no more readings or top-ups; its final bill was issued.
    event MeterRetired(uint32 indexed meterId, int256 balance);
    /// @notice A meter was exchanged (or its register reset): its energy up to `oldFinalWh` was recorded at
    /// `timestamp` as a reading would be, and its readings continue from `newInitialWh` (which may be lower).
    event MeterExchanged(uint32 indexed meterId, uint64 oldFinalWh, uint64 newInitialWh, uint32 timestamp);
    /// @notice A retired meter's unused credit went back to its payer.
    event CreditWithdrawn(uint32 indexed meterId, address indexed payer, uint256 amount);

    // ---------------------------------------------------------------- errors

    error UnknownMeter(uint32 meterId);
    error MeterExists(uint32 meterId);
    error UnknownFeeder(uint32 feederId);
    error FeederExists(uint32 feederId);
    error UnknownTariff(uint32 tariffId);
    error ZeroAddress();
    error ZeroId();
    error MaxPowerOutOfRange(uint32 maxPowerW);
    error LossToleranceOutOfRange(uint16 lossToleranceBps);
    error TooManyBands(uint256 count);
    error InvalidBand(uint256 index);
    error InvalidFriendlyWindow();
    /// @notice The friendly window changed less than a grace ago; it may change again from `allowedFrom`.
    error FriendlyWindowChangeTooSoon(uint256 allowedFrom);
    /// @notice The signature is malformed, high-s, or not by the registered signer.
    error InvalidSignature(uint32 id, address recovered);
    /// @notice The reading's timestamp is not after the last accepted one (replay or reordering).
    error StaleReading(uint32 id, uint32 timestamp, uint32 lastTimestamp);
    error RegisterDecreased(uint32 id, uint64 wh, uint64 lastWh);
    error RegisterOutOfRange(uint32 id, uint64 wh);
    error FutureReading(uint32 id, uint32 timestamp, uint256 blockTimestamp);
    /// @notice The energy since the last reading implies more power than the meter's rating.
    error ImplausiblePower(uint32 meterId, uint256 powerW, uint32 maxPowerW);
    error NothingDue(uint32 meterId);
    error InsufficientPayment(uint32 meterId, uint256 paid, uint256 due);
    error ZeroAmount();
    /// @notice Native coin sent to a token deployment, or a token call on a native deployment.
    error WrongCurrency(address paymentToken);
    /// @notice A token payment credited `amount` but the ledger received a different amount (a fee-on-transfer or
    /// rebasing token, which the ledger does not support).
    error PaymentTokenShortfall(address paymentToken, uint256 amount, uint256 received);
    error PeriodNotOver(uint32 feederId, uint32 period);
    error LossAlreadyChecked(uint32 feederId, uint32 period);
    /// @notice The operator asked for more than its own funds: `available` is the ledger's balance minus what it owes
    /// households (`liability()`).
    error WithdrawalExceedsBalance(uint256 amount, uint256 available);
    error NativeTransferFailed(address to, uint256 amount);
    /// @notice An amount that a meter's balance cannot hold (balances are 96-bit signed integers).
    error AmountOutOfRange(uint256 amount);
    /// @notice The meter was retired: no readings or top-ups any more.
    error RetiredMeter(uint32 meterId);
    /// @notice Only a retired meter's payer may take its credit back, once.
    error NotRetired(uint32 meterId);
    /// @notice The call needs the meter's payer: taking credit back, or moving a meter that holds credit.
    error NotPayer(uint32 meterId, address caller);
    error NoCredit(uint32 meterId);
    /// @notice `applyBatchedReading` is the ledger's own step of `submitReadings`.
    error OnlyLedger();
    /// @notice A batched reading's processing reverted without an error selector (e.g. out of gas).
    error ReadingFailed();
}

/// @title Grid Ledger deployment parameters and constants
/// @notice Served by every Grid Ledger contract (`GridLedgerBase`).
interface IGridLedgerParameters is IGridLedgerTypes {
    /// @notice The EIP-712 type hash of `Reading`.
    function READING_TYPEHASH() external view returns (bytes32);

    /// @notice The EIP-712 type hash of `FeederReading`.
    function FEEDER_READING_TYPEHASH() external view returns (bytes32);

    /// @notice The value of `permitUntil` when no expiry is scheduled.
    function PERMIT_FOREVER() external view returns (uint64);

    /// @notice The most bands a tariff may have.
    function MAX_BANDS() external view returns (uint256);

    /// @notice The payment token; address(0) means the chain's native coin.
    function paymentToken() external view returns (address);

    /// @notice Where withdrawals go.
    function treasury() external view returns (address);

    /// @notice Billing period length in seconds.
    function periodLength() external view returns (uint32);

    /// @notice Start of period 1.
    function genesis() external view returns (uint32);

    /// @notice Seconds after a postpaid period's end until its bill is due.
    function paymentWindow() external view returns (uint32);

    /// @notice Seconds a permit survives an overdue bill, exhausted credit, or the end of a pause.
    function grace() external view returns (uint32);

    /// @notice How far in the future a reading's timestamp may be.
    function maxClockSkew() external view returns (uint32);

    /// @notice Full periods without a reading after which a meter is overdue (0: never).
    function readingTimeoutPeriods() external view returns (uint32);

    /// @notice Whether readings and payments are stopped (see `pause`).
    function paused() external view returns (bool);
}

/// @title Grid Ledger hot paths
/// @notice Readings, bill payments and the feeder periods a settlement reads, served by `GridLedger` itself.
interface IGridLedgerHotPaths is IGridLedgerTypes {
    /// @notice A feeder's energy balance in a period: `feederWh` counts its readings stamped in the period so far
    /// (its running period's too), `childrenWh` its child feeders' (at once) and its meters' billed energy (when their
    /// periods close).
    function feederPeriod(uint32 feederId, uint32 period) external view returns (FeederPeriod memory);

    /// @notice Submits one signed meter reading. Anyone may relay it.
    /// @dev A producer meter's signature is checked as its bidirectional readings' are (`IGridLedgerProducers`).
    /// @param r The reading.
    /// @param sig The signer's signature over the EIP-712 digest: 65 bytes (r, s, v) or 64 bytes (ERC-2098).
    function submitReading(Reading calldata r, bytes calldata sig) external;

    /// @notice Submits many signed readings; a bad one is skipped with `ReadingRejected`, not reverted.
    /// @return accepted How many readings were accepted.
    function submitReadings(SignedReading[] calldata readings) external returns (uint256 accepted);

    /// @notice The ledger's own step of `submitReadings` for a reading that needs more than its register stored (a
    /// period roll-over, a time-of-use band, a prepaid credit check), run as a call so that whatever makes it revert
    /// skips that reading only. Reverts with `OnlyLedger` for any other caller.
    function applyBatchedReading(uint32 meterId, uint64 wh, uint32 timestamp) external;

    /// @notice Pays a meter's outstanding amount. Native deployments: send at least the amount due as value
    /// (any excess is credited). Token deployments: send no value; the amount due is pulled from the caller.
    function payBill(uint32 meterId) external payable;

    /// @notice Pays a meter's outstanding amount in the payment token with an ERC-2612 permit of the caller.
    /// @param amount The permitted allowance; must cover the amount due. Only the amount due is taken.
    function payBillWithPermit(uint32 meterId, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external;
}

/// @title Grid Ledger meters, tariffs and accounts
/// @notice Served by `GridLedgerExtension` on the ledger's storage.
interface IGridLedgerAccounts is IGridLedgerTypes {
    /// @notice Closes a meter's ended billing period now (anyone may call; every other entry point does it too).
    function settle(uint32 meterId) external;

    /// @notice Adds credit to a meter (prepaid credit, or advance payment for postpaid bills).
    /// @param amount Native deployments: must equal `msg.value`. Token deployments: pulled from the caller.
    function topUp(uint32 meterId, uint256 amount) external payable;

    /// @notice `topUp` in the payment token with an ERC-2612 permit of the caller for exactly `amount`.
    function topUpWithPermit(uint32 meterId, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external;

    /// @notice Sends `amount` of the operator's funds to the treasury (admin only): never what the ledger owes
    /// households (`liability()`).
    function withdraw(uint256 amount) external;

    /// @notice Sends a retired meter's unused credit to its payer. Payer only.
    function withdrawCredit(uint32 meterId) external;

    /// @notice Registers a meter; its register starts at `p.initialWh` now. Meter registrar only.
    function registerMeter(uint32 meterId, MeterParams calldata p) external;

    /// @notice Retires a meter: issues its final bill now (the open period's energy so far), then refuses its
    /// readings and top-ups; its payer may take unused credit back with `withdrawCredit`. Meter registrar only.
    function retireMeter(uint32 meterId) external;

    /// @notice Records a meter exchange (or a register reset) at `timestamp`. The old register's reading of
    /// `oldFinalWh` at `timestamp` takes the checks and the billing of a signed reading (known, not retired, not stale,
    /// not decreasing, not in the future, within the meter's rating; the registrar attests it instead of a signature),
    /// then the old register's final bill is issued for the open period, as `retireMeter` does (the meter's tariff is
    /// kept: a tariff change still waits for the next period), and the register continues from `newInitialWh` at
    /// `timestamp`, in the same period. So energy before and after the exchange is billed once, in the period it was
    /// used (rounded per bill). `newInitialWh` is the registrar's word, as `registerMeter`'s initial register is; the
    /// meter's rating bounds the next reading. Meter registrar only; not while paused. Emits `MeterExchanged` (not
    /// `ReadingAccepted`). A meter with an export register is exchanged with both registers
    /// (`IGridLedgerProducers.recordBidirectionalMeterExchange`; here it reverts `ExportRegisterNotExchanged`).
    function recordMeterExchange(uint32 meterId, uint64 oldFinalWh, uint64 newInitialWh, uint32 timestamp) external;

    /// @notice Moves a meter to another tariff from its next billing period on. Tariff setter only.
    function setMeterTariff(uint32 meterId, uint32 tariffId) external;

    /// @notice Marks a household protected (its permit never ends) or not. Protection officer only.
    function setProtected(uint32 meterId, bool isProtected) external;
}

/// @title Grid Ledger feeders, schedule, meter keys and views
/// @notice Served by `GridLedgerFeedersAndViews` on the ledger's storage.
interface IGridLedgerFeedersAndViews is IGridLedgerTypes {
    /// @notice Rotates a meter's attestation signer. Meter registrar only.
    function setMeterSigner(uint32 meterId, address signer) external;

    /// @notice Changes a meter's payer account: the current payer, or the meter registrar while the meter holds no
    /// credit (its stored balance is not positive) and no pending energy tokens, so that no one but the payer who
    /// paid the credit or exported the energy can redirect it.
    /// Reverts `RetiredMeter` once the meter is retired: its credit is claimable by the payer at retirement only.
    function setMeterPayer(uint32 meterId, address payer) external;

    /// @notice Sets a tariff: a new id applies from now, a change of an existing one from the next period on.
    /// Tariff setter only. At most `MAX_BANDS` bands, minutes below 1440.
    /// @dev A reading interval that spans the start of a period is cut there; its energy fills the parts at the
    /// dearest version (and band) first, each part holding at most what the meter's `maxPowerW` draws in its time:
    /// the largest bill the readings allow, so withholding or delaying a reading never lowers it. The cuts depend
    /// only on the readings and the tariff history (the end of the last reading's period, the start of the reading's,
    /// and where the meter's tariff or its version changes), never on who closed which period in between. Energy
    /// used wholly in a closed period is priced at that period's version however late it arrives. A reading at the start of
    /// the period a new version applies from bills the energy exactly at the versions in force when it was used.
    function setTariff(uint32 tariffId, Tariff calldata t) external;

    /// @notice Submits one signed feeder reading; its energy counts in the feeder's period of `r.timestamp`. Checked
    /// like a meter reading: signer, strictly later timestamp, no period not yet started, clock skew, non-decreasing
    /// register below 2^40 Wh, power within the feeder's rating.
    function submitFeederReading(FeederReading calldata r, bytes calldata sig) external;

    /// @notice Compares a feeder's energy in an ended period (at least one full period ago) with its children's
    /// and emits `LossChecked`, plus `LossDetected` when the loss exceeds the tolerance.
    function checkLoss(uint32 feederId, uint32 period) external;

    /// @notice Registers a feeder under `parentId` (0: root), rated `maxPowerW`. Meter registrar only.
    function registerFeeder(uint32 feederId, address signer, uint32 parentId, uint16 lossToleranceBps, uint32 maxPowerW)
        external;

    /// @notice Changes a feeder's signer and loss tolerance. Meter registrar only.
    function updateFeeder(uint32 feederId, address signer, uint16 lossToleranceBps) external;

    /// @notice Sets the operator's friendly schedule, at most once per `grace`; a permit the change would end sooner
    /// still runs until a grace after the change (or its old end, if earlier). Reverts `EnforcedPause` while paused, and
    /// `FriendlyWindowChangeTooSoon` until the permits a pause held have ended. Protection officer only.
    function setFriendlyWindow(FriendlyWindow calldata w) external;

    /// @notice Sets the treasury that receives withdrawals. Admin only.
    function setTreasury(address treasury) external;

    /// @notice Stops readings and payments. Permits are held: none ends before `resume` + grace. Pauser only.
    function pause() external;

    /// @notice Resumes readings and payments. Pauser only.
    function unpause() external;

    /// @notice The contract's interface version, checked by clients ("major.minor.patch").
    function VERSION() external view returns (string memory);

    /// @notice The EIP-712 domain separator (name "GridLedger", version "1", this chain, this contract).
    function DOMAIN_SEPARATOR() external view returns (bytes32);

    /// @notice The EIP-712 digest a meter signer signs for `r`.
    function readingDigest(Reading calldata r) external view returns (bytes32);

    /// @notice The EIP-712 digest a feeder signer signs for `r`.
    function feederReadingDigest(FeederReading calldata r) external view returns (bytes32);

    /// @notice What the ledger owes households: the sum of the meters' credit (prepaid credit, overpayments).
    function liability() external view returns (uint256);

    /// @notice When the meter becomes "reading overdue" (`type(uint256).max`: never); its permit ends `grace` later.
    function readingOverdueAt(uint32 meterId) external view returns (uint256);

    /// @notice The period containing time `t` (0 before genesis).
    function periodOf(uint256 t) external view returns (uint32);

    /// @notice The first second of `period`.
    function periodStart(uint32 period) external view returns (uint256);

    /// @notice The period containing the current block.
    function currentPeriod() external view returns (uint32);

    /// @notice A meter's stored state.
    function meter(uint32 meterId) external view returns (MeterInfo memory);

    /// @notice A feeder's stored state.
    function feeder(uint32 feederId) external view returns (FeederInfo memory);

    /// @notice The tariff version in force in the current period.
    function tariff(uint32 tariffId) external view returns (Tariff memory);

    /// @notice The tariff version in force in `period`.
    function tariffAt(uint32 tariffId, uint32 period) external view returns (Tariff memory);

    /// @notice The price per kWh that applies to energy reported at time `t`.
    function priceAt(uint32 tariffId, uint256 t) external view returns (uint64);

    /// @notice A meter's balance now: credit if positive, debt if negative. Prepaid meters include the
    /// charge of the open period's energy so far.
    function meterBalance(uint32 meterId) external view returns (int256);

    /// @notice What must be paid now to clear the meter's debt (0 if none).
    function amountDue(uint32 meterId) external view returns (uint256);

    /// @notice The meter's latest bill, including one that would be issued now.
    function billOf(uint32 meterId) external view returns (Bill memory);

    /// @notice Until when the household may draw power (`PERMIT_FOREVER`: no expiry scheduled).
    function permitUntil(uint32 meterId) external view returns (uint64);

    /// @notice The operator's friendly schedule.
    function friendlyWindow() external view returns (FriendlyWindow memory);
}

/// @title Grid Ledger
/// @notice Signed meter readings, tariffs, bills, payments and supply permits of one electricity operator.
/// @dev Conventions used throughout:
/// - Energy is integer watt-hours (Wh); registers are cumulative and never decrease.
/// - Prices are token base units (or wei) per kWh. A period's charge is
///   `floor(sum over price bands of energyWh * pricePerKWh / 1000)`: rounding is down, in the household's favour,
///   by less than one base unit per period.
/// - Time is unix seconds. Billing periods have a fixed length and are numbered from 1:
///   `periodOf(t) = (t - genesis()) / periodLength() + 1`; period `p` runs `[periodStart(p), periodStart(p + 1))`.
///   Energy is attributed to the meter's open billing period when its reading is accepted; the open period is
///   closed (and billed) lazily by the first interaction after it ended. Views report the state as if that
///   interaction happened now.
/// - `permitUntil(meterId)` is the only answer to "may this household draw power": supply is permitted while
///   `block.timestamp < permitUntil(meterId)`. `PERMIT_FOREVER` means no expiry is scheduled.
/// Its parts are the interfaces each contract of the deployment implements, so the compiler checks them.
interface IGridLedger is IGridLedgerParameters, IGridLedgerHotPaths, IGridLedgerAccounts, IGridLedgerFeedersAndViews {}
