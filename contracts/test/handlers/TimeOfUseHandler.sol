// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

import {IGridLedger, IGridLedgerTypes} from "../../src/interfaces/IGridLedger.sol";

/// @dev One meter's signed readings: `ALL` relays every one, `SOME` only those the household picks (never paying, so
/// a postpaid balance is minus everything billed). Whenever both have relayed the same last reading, their bills
/// are compared: the subsequence may be cheaper only by the per-period rounding (under one unit per closed period).
contract TimeOfUseHandler is CommonBase, StdUtils {
    uint32 public constant ALL = 31;
    uint32 public constant SOME = 32;
    uint32 internal constant MAX_POWER = 20_000;

    IGridLedger public immutable gl;
    uint256 public immutable meterKey;

    uint256 public cheaper;
    uint256 public compared;
    IGridLedgerTypes.Reading internal _last;

    constructor(IGridLedger ledger, uint256 meterKey_) {
        gl = ledger;
        meterKey = meterKey_;
    }

    function read(uint256 dt, uint256 energy, bool relayToSome) external {
        vm.warp(vm.getBlockTimestamp() + bound(dt, 1, 3 hours));
        IGridLedgerTypes.MeterInfo memory m = gl.meter(ALL);
        uint256 maxWh = uint256(MAX_POWER) * (vm.getBlockTimestamp() - m.lastTimestamp) / 3600;
        _last =
            IGridLedgerTypes.Reading(ALL, uint64(m.lastWh + bound(energy, 0, maxWh)), uint32(vm.getBlockTimestamp()));
        _relay(ALL);
        if (relayToSome) _relay(SOME);
    }

    /// @dev `SOME` relays the latest reading (maybe late), then both periods close and the bills are compared.
    function compare(uint256 dt) external {
        if (_last.timestamp == 0) return;
        if (gl.meter(SOME).lastTimestamp < _last.timestamp) _relay(SOME);
        vm.warp(vm.getBlockTimestamp() + bound(dt, 1 hours, 2 days));
        gl.settle(ALL);
        gl.settle(SOME);
        IGridLedgerTypes.MeterInfo memory all = gl.meter(ALL);
        IGridLedgerTypes.MeterInfo memory some = gl.meter(SOME);
        ++compared;
        if (-some.balance + int256(uint256(some.openPeriod)) < -all.balance) ++cheaper;
    }

    function _relay(uint32 meterId) internal {
        IGridLedgerTypes.Reading memory r = IGridLedgerTypes.Reading(meterId, _last.wh, _last.timestamp);
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(meterKey, gl.readingDigest(r));
        gl.submitReading(r, abi.encodePacked(rr, s, v));
    }
}
