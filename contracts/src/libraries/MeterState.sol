// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title MeterState
/// @notice A meter's state, packed by hand into five storage slots ordered by how hot they are.
/// @dev Slot layout (bit offsets, low to high):
/// - 0 `reading`: signer 0..159 | lastWh 160..199 | lastTs 200..231 | maxPowerW 232..251 | prepaid 252 | tou 253
///   | retired 254 | producer 255.
///   The only slot a flat-tariff postpaid reading reads and writes. A producer meter keeps its export side here in
///   place of the signer, so that a bidirectional reading still reads and writes this one slot: lastExportWh 0..39 |
///   maxExportW 40..59 | signerBits 60..158 (the low 99 bits of the signer's address) | 1 at 159 (never a zero
///   "signer"). Its readings are verified against `signerBits` (`isSignedBy`): a forger needs a signature that
///   recovers to an address whose low 99 bits are those of a producer meter's signer, about 2^99 / (number of
///   producer meters) key generations or recoveries (2^79 for a million meters), each an elliptic-curve operation and
///   a keccak. address(0), what a malformed signature recovers, never matches. The whole signer is in the producer
///   slot: what `meter()` reports and what rotation replaces (together with `signerBits`).
/// - 5 `producer` (a mapping of its own, never read by a reading): signer 0..159 | settledAtWh int48 160..207 (the
///   export register up to which exported energy is settled: minted, redeemed or sold back; a rebase of the export
///   register moves it along, so it may be negative) | billRedeemedWh 208..247 | redeemTokens 248. Pending tokens are
///   `lastExportWh - settledAtWh` (`pendingWhOf`), at most 2 * `MAX_WH`: `enableExport` rebases only while at most
///   `MAX_WH` are pending, so settledAtWh stays within +-`MAX_WH`. An import-only meter's producer slot holds only
///   what tokens redeemed of its last bill: billPeriod 0..31 | billRedeemedWh 208..247.
/// - 1 `account`: balance int96 0..95 | lapseAt 96..127 | openPeriod 128..159 | lowWh 160..199 | exhaustWh 200..239
///   | protected 240 | lowNotified 241 | band 242..243 | prepaid 244 (copy of slot 0's flag) | readLag 245..255. What
///   payments and prepaid readings touch. `readLag` is how many periods the open period is after the one the overdue
///   clock runs from (the last reading's), saturating at `MAX_READ_LAG`.
/// - 2 `period`: feederId 0..31 | tariffId 32..63 | nextTariffId 64..95 | periodStartWh 96..135 | runStartWh 136..175
///   | billPeriod 176..207 | billDueAt 208..239.
/// - 3 `payer`: payer 0..159 | billEnergyWh 160..199.
/// - 4 `bands`: billAmount uint96 0..95 | bandWh[4] 96..255 (40 bits each).
/// `lapseAt` is when the permit's grace starts: the oldest unpaid bill's due date (postpaid) or the time credit ran
/// out (prepaid); 0 when neither.
library MeterState {
    uint256 internal constant MAX_WH = type(uint40).max;
    uint256 internal constant MAX_POWER_W = (1 << 20) - 1;

    uint256 internal constant FLAG_PREPAID = 1 << 252;
    uint256 internal constant FLAG_TOU = 1 << 253;
    uint256 internal constant FLAG_RETIRED = 1 << 254;
    uint256 internal constant FLAG_PRODUCER = 1 << 255;
    uint256 internal constant PRODUCER_MARK = 1 << 159;
    uint256 internal constant REDEEM_TOKENS = 1 << 248;
    /// @dev How many of the signer's low address bits a producer meter's slot 0 keeps.
    uint256 internal constant SIGNER_BITS = (uint256(1) << 99) - 1;
    uint256 internal constant MAX_READ_LAG = (1 << 11) - 1;
    uint256 internal constant ACCOUNT_PREPAID = 1 << 244;
    /// @dev Clears lastWh and lastTs in the reading slot.
    uint256 internal constant READING_KEEP_MASK = ~(((uint256(1) << 72) - 1) << 160);

    struct Meter {
        // slot 0 (`signer`: a producer meter's export side, see above)
        address signer;
        uint64 lastWh;
        uint32 lastTs;
        uint32 maxPowerW;
        bool prepaid;
        bool tou;
        bool retired;
        bool producer;
        // slot 1
        int256 balance;
        uint32 lapseAt;
        uint32 openPeriod;
        uint64 lowWh;
        uint64 exhaustWh;
        bool isProtected;
        bool lowNotified;
        uint8 band;
        uint32 readLag;
        // slot 2
        uint32 feederId;
        uint32 tariffId;
        uint32 nextTariffId;
        uint64 periodStartWh;
        uint64 runStartWh;
        uint32 billPeriod;
        uint32 billDueAt;
        // slot 3
        address payer;
        uint64 billEnergyWh;
        // slot 4
        uint256 billAmount;
        uint64[4] bandWh;
        // producer slot, only when a bill closes (not stored by `store`)
        uint256 producerWord;
        uint64 redeemedWh;
        uint256 redeemedAmount;
    }

    // ------------------------------------------------------------ named fields of a packed word (the hot paths
    // read and write single words; nothing outside this library shifts bits)

    /// @notice Slot 0: the meter's attestation signer (address(0): no such meter).
    function signerOf(uint256 reading) internal pure returns (address) {
        return address(uint160(reading));
    }

    /// @notice Slot 0: the last accepted register (Wh).
    function lastWhOf(uint256 reading) internal pure returns (uint64) {
        return uint40(reading >> 160);
    }

    /// @notice Slot 0: the last accepted reading's timestamp.
    function lastTsOf(uint256 reading) internal pure returns (uint32) {
        return uint32(reading >> 200);
    }

    /// @notice Slot 0: the meter's rating (W).
    function maxPowerOf(uint256 reading) internal pure returns (uint32) {
        return uint32((reading >> 232) & MAX_POWER_W);
    }

    /// @notice Slot 0: whether the meter is prepaid.
    function isPrepaid(uint256 reading) internal pure returns (bool) {
        return reading & FLAG_PREPAID != 0;
    }

    /// @notice Slot 0: whether the meter's tariff has time-of-use bands in its open period.
    function isTimeOfUse(uint256 reading) internal pure returns (bool) {
        return reading & FLAG_TOU != 0;
    }

    /// @notice Slot 0: whether the meter was retired.
    function isRetired(uint256 reading) internal pure returns (bool) {
        return reading & FLAG_RETIRED != 0;
    }

    /// @notice Slot 0: whether the meter has an export register (its signer is then in the producer slot).
    function isProducer(uint256 reading) internal pure returns (bool) {
        return reading & FLAG_PRODUCER != 0;
    }

    /// @notice Slot 0 of a producer meter: the last accepted export register (Wh).
    function lastExportWhOf(uint256 reading) internal pure returns (uint64) {
        return uint40(reading);
    }

    /// @notice Slot 0 of a producer meter: its export rating (W).
    function maxExportOf(uint256 reading) internal pure returns (uint32) {
        return uint32((reading >> 40) & MAX_POWER_W);
    }

    /// @notice Slot 0: whether `recovered` (from a reading's signature) is the meter's signer: its whole address, or
    /// for a producer meter its low 99 bits (see the layout). address(0) never is.
    function isSignedBy(uint256 reading, address recovered) internal pure returns (bool) {
        if (isProducer(reading)) {
            return recovered != address(0) && (uint160(recovered) ^ (reading >> 60)) & SIGNER_BITS == 0;
        }
        // An import-only meter's signer is never address(0).
        return signerOf(reading) == recovered;
    }

    /// @notice Slot 0 of a producer meter with a new export register (<= `MAX_WH`).
    function withExportRegister(uint256 reading, uint64 exportWh) internal pure returns (uint256) {
        return (reading & ~MAX_WH) | exportWh;
    }

    /// @notice Slot 0 turned into (or kept as) a producer meter's, with the given export side and signer. Inputs
    /// within range.
    function withExportSide(uint256 reading, uint64 lastExportWh, uint32 maxExportW, address signer)
        internal
        pure
        returns (uint256)
    {
        return (reading & ~uint256(type(uint160).max)) | FLAG_PRODUCER | PRODUCER_MARK | uint256(lastExportWh)
            | uint256(maxExportW) << 40 | (uint160(signer) & SIGNER_BITS) << 60;
    }

    /// @notice Producer slot: the meter's signer.
    function producerSignerOf(uint256 producer) internal pure returns (address) {
        return address(uint160(producer));
    }

    /// @notice Producer slot with a new signer.
    function withProducerSigner(uint256 producer, address signer) internal pure returns (uint256) {
        return (producer & ~uint256(type(uint160).max)) | uint160(signer);
    }

    /// @notice Producer slot: the export register up to which exported energy is settled.
    function settledAtWhOf(uint256 producer) internal pure returns (int256) {
        return int48(uint48(producer >> 160));
    }

    /// @notice Producer slot with a new settled-at register (within +-`MAX_WH`).
    function withSettledAtWh(uint256 producer, int256 registerWh) internal pure returns (uint256) {
        return (producer & ~(uint256(type(uint48).max) << 160)) | uint256(uint48(int48(registerWh))) << 160;
    }

    /// @notice The meter's pending tokens (Wh): its slot 0's export register less its producer slot's settled-at one.
    function pendingWhOf(uint256 reading, uint256 producer) internal pure returns (uint256) {
        // settledAtWh never exceeds the export register.
        return uint256(int256(uint256(lastExportWhOf(reading))) - settledAtWhOf(producer));
    }

    /// @notice Producer slot with `wh` more settled (<= the pending Wh).
    function withWhSettled(uint256 producer, uint256 wh) internal pure returns (uint256) {
        return withSettledAtWh(producer, settledAtWhOf(producer) + int256(wh));
    }

    /// @notice Producer slot: the Wh of the last issued bill paid with tokens.
    function billRedeemedWhOf(uint256 producer) internal pure returns (uint64) {
        return uint40(producer >> 208);
    }

    /// @notice Producer slot: whether pending tokens pay each bill first.
    function redeemsTokens(uint256 producer) internal pure returns (bool) {
        return producer & REDEEM_TOKENS != 0;
    }

    /// @notice Producer slot with a new redeemed energy of the last bill (<= its energy < 2^40).
    function withBillRedeemedWh(uint256 producer, uint256 wh) internal pure returns (uint256) {
        return (producer & ~(uint256(MAX_WH) << 208)) | wh << 208;
    }

    /// @notice Producer slot with the redeem-tokens choice.
    function withRedeemTokens(uint256 producer, bool on) internal pure returns (uint256) {
        return on ? producer | REDEEM_TOKENS : producer & ~REDEEM_TOKENS;
    }

    /// @notice Slot 0 with a new register and timestamp.
    function withRegister(uint256 reading, uint64 wh, uint32 ts) internal pure returns (uint256) {
        // The caller checked wh <= MAX_WH.
        return (reading & READING_KEEP_MASK) | uint256(wh) << 160 | uint256(ts) << 200;
    }

    /// @notice Slot 0 with a new signer: its whole address, or for a producer meter its `signerBits` (the producer
    /// slot takes the whole address).
    function withSigner(uint256 reading, address signer) internal pure returns (uint256) {
        if (isProducer(reading)) return (reading & ~(SIGNER_BITS << 60)) | (uint160(signer) & SIGNER_BITS) << 60;
        return (reading & ~uint256(type(uint160).max)) | uint160(signer);
    }

    /// @notice Slot 2: the period of the last issued bill.
    function billPeriodOf(uint256 periodWord) internal pure returns (uint32) {
        return uint32(periodWord >> 176);
    }

    /// @notice Slot 1: the balance (negative: debt).
    function balanceOf(uint256 account) internal pure returns (int256) {
        return int96(uint96(account));
    }

    /// @notice Slot 1: when the permit's grace started (0: it has not).
    function lapseAtOf(uint256 account) internal pure returns (uint32) {
        return uint32(account >> 96);
    }

    /// @notice Slot 1: the open billing period.
    function openPeriodOf(uint256 account) internal pure returns (uint32) {
        return uint32(account >> 128);
    }

    /// @notice Slot 1: the register at which a flat prepaid meter's credit falls below the low-credit threshold.
    function lowWhOf(uint256 account) internal pure returns (uint64) {
        return uint40(account >> 160);
    }

    /// @notice Slot 1: the register at which a flat prepaid meter's credit and emergency credit run out.
    function exhaustWhOf(uint256 account) internal pure returns (uint64) {
        return uint40(account >> 200);
    }

    /// @notice Slot 1: whether the household is protected.
    function isProtected(uint256 account) internal pure returns (bool) {
        return (account >> 240) & 1 != 0;
    }

    /// @notice Slot 1: whether `LowCredit` was emitted since the credit was last above the threshold.
    function lowNotified(uint256 account) internal pure returns (bool) {
        return (account >> 241) & 1 != 0;
    }

    /// @notice Slot 1: whether the meter is prepaid.
    function isPrepaidAccount(uint256 account) internal pure returns (bool) {
        return account & ACCOUNT_PREPAID != 0;
    }

    /// @notice Slot 1 with a new balance and no lapse. The caller checks that the balance fits int96 (the payment
    /// path does, with its own error).
    function withBalanceNoLapse(uint256 account, int256 balance) internal pure returns (uint256) {
        return (account & ~((uint256(1) << 128) - 1)) | uint256(uint96(int96(balance)));
    }

    /// @notice Slot 3 with a new payer.
    function withPayer(uint256 payerWord, address payer) internal pure returns (uint256) {
        return (payerWord & ~uint256(type(uint160).max)) | uint160(payer);
    }

    // ------------------------------------------------------------ the whole meter

    function load(uint256[5] storage s) internal view returns (Meter memory m) {
        uint256 w = s[0];
        m.signer = signerOf(w);
        m.lastWh = lastWhOf(w);
        m.lastTs = lastTsOf(w);
        m.maxPowerW = maxPowerOf(w);
        m.prepaid = isPrepaid(w);
        m.tou = isTimeOfUse(w);
        m.retired = isRetired(w);
        m.producer = isProducer(w);
        loadAccount(m, s[1]);
        w = s[2];
        m.feederId = uint32(w);
        m.tariffId = uint32(w >> 32);
        m.nextTariffId = uint32(w >> 64);
        m.periodStartWh = uint64(uint40(w >> 96));
        m.runStartWh = uint64(uint40(w >> 136));
        m.billPeriod = uint32(w >> 176);
        m.billDueAt = uint32(w >> 208);
        w = s[3];
        m.payer = address(uint160(w));
        m.billEnergyWh = uint64(uint40(w >> 160));
        w = s[4];
        m.billAmount = uint96(w);
        for (uint256 i; i < 4; ++i) {
            m.bandWh[i] = uint64(uint40(w >> (96 + 40 * i)));
        }
    }

    function loadAccount(Meter memory m, uint256 w) internal pure {
        m.balance = balanceOf(w);
        m.lapseAt = lapseAtOf(w);
        m.openPeriod = openPeriodOf(w);
        m.lowWh = lowWhOf(w);
        m.exhaustWh = exhaustWhOf(w);
        m.isProtected = isProtected(w);
        m.lowNotified = lowNotified(w);
        m.band = uint8((w >> 242) & 3);
        m.readLag = readLag(w);
    }

    /// @notice The account slot's `readLag`.
    function readLag(uint256 account) internal pure returns (uint32) {
        return uint32(account >> 245);
    }

    function store(uint256[5] storage s, Meter memory m) internal {
        s[0] = packReading(m);
        s[1] = packAccount(m);
        s[2] = uint256(m.feederId) | uint256(m.tariffId) << 32 | uint256(m.nextTariffId) << 64
            | uint256(uint40(m.periodStartWh)) << 96 | uint256(uint40(m.runStartWh)) << 136 | uint256(m.billPeriod)
            << 176 | uint256(m.billDueAt) << 208;
        s[3] = uint256(uint160(m.payer)) | uint256(uint40(m.billEnergyWh)) << 160;
        uint256 w = uint256(_toUint96(m.billAmount));
        for (uint256 i; i < 4; ++i) {
            w |= uint256(uint40(m.bandWh[i])) << (96 + 40 * i);
        }
        s[4] = w;
    }

    function packReading(Meter memory m) internal pure returns (uint256) {
        return uint256(uint160(m.signer)) | uint256(uint40(m.lastWh)) << 160 | uint256(m.lastTs) << 200
            | uint256(m.maxPowerW) << 232 | (m.prepaid ? FLAG_PREPAID : 0) | (m.tou ? FLAG_TOU : 0)
            | (m.retired ? FLAG_RETIRED : 0) | (m.producer ? FLAG_PRODUCER : 0);
    }

    function packAccount(Meter memory m) internal pure returns (uint256) {
        return uint256(uint96(_toInt96(m.balance))) | uint256(m.lapseAt) << 96 | uint256(m.openPeriod) << 128
            | uint256(uint40(m.lowWh)) << 160 | uint256(uint40(m.exhaustWh)) << 200 | (m.isProtected ? 1 << 240 : 0)
            | (m.lowNotified ? 1 << 241 : 0) | uint256(m.band) << 242 | (m.prepaid ? ACCOUNT_PREPAID : 0)
            | Math.min(m.readLag, MAX_READ_LAG) << 245;
    }

    error AmountOverflow(int256 value);

    function _toInt96(int256 v) private pure returns (int96) {
        if (v > type(int96).max || v < type(int96).min) revert AmountOverflow(v);
        return int96(v);
    }

    function _toUint96(uint256 v) private pure returns (uint96) {
        if (v > type(uint96).max) revert AmountOverflow(int256(v));
        return uint96(v);
    }
}
