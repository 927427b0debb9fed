// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

import {IGridLedger, IGridLedgerTypes} from "../../src/interfaces/IGridLedger.sol";

/// @dev Households and an operator racing over credit: top-ups, overpayments, readings, retirements, repeated credit
/// claims and greedy operator withdrawals, on a native-coin ledger. Ghost books of what each payer put in and took out.
contract CreditAttackHandler is CommonBase, StdUtils {
    uint256 public constant METERS = 4;

    IGridLedger public immutable gl;
    address public immutable admin;
    uint256 public immutable meterKey;
    uint32[METERS] public ids = [uint32(51), 52, 53, 54];

    uint256[METERS] public putIn;
    uint256[METERS] public takenOut;
    uint256 public operatorTook;
    uint256 public doubleClaims;

    constructor(IGridLedger ledger, address admin_, uint256 meterKey_) {
        gl = ledger;
        admin = admin_;
        meterKey = meterKey_;
    }

    function payerOf(uint256 i) public pure returns (address) {
        return address(uint160(0xA000 + i));
    }

    function topUp(uint256 seed, uint256 amount) external {
        uint256 i = seed % METERS;
        amount = bound(amount, 1, 10 ether);
        vm.deal(payerOf(i), amount);
        vm.prank(payerOf(i));
        try gl.topUp{value: amount}(ids[i], amount) {
            putIn[i] += amount;
        } catch {}
    }

    function overpay(uint256 seed, uint256 extra) external {
        uint256 i = seed % METERS;
        uint256 due = gl.amountDue(ids[i]);
        if (due == 0) return;
        uint256 value = due + bound(extra, 0, 1 ether);
        vm.deal(payerOf(i), value);
        vm.prank(payerOf(i));
        try gl.payBill{value: value}(ids[i]) {
            putIn[i] += value;
        } catch {}
    }

    function read(uint256 seed, uint256 dt, uint256 energy) external {
        uint256 i = seed % METERS;
        vm.warp(vm.getBlockTimestamp() + bound(dt, 1, 90 minutes));
        IGridLedgerTypes.MeterInfo memory m = gl.meter(ids[i]);
        if (m.lastTimestamp >= vm.getBlockTimestamp()) return;
        uint256 most = uint256(m.maxPowerW) * (vm.getBlockTimestamp() - m.lastTimestamp) / 3600;
        IGridLedgerTypes.Reading memory r =
            IGridLedgerTypes.Reading(ids[i], uint64(m.lastWh + bound(energy, 0, most)), uint32(vm.getBlockTimestamp()));
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(meterKey, gl.readingDigest(r));
        try gl.submitReading(r, abi.encodePacked(rr, s, v)) {} catch {}
    }

    function retire(uint256 seed) external {
        vm.prank(admin);
        try gl.retireMeter(ids[seed % METERS]) {} catch {}
    }

    function claim(uint256 seed) external {
        uint256 i = seed % METERS;
        uint256 before = payerOf(i).balance;
        vm.prank(payerOf(i));
        try gl.withdrawCredit(ids[i]) {
            uint256 got = payerOf(i).balance - before;
            if (takenOut[i] != 0) ++doubleClaims;
            takenOut[i] += got;
        } catch {}
    }

    /// @dev The operator takes everything `withdraw` lets it take, and then tries one unit more.
    function operatorSweep() external {
        uint256 held = address(gl).balance;
        uint256 owed = gl.liability();
        if (held > owed) {
            vm.prank(admin);
            gl.withdraw(held - owed);
            operatorTook += held - owed;
        }
        vm.prank(admin);
        try gl.withdraw(1) {
            operatorTook += 1;
        } catch {}
    }
}
