// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {GridLedgerBase} from "./GridLedgerBase.sol";

/// @title GridLedgerSlowPath
/// @notice The slow path of a meter reading (a period roll-over, a reading across a tariff change or a late one, a
/// time-of-use band, a prepaid credit check) and of a bill payment (one that closes a period first, or a prepaid
/// meter's), run by `GridLedger` through `delegatecall` on its own storage (with them the ledger would exceed the
/// 24 KiB code size limit). Deployed by the ledger's constructor with the same parameters.
/// @dev Not part of the ledger's interface: no fallback reaches it, only the ledger's reading functions, after they
/// have checked the reading, and its payment functions. It refuses to run other than through `delegatecall`.
contract GridLedgerSlowPath is GridLedgerBase {
    address private immutable _self = address(this);

    /// @param c The deployment parameters of the ledger.
    constructor(Config memory c) GridLedgerBase(c) {}

    /// @notice `GridLedgerBase._applyReadingSlow` on the storage of the contract that delegates to this one.
    function applyReadingSlow(uint32 meterId, uint64 wh, uint32 timestamp) external {
        if (address(this) == _self) revert OnlyLedger();
        _applyReadingSlow(meterId, wh, timestamp);
    }

    /// @notice `GridLedgerBase._payBillSlow` on the storage of the contract that delegates to this one (payable: the
    /// delegating payment's value comes along).
    function payBillSlow(uint32 meterId, uint256 value, uint256 maxAmount) external payable {
        if (address(this) == _self) revert OnlyLedger();
        _payBillSlow(meterId, value, maxAmount);
    }
}
