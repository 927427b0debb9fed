// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

import {IGridLedger, IGridLedgerTypes} from "../../src/interfaces/IGridLedger.sol";

/// @dev Two prepaid time-of-use meters with the same consumption over many periods: `all` relays every reading,
/// `some` only the readings the fuzzer picks. Whenever both have relayed the same register, `some` must have been
/// charged at least as much.
contract TouWithholdingHandler is CommonBase, StdUtils {
    IGridLedger public immutable gl;
    uint256 public immutable meterKey;
    uint32 public immutable all;
    uint32 public immutable some;
    uint32 public immutable maxPowerW;

    uint64 public register;
    bool public synced = true;
    uint256 public readings;
    uint256 public syncs;

    constructor(IGridLedger ledger, uint256 meterKey_, uint32 all_, uint32 some_, uint32 maxPowerW_) {
        gl = ledger;
        meterKey = meterKey_;
        all = all_;
        some = some_;
        maxPowerW = maxPowerW_;
    }

    function read(uint256 dt, uint256 energy, bool relaySome) external {
        dt = bound(dt, 1, 40 minutes);
        vm.warp(vm.getBlockTimestamp() + dt);
        register += uint64(bound(energy, 0, uint256(maxPowerW) * dt / 3600));
        _relay(all);
        ++readings;
        if (relaySome) {
            _relay(some);
            ++syncs;
        }
        synced = relaySome;
    }

    function _relay(uint32 id) internal {
        IGridLedgerTypes.Reading memory r = IGridLedgerTypes.Reading(id, register, uint32(vm.getBlockTimestamp()));
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(meterKey, gl.readingDigest(r));
        gl.submitReading(r, abi.encodePacked(rr, s, v));
    }
}
