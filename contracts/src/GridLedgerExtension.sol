// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Proxy} from "@openzeppelin/contracts/proxy/Proxy.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {GridLedgerBase} from "./GridLedgerBase.sol";
import {IGridLedgerAccounts} from "./interfaces/IGridLedger.sol";
import {IGridLedgerProducerExchange, IGridLedgerProducerReadings} from "./interfaces/IGridLedgerProducers.sol";
import {GridLedgerFeedersAndViews} from "./GridLedgerFeedersAndViews.sol";
import {MeterState} from "./libraries/MeterState.sol";

/// @title GridLedgerExtension
/// @notice Operator functions and views of `GridLedger`, executed by `GridLedger` through `delegatecall` on its own
/// storage. Calling this contract directly only touches its own, unused storage.
contract GridLedgerExtension is IGridLedgerAccounts, IGridLedgerProducerExchange, GridLedgerBase, Proxy {
    using MeterState for uint256[5];
    using MeterState for uint256;

    /// @notice The contract that serves feeders, the schedule and the views, run by this one's fallback on the ledger's
    /// storage.
    address public immutable views;

    /// @param c The deployment parameters the ledger will be deployed with.
    /// @param views_ The `GridLedgerFeedersAndViews`, deployed with the same.
    constructor(Config memory c, address views_) GridLedgerBase(c) {
        if (views_.code.length == 0 || GridLedgerFeedersAndViews(views_).configHash() != configHash) {
            revert InvalidConfig();
        }
        views = views_;
    }

    /// @dev `Proxy`'s fallback serves feeders, the schedule and the views from `views`, still on the ledger's storage (delegatecall keeps it).
    function _implementation() internal view override returns (address) {
        return views;
    }

    /// @notice See `IGridLedger.settle`.
    function settle(uint32 meterId) external {
        uint256[5] storage s = _meterSlots(meterId);
        MeterState.Meter memory m = s.load();
        uint32 current = _periodOf(block.timestamp);
        if (current > m.openPeriod) {
            _close(meterId, m, current, 0);
            s.store(m);
        }
    }

    /// @notice See `IGridLedger.topUp`.
    function topUp(uint32 meterId, uint256 amount) external payable whenNotPaused nonReentrant {
        if (paymentToken == address(0) && msg.value != amount) revert InsufficientPayment(meterId, msg.value, amount);
        _topUp(meterId, amount);
    }

    /// @notice See `IGridLedger.topUpWithPermit`.
    function topUpWithPermit(uint32 meterId, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        whenNotPaused
        nonReentrant
    {
        _permitToken(amount, deadline, v, r, s);
        _topUp(meterId, amount);
    }

    /// @notice See `IGridLedger.withdraw`.
    function withdraw(uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) nonReentrant {
        if (amount == 0) revert ZeroAmount();
        address to = treasury;
        uint256 held =
            paymentToken == address(0) ? address(this).balance : IERC20(paymentToken).balanceOf(address(this));
        // Households' credit and sell-back proceeds are not the operator's to take, nor are feed-in funds withdrawn
        // this way (they go back with `withdrawFeedInFunds`).
        uint256 owed = _liability + _proceedsTotal + _feedInFunds;
        uint256 available = held > owed ? held - owed : 0;
        if (amount > available) revert WithdrawalExceedsBalance(amount, available);
        emit Withdrawn(to, amount);
        _send(to, amount);
    }

    /// @notice See `IGridLedger.registerMeter`.
    function registerMeter(uint32 meterId, MeterParams calldata p) external onlyRole(METER_REGISTRAR_ROLE) {
        if (meterId == 0) revert ZeroId();
        uint256[5] storage s = _meters[meterId];
        if (s[0].signerOf() != address(0)) revert MeterExists(meterId);
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
        if (m.prepaid) _refreshCredit(meterId, m, tv);
        s.store(m);
        emit MeterRegistered(meterId, p.feederId, p.signer, p.payer, p.tariffId, p.mode, p.maxPowerW, p.initialWh);
    }

    /// @notice See `IGridLedger.retireMeter`.
    function retireMeter(uint32 meterId) external onlyRole(METER_REGISTRAR_ROLE) {
        uint256[5] storage s = _meterSlots(meterId);
        MeterState.Meter memory m = s.load();
        if (m.retired) revert RetiredMeter(meterId);
        // The final bill: the open period closes now, with the energy read so far.
        _close(meterId, m, _periodOf(block.timestamp), block.timestamp);
        m.retired = true;
        s.store(m);
        emit MeterRetired(meterId, m.balance);
    }

    /// @notice See `IGridLedger.recordMeterExchange`.
    function recordMeterExchange(uint32 meterId, uint64 oldFinalWh, uint64 newInitialWh, uint32 timestamp)
        external
        onlyRole(METER_REGISTRAR_ROLE)
    {
        // Its export since the last reading would be lost: it is exchanged with both registers.
        if (_meters[meterId][0].isProducer()) revert ExportRegisterNotExchanged(meterId);
        _recordExchange(meterId, oldFinalWh, newInitialWh, timestamp);
    }

    /// @inheritdoc IGridLedgerProducerExchange
    function recordBidirectionalMeterExchange(
        uint32 meterId,
        uint64 oldFinalImportWh,
        uint64 oldFinalExportWh,
        uint64 newInitialImportWh,
        uint64 newInitialExportWh,
        uint32 timestamp
    ) external onlyRole(METER_REGISTRAR_ROLE) {
        // Both final registers take the checks of a bidirectional reading: this refuses a meter without an export
        // register (`ImportOnlyMeter`) and a final export register below the last accepted one
        // (`ExportRegisterDecreased`) or beyond the export rating since it.
        _checkUnsigned(
            abi.encodeWithSelector(
                IGridLedgerProducerReadings.submitBidirectionalReading.selector,
                meterId,
                oldFinalImportWh,
                oldFinalExportWh,
                timestamp,
                0xa0,
                0
            )
        );
        if (newInitialExportWh > MeterState.MAX_WH) revert RegisterOutOfRange(meterId, newInitialExportWh);
        uint256[5] storage s = _meters[meterId];
        uint256 w = s[0];
        // The old meter's last export is pending before the final reading's path runs, so that the final bill (and a
        // close that reading makes) may redeem it: each Wh is still settled once.
        s[0] = w.withExportRegister(oldFinalExportWh);
        _recordExchange(meterId, oldFinalImportWh, newInitialImportWh, timestamp);
        uint256 exchanged = s[0];
        _producers[meterId] = _rebasedExport(meterId, exchanged, newInitialExportWh);
        s[0] = exchanged.withExportRegister(newInitialExportWh);
        emit ExportExchanged(meterId, oldFinalExportWh, newInitialExportWh, oldFinalExportWh - w.lastExportWhOf());
    }

    /// @notice See `IGridLedger.withdrawCredit`.
    function withdrawCredit(uint32 meterId) external nonReentrant {
        uint256[5] storage s = _meterSlots(meterId);
        MeterState.Meter memory m = s.load();
        if (!m.retired) revert NotRetired(meterId);
        if (msg.sender != m.payer) revert NotPayer(meterId, msg.sender);
        _settleInMemory(meterId, m);
        if (m.balance <= 0) revert NoCredit(meterId);
        uint256 amount = uint256(m.balance);
        _syncLiability(m.balance, 0);
        m.balance = 0;
        s.store(m);
        emit CreditWithdrawn(meterId, msg.sender, amount);
        _send(msg.sender, amount);
    }

    /// @notice See `IGridLedger.setMeterTariff`.
    function setMeterTariff(uint32 meterId, uint32 tariffId) external onlyRole(TARIFF_SETTER_ROLE) {
        if (_tariffs[tariffId].length == 0) revert UnknownTariff(tariffId);
        uint256[5] storage s = _meterSlots(meterId);
        MeterState.Meter memory m = s.load();
        uint32 current = _periodOf(block.timestamp);
        if (current > m.openPeriod) _close(meterId, m, current, 0);
        // Kept for a late reading of periods that close before it lands, on the tariff they were used under.
        TariffMove[] storage moves = _tariffMoves[meterId];
        uint256 n = moves.length;
        uint32 from = m.openPeriod + 1;
        if (n == 0) moves.push(TariffMove(0, m.tariffId));
        if (n != 0 && moves[n - 1].from == from) moves[n - 1].tariffId = tariffId;
        else moves.push(TariffMove(from, tariffId));
        m.nextTariffId = tariffId;
        s.store(m);
        emit MeterTariffChanged(meterId, tariffId, m.openPeriod + 1);
    }

    /// @notice See `IGridLedger.setProtected`.
    function setProtected(uint32 meterId, bool isProtected) external onlyRole(PROTECTION_OFFICER_ROLE) {
        uint256[5] storage s = _meterSlots(meterId);
        MeterState.Meter memory m = s.load();
        _settleInMemory(meterId, m);
        m.isProtected = isProtected;
        if (!isProtected) {
            // What ends the permit of a household that was protected becomes enforceable only now: an old lapse
            // gets grace from now, and the overdue clock starts now.
            if (m.lapseAt != 0 && m.lapseAt < block.timestamp) m.lapseAt = uint32(block.timestamp);
            m.readLag = 0;
        }
        s.store(m);
        emit ProtectionSet(meterId, isProtected);
        emit PermitChanged(meterId, _permitUntil(m, _schedule));
    }
}
