// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {GridLedgerBase} from "./GridLedgerBase.sol";
import {IEnergyToken} from "./interfaces/IEnergyToken.sol";
import {IGridLedgerProducerAccounts} from "./interfaces/IGridLedgerProducers.sol";
import {MeterState} from "./libraries/MeterState.sol";

/// @title GridLedgerProducers
/// @notice The producer accounts of `GridLedger`: export registers, energy tokens (claimed from the pending Wh that
/// signed export registers accrued), their redemption against the holder's own bill and their sale back to the
/// operator at the feed-in price. Executed by `GridLedger` through `delegatecall` on its own storage, reached by
/// selector (one hop); calling this contract directly only touches its own, unused storage.
/// @dev Tokens are minted lazily: a reading moves the export register in the meter's slot 0 (no token call, no other
/// slot read or written on the reading's path); the pending Wh are that register less the producer slot's settled-at
/// register, and `claimTokens` mints them. Redemption and sell-back take pending Wh first, then
/// burn the payer's minted tokens, so a Wh is settled exactly once.
contract GridLedgerProducers is IGridLedgerProducerAccounts, GridLedgerBase {
    using MeterState for uint256[5];
    using MeterState for uint256;

    /// @inheritdoc IGridLedgerProducerAccounts
    address public immutable energyToken;

    /// @param c The deployment parameters of the ledger.
    /// @param token The `EnergyToken` whose `ledger()` is the ledger (address(0): none).
    constructor(Config memory c, address token) GridLedgerBase(c) {
        energyToken = token;
    }

    /// @inheritdoc IGridLedgerProducerAccounts
    function enableExport(uint32 meterId, uint32 maxExportW, uint64 exportWh) external onlyRole(METER_REGISTRAR_ROLE) {
        uint256[5] storage s = _meterSlots(meterId);
        uint256 w = s[0];
        if (w.isRetired()) revert RetiredMeter(meterId);
        if (maxExportW == 0 || maxExportW > MeterState.MAX_POWER_W) revert MaxPowerOutOfRange(maxExportW);
        if (exportWh > MeterState.MAX_WH) revert RegisterOutOfRange(meterId, exportWh);
        uint256 p;
        if (w.isProducer()) {
            // A rebase (new meter or register).
            p = _rebasedExport(meterId, w, exportWh);
        } else {
            // The signer moves to the producer slot (slot 0 keeps its low bits); slot 0 takes the export side. Tokens
            // already redeemed against the open bill stay counted.
            uint256 redeemed = _billRedeemedWh(_producers[meterId], w, s[2].billPeriodOf());
            p = uint256(0).withProducerSigner(w.signerOf()).withSettledAtWh(int256(uint256(exportWh)))
                .withBillRedeemedWh(redeemed);
        }
        _producers[meterId] = p;
        s[0] = w.withExportSide(exportWh, maxExportW, p.producerSignerOf());
        emit ExportEnabled(meterId, maxExportW, exportWh);
    }

    /// @inheritdoc IGridLedgerProducerAccounts
    function enablePlant(uint32 feederId, address owner) external onlyRole(METER_REGISTRAR_ROLE) {
        if (owner == address(0)) revert ZeroAddress();
        FeederSlot storage f = _feeders[feederId];
        if (f.signer == address(0)) revert UnknownFeeder(feederId);
        if (f.parentId != 0) revert PlantNotRoot(feederId, f.parentId);
        // Its first reading is where its register starts: only what it signs after that is its output.
        if (!f.initialized) revert PlantNotRead(feederId);
        if (_plants[feederId].owner != address(0)) revert PlantExists(feederId);
        uint64 fromWh = f.lastWh;
        _plants[feederId] = Plant(owner, fromWh);
        emit PlantEnabled(feederId, owner, fromWh);
    }

    /// @inheritdoc IGridLedgerProducerAccounts
    function setPlantOwner(uint32 feederId, address owner) external {
        if (owner == address(0)) revert ZeroAddress();
        Plant storage plant = _plants[feederId];
        address current = _plantOwner(plant, feederId);
        if (msg.sender != current) {
            _checkRole(METER_REGISTRAR_ROLE);
            if (_plantPendingWh(plant, feederId) != 0) revert NotPlantOwner(feederId, msg.sender);
        }
        plant.owner = owner;
        emit PlantOwnerChanged(feederId, owner);
    }

    /// @inheritdoc IGridLedgerProducerAccounts
    function claimPlantTokens(uint32 feederId) external returns (uint256 wh) {
        address token = _token();
        Plant storage plant = _plants[feederId];
        address owner = _plantOwner(plant, feederId);
        wh = _plantPendingWh(plant, feederId);
        if (wh == 0) revert NothingToClaim(feederId);
        plant.settledAtWh += uint64(wh);
        emit PlantTokensClaimed(feederId, owner, wh);
        IEnergyToken(token).mint(owner, wh);
    }

    /// @inheritdoc IGridLedgerProducerAccounts
    function setRedeemTokens(uint32 meterId, bool redeemTokens_) external {
        uint256[5] storage s = _producerSlots(meterId);
        if (msg.sender != s[3].signerOf()) revert NotPayer(meterId, msg.sender);
        _producers[meterId] = _producers[meterId].withRedeemTokens(redeemTokens_);
        emit RedeemTokensSet(meterId, redeemTokens_);
    }

    /// @inheritdoc IGridLedgerProducerAccounts
    function claimTokens(uint32 meterId) external returns (uint256 wh) {
        address token = _token();
        uint256[5] storage s = _producerSlots(meterId);
        uint256 p = _producers[meterId];
        wh = s[0].pendingWhOf(p);
        if (wh == 0) revert NothingToClaim(meterId);
        _producers[meterId] = p.withWhSettled(wh);
        address payer = s[3].signerOf();
        emit TokensClaimed(meterId, payer, wh);
        IEnergyToken(token).mint(payer, wh);
    }

    /// @inheritdoc IGridLedgerProducerAccounts
    function redeemTokens(uint32 meterId, uint256 wh) external whenNotPaused nonReentrant returns (uint256 amount) {
        if (wh == 0) revert ZeroAmount();
        // Any meter: tokens bought in the market pay an import-only household's bill too.
        uint256[5] storage s = _meterSlots(meterId);
        MeterState.Meter memory m = s.load();
        if (msg.sender != m.payer) revert NotPayer(meterId, msg.sender);
        _settleInMemory(meterId, m);
        uint256 p = _producers[meterId];
        uint256 redeemed = _billRedeemedWh(p, s[0], m.billPeriod);
        uint256 left = m.billEnergyWh - redeemed;
        if (m.balance >= 0 || left == 0) revert NothingToRedeem(meterId);
        uint256 debt = uint256(-m.balance);
        wh = Math.min(wh, left);
        uint64 networkCharge = _producerTariffs[m.tariffId].networkChargePerKWh;
        // The bill without the network charge of energy already redeemed: its remaining energy at its own price.
        uint256 charged = _networkCharge(redeemed, networkCharge);
        uint256 remaining = m.billAmount > charged ? m.billAmount - charged : 0;
        amount = _redemptionValue(remaining, left, redeemed, wh, networkCharge);
        if (amount > debt) {
            // Never more than the debt: only the tokens that pay it are taken.
            wh = Math.mulDiv(wh, debt, amount, Math.Rounding.Ceil);
            amount = Math.min(_redemptionValue(remaining, left, redeemed, wh, networkCharge), debt);
        }
        uint256 toBurn;
        (p, toBurn) = _takeTokens(p, m, wh);
        // An import-only meter's slot keeps the bill's period with it (see `_billRedeemedWh`).
        if (!m.producer) p = uint256(m.billPeriod);
        _producers[meterId] = p.withBillRedeemedWh(redeemed + wh);
        m.billAmount -= amount;
        // amount <= debt: the balance stays <= 0, so the ledger owes nothing more (liability unchanged).
        m.balance += int256(amount);
        if (m.prepaid) _refreshCreditInMemory(m, _version(m.tariffId, m.openPeriod), block.timestamp);
        else if (m.balance >= 0) m.lapseAt = 0;
        s.store(m);
        emit TokensRedeemed(meterId, msg.sender, wh, amount);
        emit PermitChanged(meterId, _permitUntil(m, _schedule));
        _burn(msg.sender, toBurn);
    }

    /// @inheritdoc IGridLedgerProducerAccounts
    function sellBack(uint32 meterId, uint256 wh) external whenNotPaused nonReentrant returns (uint256 amount) {
        if (wh == 0) revert ZeroAmount();
        uint256[5] storage s = _producerSlots(meterId);
        MeterState.Meter memory m = s.load();
        if (msg.sender != m.payer) revert NotPayer(meterId, msg.sender);
        uint64 feedIn = _producerTariffs[m.tariffId].feedInPricePerKWh;
        if (feedIn == 0) revert NoFeedInPrice(m.tariffId);
        amount = wh * feedIn / 1000;
        uint256 funds = _feedInFunds;
        if (amount > funds) revert FeedInFundsExhausted(amount, funds);
        (uint256 p, uint256 toBurn) = _takeTokens(_producers[meterId], m, wh);
        _producers[meterId] = p;
        _feedInFunds = funds - amount;
        _proceeds[msg.sender] += amount;
        _proceedsTotal += amount;
        emit TokensSoldBack(meterId, msg.sender, wh, amount);
        _burn(msg.sender, toBurn);
    }

    /// @inheritdoc IGridLedgerProducerAccounts
    function withdrawProceeds() external nonReentrant returns (uint256 amount) {
        amount = _proceeds[msg.sender];
        if (amount == 0) revert NoProceeds(msg.sender);
        _proceeds[msg.sender] = 0;
        _proceedsTotal -= amount;
        emit ProceedsWithdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    /// @inheritdoc IGridLedgerProducerAccounts
    function depositFeedInFunds(uint256 amount) external payable nonReentrant {
        if (amount == 0) revert ZeroAmount();
        if (paymentToken == address(0) && msg.value != amount) revert InsufficientPayment(0, msg.value, amount);
        uint256 funds = _feedInFunds + amount;
        _feedInFunds = funds;
        emit FeedInFundsDeposited(msg.sender, amount, funds);
        _pullToken(amount);
    }

    /// @inheritdoc IGridLedgerProducerAccounts
    function withdrawFeedInFunds(uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 funds = _feedInFunds;
        if (amount > funds) revert FeedInFundsExhausted(amount, funds);
        _feedInFunds = funds - amount;
        address to = treasury;
        emit FeedInFundsWithdrawn(to, amount, funds - amount);
        _send(to, amount);
    }

    /// @inheritdoc IGridLedgerProducerAccounts
    function setProducerTariff(uint32 tariffId, ProducerTariff calldata t) external onlyRole(TARIFF_SETTER_ROLE) {
        if (_tariffs[tariffId].length == 0) revert UnknownTariff(tariffId);
        _producerTariffs[tariffId] = t;
        emit ProducerTariffSet(tariffId, t.feedInPricePerKWh, t.networkChargePerKWh);
    }

    /// @inheritdoc IGridLedgerProducerAccounts
    // solhint-disable-next-line func-name-mixedcase
    function BIDIRECTIONAL_READING_TYPEHASH() external pure returns (bytes32) {
        return BIDIRECTIONAL_TYPEHASH;
    }

    /// @inheritdoc IGridLedgerProducerAccounts
    function bidirectionalReadingDigest(BidirectionalReading calldata r) external view returns (bytes32) {
        return _readingDigest(r.meterId, r.importWh, r.exportWh, r.timestamp);
    }

    /// @inheritdoc IGridLedgerProducerAccounts
    function producerInfo(uint32 meterId) external view returns (ProducerInfo memory info) {
        uint256[5] storage s = _meterSlots(meterId);
        uint256 w = s[0];
        if (!w.isProducer()) {
            // Tokens it holds may still pay its bill: what they paid of the last one (0 once the open period closes).
            MeterState.Meter memory open = _projected(meterId);
            info.billRedeemedWh = uint64(_billRedeemedWh(_producers[meterId], w, open.billPeriod));
            return info;
        }
        MeterState.Meter memory m = _projected(meterId);
        // As after closing the open period now; with nothing to close, as stored (never 0: it holds the signer).
        uint256 p = m.producerWord;
        if (p == 0) p = _producers[meterId];
        info.exports = true;
        info.redeemTokens = p.redeemsTokens();
        info.maxExportW = w.maxExportOf();
        info.exportWh = w.lastExportWhOf();
        info.pendingWh = uint64(w.pendingWhOf(p));
        info.billRedeemedWh = p.billRedeemedWhOf();
    }

    /// @inheritdoc IGridLedgerProducerAccounts
    function plantInfo(uint32 feederId) external view returns (PlantInfo memory info) {
        Plant storage plant = _plants[feederId];
        info.owner = plant.owner;
        if (info.owner == address(0)) return info;
        info.outputWh = _feeders[feederId].lastWh;
        info.pendingWh = info.outputWh - plant.settledAtWh;
    }

    /// @inheritdoc IGridLedgerProducerAccounts
    function producerTariff(uint32 tariffId) external view returns (ProducerTariff memory) {
        return _producerTariffs[tariffId];
    }

    /// @inheritdoc IGridLedgerProducerAccounts
    function feedInFunds() external view returns (uint256) {
        return _feedInFunds;
    }

    /// @inheritdoc IGridLedgerProducerAccounts
    function proceedsOf(address account) external view returns (uint256) {
        return _proceeds[account];
    }

    /// @dev The slots of a meter with an export register.
    function _producerSlots(uint32 meterId) private view returns (uint256[5] storage s) {
        s = _meterSlots(meterId);
        if (!s[0].isProducer()) revert ImportOnlyMeter(meterId);
    }

    /// @dev The Wh of the meter's last bill (of `billPeriod`) redeemed with tokens. A producer meter's bill close sets
    /// it in its producer slot; an import-only meter's close never reads that slot, so its redemptions keep the bill's
    /// period in the slot's low 32 bits (where a producer's signer is) and a later bill starts from 0.
    function _billRedeemedWh(uint256 p, uint256 reading, uint32 billPeriod) private pure returns (uint256) {
        if (reading.isProducer() || uint32(p) == billPeriod) return p.billRedeemedWhOf();
        return 0;
    }

    function _plantOwner(Plant storage plant, uint32 feederId) private view returns (address owner) {
        owner = plant.owner;
        if (owner == address(0)) revert NotAPlant(feederId);
    }

    /// @dev Its feeder's register only rises, by signed readings, and `settledAtWh` never passes it.
    function _plantPendingWh(Plant storage plant, uint32 feederId) private view returns (uint256) {
        return _feeders[feederId].lastWh - plant.settledAtWh;
    }

    function _token() private view returns (address token) {
        token = energyToken;
        if (token == address(0)) revert NoEnergyToken();
    }

    /// @dev Takes `wh` of the payer's tokens: the meter's pending Wh first (settled in the returned producer word,
    /// which the caller stores), then `toBurn` minted ones, which `_burn` burns after the state changes. Reverts if
    /// the payer holds fewer.
    function _takeTokens(uint256 p, MeterState.Meter memory m, uint256 wh)
        private
        view
        returns (uint256, uint256 toBurn)
    {
        // `m.signer` holds a producer's slot 0 export side; an import-only meter has no pending tokens.
        uint256 pending = m.producer ? uint256(uint160(m.signer)).pendingWhOf(p) : 0;
        if (wh <= pending) return (p.withWhSettled(wh), 0);
        address token = energyToken;
        uint256 held = token == address(0) ? 0 : IEnergyToken(token).balanceOf(m.payer);
        toBurn = wh - pending;
        if (toBurn > held) revert InsufficientTokens(m.payer, wh, pending + held);
        return (p.withWhSettled(pending), toBurn);
    }

    /// @dev Burns tokens `_takeTokens` took from `holder` (the caller: the ledger burns only for its own call).
    function _burn(address holder, uint256 toBurn) private {
        if (toBurn != 0) IEnergyToken(energyToken).burn(holder, toBurn);
    }
}
