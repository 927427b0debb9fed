// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {
    IGridLedgerFeedersAndViews,
    IGridLedgerHotPaths,
    IGridLedgerParameters,
    IGridLedgerTypes
} from "../interfaces/IGridLedger.sol";
import {IGridLedgerProducerAccounts} from "../interfaces/IGridLedgerProducers.sol";
import {ISettlement} from "../interfaces/ISettlement.sol";

/// @title Settlement
/// @notice Pays plants and distributors per period out of the operator's deposit, by the loss-penalty formula. See
/// `ISettlement` for the rules and their rounding.
/// @dev What this contract holds is always exactly `deposit + totalOwed`: a deposit moves into `totalOwed` when a
/// period settles and leaves only by a withdrawal. Every state-changing function that sends money is guarded against
/// re-entry and sends last.
contract Settlement is ISettlement, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @inheritdoc ISettlement
    uint32 public constant MAX_PENALTY_BPS = 1_000_000;
    /// @inheritdoc ISettlement
    uint32 public constant MAX_CUTOFF = 30 days;
    uint256 internal constant BPS = 10_000;
    uint256 internal constant WH_PER_KWH = 1000;
    bytes32 internal constant DEFAULT_ADMIN_ROLE = 0x00;
    bytes32 internal constant TARIFF_SETTER_ROLE = keccak256("TARIFF_SETTER_ROLE");

    /// @inheritdoc ISettlement
    address public immutable ledger;
    /// @inheritdoc ISettlement
    address public immutable paymentToken;

    /// @dev A cut-off and the first period it applies to.
    struct CutoffVersion {
        uint32 from;
        uint32 seconds_;
    }

    /// @inheritdoc ISettlement
    uint256 public deposit;
    /// @inheritdoc ISettlement
    uint256 public totalOwed;
    mapping(address account => uint256) internal _owed;
    mapping(uint32 distributorId => DistributorTerms[]) internal _terms;
    mapping(uint32 plantId => PlantPrice[]) internal _prices;
    mapping(uint32 period => mapping(uint32 distributorId => Statement)) internal _statements;
    CutoffVersion[] internal _cutoffs;

    /// @param ledger_ The `GridLedger`: its feeders, periods, tariffs and plants are settled, its payment token pays,
    /// its roles set the terms.
    /// @param cutoff_ Seconds after a period's end before it may be settled (at most `MAX_CUTOFF`).
    constructor(address ledger_, uint32 cutoff_) {
        if (ledger_ == address(0)) revert ZeroAddress();
        if (cutoff_ > MAX_CUTOFF) revert CutoffOutOfRange(cutoff_);
        ledger = ledger_;
        paymentToken = IGridLedgerParameters(ledger_).paymentToken();
        _cutoffs.push(CutoffVersion(0, cutoff_));
        emit CutoffSet(0, cutoff_);
    }

    // ------------------------------------------------------------ operator

    /// @inheritdoc ISettlement
    function setDistributorTerms(
        uint32 distributorId,
        uint16 idealLossBps,
        uint16 serviceCostBps,
        uint32 penaltyBps,
        uint32 tariffId,
        address payee
    ) external {
        _checkRole(TARIFF_SETTER_ROLE);
        if (payee == address(0)) revert ZeroAddress();
        if (uint256(idealLossBps) + serviceCostBps > BPS || penaltyBps > MAX_PENALTY_BPS) revert TermsOutOfRange();
        _plantOf(distributorId);
        // The tariff must exist: the ledger reverts for an unknown one.
        IGridLedgerFeedersAndViews(ledger).tariff(tariffId);
        uint32 from = _nextPeriod();
        DistributorTerms[] storage versions = _terms[distributorId];
        DistributorTerms memory t = DistributorTerms(from, idealLossBps, serviceCostBps, penaltyBps, tariffId, payee);
        uint256 n = versions.length;
        if (n != 0 && versions[n - 1].from == from) versions[n - 1] = t;
        else versions.push(t);
        emit DistributorTermsSet(distributorId, from, idealLossBps, serviceCostBps, penaltyBps, tariffId, payee);
    }

    /// @inheritdoc ISettlement
    function setPlantPrice(uint32 plantId, uint64 pricePerKWh) external {
        _checkRole(TARIFF_SETTER_ROLE);
        _requirePlant(plantId);
        uint32 from = _nextPeriod();
        PlantPrice[] storage versions = _prices[plantId];
        uint256 n = versions.length;
        if (n != 0 && versions[n - 1].from == from) versions[n - 1].pricePerKWh = pricePerKWh;
        else versions.push(PlantPrice(from, pricePerKWh));
        emit PlantPriceSet(plantId, from, pricePerKWh);
    }

    /// @inheritdoc ISettlement
    function setCutoff(uint32 cutoff_) external {
        _checkRole(DEFAULT_ADMIN_ROLE);
        if (cutoff_ > MAX_CUTOFF) revert CutoffOutOfRange(cutoff_);
        // From the next period: a period that has begun keeps the wait its bills were closing under.
        uint32 from = _nextPeriod();
        uint256 n = _cutoffs.length;
        if (_cutoffs[n - 1].from == from) _cutoffs[n - 1].seconds_ = cutoff_;
        else _cutoffs.push(CutoffVersion(from, cutoff_));
        emit CutoffSet(from, cutoff_);
    }

    /// @inheritdoc ISettlement
    function addDeposit(uint256 amount) external payable nonReentrant {
        deposit += amount;
        emit DepositAdded(msg.sender, amount);
        if (paymentToken == address(0)) {
            if (msg.value != amount) revert WrongPayment(msg.value, amount);
        } else {
            if (msg.value != 0) revert WrongPayment(msg.value, amount);
            IERC20(paymentToken).safeTransferFrom(msg.sender, address(this), amount);
        }
    }

    /// @inheritdoc ISettlement
    function withdrawDeposit(uint256 amount) external nonReentrant {
        _checkRole(DEFAULT_ADMIN_ROLE);
        uint256 available = deposit;
        if (amount > available) revert WithdrawalExceedsOwed(msg.sender, amount, available);
        // amount <= available.
        unchecked {
            deposit = available - amount;
        }
        address to = IGridLedgerParameters(ledger).treasury();
        emit DepositWithdrawn(to, amount);
        _send(to, amount);
    }

    // ------------------------------------------------------------ anyone

    /// @inheritdoc ISettlement
    function settle(uint32 period, uint32 distributorId) external returns (Statement memory s) {
        Statement storage stored = _statements[period][distributorId];
        if (stored.settled) revert PeriodAlreadySettled(period, distributorId);
        IGridLedgerFeedersAndViews views = IGridLedgerFeedersAndViews(ledger);
        uint256 notBefore = views.periodStart(period + 1) + cutoffAt(period);
        if (block.timestamp < notBefore) revert SettlementTooEarly(period, distributorId, notBefore);
        (uint32 plantId, address plantOwner) = _plantOf(distributorId);
        DistributorTerms memory t = _termsAt(distributorId, period);
        if (t.payee == address(0)) revert NotADistributor(distributorId, period);
        PlantPrice memory price = _priceAt(plantId, period);
        // A price set to 0 is a price (the plant is paid nothing); only a plant never priced blocks the period, so no
        // price change can stop its distributor's pay.
        if (price.from == 0) revert NoPlantPrice(plantId, period);
        uint64 plantPrice = price.pricePerKWh;

        IGridLedgerTypes.FeederPeriod memory plant = IGridLedgerHotPaths(ledger).feederPeriod(plantId, period);
        IGridLedgerTypes.FeederPeriod memory dist = IGridLedgerHotPaths(ledger).feederPeriod(distributorId, period);
        s.distributorWh = dist.feederWh;
        s.householdsWh = dist.childrenWh;
        // The plant's distributors' meters add up to its childrenWh, so the shares never exceed its output.
        if (plant.childrenWh != 0) s.plantWh = uint64(Math.mulDiv(plant.feederWh, dist.feederWh, plant.childrenWh));
        if (s.plantWh == 0) revert ZeroPlantEnergy(plantId, period);
        if (s.householdsWh > s.plantWh) revert LossOutOfRange(distributorId, period, s.plantWh, s.householdsWh);
        s.lossBps = uint16((uint256(s.plantWh) - s.householdsWh) * BPS / s.plantWh);
        s.markupBps = markupBps(s.lossBps, t.idealLossBps, t.serviceCostBps, t.penaltyBps);
        uint256 retail = views.tariffAt(t.tariffId, period).pricePerKWh;
        // Wh < 2^64 and prices < 2^64: the products fit; the values of a period stay far below 2^128.
        s.householdsValue = uint128(uint256(s.householdsWh) * retail / WH_PER_KWH);
        s.plantOwed = uint128(uint256(s.plantWh) * plantPrice / WH_PER_KWH);
        s.distributorOwed = uint128(uint256(s.householdsValue) * s.markupBps / BPS);
        s.settled = true;

        uint256 payout = uint256(s.plantOwed) + s.distributorOwed;
        uint256 available = deposit;
        if (payout > available) revert DepositShortfall(payout, available);
        // payout <= available.
        unchecked {
            deposit = available - payout;
        }
        totalOwed += payout;
        _owed[plantOwner] += s.plantOwed;
        _owed[t.payee] += s.distributorOwed;
        _statements[period][distributorId] = s;
        emit PeriodSettled(period, distributorId, plantId, plantOwner, t.payee, s);
    }

    /// @inheritdoc ISettlement
    function withdraw(uint256 amount) external nonReentrant {
        uint256 owed = _owed[msg.sender];
        if (amount > owed) revert WithdrawalExceedsOwed(msg.sender, amount, owed);
        // amount <= owed <= totalOwed.
        unchecked {
            _owed[msg.sender] = owed - amount;
            totalOwed -= amount;
        }
        emit Withdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    // ------------------------------------------------------------ views

    /// @inheritdoc ISettlement
    function cutoff() external view returns (uint32) {
        return _cutoffs[_cutoffs.length - 1].seconds_;
    }

    /// @inheritdoc ISettlement
    function cutoffAt(uint32 period) public view returns (uint32) {
        // Newest first; the constructor's version (from 0) ends the search.
        for (uint256 i = _cutoffs.length; i > 0; --i) {
            if (_cutoffs[i - 1].from <= period) return _cutoffs[i - 1].seconds_;
        }
        return 0;
    }

    /// @inheritdoc ISettlement
    function owedTo(address account) external view returns (uint256) {
        return _owed[account];
    }

    /// @inheritdoc ISettlement
    function distributorTermsAt(uint32 distributorId, uint32 period) external view returns (DistributorTerms memory) {
        return _termsAt(distributorId, period);
    }

    /// @inheritdoc ISettlement
    function plantPriceAt(uint32 plantId, uint32 period) external view returns (PlantPrice memory) {
        return _priceAt(plantId, period);
    }

    /// @inheritdoc ISettlement
    function statement(uint32 period, uint32 distributorId) external view returns (Statement memory) {
        return _statements[period][distributorId];
    }

    /// @inheritdoc ISettlement
    function markupBps(uint256 lossBps, uint16 idealLossBps, uint16 serviceCostBps, uint32 penaltyBps)
        public
        pure
        returns (uint16)
    {
        uint256 base = uint256(idealLossBps) + serviceCostBps;
        if (lossBps <= idealLossBps) return uint16(Math.min(base, type(uint16).max));
        uint256 penalty = (lossBps - idealLossBps) * penaltyBps / BPS;
        return penalty >= base ? 0 : uint16(base - penalty);
    }

    // ------------------------------------------------------------ internal

    /// @dev Reverts unless the ledger gives `msg.sender` `role`.
    function _checkRole(bytes32 role) internal view {
        if (!IAccessControl(ledger).hasRole(role, msg.sender)) revert MissingLedgerRole(msg.sender, role);
    }

    /// @dev The distributor's parent plant and its owner; reverts for a root feeder or a parent that is not a plant.
    function _plantOf(uint32 distributorId) internal view returns (uint32 plantId, address owner) {
        plantId = IGridLedgerFeedersAndViews(ledger).feeder(distributorId).parentId;
        if (plantId == 0) revert FeederWithoutParent(distributorId);
        owner = _requirePlant(plantId);
    }

    function _requirePlant(uint32 plantId) internal view returns (address owner) {
        owner = IGridLedgerProducerAccounts(ledger).plantInfo(plantId).owner;
        if (owner == address(0)) revert NotAPlant(plantId);
    }

    function _nextPeriod() internal view returns (uint32) {
        return IGridLedgerFeedersAndViews(ledger).currentPeriod() + 1;
    }

    /// @dev The latest version whose `from` is at most `period` (newest first: terms change rarely).
    function _termsAt(uint32 distributorId, uint32 period) internal view returns (DistributorTerms memory t) {
        DistributorTerms[] storage versions = _terms[distributorId];
        for (uint256 i = versions.length; i > 0; --i) {
            if (versions[i - 1].from <= period) return versions[i - 1];
        }
    }

    /// @dev As `_termsAt`, for a plant's price.
    function _priceAt(uint32 plantId, uint32 period) internal view returns (PlantPrice memory p) {
        PlantPrice[] storage versions = _prices[plantId];
        for (uint256 i = versions.length; i > 0; --i) {
            if (versions[i - 1].from <= period) return versions[i - 1];
        }
    }

    /// @dev Sends this contract's money (native or token) to `to`.
    function _send(address to, uint256 amount) internal {
        if (paymentToken == address(0)) {
            (bool ok,) = to.call{value: amount}("");
            if (!ok) revert NativeTransferFailed(to, amount);
        } else {
            IERC20(paymentToken).safeTransfer(to, amount);
        }
    }
}
