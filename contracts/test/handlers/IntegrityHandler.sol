// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

import {IGridLedger, IGridLedgerTypes} from "../../src/interfaces/IGridLedger.sol";

/// @dev Households, an operator who would like their money, and a feeder key that would like to block them. Each
/// attacker does exactly what would pay them if the rule broke; the ghost counters record every break.
contract IntegrityHandler is CommonBase, StdUtils {
    uint256 internal constant METERS = 4;
    uint32 public constant CHILD_FEEDER = 2;
    uint256 public constant CHILD_FEEDER_KEY = 0xF2;

    IGridLedger public immutable gl;
    address public immutable admin;
    uint256 public immutable meterKey;
    uint256 public immutable feederKey;
    uint32 public immutable grace;
    uint32[METERS] public ids = [uint32(21), 22, 23, 24]; // 21, 22 postpaid; 23, 24 prepaid

    // Ghost counters: each must stay 0.
    uint256 public householdReverts;
    uint256 public overdrafts;
    uint256 public unfairTrips;
    bytes4 public lastHouseholdRevert;
    // Ghost books.
    uint256 public withdrawn;
    uint64[METERS] internal _before;
    bool[METERS] public retired;

    constructor(IGridLedger ledger, address admin_, uint256 meterKey_, uint256 feederKey_) {
        gl = ledger;
        admin = admin_;
        meterKey = meterKey_;
        feederKey = feederKey_;
        grace = ledger.grace();
    }

    function meterCount() external pure returns (uint256) {
        return METERS;
    }

    function payerOf(uint256 i) public pure returns (address) {
        return address(uint160(0xA000 + i));
    }

    // ------------------------------------------------------------ households: none of this may revert

    function read(uint256 meterSeed, uint256 dt, uint256 powerSeed) external {
        uint256 i = meterSeed % METERS;
        vm.warp(vm.getBlockTimestamp() + bound(dt, 1, 6 hours));
        IGridLedgerTypes.MeterInfo memory m = gl.meter(ids[i]);
        if (gl.paused() || retired[i]) return;
        uint256 maxWh = uint256(m.maxPowerW) * (vm.getBlockTimestamp() - m.lastTimestamp) / 3600;
        uint64 wh = uint64(m.lastWh + bound(powerSeed, 0, maxWh));
        IGridLedgerTypes.Reading memory r = IGridLedgerTypes.Reading(ids[i], wh, uint32(vm.getBlockTimestamp()));
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(meterKey, gl.readingDigest(r));
        _snapshot();
        try gl.submitReading(r, abi.encodePacked(rr, s, v)) {}
        catch (bytes memory reason) {
            _householdReverted(reason);
        }
        _checkPermits();
    }

    function pay(uint256 meterSeed, uint256 extra) external {
        uint256 i = meterSeed % METERS;
        uint256 due = gl.amountDue(ids[i]);
        if (due == 0 || gl.paused()) return;
        uint256 value = due + bound(extra, 0, 1 ether);
        vm.deal(payerOf(i), value);
        _snapshot();
        vm.prank(payerOf(i));
        try gl.payBill{value: value}(ids[i]) {}
        catch (bytes memory reason) {
            _householdReverted(reason);
        }
        _checkPermits();
    }

    function topUp(uint256 meterSeed, uint256 amount) external {
        uint256 i = meterSeed % METERS;
        if (gl.paused() || retired[i]) return;
        amount = bound(amount, 1, 10 ether);
        vm.deal(payerOf(i), amount);
        _snapshot();
        vm.prank(payerOf(i));
        try gl.topUp{value: amount}(ids[i], amount) {}
        catch (bytes memory reason) {
            _householdReverted(reason);
        }
        _checkPermits();
    }

    function settle(uint256 meterSeed) external {
        _snapshot();
        try gl.settle(ids[meterSeed % METERS]) {}
        catch (bytes memory reason) {
            _householdReverted(reason);
        }
        _checkPermits();
    }

    /// @dev A retired meter's payer takes its credit back; with credit there, that must work.
    function takeCreditBack(uint256 meterSeed) external {
        uint256 i = meterSeed % METERS;
        if (!retired[i] || gl.meter(ids[i]).balance <= 0) return;
        vm.prank(payerOf(i));
        try gl.withdrawCredit(ids[i]) {}
        catch (bytes memory reason) {
            _householdReverted(reason);
        }
    }

    // ------------------------------------------------------------ the operator wants the households' money

    function operatorWithdraw(uint256 choice, uint256 amountSeed) external {
        uint256 held = address(gl).balance;
        if (held == 0) return;
        uint256 owed = gl.liability();
        uint256 amount;
        choice %= 3;
        if (choice == 0) amount = held; // everything
        else if (choice == 1) amount = held > owed ? held - owed + 1 : 1; // one unit of households' money
        else amount = bound(amountSeed, 1, held);
        vm.prank(admin);
        try gl.withdraw(amount) {
            withdrawn += amount;
            if (address(gl).balance < gl.liability()) ++overdrafts;
        } catch {}
    }

    function retire(uint256 meterSeed) external {
        uint256 i = 2 + meterSeed % 2; // prepaid meters, which hold credit
        if (retired[i]) return;
        vm.prank(admin);
        gl.retireMeter(ids[i]);
        retired[i] = true;
    }

    function protect(uint256 meterSeed, bool on) external {
        _snapshot();
        vm.prank(admin);
        gl.setProtected(ids[meterSeed % METERS], on);
        _checkPermits();
    }

    function pause(bool on) external {
        if (gl.paused() == on) return;
        _snapshot();
        vm.prank(admin);
        if (on) gl.pause();
        else gl.unpause();
        _checkPermits();
    }

    /// @dev The operator reshapes the friendly window to end permits now.
    function window(uint256 startSeed, uint256 endSeed, uint8 days_) external {
        _snapshot();
        vm.prank(admin);
        try gl.setFriendlyWindow(
            IGridLedgerTypes.FriendlyWindow(0, uint16(startSeed % 1440), uint16(endSeed % 1440), days_ % 0x7f)
        ) {}
            catch {}
        _checkPermits();
    }

    // ------------------------------------------------------------ the feeder key wants to block its households

    function feederRead(bool child, uint256 dt, uint256 whSeed, uint256 tsSkew) external {
        vm.warp(vm.getBlockTimestamp() + bound(dt, 1, 6 hours));
        uint32 feederId = child ? CHILD_FEEDER : 1;
        IGridLedgerTypes.FeederInfo memory f = gl.feeder(feederId);
        // Extreme registers, up to 2^64 - 1, and timestamps up to an hour ahead.
        uint64 wh = uint64(bound(whSeed, f.lastWh, type(uint64).max));
        uint32 ts = uint32(vm.getBlockTimestamp() + bound(tsSkew, 0, 1 hours));
        IGridLedgerTypes.FeederReading memory r = IGridLedgerTypes.FeederReading(feederId, wh, ts);
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(child ? CHILD_FEEDER_KEY : feederKey, gl.feederReadingDigest(r));
        try gl.submitFeederReading(r, abi.encodePacked(rr, s, v)) {} catch {}
    }

    function warp(uint256 dt) external {
        vm.warp(vm.getBlockTimestamp() + bound(dt, 1, 2 days));
    }

    // ------------------------------------------------------------ ghost checks

    function _householdReverted(bytes memory reason) internal {
        ++householdReverts;
        lastHouseholdRevert = bytes4(reason);
    }

    function _snapshot() internal {
        for (uint256 i; i < METERS; ++i) {
            _before[i] = gl.permitUntil(ids[i]);
        }
    }

    /// @dev A running permit may only end earlier than it would have if it still runs a grace from now.
    function _checkPermits() internal {
        uint256 t = vm.getBlockTimestamp();
        for (uint256 i; i < METERS; ++i) {
            uint64 before = _before[i];
            uint64 afterwards = gl.permitUntil(ids[i]);
            if (before > t && afterwards < before && afterwards < t + grace) ++unfairTrips;
        }
    }
}
