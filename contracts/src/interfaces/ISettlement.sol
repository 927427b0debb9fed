// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title ISettlement
/// @notice Plant → distributor → household settlement with the loss penalty (seed "Decentralized Power
/// Distribution"). Per period and distributor feeder (a ledger feeder whose parent is a plant), it reads the ledger's
/// feeder sums and pays the plant its energy at its price and the distributor its markup, out of a deposit the
/// operator funds from its own revenue; each party withdraws by pull.
///
/// Energy (Wh, all from the ledger's `feederPeriod`):
/// - `plantWh`: the plant's share of its output, its feeder's `feederWh` × the distributor's `feederWh` / the plant's
///   `childrenWh` (the sum of its distributors' meters), rounded down; the whole output when the plant feeds only this
///   distributor.
/// - `distributorWh`: the distributor's own meter (`feederWh`), reported for the split above.
/// - `householdsWh`: the distributor's `childrenWh`: the households' billed energy below it (a bill adds its energy
///   when it closes) and its child feeders' readings.
///
/// Data is "in" at the cut-off: `cutoffAt(period)` seconds after the period's end; `settle` is open to anyone from then
/// on, once per period and distributor. A new cut-off applies from the next period, like terms and prices: nobody can
/// shorten a period's wait once its bills may still be closing, and settle it on part of its households' energy.
/// Energy not billed by then (a household withholding its readings) counts as loss: the distributor is paid on what
/// was billed.
///
/// The formula, in basis points (10,000 = 100 %), each step rounded down:
/// - actual loss `lossBps` = (`plantWh` − `householdsWh`) × 10,000 / `plantWh`;
/// - `markupBps` = `idealLossBps` + `serviceCostBps` − (`lossBps` − `idealLossBps`) × `penaltyBps` / 10,000 when the
///   loss is above the ideal, else `idealLossBps` + `serviceCostBps`; clamped at 0.
///
/// Money (payment-token base units, each rounded down):
/// - `householdsValue` = `householdsWh` × the price per kWh of the distributor's reference tariff for the period / 1000:
///   what the households below were charged for the energy at that tariff (exact for households on that flat tariff,
///   up to one base unit per bill, as each bill rounds down on its own);
/// - `plantOwed` = `plantWh` × the plant's price per kWh / 1000;
/// - `distributorOwed` = `householdsValue` × `markupBps` / 10,000;
/// - the operator keeps `householdsValue` − `plantOwed` − `distributorOwed` of its revenue in the ledger, or pays the
///   shortfall: both owed amounts are taken from the operator's deposit here, never from households' money (which
///   the ledger keeps apart and Settlement never touches).
///
/// Terms (the plant's price, a distributor's parameters) are set by the ledger's tariff setter and apply from the next
/// period on, so no period is priced after its energy is known. Roles are read from the ledger.
interface ISettlement {
    /// @notice A distributor's terms from period `from` on.
    /// @param idealLossBps The surveyed ideal loss.
    /// @param serviceCostBps The distributor's service cost.
    /// @param penaltyBps How many basis points of markup each basis point of loss above the ideal costs, in basis
    /// points (10,000: one for one).
    /// @param tariffId The ledger tariff that values the households' energy.
    /// @param payee Who withdraws the distributor's share.
    struct DistributorTerms {
        uint32 from;
        uint16 idealLossBps;
        uint16 serviceCostBps;
        uint32 penaltyBps;
        uint32 tariffId;
        address payee;
    }

    /// @notice A plant's price per kWh (payment-token base units) from period `from` on.
    struct PlantPrice {
        uint32 from;
        uint64 pricePerKWh;
    }

    /// @notice One settled period of one distributor; `settled` is false until then.
    struct Statement {
        uint64 plantWh;
        uint64 distributorWh;
        uint64 householdsWh;
        uint16 lossBps;
        uint16 markupBps;
        bool settled;
        uint128 householdsValue;
        uint128 plantOwed;
        uint128 distributorOwed;
    }

    /// @notice A distributor's terms were set, in force from period `from`.
    event DistributorTermsSet(
        uint32 indexed distributorId,
        uint32 from,
        uint16 idealLossBps,
        uint16 serviceCostBps,
        uint32 penaltyBps,
        uint32 tariffId,
        address payee
    );
    /// @notice A plant's price was set, in force from period `from`.
    event PlantPriceSet(uint32 indexed plantId, uint32 from, uint64 pricePerKWh);
    /// @notice The cut-off after a period's end was set, in force from period `from`.
    event CutoffSet(uint32 from, uint32 cutoff);
    /// @notice Money was added to the operator's deposit.
    event DepositAdded(address indexed from, uint256 amount);
    /// @notice The operator took money back from its deposit, sent to the ledger's treasury.
    event DepositWithdrawn(address indexed treasury, uint256 amount);
    /// @notice A period of a distributor was settled: the plant's owner and the payee are owed their shares.
    event PeriodSettled(
        uint32 indexed period,
        uint32 indexed distributorId,
        uint32 indexed plantId,
        address plantOwner,
        address payee,
        Statement result
    );
    /// @notice `account` withdrew `amount` of what it is owed.
    event Withdrawn(address indexed account, uint256 amount);

