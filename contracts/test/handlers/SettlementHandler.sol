// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

import {IGridLedger, IGridLedgerTypes} from "../../src/interfaces/IGridLedger.sol";
import {ISettlement} from "../../src/interfaces/ISettlement.sol";

/// @dev Drives a plant (feeder 10), its distributor (feeder 20) with three postpaid households below it and a
/// sibling distributor (feeder 30, no households, the same payee) through periods, with a `Settlement` on the ledger
/// (native coin). The plant's meter reports honestly; the distributors' meters report anything (more or less than
/// arrived) or fall silent for periods (so that the plant's children sum would lag its distributors' periods if the
/// ledger let it); households read, pay, or withhold their readings; a stranger calls `settle` for either
/// distributor at any time, the parties withdraw (and try more than they are owed), the operator funds and drains
/// its deposit and changes the cut-off at any time (a shorter one right after a period would let it settle that
/// period before its households' bills close, and so cut the distributor's markup). Ghost books: money in and out,
/// each party's credits from `PeriodSettled`, the plant's output and each distributor's energy per period, the plant's
/// energy paid per period, and counters of broken rules, each of which must stay 0.
contract SettlementHandler is CommonBase, StdUtils {
    uint32 public constant PLANT = 10;
    uint32 public constant DISTRIBUTOR = 20;
    uint32 public constant SIBLING = 30;
    uint256 public constant SIBLING_KEY = 0x5B1;
    uint256 public constant HOUSES = 3;
    uint32 public constant MAX_POWER = 20_000;
    uint256 internal constant BPS = 10_000;

    IGridLedger public immutable gl;
    ISettlement public immutable settlement;
    address public immutable admin;
    address public immutable plantOwner;
    address public immutable payee;
    address public immutable stranger;
    uint256 public immutable plantKey;
    uint256 public immutable distributorKey;
    uint256 public immutable meterKey;

    // Ghost books.
    uint256 public moneyIn;
    uint256 public moneyOut;
    mapping(address account => uint256) public credited;
    mapping(address account => uint256) public withdrawn;
    mapping(uint32 period => uint64) public plantOutput;
    mapping(uint32 period => mapping(uint32 distributorId => uint256)) public settledTimes;
    mapping(uint32 period => mapping(uint32 distributorId => uint64)) public distributorEnergy;
    mapping(uint32 period => uint256) public plantPaidWh;
    uint64 public plantRegister;
    mapping(uint32 distributorId => uint64) public distributorRegister;
    mapping(uint32 meterId => uint64) public houseRegister;
    mapping(uint32 meterId => uint32) public houseLastTs;
    /// @dev The cut-offs the operator set, each with the period it was set in: a period waits the newest one set
    /// before the period began.
    uint32[] internal _cutoffSetIn;
    uint32[] internal _cutoffValue;

    // Ghost counters: each must stay 0.
    uint256 public settledTwice;
    uint256 public settledEarly;
    uint256 public formulaMismatches;
    uint256 public paymentReverts;
    uint256 public readingReverts;
    uint256 public overWithdrawals;
    uint256 public strangerTerms;
    uint256 public plantOverpaid;

    // Coverage.
    uint256 public settlements;
    uint256 public withdrawals;
    uint256 public payments;

    constructor(
        IGridLedger gl_,
        ISettlement settlement_,
        address admin_,
        address plantOwner_,
        address payee_,
        uint256 plantKey_,
        uint256 distributorKey_,
        uint256 meterKey_
    ) {
        gl = gl_;
        settlement = settlement_;
        admin = admin_;
        plantOwner = plantOwner_;
        payee = payee_;
        stranger = address(0x5743A);
        plantKey = plantKey_;
        distributorKey = distributorKey_;
        meterKey = meterKey_;
        for (uint32 i = 1; i <= HOUSES; ++i) {
            houseLastTs[i] = uint32(vm.getBlockTimestamp());
        }
        _cutoffSetIn.push(0);
        _cutoffValue.push(settlement_.cutoff());
    }

    /// @dev The invariant test's deposit before the run.
    function recordInitialDeposit(uint256 amount) external {
        moneyIn += amount;
    }

    function houseId(uint256 i) public pure returns (uint32) {
        return uint32(i % HOUSES) + 1;
    }

    // ------------------------------------------------------------ time and meters

    function warp(uint256 dt) external {
        vm.warp(vm.getBlockTimestamp() + bound(dt, 1, 50 minutes));
    }

    /// @dev The plant's meter, honest: its output is the ghost truth of the period.
    function plantReads(uint256 wh) external {
        uint64 delta = uint64(bound(wh, 0, 50_000));
        uint32 ts = uint32(vm.getBlockTimestamp());
        IGridLedgerTypes.FeederReading memory r = IGridLedgerTypes.FeederReading(PLANT, plantRegister + delta, ts);
        try gl.submitFeederReading(r, _sign(plantKey, gl.feederReadingDigest(r))) {
            plantRegister += delta;
            plantOutput[gl.periodOf(ts)] += delta;
        } catch {}
    }

    /// @dev A distributor's meter reports whatever it likes: more, less or nothing of what arrived.
    function distributorReads(bool sibling, uint256 wh) external {
        uint32 id = sibling ? SIBLING : DISTRIBUTOR;
        uint64 delta = uint64(bound(wh, 0, 100_000));
        uint32 ts = uint32(vm.getBlockTimestamp());
        IGridLedgerTypes.FeederReading memory r =
            IGridLedgerTypes.FeederReading(id, distributorRegister[id] + delta, ts);
        uint256 key = sibling ? SIBLING_KEY : distributorKey;
        try gl.submitFeederReading(r, _sign(key, gl.feederReadingDigest(r))) {
            distributorRegister[id] += delta;
            distributorEnergy[gl.periodOf(ts)][id] += delta;
        } catch {}
    }

    /// @dev A household's signed reading, within its meter's power; withholding is simply not calling this.
    function householdReads(uint256 i, uint256 wh) external {
        uint32 id = houseId(i);
        uint32 ts = uint32(vm.getBlockTimestamp());
        if (ts <= houseLastTs[id]) return;
        uint64 delta = uint64(bound(wh, 0, uint256(ts - houseLastTs[id]) * MAX_POWER / 3600));
        IGridLedgerTypes.Reading memory r = IGridLedgerTypes.Reading(id, houseRegister[id] + delta, ts);
        try gl.submitReading(r, _sign(meterKey, gl.readingDigest(r))) {
            houseRegister[id] += delta;
            houseLastTs[id] = ts;
        } catch {
            ++readingReverts;
        }
    }

    /// @dev A household pays what it owes: feeder data or settlement must never make this revert.
    function householdPays(uint256 i) external {
        uint32 id = houseId(i);
        uint256 due = gl.amountDue(id);
        if (due == 0) return;
        address p = gl.meter(id).payer;
        vm.deal(p, p.balance + due);
        vm.prank(p);
        try gl.payBill{value: due}(id) {
            ++payments;
        } catch {
            ++paymentReverts;
        }
    }

    // ------------------------------------------------------------ settlement

    /// @dev A stranger settles a recent period of either distributor at any time.
    function settle(bool sibling, uint256 back) external {
        uint32 id = sibling ? SIBLING : DISTRIBUTOR;
        uint32 current = gl.currentPeriod();
        uint32 period = current - uint32(bound(back, 0, current > 1 ? current - 1 : 0));
        uint256 notBefore = gl.periodStart(period + 1) + promisedCutoff(period);
        uint64 households = gl.feederPeriod(id, period).childrenWh;
        vm.prank(stranger);
        try settlement.settle(period, id) returns (ISettlement.Statement memory s) {
            ++settlements;
            if (vm.getBlockTimestamp() < notBefore) ++settledEarly;
            if (++settledTimes[period][id] > 1) ++settledTwice;
            credited[plantOwner] += s.plantOwed;
            credited[payee] += s.distributorOwed;
            plantPaidWh[period] += s.plantWh;
            if (plantPaidWh[period] > plantOutput[period]) ++plantOverpaid;
            _checkFormula(id, period, households, s);
        } catch {}
    }

    /// @dev The statement against the handler's own arithmetic from the plant's honest output and the distributors'
    /// periods as their readings made them: whatever their meters said, the plant's share is its output split by
    /// their energy.
    function _checkFormula(uint32 id, uint32 period, uint64 households, ISettlement.Statement memory s) internal {
        uint256 mine = distributorEnergy[period][id];
        uint256 both = distributorEnergy[period][DISTRIBUTOR] + distributorEnergy[period][SIBLING];
        uint256 plant = plantOutput[period] * mine / both;
        ISettlement.DistributorTerms memory t = settlement.distributorTermsAt(id, period);
        uint256 loss = (plant - households) * BPS / plant;
        uint256 base = uint256(t.idealLossBps) + t.serviceCostBps;
        uint256 penalty = loss > t.idealLossBps ? (loss - t.idealLossBps) * t.penaltyBps / BPS : 0;
        uint256 markup = penalty >= base ? 0 : base - penalty;
        uint256 value = uint256(households) * gl.tariffAt(t.tariffId, period).pricePerKWh / 1000;
        uint256 plantOwed = plant * settlement.plantPriceAt(PLANT, period).pricePerKWh / 1000;
        if (
            s.plantWh != plant || s.householdsWh != households || s.lossBps != loss || s.markupBps != markup
                || s.householdsValue != value || s.distributorOwed != value * markup / BPS || s.plantOwed != plantOwed
        ) ++formulaMismatches;
    }

    /// @dev The plant's owner or the distributor's payee withdraws part of what it is owed.
    function partyWithdraws(bool plantSide, uint256 amount) external {
        address who = plantSide ? plantOwner : payee;
        uint256 owed = settlement.owedTo(who);
        amount = bound(amount, 0, owed);
        vm.prank(who);
        settlement.withdraw(amount);
        withdrawn[who] += amount;
        moneyOut += amount;
        ++withdrawals;
    }

    /// @dev Anyone asking for more than it is owed gets nothing.
    function overWithdraws(uint256 who, uint256 extra) external {
        address[3] memory parties = [plantOwner, payee, stranger];
        address a = parties[who % 3];
        uint256 amount = settlement.owedTo(a) + bound(extra, 1, 1e18);
        vm.prank(a);
        try settlement.withdraw(amount) {
            ++overWithdrawals;
        } catch {}
        vm.prank(admin);
        try settlement.withdrawDeposit(settlement.deposit() + bound(extra, 1, 1e18)) {
            ++overWithdrawals;
        } catch {}
    }

    function operatorDeposits(uint256 amount) external {
        amount = bound(amount, 0, 10e6);
        vm.deal(admin, admin.balance + amount);
        vm.prank(admin);
        settlement.addDeposit{value: amount}(amount);
        moneyIn += amount;
    }

    function operatorWithdrawsDeposit(uint256 amount) external {
        amount = bound(amount, 0, settlement.deposit());
        vm.prank(admin);
        settlement.withdrawDeposit(amount);
        moneyOut += amount;
    }

    /// @dev The operator sets any cut-off, shorter or longer, at any moment.
    function operatorSetsCutoff(uint256 seconds_) external {
        uint32 c = uint32(bound(seconds_, 0, 3 hours));
        vm.prank(admin);
        settlement.setCutoff(c);
        _cutoffSetIn.push(gl.currentPeriod());
        _cutoffValue.push(c);
    }

    /// @dev The cut-off `period` began under: the newest set in an earlier period (the first one at deployment).
    function promisedCutoff(uint32 period) public view returns (uint32) {
        for (uint256 i = _cutoffSetIn.length; i > 1; --i) {
            if (_cutoffSetIn[i - 1] < period) return _cutoffValue[i - 1];
        }
        return _cutoffValue[0];
    }

    /// @dev A stranger trying to set a distributor's terms (to raise its own markup) is refused.
    function strangerSetsTerms(uint16 ideal) external {
        vm.prank(stranger);
        try settlement.setDistributorTerms(DISTRIBUTOR, ideal % 5000, 5000, 0, 1, stranger) {
            ++strangerTerms;
        } catch {}
    }

    function _sign(uint256 key, bytes32 digest) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }
}
