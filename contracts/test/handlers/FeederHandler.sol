// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {Vm} from "forge-std/Vm.sol";

import {IGridLedger, IGridLedgerTypes} from "../../src/interfaces/IGridLedger.sol";

/// @dev A plant (feeder 1) with two distributors below it (feeders 2 and 3), and two postpaid households on
/// distributor 2. Each feeder key stamps its readings anywhere from just after its last one to the clock skew ahead
/// (late, so that energy lands in a period that is over; ahead, so that it lands in one that has not begun), goes
/// silent for periods, replays its last reading and backdates a higher register below its last timestamp (to count
/// energy twice or in a period already checked). Anyone checks a past period's loss. Ghost books: each feeder's energy
/// per period of its readings' timestamps, and each household's billed energy per period from its `BillIssued` logs.
contract FeederHandler is CommonBase, StdUtils {
    uint32 public constant PLANT = 1;
    uint32 public constant DISTRIBUTOR = 2;
    uint32 public constant SIBLING = 3;
    uint256 public constant DISTRIBUTOR_KEY = 0xD2;
    uint256 public constant SIBLING_KEY = 0xD3;
    uint32 public constant HOUSE_A = 41;
    uint32 public constant HOUSE_B = 42;

    IGridLedger public immutable gl;
    uint256 public immutable plantKey;
    uint256 public immutable meterKey;
    uint32 public immutable feederPower;
    uint32 public immutable meterPower;
    uint32 public immutable skew;

    // Ghost books.
    mapping(uint32 feederId => mapping(uint32 period => uint64)) public energyOf;
    mapping(uint32 feederId => bool) public reading;
    mapping(uint32 feederId => uint64) public firstWh;
    mapping(uint32 meterId => mapping(uint32 period => uint64)) public billedOf;
    mapping(uint32 meterId => uint64) internal _houseRegister;
    mapping(uint32 meterId => uint32) internal _houseTs;
    mapping(uint32 feederId => IGridLedgerTypes.FeederReading) internal _last;
    mapping(uint32 feederId => bytes) internal _lastSig;
    uint32 public maxPeriod;

    // Ghost counters: each must stay 0.
    uint256 public replays;
    uint256 public backdated;
    uint256 public lossMismatches;
    uint256 public householdReverts;

    // Coverage.
    uint256 public accepted;
    uint256 public lossChecks;
    uint256 public newPeriodReadings;

    constructor(IGridLedger gl_, uint256 plantKey_, uint256 meterKey_, uint32 feederPower_, uint32 meterPower_) {
        gl = gl_;
        plantKey = plantKey_;
        meterKey = meterKey_;
        feederPower = feederPower_;
        meterPower = meterPower_;
        skew = gl_.maxClockSkew();
        _houseTs[HOUSE_A] = uint32(vm.getBlockTimestamp());
        _houseTs[HOUSE_B] = uint32(vm.getBlockTimestamp());
    }

    function feederIdOf(uint256 i) public pure returns (uint32) {
        return uint32(i % 3) + 1;
    }

    function warp(uint256 dt) external {
        vm.warp(vm.getBlockTimestamp() + bound(dt, 1, 40 minutes));
    }

    /// @dev A feeder's honest register, stamped late, now or ahead.
    function feederReads(uint256 i, uint256 tsSeed, uint256 whSeed) external {
        uint32 id = feederIdOf(i);
        IGridLedgerTypes.FeederInfo memory f = gl.feeder(id);
        uint256 latest = vm.getBlockTimestamp() + skew;
        if (f.lastTimestamp >= latest) return;
        uint32 ts = uint32(bound(tsSeed, uint256(f.lastTimestamp) + 1, latest));
        uint64 delta = uint64(bound(whSeed, 0, uint256(ts - f.lastTimestamp) * feederPower / 3600));
        IGridLedgerTypes.FeederReading memory r = IGridLedgerTypes.FeederReading(id, f.lastWh + delta, ts);
        bytes memory sig = _sign(id, r);
        uint32 period = gl.periodOf(ts);
        bool newPeriod = period != gl.periodOf(f.lastTimestamp);
        vm.recordLogs();
        try gl.submitFeederReading(r, sig) {
            ++accepted;
            if (newPeriod) ++newPeriodReadings;
            if (reading[id]) {
                energyOf[id][period] += delta;
            } else {
                reading[id] = true;
                firstWh[id] = r.wh;
            }
            if (period > maxPeriod) maxPeriod = period;
            _last[id] = r;
            _lastSig[id] = sig;
            _checkLossLogs(vm.getRecordedLogs());
        } catch {}
    }

    /// @dev The feeder key sends its last accepted reading again: its energy must not count twice.
    function feederReplays(uint256 i) external {
        uint32 id = feederIdOf(i);
        if (!reading[id]) return;
        try gl.submitFeederReading(_last[id], _lastSig[id]) {
            ++replays;
        } catch {}
    }

    /// @dev The feeder key signs a higher register stamped at or before its last reading (into a period already
    /// stored or checked): refused.
    function feederBackdates(uint256 i, uint256 back, uint256 whSeed) external {
        uint32 id = feederIdOf(i);
        IGridLedgerTypes.FeederInfo memory f = gl.feeder(id);
        if (!reading[id]) return;
        uint32 ts = uint32(f.lastTimestamp - bound(back, 0, 3 hours));
        IGridLedgerTypes.FeederReading memory r =
            IGridLedgerTypes.FeederReading(id, f.lastWh + uint64(bound(whSeed, 1, 1_000_000)), ts);
        try gl.submitFeederReading(r, _sign(id, r)) {
            ++backdated;
        } catch {}
    }

    /// @dev Anyone checks a period that is over: the check sees the feeder's whole energy of that period, its running
    /// period's included, and (the plant) both distributors' energy.
    function checksLoss(uint256 i, uint256 back) external {
        uint32 id = feederIdOf(i);
        uint32 current = gl.currentPeriod();
        if (current < 3) return;
        uint32 period = current - 2 - uint32(bound(back, 0, current - 3));
        vm.recordLogs();
        try gl.checkLoss(id, period) {
            _checkLossLogs(vm.getRecordedLogs());
        } catch {}
    }

    /// @dev A household on distributor 2 reads within its rating; its reading must never revert.
    function houseReads(bool a, uint256 whSeed) external {
        uint32 id = a ? HOUSE_A : HOUSE_B;
        uint32 ts = uint32(vm.getBlockTimestamp());
        if (ts <= _houseTs[id]) return;
        uint64 delta = uint64(bound(whSeed, 0, uint256(ts - _houseTs[id]) * meterPower / 3600));
        IGridLedgerTypes.Reading memory r = IGridLedgerTypes.Reading(id, _houseRegister[id] + delta, ts);
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(meterKey, gl.readingDigest(r));
        vm.recordLogs();
        try gl.submitReading(r, abi.encodePacked(rr, s, v)) {
            _houseRegister[id] += delta;
            _houseTs[id] = ts;
            _billLogs(vm.getRecordedLogs());
        } catch {
            ++householdReverts;
        }
    }

    /// @dev Anyone closes a household's period.
    function houseSettles(bool a) external {
        vm.recordLogs();
        gl.settle(a ? HOUSE_A : HOUSE_B);
        _billLogs(vm.getRecordedLogs());
    }

    function _billLogs(Vm.Log[] memory logs) internal {
        for (uint256 k; k < logs.length; ++k) {
            if (logs[k].topics[0] != IGridLedgerTypes.BillIssued.selector) continue;
            uint32 meterId = uint32(uint256(logs[k].topics[1]));
            uint32 period = uint32(uint256(logs[k].topics[2]));
            (uint64 energyWh,,) = abi.decode(logs[k].data, (uint64, uint256, uint256));
            billedOf[meterId][period] = energyWh;
        }
    }

    function _checkLossLogs(Vm.Log[] memory logs) internal {
        for (uint256 k; k < logs.length; ++k) {
            if (logs[k].topics[0] != IGridLedgerTypes.LossChecked.selector) continue;
            ++lossChecks;
            uint32 id = uint32(uint256(logs[k].topics[1]));
            uint32 period = uint32(uint256(logs[k].topics[2]));
            (uint64 feederWh, uint64 childrenWh) = abi.decode(logs[k].data, (uint64, uint64));
            if (feederWh != energyOf[id][period] || childrenWh != childrenOf(id, period)) ++lossMismatches;
        }
    }

    /// @dev The ghost children sum: the plant's is its distributors' energy, distributor 2's its households' bills.
    function childrenOf(uint32 id, uint32 period) public view returns (uint64) {
        if (id == PLANT) return energyOf[DISTRIBUTOR][period] + energyOf[SIBLING][period];
        if (id == DISTRIBUTOR) return billedOf[HOUSE_A][period] + billedOf[HOUSE_B][period];
        return 0;
    }

    function _sign(uint32 id, IGridLedgerTypes.FeederReading memory r) internal view returns (bytes memory) {
        uint256 key = id == PLANT ? plantKey : id == DISTRIBUTOR ? DISTRIBUTOR_KEY : SIBLING_KEY;
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(key, gl.feederReadingDigest(r));
        return abi.encodePacked(rr, s, v);
    }
}
