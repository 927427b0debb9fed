// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {GridLedgerBase} from "./GridLedgerBase.sol";
import {IGridLedgerFeedersAndViews} from "./interfaces/IGridLedger.sol";
import {LocalTime} from "./libraries/LocalTime.sol";
import {MeterState} from "./libraries/MeterState.sol";

/// @title GridLedgerFeedersAndViews
/// @notice Feeders (their registration, readings and loss checks), the operator's schedule (pause, friendly window,
/// treasury), a meter's signer and payer, and the views of `GridLedger`, executed through `GridLedgerExtension`'s
/// fallback (feeder readings straight from the ledger's) by `delegatecall` on the ledger's storage (the ledger and its
/// extension would otherwise exceed the 24 KiB code size limit). Deployed by the extension's constructor with the
/// same parameters.
contract GridLedgerFeedersAndViews is IGridLedgerFeedersAndViews, GridLedgerBase {
    using MeterState for uint256[5];
    using MeterState for uint256;

    /// @param c The deployment parameters of the ledger.
    constructor(Config memory c) GridLedgerBase(c) {}

    /// @notice See `IGridLedger.submitFeederReading`.
    function submitFeederReading(FeederReading calldata r, bytes calldata sig) external whenNotPaused {
        FeederSlot storage f = _feeders[r.feederId];
        address signer = f.signer;
        if (signer == address(0)) revert UnknownFeeder(r.feederId);
        if (r.wh > MeterState.MAX_WH) revert RegisterOutOfRange(r.feederId, r.wh);
        bool future = r.timestamp > block.timestamp + maxClockSkew || r.timestamp >= _currentPeriodEnd();
        if (r.timestamp > block.timestamp && future) {
            revert FutureReading(r.feederId, r.timestamp, block.timestamp);
        }
        uint32 lastTs = f.lastTs;
        if (r.timestamp <= lastTs) revert StaleReading(r.feederId, r.timestamp, lastTs);
        uint64 lastWh = f.lastWh;
        if (r.wh < lastWh) revert RegisterDecreased(r.feederId, r.wh, lastWh);
        bool initialized = f.initialized;
        if (initialized) {
            uint256 powerW = uint256(r.wh - lastWh) * 3600 / (r.timestamp - lastTs);
            if (uint256(r.wh - lastWh) * 3600 > uint256(f.maxPowerW) * (r.timestamp - lastTs)) {
                revert ImplausiblePower(r.feederId, powerW, f.maxPowerW);
            }
        }
        (uint8 v, bytes32 rr, bytes32 s) = ECDSA.parseCalldata(sig);
        (address recovered,,) = ECDSA.tryRecover(_feederReadingDigest(r.feederId, r.wh, r.timestamp), v, rr, s);
        if (recovered != signer) revert InvalidSignature(r.feederId, recovered);

        // The energy since the last reading counts in the period of this one. The running period's energy is kept in
        // the feeder's slot; the first reading of a later period stores it (once: the running period never returns).
        // Both stay below the 40-bit register's range. A parent's children sum takes it at once, so that it always
        // equals what its child feeders' periods show.
        uint32 period = _periodOf(r.timestamp);
        uint32 lastPeriod = _periodOf(lastTs);
        uint64 runningWh = f.runningWh;
        if (period != lastPeriod) {
            if (runningWh != 0) _feederPeriods[r.feederId][lastPeriod].feederWh = runningWh;
            runningWh = 0;
        }
        if (initialized) {
            uint64 energy = r.wh - lastWh;
            runningWh += energy;
            uint32 parentId = f.parentId;
            if (parentId != 0 && energy != 0) _addChildrenWh(parentId, period, energy);
        }
        f.lastWh = r.wh;
        f.lastTs = r.timestamp;
        f.initialized = true;
        f.runningWh = runningWh;
        emit FeederReadingAccepted(r.feederId, period, r.wh, r.timestamp);

        // The first reading of a new period checks the period before the last one: its meters have rolled over.
        if (period > 2 && period > lastPeriod && !_feederPeriods[r.feederId][period - 2].checked) {
            _checkLoss(r.feederId, period - 2);
        }
    }

    /// @notice See `IGridLedger.pause`.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice See `IGridLedger.unpause`.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @notice See `IGridLedger.checkLoss`.
    function checkLoss(uint32 feederId, uint32 period) external {
        if (_feeders[feederId].signer == address(0)) revert UnknownFeeder(feederId);
        if (uint256(period) + 1 >= _periodOf(block.timestamp)) revert PeriodNotOver(feederId, period);
        if (_feederPeriods[feederId][period].checked) revert LossAlreadyChecked(feederId, period);
        _checkLoss(feederId, period);
    }

    /// @notice See `IGridLedger.registerFeeder`.
    function registerFeeder(uint32 feederId, address signer, uint32 parentId, uint16 lossToleranceBps, uint32 maxPowerW)
        external
        onlyRole(METER_REGISTRAR_ROLE)
    {
        if (feederId == 0) revert ZeroId();
        if (maxPowerW == 0) revert MaxPowerOutOfRange(maxPowerW);
        if (signer == address(0)) revert ZeroAddress();
        if (_feeders[feederId].signer != address(0)) revert FeederExists(feederId);
        if (parentId != 0 && _feeders[parentId].signer == address(0)) revert UnknownFeeder(parentId);
        if (lossToleranceBps > MAX_LOSS_TOLERANCE_BPS) revert LossToleranceOutOfRange(lossToleranceBps);
        _feeders[feederId] = FeederSlot({
            signer: signer,
            parentId: parentId,
            lossToleranceBps: lossToleranceBps,
            maxPowerW: maxPowerW,
            lastWh: 0,
            lastTs: uint32(block.timestamp),
            initialized: false,
            runningWh: 0
        });
        emit FeederRegistered(feederId, parentId, signer, lossToleranceBps, maxPowerW);
    }

    /// @notice See `IGridLedger.updateFeeder`.
    function updateFeeder(uint32 feederId, address signer, uint16 lossToleranceBps)
        external
        onlyRole(METER_REGISTRAR_ROLE)
    {
        FeederSlot storage f = _feeders[feederId];
        if (f.signer == address(0)) revert UnknownFeeder(feederId);
        if (signer == address(0)) revert ZeroAddress();
        if (lossToleranceBps > MAX_LOSS_TOLERANCE_BPS) revert LossToleranceOutOfRange(lossToleranceBps);
        f.signer = signer;
        f.lossToleranceBps = lossToleranceBps;
        emit FeederUpdated(feederId, signer, lossToleranceBps);
    }

    /// @notice See `IGridLedger.setMeterSigner`.
    function setMeterSigner(uint32 meterId, address signer) external onlyRole(METER_REGISTRAR_ROLE) {
        if (signer == address(0)) revert ZeroAddress();
        uint256[5] storage s = _meterSlots(meterId);
        // A producer meter's signer is in its producer slot, its low bits (what its readings are checked against) in
        // slot 0.
        uint256 w = s[0];
        if (w.isProducer()) _producers[meterId] = _producers[meterId].withProducerSigner(signer);
        s[0] = w.withSigner(signer);
        emit MeterSignerChanged(meterId, signer);
    }

    /// @notice See `IGridLedger.setMeterPayer`.
    /// @dev Credit belongs to the payer who paid it, and pending energy tokens to the payer whose meter exported
    /// them: the registrar moves only a meter that holds neither (anyone may claim the tokens first), the current
    /// payer may always hand it on, and a retired meter's payer (who alone may take its credit back) is final.
    function setMeterPayer(uint32 meterId, address payer) external {
        if (payer == address(0)) revert ZeroAddress();
        uint256[5] storage s = _meterSlots(meterId);
        MeterState.Meter memory m = s.load();
        if (m.retired) revert RetiredMeter(meterId);
        if (msg.sender != m.payer) {
            _checkRole(METER_REGISTRAR_ROLE);
            uint256 w = s[0];
            bool tokensPending = w.isProducer() && w.pendingWhOf(_producers[meterId]) != 0;
            if (m.balance > 0 || tokensPending) revert NotPayer(meterId, msg.sender);
        }
        s[3] = s[3].withPayer(payer);
        emit MeterPayerChanged(meterId, payer);
    }

    /// @notice See `IGridLedger.setTariff`.
    function setTariff(uint32 tariffId, Tariff calldata t) external onlyRole(TARIFF_SETTER_ROLE) {
        if (tariffId == 0) revert ZeroId();
        uint256 n = t.bands.length;
        if (n > MAX_BANDS) revert TooManyBands(n);
        if (t.utcOffsetSeconds > LocalTime.MAX_OFFSET || t.utcOffsetSeconds < -LocalTime.MAX_OFFSET) {
            revert InvalidBand(type(uint256).max);
        }
        for (uint256 i; i < n; ++i) {
            Band calldata b = t.bands[i];
            if (b.startMinute >= MINUTES_PER_DAY || b.endMinute >= MINUTES_PER_DAY || b.startMinute == b.endMinute) {
                revert InvalidBand(i);
            }
        }
        TariffVersion[] storage versions = _tariffs[tariffId];
        uint32 from;
        TariffVersion storage tv;
        if (versions.length == 0) {
            tv = versions.push();
        } else {
            from = _periodOf(block.timestamp) + 1;
            tv = versions[versions.length - 1];
            if (tv.from != from) tv = versions.push();
        }
        tv.from = from;
        tv.price = t.pricePerKWh;
        tv.utcOffsetSeconds = t.utcOffsetSeconds;
        tv.bandCount = uint8(n);
        tv.emergencyCredit = t.emergencyCredit;
        tv.lowCreditThreshold = t.lowCreditThreshold;
        for (uint256 i; i < MAX_BANDS; ++i) {
            if (i < n) tv.bands[i] = t.bands[i];
            else delete tv.bands[i];
        }
        emit TariffSet(tariffId, from, t.pricePerKWh, n);
    }

    /// @notice See `IGridLedger.setFriendlyWindow`.
    function setFriendlyWindow(FriendlyWindow calldata w) external onlyRole(PROTECTION_OFFICER_ROLE) {
        if (
            w.startMinute >= MINUTES_PER_DAY || w.endMinute >= MINUTES_PER_DAY || w.friendlyDays >= 0x7f
                || w.utcOffsetSeconds > LocalTime.MAX_OFFSET || w.utcOffsetSeconds < -LocalTime.MAX_OFFSET
        ) revert InvalidFriendlyWindow();
        Schedule storage sc = _schedule;
        // A pause holds the permits running at it by the window then in force: the window waits for the resume,
        // and then until the permits the pause held have ended.
        if (sc.paused) revert EnforcedPause();
        uint256 heldUntil = _holdEnd(sc);
        if (block.timestamp < heldUntil) revert FriendlyWindowChangeTooSoon(heldUntil);
        // One change per grace: a permit a change would end sooner keeps a grace from that change (see `_permit`).
        uint256 allowedFrom = uint256(sc.windowChangedAt) + grace;
        if (sc.windowChangedAt != 0 && block.timestamp < allowedFrom) revert FriendlyWindowChangeTooSoon(allowedFrom);
        sc.prevUtcOffsetSeconds = sc.utcOffsetSeconds;
        sc.prevStartMinute = sc.startMinute;
        sc.prevEndMinute = sc.endMinute;
        sc.prevFriendlyDays = sc.friendlyDays;
        sc.windowChangedAt = uint32(block.timestamp);
        sc.utcOffsetSeconds = w.utcOffsetSeconds;
        sc.startMinute = w.startMinute;
        sc.endMinute = w.endMinute;
        sc.friendlyDays = w.friendlyDays;
        emit FriendlyWindowSet(w.utcOffsetSeconds, w.startMinute, w.endMinute, w.friendlyDays);
    }

    /// @notice See `IGridLedger.setTreasury`.
    function setTreasury(address newTreasury) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newTreasury == address(0)) revert ZeroAddress();
        treasury = newTreasury;
        emit TreasurySet(newTreasury);
    }

    /// @notice See `IGridLedger.VERSION`.
    function VERSION() external pure returns (string memory) {
        return "3.0.0";
    }

    /// @notice See `IGridLedger.DOMAIN_SEPARATOR`.
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice See `IGridLedger.readingDigest`.
    function readingDigest(Reading calldata r) external view returns (bytes32) {
        return _readingDigest(r.meterId, r.wh, NO_EXPORT, r.timestamp);
    }

    /// @notice See `IGridLedger.feederReadingDigest`.
    function feederReadingDigest(FeederReading calldata r) external view returns (bytes32) {
        return _feederReadingDigest(r.feederId, r.wh, r.timestamp);
    }

    /// @notice See `IGridLedger.periodOf`.
    function periodOf(uint256 t) external view returns (uint32) {
        return _periodOf(t);
    }

    /// @notice See `IGridLedger.periodStart`.
    function periodStart(uint32 period) external view returns (uint256) {
        return _periodStart(period);
    }

    /// @notice See `IGridLedger.currentPeriod`.
    function currentPeriod() external view returns (uint32) {
        return _periodOf(block.timestamp);
    }

    /// @notice See `IGridLedger.meter`.
    function meter(uint32 meterId) external view returns (MeterInfo memory info) {
        MeterState.Meter memory m = _meterSlots(meterId).load();
        info = MeterInfo({
            signer: m.producer ? _producers[meterId].producerSignerOf() : m.signer,
            payer: m.payer,
            feederId: m.feederId,
            tariffId: m.tariffId,
            nextTariffId: m.nextTariffId,
            mode: m.prepaid ? Mode.Prepaid : Mode.Postpaid,
            isProtected: m.isProtected,
            lastWh: m.lastWh,
            lastTimestamp: m.lastTs,
            maxPowerW: m.maxPowerW,
            openPeriod: m.openPeriod,
            periodStartWh: m.periodStartWh,
            balance: m.balance,
            exhaustedAt: m.prepaid ? m.lapseAt : 0
        });
    }

    /// @notice See `IGridLedger.feeder`.
    function feeder(uint32 feederId) external view returns (FeederInfo memory) {
        FeederSlot storage f = _feeders[feederId];
        if (f.signer == address(0)) revert UnknownFeeder(feederId);
        return FeederInfo(f.signer, f.parentId, f.lossToleranceBps, f.lastWh, f.lastTs, f.maxPowerW);
    }

    /// @notice See `IGridLedger.tariff`.
    function tariff(uint32 tariffId) external view returns (Tariff memory) {
        return _tariffOut(_version(tariffId, _periodOf(block.timestamp)));
    }

    /// @notice See `IGridLedger.tariffAt`.
    function tariffAt(uint32 tariffId, uint32 period) external view returns (Tariff memory) {
        return _tariffOut(_version(tariffId, period));
    }

    /// @notice See `IGridLedger.priceAt`.
    function priceAt(uint32 tariffId, uint256 t) external view returns (uint64) {
        TariffVersion storage tv = _version(tariffId, _periodOf(t));
        return _bandPrice(tv, _bandOf(tv, t));
    }

    /// @notice See `IGridLedger.liability`.
    function liability() external view returns (uint256) {
        return _liability;
    }

    /// @notice See `IGridLedger.readingOverdueAt`.
    function readingOverdueAt(uint32 meterId) external view returns (uint256) {
        MeterState.Meter memory m = _projected(meterId);
        return _overdueAt(m.openPeriod, m.readLag);
    }

    /// @notice See `IGridLedger.meterBalance`.
    function meterBalance(uint32 meterId) public view returns (int256) {
        MeterState.Meter memory m = _projected(meterId);
        return m.prepaid ? m.balance - int256(_accrued(m)) : m.balance;
    }

    /// @notice See `IGridLedger.amountDue`.
    function amountDue(uint32 meterId) external view returns (uint256) {
        int256 balance = meterBalance(meterId);
        return balance < 0 ? uint256(-balance) : 0;
    }

    /// @notice See `IGridLedger.billOf`.
    function billOf(uint32 meterId) external view returns (Bill memory) {
        MeterState.Meter memory m = _projected(meterId);
        return Bill(m.billPeriod, m.billEnergyWh, m.billAmount, m.billDueAt);
    }

    /// @notice See `IGridLedger.permitUntil`.
    function permitUntil(uint32 meterId) external view returns (uint64) {
        return _permitUntil(_projected(meterId), _schedule);
    }

    /// @notice See `IGridLedger.friendlyWindow`.
    function friendlyWindow() public view returns (FriendlyWindow memory) {
        return _window(_schedule);
    }
}
