// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

import {IGridLedger, IGridLedgerTypes} from "../../src/interfaces/IGridLedger.sol";

/// @dev Pairs of meters with the same consumption on a native-coin ledger whose operator changes tariff versions,
/// moves meters between tariffs and records meter exchanges while households read, pay and top up. In each pair the
/// household meter relays only the signed readings it picks, when it picks (maybe after a `settle`); its shadow relays
/// every reading when it is taken. Both take the operator's tariff moves and exchanges at the same moments, but for
/// a move of one of them to the tariff it is on anyway, which changes nothing. Each meter has a feeder of its own, so
/// the feeder's period sums are exactly that meter's billed energy.
contract TariffExchangeHandler is CommonBase, StdUtils {
    uint256 public constant PAIRS = 3;
    /// @dev Households first, then their shadows: meter `k` and `k + PAIRS` form pair `k`.
    uint256 public constant METERS = 2 * PAIRS;
    uint32 public constant TARIFFS = 3;
    uint32 public constant MAX_POWER = 20_000;
    uint32 public constant FIRST_METER = 71;
    uint32 public constant FIRST_FEEDER = 171;
    uint64 internal constant BASE_PRICE = 300_000;

    IGridLedger public immutable gl;
    address public immutable admin;
    address public immutable treasury;
    uint256 public immutable meterKey;

    // The true register of each pair's consumption and when it was last read.
    uint64[PAIRS] public register;
    uint32[PAIRS] public readAt;
    // Readings a household signed but has not relayed yet, oldest first, and those an exchange made stale.
    IGridLedgerTypes.Reading[][PAIRS] internal _held;
    IGridLedgerTypes.Reading[][PAIRS] internal _stale;

    // Ghost books per meter.
    uint64[METERS] internal _lastAcceptedWh;
    uint256[METERS] public acceptedWh;
    uint256[METERS] public billedWh;
    uint256[METERS] public credited;
    uint32[METERS] internal _openSeen;
    uint32[METERS] internal _billFloor;
    uint256[METERS] internal _billedBelowFloor;
    uint256[PAIRS] public exchanges;
    // Ghost books of the ledger.
    uint256 public deposits;
    uint256 public withdrawn;
    uint256 public overdrafts;
    uint256 public householdReverts;
    bytes4 public lastHouseholdRevert;
    uint256 public staleRejections;
    // How much of the run each rule was exercised by.
    uint256 public lateRelays;
    uint256 public comparisons;
    uint256 public versionsSet;
    uint256 public tariffMoves;
    uint256 public sameTariffMoves;
    /// @dev Readings and exchanges that landed after the period of the meter's last reading had been closed.
    uint256 public acrossClosed;

    constructor(IGridLedger ledger, address admin_, address treasury_, uint256 meterKey_, uint64 initialWh) {
        gl = ledger;
        admin = admin_;
        treasury = treasury_;
        meterKey = meterKey_;
        for (uint256 i; i < PAIRS; ++i) {
            register[i] = initialWh;
            readAt[i] = uint32(block.timestamp);
        }
        for (uint256 k; k < METERS; ++k) {
            _lastAcceptedWh[k] = initialWh;
        }
    }

    modifier tracked() {
        _;
        for (uint256 k; k < METERS; ++k) {
            _recountBilled(k);
        }
    }

    function idOf(uint256 k) public pure returns (uint32) {
        return FIRST_METER + uint32(k);
    }

    function feederOf(uint256 k) public pure returns (uint32) {
        return FIRST_FEEDER + uint32(k);
    }

    function payerOf(uint256 k) public pure returns (address) {
        return address(uint160(0xB000 + k));
    }

    function heldCount(uint256 pair) external view returns (uint256) {
        return _held[pair].length;
    }

    // ------------------------------------------------------------ households

    /// @dev Every pair's meter is read now: the shadows relay at once, each household only if `relayNow` has its bit.
    function read(uint256 dt, uint256 energySeed, uint8 relayNow) external tracked {
        vm.warp(vm.getBlockTimestamp() + _bound(dt, 1, 40 minutes));
        for (uint256 i; i < PAIRS; ++i) {
            uint256 most = uint256(MAX_POWER) * (vm.getBlockTimestamp() - readAt[i]) / 3600;
            register[i] += uint64(_bound(uint256(keccak256(abi.encode(energySeed, i))), 0, most));
            readAt[i] = uint32(vm.getBlockTimestamp());
            IGridLedgerTypes.Reading memory r = IGridLedgerTypes.Reading(idOf(i), register[i], readAt[i]);
            _relay(i + PAIRS, r);
            if ((relayNow >> i) & 1 == 1) {
                delete _held[i];
                _relay(i, r);
            } else {
                _held[i].push(r);
            }
        }
    }

    /// @dev The household relays the held reading it likes (dropping the older ones), maybe after a `settle` closed
    /// the period it belongs to.
    function relayHeld(uint256 pairSeed, uint256 pick, bool settleFirst) external tracked {
        uint256 i = pairSeed % PAIRS;
        uint256 n = _held[i].length;
        if (n == 0) return;
        uint256 j = pick % n;
        IGridLedgerTypes.Reading memory r = _held[i][j];
        _dropHeldUpTo(i, j);
        if (settleFirst) gl.settle(idOf(i));
        if (r.timestamp < vm.getBlockTimestamp()) ++lateRelays;
        _relay(i, r);
    }

    /// @dev A reading signed before an exchange can only be refused as stale: the one documented rejection.
    function relayStale(uint256 pairSeed, uint256 pick) external tracked {
        uint256 i = pairSeed % PAIRS;
        uint256 n = _stale[i].length;
        if (n == 0) return;
        IGridLedgerTypes.Reading memory r = _stale[i][pick % n];
        try gl.submitReading(r, _sign(r)) {
            _householdReverted(bytes4(0));
        } catch (bytes memory reason) {
            if (bytes4(reason) == IGridLedgerTypes.StaleReading.selector) ++staleRejections;
            else _householdReverted(bytes4(reason));
        }
    }

    /// @dev The household catches up with its latest reading, the period ends and both meters are settled: their
    /// bills can be compared.
    function compare(uint256 pairSeed, uint256 dt) external tracked {
        uint256 i = pairSeed % PAIRS;
        uint256 n = _held[i].length;
        if (n != 0) {
            IGridLedgerTypes.Reading memory r = _held[i][n - 1];
            delete _held[i];
            if (r.timestamp < vm.getBlockTimestamp()) ++lateRelays;
            _relay(i, r);
        }
        vm.warp(gl.periodStart(gl.currentPeriod() + 1) + _bound(dt, 0, 30 minutes));
        gl.settle(idOf(i));
        gl.settle(idOf(i + PAIRS));
        ++comparisons;
    }

    function pay(uint256 meterSeed, uint256 extra) external tracked {
        uint256 k = meterSeed % METERS;
        uint256 due = gl.amountDue(idOf(k));
        if (due == 0) return;
        uint256 value = due + _bound(extra, 0, 1e15);
        vm.deal(payerOf(k), value);
        vm.prank(payerOf(k));
        try gl.payBill{value: value}(idOf(k)) {
            credited[k] += value;
            deposits += value;
        } catch (bytes memory reason) {
            _householdReverted(bytes4(reason));
        }
    }

    function topUp(uint256 meterSeed, uint256 amount) external tracked {
        uint256 k = meterSeed % METERS;
        amount = _bound(amount, 1, 1e16);
        vm.deal(payerOf(k), amount);
        vm.prank(payerOf(k));
        try gl.topUp{value: amount}(idOf(k), amount) {
            credited[k] += amount;
            deposits += amount;
        } catch (bytes memory reason) {
            _householdReverted(bytes4(reason));
        }
    }

    /// @dev Anyone may close an ended period.
    function settle(uint256 meterSeed) external tracked {
        try gl.settle(idOf(meterSeed % METERS)) {}
        catch (bytes memory reason) {
            _householdReverted(bytes4(reason));
        }
    }

    function warp(uint256 dt) external tracked {
        vm.warp(vm.getBlockTimestamp() + _bound(dt, 1, 3 hours));
    }

    // ------------------------------------------------------------ the operator

    /// @dev A new version of a tariff from the next period: a rise or a fall, flat or with up to three bands.
    function setTariff(uint256 tariffSeed, uint256 priceSeed, uint256 bandSeed, int256 offsetSeed) external tracked {
        IGridLedgerTypes.Tariff memory t;
        t.pricePerKWh = uint64(_bound(priceSeed, 0, 3 * BASE_PRICE));
        t.utcOffsetSeconds = int32(_bound(offsetSeed, -12, 12)) * 1 hours;
        t.emergencyCredit = uint96(_bound(priceSeed >> 64, 0, 1e14));
        t.lowCreditThreshold = uint96(_bound(priceSeed >> 128, 0, 1e15));
        uint256 n = bandSeed % 4;
        t.bands = new IGridLedgerTypes.Band[](n);
        for (uint256 b; b < n; ++b) {
            uint256 s = uint256(keccak256(abi.encode(bandSeed, b)));
            uint16 start = uint16(s % 1440);
            uint16 end = uint16((start + 1 + (s >> 16) % 1439) % 1440);
            t.bands[b] = IGridLedgerTypes.Band(start, end, uint64(_bound(s >> 32, 0, 5 * BASE_PRICE)));
        }
        vm.prank(admin);
        gl.setTariff(uint32(1 + tariffSeed % TARIFFS), t);
        ++versionsSet;
    }

    /// @dev Moves a household and its shadow to another tariff from their next period.
    function setMeterTariff(uint256 pairSeed, uint256 tariffSeed) external tracked {
        uint256 i = pairSeed % PAIRS;
        uint32 tariffId = uint32(1 + tariffSeed % TARIFFS);
        vm.startPrank(admin);
        gl.setMeterTariff(idOf(i), tariffId);
        gl.setMeterTariff(idOf(i + PAIRS), tariffId);
        vm.stopPrank();
        ++tariffMoves;
    }

    /// @dev Moves one meter (a household or a shadow, not its pair) to the tariff it is moving to anyway: nothing
    /// changes but that its ended period closes and its history has one more move, neither of which may change what its
    /// readings bill.
    function moveToTheSameTariff(uint256 meterSeed) external tracked {
        uint32 id = idOf(meterSeed % METERS);
        uint32 tariffId = gl.meter(id).nextTariffId;
        vm.prank(admin);
        gl.setMeterTariff(id, tariffId);
        ++sameTariffMoves;
    }

    /// @dev The registrar records an exchange of both meters of a pair, now or a little late: the old register's
    /// final value (honest growth since its last reading) and the new register's first, maybe lower.
    function recordMeterExchange(uint256 pairSeed, uint256 lateSeed, uint256 energy, uint256 newInitialSeed)
        external
        tracked
    {
        uint256 i = pairSeed % PAIRS;
        vm.warp(vm.getBlockTimestamp() + 1);
        uint32 at = uint32(_bound(lateSeed, readAt[i] + 1, vm.getBlockTimestamp()));
        uint64 oldFinal = register[i] + uint64(_bound(energy, 0, uint256(MAX_POWER) * (at - readAt[i]) / 3600));
        uint64 newInitial = uint64(_bound(newInitialSeed, 0, uint256(oldFinal) + 1_000_000));
        _countAcrossClosed(i);
        _countAcrossClosed(i + PAIRS);
        vm.startPrank(admin);
        gl.recordMeterExchange(idOf(i), oldFinal, newInitial, at);
        gl.recordMeterExchange(idOf(i + PAIRS), oldFinal, newInitial, at);
        vm.stopPrank();
        for (uint256 k = i; k < METERS; k += PAIRS) {
            acceptedWh[k] += oldFinal - _lastAcceptedWh[k];
            _lastAcceptedWh[k] = newInitial;
        }
        for (uint256 j; j < _held[i].length; ++j) {
            _stale[i].push(_held[i][j]);
        }
        delete _held[i];
        register[i] = newInitial;
        readAt[i] = at;
        ++exchanges[i];
    }

    /// @dev The operator asks for one unit beyond its own funds, which must be refused with the available amount,
    /// and then takes all of them.
    function operatorWithdraw() external tracked {
        uint256 held = address(gl).balance;
        uint256 owed = gl.liability();
        uint256 own = held > owed ? held - owed : 0;
        vm.startPrank(admin);
        try gl.withdraw(own + 1) {
            withdrawn += own + 1;
            ++overdrafts;
        } catch (bytes memory reason) {
            bytes memory refusal =
                abi.encodeWithSelector(IGridLedgerTypes.WithdrawalExceedsBalance.selector, own + 1, own);
            if (keccak256(reason) != keccak256(refusal)) ++overdrafts;
        }
        if (own != 0) {
            gl.withdraw(own);
            withdrawn += own;
        }
        vm.stopPrank();
        if (address(gl).balance < gl.liability()) ++overdrafts;
    }

    // ------------------------------------------------------------ helpers

    function _relay(uint256 k, IGridLedgerTypes.Reading memory r) internal {
        r.meterId = idOf(k);
        _countAcrossClosed(k);
        try gl.submitReading(r, _sign(r)) {
            acceptedWh[k] += r.wh - _lastAcceptedWh[k];
            _lastAcceptedWh[k] = r.wh;
        } catch (bytes memory reason) {
            _householdReverted(bytes4(reason));
        }
    }

    function _countAcrossClosed(uint256 k) internal {
        IGridLedgerTypes.MeterInfo memory m = gl.meter(idOf(k));
        if (m.lastTimestamp < gl.periodStart(m.openPeriod)) ++acrossClosed;
    }

    function _sign(IGridLedgerTypes.Reading memory r) internal view returns (bytes memory) {
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(meterKey, gl.readingDigest(r));
        return abi.encodePacked(rr, s, v);
    }

    function _dropHeldUpTo(uint256 i, uint256 j) internal {
        IGridLedgerTypes.Reading[] storage held = _held[i];
        uint256 n = held.length;
        for (uint256 a = j + 1; a < n; ++a) {
            held[a - j - 1] = held[a];
        }
        for (uint256 a; a <= j; ++a) {
            held.pop();
        }
    }

    function _householdReverted(bytes4 reason) internal {
        ++householdReverts;
        lastHouseholdRevert = reason;
    }

    /// @dev Billed energy = the sum of the meter's feeder over all periods. A call changes only periods from the
    /// meter's last bill on, and its last bill is at or after the open period seen before the last call that closed
    /// one; so the periods below that stay summed and only the few above are read again.
    function _recountBilled(uint256 k) internal {
        uint32 open = gl.meter(idOf(k)).openPeriod;
        uint32 floor_ = _billFloor[k];
        if (open != _openSeen[k]) {
            uint32 newFloor = _openSeen[k];
            for (uint32 p = floor_; p < newFloor; ++p) {
                _billedBelowFloor[k] += gl.feederPeriod(feederOf(k), p).childrenWh;
            }
            floor_ = newFloor;
            _billFloor[k] = newFloor;
            _openSeen[k] = open;
        }
        uint256 sum = _billedBelowFloor[k];
        for (uint32 p = floor_; p <= open; ++p) {
            sum += gl.feederPeriod(feederOf(k), p).childrenWh;
        }
        billedWh[k] = sum;
    }
}