    /// @notice The ledger address is zero.
    error ZeroAddress();
    /// @notice The ledger's payment token does not match the call (native value sent to a token settlement, or the
    /// value differs from the amount).
    error WrongPayment(uint256 sent, uint256 amount);
    /// @notice The caller lacks the ledger role the call needs.
    error MissingLedgerRole(address account, bytes32 role);
    /// @notice The feeder has no parent: it is a root (a plant or a stand-alone feeder), not a distributor.
    error FeederWithoutParent(uint32 feederId);
    /// @notice The feeder's parent is not a plant.
    error NotAPlant(uint32 feederId);
    /// @notice The feeder has no distributor terms in force for the period.
    error NotADistributor(uint32 feederId, uint32 period);
    /// @notice The plant was never priced for the period (a price of 0 is a price).
    error NoPlantPrice(uint32 plantId, uint32 period);
    /// @notice Terms out of range: ideal loss + service cost above 100 %, or a penalty above `MAX_PENALTY_BPS`.
    error TermsOutOfRange();
    /// @notice The cut-off is longer than `MAX_CUTOFF`.
    error CutoffOutOfRange(uint256 cutoff);
    /// @notice The period and distributor were settled already.
    error PeriodAlreadySettled(uint32 period, uint32 distributorId);
    /// @notice The period's data is not in before `notBefore` (the period's end + the cut-off).
    error SettlementTooEarly(uint32 period, uint32 distributorId, uint256 notBefore);
    /// @notice The plant's share of energy for the distributor is zero (no plant output, or no distributor reading).
    error ZeroPlantEnergy(uint32 plantId, uint32 period);
    /// @notice The households were billed more than the plant delivered: a loss outside 0..100 %, feeder data that
    /// cannot be right.
    error LossOutOfRange(uint32 distributorId, uint32 period, uint256 plantWh, uint256 householdsWh);
    /// @notice The operator's deposit cannot pay the period's shares.
    error DepositShortfall(uint256 needed, uint256 available);
    /// @notice More was asked than is owed (or, for the operator, than its deposit holds).
    error WithdrawalExceedsOwed(address account, uint256 requested, uint256 owed);
    /// @notice Sending native coin failed.
    error NativeTransferFailed(address to, uint256 amount);

    /// @notice The largest `penaltyBps`: 100× the excess loss.
    function MAX_PENALTY_BPS() external view returns (uint32);

    /// @notice The longest cut-off.
    function MAX_CUTOFF() external view returns (uint32);

    /// @notice The `GridLedger` whose feeders, periods, tariffs, plants and roles this contract reads.
    function ledger() external view returns (address);

    /// @notice The ledger's payment token; address(0) is the native coin.
    function paymentToken() external view returns (address);

    /// @notice The newest cut-off: seconds after a period's end from which it may be settled, for the periods from the
    /// one it was set for on.
    function cutoff() external view returns (uint32);

    /// @notice The cut-off in force for `period`.
    function cutoffAt(uint32 period) external view returns (uint32);

    /// @notice The operator's deposit not yet owed to anyone.
    function deposit() external view returns (uint256);

    /// @notice The sum of what every party is owed and has not withdrawn.
    function totalOwed() external view returns (uint256);

    /// @notice What `account` may withdraw.
    function owedTo(address account) external view returns (uint256);

    /// @notice The distributor's terms in force for `period` (`from` 0 and `payee` zero: none).
    function distributorTermsAt(uint32 distributorId, uint32 period) external view returns (DistributorTerms memory);

    /// @notice The plant's price in force for `period` (`from` 0 and price 0: none).
    function plantPriceAt(uint32 plantId, uint32 period) external view returns (PlantPrice memory);

    /// @notice The statement of `period` for `distributorId` (`settled` false until `settle`).
    function statement(uint32 period, uint32 distributorId) external view returns (Statement memory);

    /// @notice The markup of the formula for the given loss and terms; see the interface's notes for its rounding.
    function markupBps(uint256 lossBps, uint16 idealLossBps, uint16 serviceCostBps, uint32 penaltyBps)
        external
        pure
        returns (uint16);

    /// @notice Sets a distributor's terms from the next period on. Needs the ledger's tariff setter role; the feeder
    /// must have a parent and the parent must be a plant.
    function setDistributorTerms(
        uint32 distributorId,
        uint16 idealLossBps,
        uint16 serviceCostBps,
        uint32 penaltyBps,
        uint32 tariffId,
        address payee
    ) external;

    /// @notice Sets a plant's price per kWh from the next period on. Needs the ledger's tariff setter role.
    function setPlantPrice(uint32 plantId, uint64 pricePerKWh) external;

    /// @notice Sets the cut-off after a period's end from the next period on. Needs the ledger's admin role.
    function setCutoff(uint32 cutoff_) external;

    /// @notice Adds `amount` to the operator's deposit: native coin as `msg.value`, or the token by `transferFrom`.
    /// Anyone may fund it; what is in it is the operator's.
    function addDeposit(uint256 amount) external payable;

    /// @notice Sends `amount` of the deposit not yet owed to the ledger's treasury. Needs the ledger's admin role.
    function withdrawDeposit(uint256 amount) external;

    /// @notice Settles `period` for `distributorId` once the cut-off has passed; anyone may call it, once.
    /// O(1): reads three feeder periods, one tariff and the terms, whatever the number of households.
    function settle(uint32 period, uint32 distributorId) external returns (Statement memory);

    /// @notice Sends `amount` of what the caller is owed to the caller.
    function withdraw(uint256 amount) external;
}
