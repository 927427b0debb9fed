// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IGridLedgerHotPaths, IGridLedgerParameters} from "./interfaces/IGridLedger.sol";
import {IGridLedgerProducerTypes} from "./interfaces/IGridLedgerProducers.sol";
import {LocalTime} from "./libraries/LocalTime.sol";
import {MeterState} from "./libraries/MeterState.sol";

/// @title GridLedgerBase
/// @notice Storage, parameters and shared rules of `GridLedger` and `GridLedgerExtension`.
/// @dev Both contracts inherit exactly this and add no storage, so the extension can run on the ledger's storage
/// through `delegatecall`. See `MeterState` for the meter slot layout.
abstract contract GridLedgerBase is
    IGridLedgerParameters,
    IGridLedgerProducerTypes,
    AccessControlDefaultAdminRules,
    EIP712,
    Pausable,
    ReentrancyGuardTransient
{
    using MeterState for uint256[5];
    using MeterState for uint256;
    using SafeERC20 for IERC20;

    /// @notice Deployment parameters.
    struct Config {
        address admin;
        uint48 adminTransferDelay;
        address paymentToken;
        address treasury;
        uint32 genesis;
        uint32 periodLength;
        uint32 paymentWindow;
        uint32 grace;
        uint32 maxClockSkew;
        uint32 readingTimeoutPeriods;
    }

    struct TariffVersion {
        uint32 from;
        uint64 price;
        int32 utcOffsetSeconds;
        uint8 bandCount;
        uint96 emergencyCredit;
        uint96 lowCreditThreshold;
        Band[3] bands;
    }

    /// @dev Two slots: the first (its key, place and rating) is only read by a reading, the second (its register and
    /// the energy of its running period, the period of `lastTs`) is the only one a reading writes. The running
    /// period's energy is stored in `_feederPeriods` when the first reading of a later period arrives: each period is
    /// stored once, and `_feederWh` adds the running period's to what is stored.
    struct FeederSlot {
        address signer;
        uint32 parentId;
        uint16 lossToleranceBps;
        uint32 maxPowerW;
        uint64 lastWh;
        uint32 lastTs;
        bool initialized;
        uint64 runningWh;
    }

    /// @dev One slot: read by every reading and payment.
    struct Schedule {
        bool paused;
        uint32 holdFrom;
        uint32 holdUntil;
        int32 utcOffsetSeconds;
        uint16 startMinute;
        uint16 endMinute;
        uint8 friendlyDays;
        // The window before the last change, and when that change happened.
        int32 prevUtcOffsetSeconds;
        uint16 prevStartMinute;
        uint16 prevEndMinute;
        uint8 prevFriendlyDays;
        uint32 windowChangedAt;
    }

    /// @dev A plant feeder's owner (address(0): no plant) and the feeder register up to which its output is minted.
    struct Plant {
        address owner;
        uint64 settledAtWh;
    }

    /// @dev From period `from` on, a meter is on tariff `tariffId`.
    struct TariffMove {
        uint32 from;
        uint32 tariffId;
    }

    /// @dev A part of a reading's interval (see `_recordAcross`): its price, the Wh it can hold, the Wh it takes, its
    /// time-of-use band (open and reading's period), its kind (`PART_*`, in time order) and, for whole periods, its run
    /// (tariff id and version index + 1; 0: none), so that whole periods of one tariff and version form one part.
    struct EnergyPart {
        uint256 price;
        uint256 cap;
        uint64 energy;
        uint8 band;
        uint8 kind;
        bool filled;
        uint64 run;
    }

    bytes32 public constant METER_REGISTRAR_ROLE = keccak256("METER_REGISTRAR_ROLE");
    bytes32 public constant TARIFF_SETTER_ROLE = keccak256("TARIFF_SETTER_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    bytes32 public constant PROTECTION_OFFICER_ROLE = keccak256("PROTECTION_OFFICER_ROLE");

    /// @notice EIP-712 type hash of `Reading`.
    bytes32 public constant READING_TYPEHASH = keccak256("Reading(uint32 meterId,uint64 wh,uint32 timestamp)");
    /// @notice EIP-712 type hash of `FeederReading`.
    bytes32 public constant FEEDER_READING_TYPEHASH =
        keccak256("FeederReading(uint32 feederId,uint64 wh,uint32 timestamp)");
    /// @dev EIP-712 type hash of `BidirectionalReading` (served by `GridLedgerProducers`).
    bytes32 internal constant BIDIRECTIONAL_TYPEHASH =
        keccak256("BidirectionalReading(uint32 meterId,uint64 importWh,uint64 exportWh,uint32 timestamp)");
    /// @dev `exportWh` of an import-only reading.
    uint256 internal constant NO_EXPORT = type(uint256).max;
    /// @notice `permitUntil` when no expiry is scheduled.
    uint64 public constant PERMIT_FOREVER = type(uint64).max;
    /// @notice The most time-of-use bands of a tariff.
    uint256 public constant MAX_BANDS = 3;
    uint16 internal constant MAX_LOSS_TOLERANCE_BPS = 10_000;
    uint256 internal constant MINUTES_PER_DAY = 1440;
    /// @dev secp256k1's group order / 2: a larger `s` is the malleable twin of a valid signature.
    uint256 internal constant HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    /// @dev The longest reading timeout: the meters' `readLag` (11 bits) must count beyond it.
    uint32 internal constant MAX_READING_TIMEOUT_PERIODS = 1000;
    uint8 internal constant PART_CLOSED = 0;
    uint8 internal constant PART_OPEN = 1;
    uint8 internal constant PART_WHOLE = 2;
    uint8 internal constant PART_READING = 3;
    /// @dev The largest amount a meter's balance (int96) can hold.
    uint256 internal constant MAX_AMOUNT = uint256(uint96(type(int96).max));

    /// @notice The payment token; address(0) is the native coin.
    address public immutable paymentToken;
    /// @notice Start of period 1.
    uint32 public immutable genesis;
    /// @notice Billing period length in seconds.
    uint32 public immutable periodLength;
    /// @notice Seconds from a period's end to its bill's due date.
    uint32 public immutable paymentWindow;
    /// @notice Seconds a permit survives a lapse or the end of a pause.
    uint32 public immutable grace;
    /// @notice How far in the future a reading may be.
    uint32 public immutable maxClockSkew;
    /// @notice Full periods without a reading after which a meter is overdue (0: never).
    uint32 public immutable readingTimeoutPeriods;

    /// @notice Where withdrawals go.
    address public treasury;
    Schedule internal _schedule;
    mapping(uint32 meterId => uint256[5]) internal _meters;
    mapping(uint32 feederId => FeederSlot) internal _feeders;
    mapping(uint32 feederId => mapping(uint32 period => FeederPeriod)) internal _feederPeriods;
    mapping(uint32 tariffId => TariffVersion[]) internal _tariffs;
    /// @dev What the ledger owes households: the sum of the meters' positive stored balances.
    uint256 internal _liability;
    /// @dev A producer meter's signer and token state (see `MeterState`); read by no reading, never for import-only
    /// meters.
    mapping(uint32 meterId => uint256) internal _producers;
    mapping(uint32 tariffId => ProducerTariff) internal _producerTariffs;
    /// @dev The operator's funds for feed-in payouts, and sell-back proceeds not yet withdrawn: neither is the
    /// operator's to withdraw.
    uint256 internal _feedInFunds;
    uint256 internal _proceedsTotal;
    mapping(address account => uint256) internal _proceeds;
    /// @dev A meter's tariff moves, oldest first; the first is the tariff it was registered with, from period 0. Empty
    /// while it was never moved. Read only by a reading whose interval reaches into periods already closed.
    mapping(uint32 meterId => TariffMove[]) internal _tariffMoves;
    /// @dev Plants by feeder id; read by no feeder reading (a plant's pending Wh are its feeder's register less
    /// `settledAtWh`).
    mapping(uint32 feederId => Plant) internal _plants;

    /// @notice keccak256 of the deployment `Config`: the ledger checks its extension was built with the same one.
    bytes32 public immutable configHash;

    error InvalidConfig();

    constructor(Config memory c)
        AccessControlDefaultAdminRules(c.adminTransferDelay, c.admin)
        EIP712("GridLedger", "1")
    {
        if (c.treasury == address(0)) revert ZeroAddress();
        bool timeoutOk = c.readingTimeoutPeriods <= MAX_READING_TIMEOUT_PERIODS;
        if (c.periodLength == 0 || c.genesis > block.timestamp || !timeoutOk) revert InvalidConfig();
        paymentToken = c.paymentToken;
        treasury = c.treasury;
        genesis = c.genesis;
        periodLength = c.periodLength;
        paymentWindow = c.paymentWindow;
        grace = c.grace;
        maxClockSkew = c.maxClockSkew;
        readingTimeoutPeriods = c.readingTimeoutPeriods;
        configHash = keccak256(abi.encode(c));
        // The operator starts holding every role and hands them out as it organises itself.
        _grantRole(METER_REGISTRAR_ROLE, c.admin);
        _grantRole(TARIFF_SETTER_ROLE, c.admin);
        _grantRole(PAUSER_ROLE, c.admin);
        _grantRole(PROTECTION_OFFICER_ROLE, c.admin);
        emit TreasurySet(c.treasury);
    }

    /// @inheritdoc Pausable
    function paused() public view override(Pausable, IGridLedgerParameters) returns (bool) {
        return _schedule.paused;
    }

    /// @dev Checks a meter reading, cheapest first (junk costs no `ecrecover`), verifies its compact signature and,
    /// when only its registers change (flat tariff, the last reading and this one in the block's period, no prepaid
    /// threshold reached), stores it. `exportWh` is the export register of a bidirectional reading (`NO_EXPORT`: an
    /// import-only one); its delta adds to the meter's pending tokens. A producer meter's signature is verified against
    /// the low 99 bits of its signer kept in slot 0, so that its readings read no other slot (`MeterState` has the
    /// forger's work). Returns the selector of the reason it is
    /// rejected (0: accepted), the recovered signer, whether it still needs `_applyReadingSlow` (the export register
    /// is then stored by `_storeExport` once that succeeded), and the export delta.
    function _acceptReading(uint32 meterId, uint64 wh, uint256 exportWh, uint32 ts, bytes32 r, bytes32 vs)
        internal
        returns (bytes4, address recovered, bool slow, uint256 exported)
    {
        uint256[5] storage s = _meters[meterId];
        uint256 w = s[0];
        if (w.signerOf() == address(0)) return (UnknownMeter.selector, recovered, false, 0);
        if (w.isRetired()) return (RetiredMeter.selector, recovered, false, 0);
        if (wh > MeterState.MAX_WH) return (RegisterOutOfRange.selector, recovered, false, 0);
        bool bidirectional = exportWh != NO_EXPORT;
        if (bidirectional) {
            if (!w.isProducer()) return (ImportOnlyMeter.selector, recovered, false, 0);
            if (exportWh > MeterState.MAX_WH) return (RegisterOutOfRange.selector, recovered, false, 0);
        }
        uint256 periodEnd = _currentPeriodEnd();
        // Beyond the clock skew, or in a period that has not started: it must not close the open period early.
        if (ts > block.timestamp && (ts > block.timestamp + maxClockSkew || ts >= periodEnd)) {
            return (FutureReading.selector, recovered, false, 0);
        }
        uint256 lastTs = w.lastTsOf();
        if (ts <= lastTs) return (StaleReading.selector, recovered, false, 0);
        uint256 lastWh = w.lastWhOf();
        if (wh < lastWh) return (RegisterDecreased.selector, recovered, false, 0);
        // Registers < 2^40 so the energy times 3600 < 2^52; ratings < 2^20 and the interval < 2^32.
        unchecked {
            if ((wh - lastWh) * 3600 > uint256(w.maxPowerOf()) * (ts - lastTs)) {
                return (ImplausiblePower.selector, recovered, false, 0);
            }
            if (bidirectional) {
                uint256 lastExportWh = w.lastExportWhOf();
                if (exportWh < lastExportWh) return (ExportRegisterDecreased.selector, recovered, false, 0);
                exported = exportWh - lastExportWh;
                if (exported * 3600 > uint256(w.maxExportOf()) * (ts - lastTs)) {
                    return (ImplausibleExportPower.selector, recovered, false, 0);
                }
            }
        }
        bytes32 digest = _readingDigest(meterId, wh, exportWh, ts);
        (recovered,,) = ECDSA.tryRecover(digest, r, vs);
        // A producer meter's signer is checked by its low 99 bits in this slot (see `MeterState`).
        if (!w.isSignedBy(recovered)) return (InvalidSignature.selector, recovered, false, 0);
        // ts < periodEnd here, and the block's period started at periodEnd - periodLength.
        if (lastTs + periodLength >= periodEnd && !w.isTimeOfUse() && (!w.isPrepaid() || _creditQuiet(s[1], wh))) {
            if (bidirectional) w = w.withExportRegister(uint64(exportWh));
            s[0] = w.withRegister(wh, ts);
            return (bytes4(0), recovered, false, exported);
        }
        return (bytes4(0), recovered, true, exported);
    }

    /// @dev Stores a bidirectional reading's export register after its slow path (which keeps slot 0's export side).
    function _storeExport(uint32 meterId, uint64 exportWh) internal {
        uint256[5] storage s = _meters[meterId];
        s[0] = s[0].withExportRegister(exportWh);
    }

    /// @dev The producer slot of a producer meter (slot 0 `w`) whose export register is rebased to `exportWh`: the
    /// pending Wh stay pending, counted from the new register. At most `MAX_WH` may be pending, so that the
    /// settled-at register stays within its range (see `MeterState`).
    function _rebasedExport(uint32 meterId, uint256 w, uint64 exportWh) internal view returns (uint256 p) {
        p = _producers[meterId];
        uint256 pending = w.pendingWhOf(p);
        if (pending > MeterState.MAX_WH) revert RegisterOutOfRange(meterId, uint64(pending));
        p = p.withSettledAtWh(int256(uint256(exportWh)) - int256(pending));
    }

    /// @dev Records a meter exchange (see `IGridLedger.recordMeterExchange`). The old register's final reading takes the
    /// ledger's own reading checks and path (calls of the ledger to itself: that code lives there), so periods,
    /// tariffs, bands and credit treat it as a signed reading; then its final bill is issued and the register continues
    /// from `newInitialWh`.
    function _recordExchange(uint32 meterId, uint64 oldFinalWh, uint64 newInitialWh, uint32 timestamp) internal {
        _checkUnsigned(
            abi.encodeWithSelector(IGridLedgerHotPaths.submitReading.selector, meterId, oldFinalWh, timestamp, 0x80, 0)
        );
        if (newInitialWh > MeterState.MAX_WH) revert RegisterOutOfRange(meterId, newInitialWh);
        IGridLedgerHotPaths(address(this)).applyBatchedReading(meterId, oldFinalWh, timestamp);
        uint256[5] storage s = _meters[meterId];
        MeterState.Meter memory m = s.load();
        // The old register's final bill, in the open period and at its tariff (a tariff change waits for the next).
        uint32 nextTariffId = m.nextTariffId;
        m.nextTariffId = m.tariffId;
        _close(meterId, m, m.openPeriod, block.timestamp);
        m.nextTariffId = nextTariffId;
        m.lastWh = newInitialWh;
        m.periodStartWh = newInitialWh;
        m.runStartWh = newInitialWh;
        // A prepaid meter's credit thresholds are registers: until a payment or the period's close recomputes them, its
        // readings take the exact credit check (and there is no room here to recompute them).
        m.lowWh = newInitialWh;
        m.exhaustWh = newInitialWh;
        s.store(m);
        emit MeterExchanged(meterId, oldFinalWh, newInitialWh, timestamp);
    }

    /// @dev Runs the ledger's own checks of a reading (and its pause) on `submission`, a call of a reading function
    /// without a signature: one that passes every other check is refused only for its signature, which is checked
    /// last. Any other refusal is passed on.
    function _checkUnsigned(bytes memory submission) internal {
        (, bytes memory reason) = address(this).call(submission);
        if (bytes4(reason) != InvalidSignature.selector) {
            assembly ("memory-safe") {
                revert(add(reason, 0x20), mload(reason))
            }
        }
    }

    /// @dev The end of the block's period (genesis is never after the deployment, so never after the block).
    function _currentPeriodEnd() internal view returns (uint256) {
        return block.timestamp + periodLength - (block.timestamp - genesis) % periodLength;
    }

    /// @dev A 65-byte signature's (v, s) in ERC-2098 form; a malformed or high-s one becomes one that recovers nobody.
    function _compactVs(uint8 v, bytes32 s) internal pure returns (bytes32) {
        if (uint256(s) > HALF_ORDER || (v != 27 && v != 28)) return bytes32(0);
        return bytes32(uint256(s) | uint256(v - 27) << 255);
    }

    /// @dev A flat prepaid reading below both credit thresholds changes nothing but the register.
    function _creditQuiet(uint256 account, uint256 wh) internal pure returns (bool) {
        bool lowQuiet = wh < account.lowWhOf() || account.lowNotified();
        bool exhaustQuiet = wh < account.exhaustWhOf() || account.lapseAtOf() != 0;
        return lowQuiet && exhaustQuiet;
    }

    /// @dev Period roll-over, time-of-use band changes and prepaid credit checks.
    function _applyReadingSlow(uint32 meterId, uint64 wh, uint32 ts) internal {
        uint256[5] storage s = _meters[meterId];
        MeterState.Meter memory m = s.load();
        uint32 period = _periodOf(ts);
        if (period > m.openPeriod || (m.lastTs < _periodStart(m.openPeriod) && m.billPeriod != 0)) {
            _recordAcross(meterId, m, period, wh, ts);
        }
        // The overdue clock runs from the reading's period (never back: a period it already ran from is kept).
        uint32 lag = m.openPeriod - period;
        if (lag < m.readLag) m.readLag = lag;
        TariffVersion storage tv = _version(m.tariffId, m.openPeriod);
        // The energy still unrecorded (all of it within the open period) takes the dearest band its interval
        // touches, so that no choice of which readings to relay, or when, prices energy at a cheaper band than it
        // may have been used in.
        if (m.lastWh != wh) _add(m, m.tou ? _dearestBand(tv, m.lastTs, ts) : 0, wh);
        m.lastTs = ts;
        if (m.prepaid) _checkCredit(meterId, m, tv);
        // A late reading completes a period that has ended: its bill is issued now, and known from now on.
        uint32 current = _periodOf(block.timestamp);
        if (current > m.openPeriod) _close(meterId, m, current, block.timestamp);
        s.store(m);
    }

    /// @dev Adds the energy up to register `wh` to the open period, in `band` (time-of-use; 0 on a flat tariff).
    function _add(MeterState.Meter memory m, uint8 band, uint64 wh) internal pure {
        if (m.tou && band != m.band) {
            m.bandWh[m.band] += m.lastWh - m.runStartWh;
            m.runStartWh = m.lastWh;
            m.band = band;
        }
        m.lastWh = wh;
    }

    /// @dev A reading whose interval `[from, ts)` (from: the last reading) reaches beyond the last reading's period, or
    /// whose last reading's period a call has closed since (`settle`, a payment, a tariff move, an exchange). The
    /// interval is cut into parts that depend only on the two readings and the meter's tariff history, never on which
    /// periods were closed in between: the last reading's period (from `from` to its end, or to `ts`), the whole
    /// periods between, cut only where the tariff the meter was on in them (`_tariffAt`) or that tariff's version
    /// changes, and the reading's own period (from its start to `ts`). Each part has the highest price its version
    /// charges over it (the dearest band it touches, the reading's own minute included) and holds at most what the
    /// meter's rated power draws in its time (`_capacity`); the energy fills the parts dearest first: the largest
    /// charge the readings and the meter's rating allow. The cuts of an interval are cuts of every finer set of
    /// readings over it too, so relaying fewer readings, or later, only merges parts into ones at least as dear that
    /// hold as much: a household that withholds or delays readings never pays less than by relaying all of them on
    /// time, beyond one base unit of rounding per part. And as nothing else cuts, nobody's `settle`, payment or tariff
    /// move changes what the readings bill. Where a part's energy goes changes only that rounding: in periods already
    /// closed, to the last issued bill (rounded up, per part); in the open period, to it (in the part's band); in whole
    /// periods reaching into or beyond the open period, to its bill once closed (rounded up); in the reading's period,
    /// to that period. Parts of the same price take the latest kind among them (as the energy of a reading in a new
    /// period always went to that period); a reading wholly in closed periods has a part of the open period that holds
    /// no time, so that its energy at the open period's price counts there, as any reading's does. The parts are the
    /// runs of tariff and version plus at most three: the cost is bounded by the meter's tariff moves and the
    /// versions, never by the number of periods.
    function _recordAcross(uint32 meterId, MeterState.Meter memory m, uint32 period, uint64 wh, uint32 ts) internal {
        uint256 from = m.lastTs;
        uint32 open = m.openPeriod;
        uint32 first = from < _periodStart(open) ? _periodOf(from) : open;
        uint256 firstEnd = _periodStart(first + 1);
        EnergyPart[] memory parts = new EnergyPart[](4);
        uint256 n = 1;
        if (ts < firstEnd) parts[0] = _periodPart(meterId, m, first, from, ts, ts);
        else parts[0] = _periodPart(meterId, m, first, from, firstEnd, firstEnd - 1);
        if (period > first) {
            uint256 newStart = _periodStart(period);
            if (newStart > firstEnd) (parts, n) = _wholeParts(meterId, m, parts, n, firstEnd, newStart);
            (parts, n) = _push(parts, n, _periodPart(meterId, m, period, newStart, ts, ts));
        }
        if (period < open) {
            // Wholly in closed periods: the energy at what the open period charges over the interval counts in the
            // open period, as any reading's energy does. This part holds no time: it takes only energy of its price.
            TariffVersion storage tv = _version(m.tariffId, open);
            uint8 band = m.tou ? _dearestBand(tv, from, ts) : 0;
            (parts, n) = _push(parts, n, EnergyPart(_bandPrice(tv, band), 0, 0, band, PART_OPEN, false, 0));
        }
        _fill(parts, n, wh - m.lastWh);
        bool openFilled;
        for (uint256 j; j < n; ++j) {
            EnergyPart memory part = parts[j];
            if (part.energy == 0) continue;
            if (part.kind == PART_CLOSED) {
                _amend(meterId, m, part.energy, part.price);
            } else if (part.kind == PART_OPEN) {
                _add(m, part.band, m.lastWh + part.energy);
                openFilled = true;
            }
        }
        if (period > open) {
            _close(meterId, m, period, openFilled ? block.timestamp : 0);
            for (uint256 j; j < n; ++j) {
                EnergyPart memory part = parts[j];
                if (part.energy == 0) continue;
                if (part.kind == PART_WHOLE) _amend(meterId, m, part.energy, part.price);
                else if (part.kind == PART_READING) _add(m, part.band, m.lastWh + part.energy);
            }
        }
        m.lastTs = ts;
    }

    /// @dev The part `[lo, hi)` of period `p` (`last`: the last second whose price counts), at the dearest band of the
    /// version in force then of the tariff the meter was on.
    function _periodPart(uint32 meterId, MeterState.Meter memory m, uint32 p, uint256 lo, uint256 hi, uint256 last)
        internal
        view
        returns (EnergyPart memory)
    {
        TariffVersion storage tv = _version(_tariffAt(meterId, m, p), p);
        uint8 band = tv.bandCount != 0 ? _dearestBand(tv, lo, last) : 0;
        uint8 kind = p < m.openPeriod ? PART_CLOSED : p == m.openPeriod ? PART_OPEN : PART_READING;
        return EnergyPart(_bandPrice(tv, band), _capacity(m.maxPowerW, lo, hi), 0, band, kind, false, 0);
    }

    /// @dev The tariff the meter was on in period `p`: after its open period the one it moves to, in it its own, and
    /// before it the one of its latest move from `p` or earlier (`_tariffMoves`; none: it was never moved).
    function _tariffAt(uint32 meterId, MeterState.Meter memory m, uint32 p) internal view returns (uint32) {
        if (p > m.openPeriod) return m.nextTariffId;
        if (p == m.openPeriod) return m.tariffId;
        TariffMove[] storage moves = _tariffMoves[meterId];
        uint256 i = moves.length;
        if (i == 0) return m.tariffId;
        // The first move is from period 0: the walk ends there at the latest.
        while (moves[--i].from > p) {}
        return moves[i].tariffId;
    }

    /// @dev Appends the parts of the whole periods `[lo, hi)` (period starts, lo < hi), latest first: one per run of
    /// periods on the same tariff (`_tariffAt`) and version, however the open period lies among them.
    function _wholeParts(
        uint32 meterId,
        MeterState.Meter memory m,
        EnergyPart[] memory parts,
        uint256 n,
        uint256 lo,
        uint256 hi
    ) internal view returns (EnergyPart[] memory, uint256) {
        uint256 openStart = _periodStart(m.openPeriod);
        uint256 openEnd = openStart + periodLength;
        if (hi > openEnd) {
            uint256 start = Math.max(lo, openEnd);
            (parts, n) = _versionParts(parts, n, m, m.nextTariffId, start, hi);
            hi = start;
        }
        if (lo < hi && hi > openStart) {
            // hi is the open period's end here, and lo at most its start.
            (parts, n) = _versionParts(parts, n, m, m.tariffId, openStart, hi);
            hi = openStart;
        }
        if (lo == hi) return (parts, n);
        TariffMove[] storage moves = _tariffMoves[meterId];
        uint256 i = moves.length;
        if (i == 0) return _versionParts(parts, n, m, m.tariffId, lo, hi);
        // The first move is from period 0: the walk ends there at the latest.
        while (lo < hi) {
            TariffMove memory move = moves[--i];
            uint256 start = Math.max(lo, _periodStart(move.from));
            if (start < hi) {
                (parts, n) = _versionParts(parts, n, m, move.tariffId, start, hi);
                hi = start;
            }
        }
        return (parts, n);
    }

    /// @dev Appends the parts of the whole periods `[lo, hi)` (lo < hi) on tariff `tariffId`, one per version in force
    /// (the first version also before its own period, as `_version`), latest first. A part continues the one appended
    /// last if that is of the same tariff and version (its run), taking its capacity and the dearer price. Parts
    /// before the open period are closed, the others whole.
    function _versionParts(
        EnergyPart[] memory parts,
        uint256 n,
        MeterState.Meter memory m,
        uint32 tariffId,
        uint256 lo,
        uint256 hi
    ) internal view returns (EnergyPart[] memory, uint256) {
        TariffVersion[] storage versions = _tariffs[tariffId];
        uint256 i = versions.length;
        if (i == 0) revert UnknownTariff(tariffId);
        uint8 kind = hi > _periodStart(m.openPeriod) ? PART_WHOLE : PART_CLOSED;
        while (true) {
            TariffVersion storage tv = versions[--i];
            uint256 start = i == 0 ? lo : Math.max(lo, _periodStart(tv.from));
            if (start < hi) {
                uint256 price = _dearestPrice(tv, start, hi - 1);
                uint256 cap = _capacity(m.maxPowerW, start, hi);
                // Never 0: version indices count from 1 here.
                uint64 run = uint64(tariffId) << 32 | uint64(i + 1);
                EnergyPart memory last = parts[n - 1];
                if (last.run == run) {
                    last.cap += cap;
                    if (price > last.price) last.price = price;
                } else {
                    (parts, n) = _push(parts, n, EnergyPart(price, cap, 0, 0, kind, false, run));
                }
                if (start == lo) return (parts, n);
                hi = start;
            }
        }
    }

    /// @dev `parts` with `part` at index `n`, grown (copied to twice the length) when full; and the new count.
    function _push(EnergyPart[] memory parts, uint256 n, EnergyPart memory part)
        internal
        pure
        returns (EnergyPart[] memory, uint256)
    {
        if (n == parts.length) {
            EnergyPart[] memory grown = new EnergyPart[](2 * n);
            for (uint256 j; j < n; ++j) {
                grown[j] = parts[j];
            }
            parts = grown;
        }
        parts[n] = part;
        return (parts, n + 1);
    }

    /// @dev Splits `total` Wh over the first `n` parts: parts of one price merge into the latest kind among them,
    /// then the dearest part takes what it can hold, and so on; the last part filled takes the rest.
    function _fill(EnergyPart[] memory parts, uint256 n, uint64 total) internal pure {
        uint256 left = total;
        uint256 open = n;
        while (left != 0) {
            uint256 best = n;
            for (uint256 j; j < n; ++j) {
                EnergyPart memory p = parts[j];
                if (p.filled) continue;
                if (
                    best == n || p.price > parts[best].price
                        || (p.price == parts[best].price && p.kind > parts[best].kind)
                ) {
                    best = j;
                }
            }
            uint256 price = parts[best].price;
            uint256 cap;
            for (uint256 j; j < n; ++j) {
                EnergyPart memory p = parts[j];
                if (!p.filled && p.price == price) {
                    cap += p.cap;
                    p.filled = true;
                    --open;
                }
            }
            uint256 e = open == 0 ? left : Math.min(left, cap);
            parts[best].energy = uint64(e);
            left -= e;
        }
    }

    /// @dev The Wh a meter rated `maxPowerW` can draw from `from` to `to`, on a clock of whole Wh that runs from time
    /// 0: parts cut at any times add up exactly, and the interval's parts hold at least its energy (the power check).
    function _capacity(uint32 maxPowerW, uint256 from, uint256 to) internal pure returns (uint256) {
        return uint256(maxPowerW) * to / 3600 - uint256(maxPowerW) * from / 3600;
    }

    /// @dev Adds `energy` Wh at `price` (rounded up) to the last issued bill.
    function _amend(uint32 meterId, MeterState.Meter memory m, uint64 energy, uint256 price) internal {
        uint256 cost = Math.mulDiv(energy, price, 1000, Math.Rounding.Ceil);
        int256 balanceBefore = m.balance;
        uint32 lapseBefore = m.lapseAt;
        m.balance -= int256(cost);
        m.billAmount += cost;
        m.billEnergyWh += energy;
        if (!m.prepaid && m.balance < 0 && m.lapseAt == 0) {
            m.lapseAt = uint32(Math.max(m.billDueAt, block.timestamp));
        }
        // The energy is the bill's, not the open period's: the open period's (energy of a late reading at its own
        // price may be there already) and its prepaid thresholds stay where they are relative to the register.
        m.lastWh += energy;
        m.periodStartWh += energy;
        m.runStartWh += energy;
        if (m.prepaid && !m.tou) {
            TariffVersion storage tv = _version(m.tariffId, m.openPeriod);
            m.exhaustWh = _thresholdWh(m.periodStartWh, m.balance + int256(uint256(tv.emergencyCredit)), tv.price);
            m.lowWh = _thresholdWh(m.periodStartWh, m.balance - int256(uint256(tv.lowCreditThreshold)), tv.price);
        }
        _addChildrenWh(m.feederId, m.billPeriod, energy);
        _syncLiability(balanceBefore, m.balance);
        emit BillIssued(meterId, m.billPeriod, m.billEnergyWh, m.billAmount, m.billDueAt);
        if (m.lapseAt != lapseBefore) emit PermitChanged(meterId, _permitUntil(m, _schedule));
    }

    /// @dev The highest price the tariff version charges between `from` and `to`.
    function _dearestPrice(TariffVersion storage tv, uint256 from, uint256 to) internal view returns (uint64) {
        return tv.bandCount == 0 ? tv.price : _bandPrice(tv, _dearestBand(tv, from, to));
    }

    /// @dev Reverts with the error `_acceptReading` named, with its context. `exportWh` as there.
    function _revertReading(bytes4 err, uint32 meterId, uint64 wh, uint256 exportWh, uint32 ts, address recovered)
        internal
        view
    {
        uint256 w = _meters[meterId][0];
        uint32 lastTs = w.lastTsOf();
        uint64 lastWh = w.lastWhOf();
        if (err == UnknownMeter.selector) revert UnknownMeter(meterId);
        if (err == RetiredMeter.selector) revert RetiredMeter(meterId);
        if (err == ImportOnlyMeter.selector) revert ImportOnlyMeter(meterId);
        if (err == RegisterOutOfRange.selector) {
            revert RegisterOutOfRange(meterId, wh > MeterState.MAX_WH ? wh : uint64(exportWh));
        }
        if (err == FutureReading.selector) revert FutureReading(meterId, ts, block.timestamp);
        if (err == StaleReading.selector) revert StaleReading(meterId, ts, lastTs);
        if (err == RegisterDecreased.selector) revert RegisterDecreased(meterId, wh, lastWh);
        if (err == ImplausiblePower.selector) {
            revert ImplausiblePower(meterId, uint256(wh - lastWh) * 3600 / (ts - lastTs), w.maxPowerOf());
        }
        uint64 lastExportWh = w.lastExportWhOf();
        if (err == ExportRegisterDecreased.selector) {
            revert ExportRegisterDecreased(meterId, uint64(exportWh), lastExportWh);
        }
        if (err == ImplausibleExportPower.selector) {
            revert ImplausibleExportPower(meterId, (exportWh - lastExportWh) * 3600 / (ts - lastTs), w.maxExportOf());
        }
        revert InvalidSignature(meterId, recovered);
    }

    /// @dev The EIP-712 digest of a meter reading: `Reading`, or with an export register (`exportWh` not `NO_EXPORT`)
    /// `BidirectionalReading`. The struct is hashed in unallocated memory: nothing outlives it, so a batch does not
    /// grow memory with every entry.
    function _readingDigest(uint32 meterId, uint64 wh, uint256 exportWh, uint32 ts) internal view returns (bytes32) {
        bool bidirectional = exportWh != NO_EXPORT;
        bytes32 typeHash = bidirectional ? BIDIRECTIONAL_TYPEHASH : READING_TYPEHASH;
        bytes32 structHash;
        // keccak256(abi.encode(typeHash, meterId, wh[, exportWh], ts)).
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, typeHash)
            mstore(add(p, 0x20), meterId)
            mstore(add(p, 0x40), wh)
            let last := add(p, 0x60)
            if bidirectional {
                mstore(last, exportWh)
                last := add(last, 0x20)
            }
            mstore(last, ts)
            structHash := keccak256(p, sub(add(last, 0x20), p))
        }
        return _hashTypedDataV4(structHash);
    }

    function _feederReadingDigest(uint32 feederId, uint64 wh, uint32 ts) internal view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(FEEDER_READING_TYPEHASH, feederId, wh, ts)));
    }

    /// @dev A feeder's energy in `period`: what is stored, plus its running period's energy if that is `period`.
    function _feederWh(uint32 feederId, uint32 period) internal view returns (uint64 wh) {
        FeederSlot storage f = _feeders[feederId];
        wh = _feederPeriods[feederId][period].feederWh;
        if (_periodOf(f.lastTs) == period) wh += f.runningWh;
    }

    function _checkLoss(uint32 feederId, uint32 period) internal {
        FeederPeriod storage fp = _feederPeriods[feederId][period];
        fp.checked = true;
        uint64 feederWh = _feederWh(feederId, period);
        uint64 childrenWh = fp.childrenWh;
        emit LossChecked(feederId, period, feederWh, childrenWh);
        if (feederWh > childrenWh) {
            uint256 lossBps = uint256(feederWh - childrenWh) * 10_000 / feederWh;
            if (lossBps > _feeders[feederId].lossToleranceBps) {
                emit LossDetected(feederId, period, feederWh, childrenWh, lossBps);
            }
        }
    }

    /// @dev Adds energy to a feeder's children sum; saturates (and says so) rather than revert a household's call.
    function _addChildrenWh(uint32 feederId, uint32 period, uint256 energy) internal {
        FeederPeriod storage fp = _feederPeriods[feederId][period];
        fp.childrenWh = _saturatingAdd(fp.childrenWh, energy, feederId, period);
    }

    function _saturatingAdd(uint64 sum, uint256 energy, uint32 feederId, uint32 period) internal returns (uint64) {
        uint256 total = uint256(sum) + energy;
        if (total <= type(uint64).max) return uint64(total);
        emit FeederSumSaturated(feederId, period);
        return type(uint64).max;
    }

    /// @dev Keeps `_liability` equal to the sum of positive meter balances across a balance change.
    function _syncLiability(int256 before, int256 after_) internal {
        uint256 owedBefore = before > 0 ? uint256(before) : 0;
        uint256 owedAfter = after_ > 0 ? uint256(after_) : 0;
        // _liability includes owedBefore, so this cannot underflow.
        if (owedAfter != owedBefore) _liability = _liability + owedAfter - owedBefore;
    }

    /// @dev Sends the ledger's funds (native or token) to `to`.
    function _send(address to, uint256 amount) internal {
        if (paymentToken == address(0)) {
            (bool ok,) = to.call{value: amount}("");
            if (!ok) revert NativeTransferFailed(to, amount);
        } else {
            IERC20(paymentToken).safeTransfer(to, amount);
        }
    }

    /// @dev Closes the meter's open period in memory: charges it, records the bill and opens `toPeriod`. `knownAt`:
    /// when the bill's last energy became known on-chain if that was after the period ended (a late reading), else 0;
    /// no lapse starts before it.
    function _closeInMemory(uint32 meterId, MeterState.Meter memory m, uint32 toPeriod, uint256 knownAt)
        internal
        view
        returns (uint64 energy)
    {
        TariffVersion storage tv = _version(m.tariffId, m.openPeriod);
        energy = m.lastWh - m.periodStartWh;
        uint256 cost = _accruedWith(m, tv);
        uint32 closed = m.openPeriod;
        m.billPeriod = closed;
        m.billEnergyWh = energy;
        if (m.producer) cost -= _redeemAtClose(meterId, m, energy, cost);
        m.balance -= int256(cost);
        m.billAmount = cost;
        uint256 end = _periodStart(closed + 1);
        if (m.prepaid) {
            m.billDueAt = uint32(end);
        } else {
            m.billDueAt = uint32(end + paymentWindow);
            if (m.balance < 0 && m.lapseAt == 0) m.lapseAt = uint32(Math.max(m.billDueAt, knownAt));
        }
        m.readLag = uint32(Math.min(uint256(m.readLag) + (toPeriod - closed), MeterState.MAX_READ_LAG));
        m.openPeriod = toPeriod;
        m.periodStartWh = m.lastWh;
        m.runStartWh = m.lastWh;
        m.band = 0;
        delete m.bandWh;
        m.tariffId = m.nextTariffId;
        TariffVersion storage next = _version(m.tariffId, toPeriod);
        m.tou = next.bandCount != 0;
        if (m.prepaid) _refreshCreditInMemory(m, next, Math.max(_periodStart(toPeriod), knownAt));
    }

    /// @dev A producer meter's bill opens with nothing redeemed; with `redeemTokens` on, its pending tokens pay the
    /// energy first (`m.producerWord`, `m.redeemedWh`). Returns what the redeemed energy takes off the bill.
    function _redeemAtClose(uint32 meterId, MeterState.Meter memory m, uint64 energy, uint256 cost)
        internal
        view
        returns (uint256 amount)
    {
        uint256 p = _producers[meterId];
        uint64 redeemed;
        if (p.redeemsTokens()) {
            // `m.signer` holds slot 0's export side; pending < 2^41.
            redeemed = uint64(Math.min(uint256(uint160(m.signer)).pendingWhOf(p), energy));
            if (redeemed != 0) {
                amount = _redemptionValue(cost, energy, 0, redeemed, _producerTariffs[m.tariffId].networkChargePerKWh);
            }
        }
        m.producerWord = p.withWhSettled(redeemed).withBillRedeemedWh(redeemed);
        m.redeemedWh = redeemed;
        m.redeemedAmount = amount;
    }

    /// @dev What `wh` more of a bill's energy redeemed with tokens takes off it, after `before` Wh were: the remaining
    /// energy's average price (`amount` for `energy` Wh, rounded down) less the network charge, which is charged on
    /// the running total rounded up (never below 0). So redeeming in pieces never takes more off than at once: the
    /// charges of the pieces add up to the charge of the whole, and each piece's price leaves the rest's at least as
    /// high as it was.
    function _redemptionValue(uint256 amount, uint256 energy, uint256 before, uint256 wh, uint64 networkChargePerKWh)
        internal
        pure
        returns (uint256)
    {
        uint256 value = Math.mulDiv(amount, wh, energy);
        uint256 charge = _networkCharge(before + wh, networkChargePerKWh) - _networkCharge(before, networkChargePerKWh);
        return value > charge ? value - charge : 0;
    }

    /// @dev The network charge of `wh` redeemed Wh, rounded up.
    function _networkCharge(uint256 wh, uint64 networkChargePerKWh) internal pure returns (uint256) {
        return Math.mulDiv(wh, networkChargePerKWh, 1000, Math.Rounding.Ceil);
    }

    /// @dev `_closeInMemory` plus its effects outside the meter: feeder sums, a producer's slot and events.
    function _close(uint32 meterId, MeterState.Meter memory m, uint32 toPeriod, uint256 knownAt) internal {
        uint32 closed = m.openPeriod;
        uint32 lapseBefore = m.lapseAt;
        int256 balanceBefore = m.balance;
        uint64 energy = _closeInMemory(meterId, m, toPeriod, knownAt);
        if (energy != 0) _addChildrenWh(m.feederId, closed, energy);
        _syncLiability(balanceBefore, m.balance);
        if (m.producer) {
            _producers[meterId] = m.producerWord;
            if (m.redeemedWh != 0) emit TokensRedeemed(meterId, m.payer, m.redeemedWh, m.redeemedAmount);
        }
        emit BillIssued(meterId, closed, energy, m.billAmount, m.billDueAt);
        // Postpaid permits move on when a period closes with nothing owed; prepaid ones when credit state changes.
        if ((!m.prepaid && m.lapseAt == 0) || m.lapseAt != lapseBefore) {
            emit PermitChanged(meterId, _permitUntil(m, _schedule));
        }
        uint256 overdueAt = _overdueAt(m.openPeriod, m.readLag);
        if (overdueAt <= block.timestamp) emit ReadingOverdue(meterId, m.openPeriod - m.readLag, overdueAt);
    }

    /// @dev When a meter whose overdue clock runs from `openPeriod - readLag` becomes overdue.
    function _overdueAt(uint32 openPeriod, uint32 readLag) internal view returns (uint256) {
        uint32 timeout = readingTimeoutPeriods;
        if (timeout == 0) return type(uint256).max;
        // readLag never exceeds the periods since the meter's registration (>= 1).
        return _periodStart(openPeriod - readLag + timeout + 1);
    }

    /// @dev The charge of the open period's energy so far, exact: per band, floor(Wh * price / 1000).
    function _accrued(MeterState.Meter memory m) internal view returns (uint256) {
        return _accruedWith(m, _version(m.tariffId, m.openPeriod));
    }

    /// @dev Time-of-use: one rounding for the whole period (moving energy to a dearer band never lowers the charge).
    function _accruedWith(MeterState.Meter memory m, TariffVersion storage tv) internal view returns (uint256) {
        if (tv.bandCount == 0) return Math.mulDiv(m.lastWh - m.periodStartWh, tv.price, 1000);
        uint256 total;
        for (uint8 b; b <= MAX_BANDS; ++b) {
            uint256 wh = m.bandWh[b];
            if (b == m.band) wh += m.lastWh - m.runStartWh;
            // wh < 2^41 and prices < 2^64: four terms stay far below 2^256.
            if (wh != 0) total += wh * _bandPrice(tv, b);
        }
        return total / 1000;
    }

    /// @dev Prepaid: after a reading, flags low credit and exhaustion (beyond the emergency credit).
    function _checkCredit(uint32 meterId, MeterState.Meter memory m, TariffVersion storage tv) internal {
        int256 available = m.balance - int256(_accruedWith(m, tv));
        if (!m.lowNotified && available < int256(uint256(tv.lowCreditThreshold))) {
            m.lowNotified = true;
            emit LowCredit(meterId, available);
        }
        if (m.lapseAt == 0 && available + int256(uint256(tv.emergencyCredit)) < 0) {
            // Grace runs from when the exhaustion is known on-chain, not from the (maybe late) reading's time.
            m.lapseAt = uint32(block.timestamp);
            emit PermitChanged(meterId, _permitUntil(m, _schedule));
        }
    }

    /// @dev Prepaid: recomputes the credit state and the threshold registers after the balance or tariff changed.
    function _refreshCredit(uint32 meterId, MeterState.Meter memory m, TariffVersion storage tv) internal {
        uint32 lapseBefore = m.lapseAt;
        _refreshCreditInMemory(m, tv, block.timestamp);
        if (m.lapseAt != lapseBefore) emit PermitChanged(meterId, _permitUntil(m, _schedule));
    }

    function _refreshCreditInMemory(MeterState.Meter memory m, TariffVersion storage tv, uint256 nowTs) internal view {
        int256 available = m.balance - int256(_accruedWith(m, tv));
        int256 emergency = int256(uint256(tv.emergencyCredit));
        int256 low = int256(uint256(tv.lowCreditThreshold));
        if (available + emergency >= 0) m.lapseAt = 0;
        else if (m.lapseAt == 0) m.lapseAt = uint32(nowTs);
        if (available >= low) m.lowNotified = false;
        if (m.tou) {
            // Time-of-use credit is checked exactly on every reading.
            m.lowWh = 0;
            m.exhaustWh = 0;
        } else {
            m.exhaustWh = _thresholdWh(m.periodStartWh, m.balance + emergency, tv.price);
            m.lowWh = _thresholdWh(m.periodStartWh, m.balance - low, tv.price);
        }
    }

    /// @dev The lowest register at which the open period's flat charge exceeds `credit`:
    /// floor(e * price / 1000) > credit  <=>  e >= ceil((credit + 1) * 1000 / price).
    function _thresholdWh(uint64 startWh, int256 credit, uint64 price) internal pure returns (uint64) {
        if (credit < 0) return startWh;
        if (price == 0) return uint64(MeterState.MAX_WH);
        uint256 e = Math.ceilDiv((uint256(credit) + 1) * 1000, price);
        return uint64(Math.min(uint256(startWh) + e, MeterState.MAX_WH));
    }

    /// @dev A bill payment while the meter's postpaid period is open: only the account slot changes. Returns false
    /// (having changed nothing) when the payment needs `_payBillSlow`.
    function _payBillOpen(uint32 meterId, uint256 value, uint256 maxAmount) internal returns (bool) {
        uint256[5] storage s = _meters[meterId];
        uint256 account = s[1];
        if (!account.isPrepaidAccount() && account.openPeriodOf() >= _periodOf(block.timestamp)) {
            // Postpaid with its period open: only the account slot changes.
            int256 balance = account.balanceOf();
            if (balance >= 0) revert NothingDue(meterId);
            uint256 due = uint256(-balance);
            uint256 paid = _collectDue(meterId, value, due, maxAmount);
            // paid >= due = -balance, so the new balance is >= 0; it must fit the slot's int96.
            if (paid > MAX_AMOUNT + due) revert AmountOutOfRange(paid);
            int256 newBalance = balance + int256(paid);
            if (newBalance != 0) _liability += uint256(newBalance);
            account = account.withBalanceNoLapse(newBalance);
            s[1] = account;
            emit PaymentReceived(meterId, msg.sender, paid, newBalance);
            emit PermitChanged(meterId, _permitFromAccount(account, _schedule));
            _pullToken(paid);
            return true;
        }
        return false;
    }

    /// @dev A bill payment that closes a period first, or pays a prepaid meter's debt.
    function _payBillSlow(uint32 meterId, uint256 value, uint256 maxAmount) internal {
        uint256[5] storage s = _meters[meterId];
        MeterState.Meter memory m = _meterLoaded(s, meterId);
        _settleInMemory(meterId, m);
        int256 owed = m.prepaid ? m.balance - int256(_accrued(m)) : m.balance;
        if (owed >= 0) revert NothingDue(meterId);
        uint256 paidSlow = _collectDue(meterId, value, uint256(-owed), maxAmount);
        _credit(meterId, s, m, paidSlow);
        _pullToken(paidSlow);
    }

    function _topUp(uint32 meterId, uint256 amount) internal {
        if (amount == 0) revert ZeroAmount();
        uint256[5] storage s = _meters[meterId];
        MeterState.Meter memory m = _meterLoaded(s, meterId);
        if (m.retired) revert RetiredMeter(meterId);
        _settleInMemory(meterId, m);
        _credit(meterId, s, m, amount);
        _pullToken(amount);
    }

    /// @dev Adds a payment to a loaded meter, updates its permit state and stores it.
    function _credit(uint32 meterId, uint256[5] storage s, MeterState.Meter memory m, uint256 amount) internal {
        int256 before = m.balance;
        if (amount > MAX_AMOUNT || before + int256(amount) > type(int96).max) revert AmountOutOfRange(amount);
        m.balance = before + int256(amount);
        _syncLiability(before, m.balance);
        if (m.prepaid) {
            _refreshCreditInMemory(m, _version(m.tariffId, m.openPeriod), block.timestamp);
        } else if (m.balance >= 0) {
            m.lapseAt = 0;
        }
        s.store(m);
        emit PaymentReceived(meterId, msg.sender, amount, m.balance);
        emit PermitChanged(meterId, _permitUntil(m, _schedule));
    }

    function _settleInMemory(uint32 meterId, MeterState.Meter memory m) internal {
        uint32 current = _periodOf(block.timestamp);
        if (current > m.openPeriod) _close(meterId, m, current, 0);
    }

    /// @dev Checks the payment covers `due`; returns what is credited (native: all of `value`; token: `due`).
    function _collectDue(uint32 meterId, uint256 value, uint256 due, uint256 maxAmount)
        internal
        view
        returns (uint256)
    {
        if (paymentToken == address(0)) {
            if (value < due) revert InsufficientPayment(meterId, value, due);
            return value;
        }
        if (value != 0) revert WrongCurrency(paymentToken);
        if (maxAmount < due) revert InsufficientPayment(meterId, maxAmount, due);
        return due;
    }

    /// @dev Token deployments: pulls `amount` from the caller (after the state change: checks-effects-interactions).
    /// The ledger credits `amount`, so exactly `amount` must arrive: a token that takes a fee on transfer (or
    /// rebases during it) would leave the ledger owing households more than it holds, and is refused.
    function _pullToken(uint256 amount) internal {
        if (paymentToken == address(0)) return;
        if (msg.value != 0) revert WrongCurrency(paymentToken);
        IERC20 token = IERC20(paymentToken);
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 held = token.balanceOf(address(this));
        if (held != before + amount) {
            revert PaymentTokenShortfall(paymentToken, amount, held > before ? held - before : 0);
        }
    }

    /// @dev A failing permit is ignored (it may have been front-run); the transfer then needs the allowance anyway.
    function _permitToken(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) internal {
        if (paymentToken == address(0)) revert WrongCurrency(address(0));
        try IERC20Permit(paymentToken).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
    }

    function _permitUntil(MeterState.Meter memory m, Schedule memory sc) internal view returns (uint64) {
        return _permit(m.isProtected, m.prepaid, m.lapseAt, _overdueAt(m.openPeriod, m.readLag), m.openPeriod, sc);
    }

    function _permitFromAccount(uint256 account, Schedule memory sc) internal view returns (uint64) {
        uint32 openPeriod = account.openPeriodOf();
        return _permit(
            account.isProtected(),
            account.isPrepaidAccount(),
            account.lapseAtOf(),
            _overdueAt(openPeriod, account.readLag()),
            openPeriod,
            sc
        );
    }

    /// @dev Raw expiry: grace after the lapse (unpaid due date or exhausted credit), or for a postpaid meter
    /// with nothing owed, grace after the due date of the open period's bill; and at the latest grace after the
    /// meter became reading overdue. Then the pause hold, then the friendly window.
    function _permit(
        bool isProtected,
        bool prepaid,
        uint32 lapseAt,
        uint256 overdueAt,
        uint32 openPeriod,
        Schedule memory sc
    ) internal view returns (uint64) {
        if (isProtected) return PERMIT_FOREVER;
        uint256 raw = type(uint256).max;
        if (lapseAt != 0) raw = uint256(lapseAt) + grace;
        else if (!prepaid) raw = _periodStart(openPeriod + 1) + paymentWindow + grace;
        if (overdueAt != type(uint256).max) raw = Math.min(raw, overdueAt + grace);
        if (raw == type(uint256).max) return PERMIT_FOREVER;
        uint256 end = _deferred(raw, sc);
        // The pause holds what was still running at it: the deferred end decides, not the raw expiry (a household
        // in its friendly deferral cannot pay while paused either). The window cannot change until the hold ends.
        if (end >= sc.holdFrom) {
            if (sc.paused) return PERMIT_FOREVER;
            if (raw < sc.holdUntil) end = Math.max(end, _deferred(sc.holdUntil, sc));
        }
        return uint64(end);
    }

    /// @dev When every permit the last pause held has ended (0: never paused).
    function _holdEnd(Schedule memory sc) internal view returns (uint256) {
        return sc.holdUntil == 0 ? 0 : _deferred(sc.holdUntil, sc);
    }

    /// @dev `raw` moved out of the friendly window; a window change ends no running permit sooner than a grace
    /// after it.
    function _deferred(uint256 raw, Schedule memory sc) internal view returns (uint256 end) {
        end = LocalTime.defer(raw, _window(sc));
        uint256 changedAt = sc.windowChangedAt;
        if (end < changedAt + grace) {
            uint256 before = LocalTime.defer(
                raw, FriendlyWindow(sc.prevUtcOffsetSeconds, sc.prevStartMinute, sc.prevEndMinute, sc.prevFriendlyDays)
            );
            if (before > changedAt) end = Math.max(end, Math.min(before, changedAt + grace));
        }
    }

    /// @dev Pausing holds every permit running at the pause. A new hold starts at the pause only once every permit
    /// the previous hold extended has ended (its end, moved out of the friendly window and kept a grace beyond a
    /// window change, has passed, and so has the grace after the last window change); otherwise the holds merge and
    /// keep the earliest start.
    function _pause() internal override whenNotPaused {
        Schedule storage sc = _schedule;
        uint256 heldUntil = Math.max(_holdEnd(sc), uint256(sc.windowChangedAt) + grace);
        if (block.timestamp >= heldUntil) sc.holdFrom = uint32(block.timestamp);
        sc.paused = true;
        emit Paused(_msgSender());
    }

    /// @dev Held permits run at least a grace beyond the resume.
    function _unpause() internal override whenPaused {
        Schedule storage sc = _schedule;
        sc.paused = false;
        sc.holdUntil = uint32(block.timestamp + grace);
        emit Unpaused(_msgSender());
    }

    function _meterSlots(uint32 meterId) internal view returns (uint256[5] storage s) {
        s = _meters[meterId];
        if (s[0].signerOf() == address(0)) revert UnknownMeter(meterId);
    }

    function _meterLoaded(uint256[5] storage s, uint32 meterId) internal view returns (MeterState.Meter memory m) {
        m = s.load();
        if (m.signer == address(0)) revert UnknownMeter(meterId);
    }

    /// @dev The stored state as it would be after closing the open period now.
    function _projected(uint32 meterId) internal view returns (MeterState.Meter memory m) {
        m = _meterSlots(meterId).load();
        uint32 current = _periodOf(block.timestamp);
        if (current > m.openPeriod) _closeInMemory(meterId, m, current, 0);
    }

    function _periodOf(uint256 t) internal view returns (uint32) {
        if (t < genesis) return 0;
        return uint32((t - genesis) / periodLength + 1);
    }

    function _periodStart(uint32 period) internal view returns (uint256) {
        if (period == 0) return 0;
        return uint256(genesis) + uint256(period - 1) * periodLength;
    }

    function _version(uint32 tariffId, uint32 period) internal view returns (TariffVersion storage) {
        TariffVersion[] storage versions = _tariffs[tariffId];
        uint256 i = versions.length;
        if (i == 0) revert UnknownTariff(tariffId);
        while (i > 1 && versions[i - 1].from > period) --i;
        return versions[i - 1];
    }

    /// @dev The band (0: base price) with the highest price among those the tariff's local time passes through from
    /// `from` to `to`, minute by minute: it walks the band edges in between, or the whole day if the span is longer.
    function _dearestBand(TariffVersion storage tv, uint256 from, uint256 to) internal view returns (uint8 best) {
        uint256 n = tv.bandCount;
        Band[MAX_BANDS] memory bands;
        for (uint256 i; i < n; ++i) {
            bands[i] = tv.bands[i];
        }
        uint256 first = LocalTime.minuteOf(from, tv.utcOffsetSeconds);
        uint256 last = Math.min(LocalTime.minuteOf(to, tv.utcOffsetSeconds), first + MINUTES_PER_DAY - 1);
        uint256 cur = first;
        uint64 bestPrice;
        while (true) {
            uint256 minute = cur % MINUTES_PER_DAY;
            uint8 band;
            uint64 price = tv.price;
            uint256 step = MINUTES_PER_DAY - minute;
            for (uint256 i; i < n; ++i) {
                Band memory b = bands[i];
                if (band == 0 && LocalTime.inWindow(minute, b.startMinute, b.endMinute)) {
                    band = uint8(i + 1);
                    price = b.pricePerKWh;
                }
                if (b.startMinute > minute && b.startMinute - minute < step) step = b.startMinute - minute;
                if (b.endMinute > minute && b.endMinute - minute < step) step = b.endMinute - minute;
            }
            if (price > bestPrice || cur == first) {
                best = band;
                bestPrice = price;
            }
            cur += step;
            if (cur > last) return best;
        }
    }

    /// @dev 0 is the base price; 1..3 the first matching band.
    function _bandOf(TariffVersion storage tv, uint256 t) internal view returns (uint8) {
        uint256 n = tv.bandCount;
        if (n == 0) return 0;
        uint256 minute = LocalTime.minuteOfDay(t, tv.utcOffsetSeconds);
        for (uint256 i; i < n; ++i) {
            Band storage b = tv.bands[i];
            if (LocalTime.inWindow(minute, b.startMinute, b.endMinute)) return uint8(i + 1);
        }
        return 0;
    }

    function _bandPrice(TariffVersion storage tv, uint8 band) internal view returns (uint64) {
        return band == 0 ? tv.price : tv.bands[band - 1].pricePerKWh;
    }

    function _tariffOut(TariffVersion storage tv) internal view returns (Tariff memory t) {
        t.pricePerKWh = tv.price;
        t.utcOffsetSeconds = tv.utcOffsetSeconds;
        t.emergencyCredit = tv.emergencyCredit;
        t.lowCreditThreshold = tv.lowCreditThreshold;
        t.bands = new Band[](tv.bandCount);
        for (uint256 i; i < tv.bandCount; ++i) {
            t.bands[i] = tv.bands[i];
        }
    }

    function _window(Schedule memory sc) internal pure returns (FriendlyWindow memory) {
        return FriendlyWindow(sc.utcOffsetSeconds, sc.startMinute, sc.endMinute, sc.friendlyDays);
    }
}
