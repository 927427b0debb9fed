// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {GridLedgerBase} from "./GridLedgerBase.sol";
import {LocalTime} from "./libraries/LocalTime.sol";
import {MeterState} from "./libraries/MeterState.sol";

/// @title GridLedgerExtension
/// @notice Operator functions and views of `GridLedger`, executed by `GridLedger` through `delegatecall` on its own
/// storage. Calling this contract directly only touches its own, unused storage.
contract GridLedgerExtension is GridLedgerBase {
    using MeterState for uint256[5];

    /// @param c The deployment parameters the ledger will be deployed with.
    constructor(Config memory c) GridLedgerBase(c) {}

    /// @notice See `IGridLedger.checkLoss`.
    function checkLoss(uint32 feederId, uint32 period) external {
        if (_feeders[feederId].signer == address(0)) revert UnknownFeeder(feederId);
        if (uint256(period) + 1 >= _periodOf(block.timestamp)) revert PeriodNotOver(feederId, period);
        if (_feederPeriods[feederId][period].checked) revert LossAlreadyChecked(feederId, period);
        _checkLoss(feederId, period);
    }

    /// @notice See `IGridLedger.registerFeeder`.
    function registerFeeder(uint32 feederId, address signer, uint32 parentId, uint16 lossToleranceBps)
        external
        onlyRole(METER_REGISTRAR_ROLE)
    {
        if (feederId == 0) revert ZeroId();
        if (signer == address(0)) revert ZeroAddress();
        if (_feeders[feederId].signer != address(0)) revert FeederExists(feederId);
        if (parentId != 0 && _feeders[parentId].signer == address(0)) revert UnknownFeeder(parentId);
        if (lossToleranceBps > MAX_LOSS_TOLERANCE_BPS) revert LossToleranceOutOfRange(lossToleranceBps);
        _feeders[feederId] = FeederSlot({
            signer: signer,
            parentId: parentId,
            lossToleranceBps: lossToleranceBps,
            lastTs: uint32(block.timestamp),
            initialized: false,
            lastWh: 0
        });
        emit FeederRegistered(feederId, parentId, signer, lossToleranceBps);
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

    /// @notice See `IGridLedger.registerMeter`.
    function registerMeter(uint32 meterId, MeterParams calldata p) external onlyRole(METER_REGISTRAR_ROLE) {
        if (meterId == 0) revert ZeroId();
        uint256[5] storage s = _meters[meterId];
        if (address(uint160(s[0])) != address(0)) revert MeterExists(meterId);
        if (p.signer == address(0) || p.payer == address(0)) revert ZeroAddress();
        if (_feeders[p.feederId].signer == address(0)) revert UnknownFeeder(p.feederId);
        if (p.maxPowerW == 0 || p.maxPowerW > MeterState.MAX_POWER_W) revert MaxPowerOutOfRange(p.maxPowerW);
        if (p.initialWh > MeterState.MAX_WH) revert RegisterOutOfRange(meterId, p.initialWh);
        uint32 current = _periodOf(block.timestamp);
        TariffVersion storage tv = _version(p.tariffId, current);

        MeterState.Meter memory m;
        m.signer = p.signer;
        m.lastWh = p.initialWh;
        m.lastTs = uint32(block.timestamp);
        m.maxPowerW = p.maxPowerW;
        m.prepaid = p.mode == Mode.Prepaid;
        m.tou = tv.bandCount != 0;
        m.openPeriod = current;
        m.feederId = p.feederId;
        m.tariffId = p.tariffId;
        m.nextTariffId = p.tariffId;
        m.periodStartWh = p.initialWh;
        m.runStartWh = p.initialWh;
        m.payer = p.payer;
        if (m.prepaid) _refreshCredit(meterId, m, tv, block.timestamp);
        s.store(m);
        emit MeterRegistered(meterId, p.feederId, p.signer, p.payer, p.tariffId, p.mode, p.maxPowerW, p.initialWh);
    }

    /// @notice See `IGridLedger.setMeterSigner`.
    function setMeterSigner(uint32 meterId, address signer) external onlyRole(METER_REGISTRAR_ROLE) {
        if (signer == address(0)) revert ZeroAddress();
        uint256[5] storage s = _meterSlots(meterId);
        s[0] = (s[0] & ~uint256(type(uint160).max)) | uint160(signer);
        emit MeterSignerChanged(meterId, signer);
    }

    /// @notice See `IGridLedger.setMeterPayer`.
    function setMeterPayer(uint32 meterId, address payer) external onlyRole(METER_REGISTRAR_ROLE) {
        if (payer == address(0)) revert ZeroAddress();
        uint256[5] storage s = _meterSlots(meterId);
        s[3] = (s[3] & ~uint256(type(uint160).max)) | uint160(payer);
        emit MeterPayerChanged(meterId, payer);
    }

    /// @notice See `IGridLedger.setMeterTariff`.
    function setMeterTariff(uint32 meterId, uint32 tariffId) external onlyRole(TARIFF_SETTER_ROLE) {
        if (_tariffs[tariffId].length == 0) revert UnknownTariff(tariffId);
        uint256[5] storage s = _meterSlots(meterId);
        MeterState.Meter memory m = s.load();
        uint32 current = _periodOf(block.timestamp);
        if (current > m.openPeriod) _close(meterId, m, current);
        m.nextTariffId = tariffId;
        s.store(m);
        emit MeterTariffChanged(meterId, tariffId, m.openPeriod + 1);
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
        sc.utcOffsetSeconds = w.utcOffsetSeconds;
        sc.startMinute = w.startMinute;
        sc.endMinute = w.endMinute;
        sc.friendlyDays = w.friendlyDays;
        emit FriendlyWindowSet(w.utcOffsetSeconds, w.startMinute, w.endMinute, w.friendlyDays);
    }

    /// @notice See `IGridLedger.setProtected`.
    function setProtected(uint32 meterId, bool isProtected) external onlyRole(PROTECTION_OFFICER_ROLE) {
        uint256[5] storage s = _meterSlots(meterId);
        s[1] = isProtected ? s[1] | (1 << 240) : s[1] & ~uint256(1 << 240);
        emit ProtectionSet(meterId, isProtected);
        emit PermitChanged(meterId, _permitUntil(_projected(meterId), _schedule));
    }

    /// @notice See `IGridLedger.setTreasury`.
    function setTreasury(address newTreasury) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newTreasury == address(0)) revert ZeroAddress();
        treasury = newTreasury;
        emit TreasurySet(newTreasury);
    }

    /// @notice See `IGridLedger.readingDigest`.
    function readingDigest(Reading calldata r) external view returns (bytes32) {
        return _readingDigest(r.meterId, r.wh, r.timestamp);
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
            signer: m.signer,
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
        return FeederInfo(f.signer, f.parentId, f.lossToleranceBps, f.lastWh, f.lastTs);
    }

    /// @notice See `IGridLedger.feederPeriod`.
    function feederPeriod(uint32 feederId, uint32 period) external view returns (FeederPeriod memory) {
        return _feederPeriods[feederId][period];
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

    /// @notice See `IGridLedger.balanceOf`.
    function balanceOf(uint32 meterId) public view returns (int256) {
        MeterState.Meter memory m = _projected(meterId);
        return m.prepaid ? m.balance - int256(_accrued(m)) : m.balance;
    }

    /// @notice See `IGridLedger.amountDue`.
    function amountDue(uint32 meterId) external view returns (uint256) {
        int256 balance = balanceOf(meterId);
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
