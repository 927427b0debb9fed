// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

/// @title Energy token
/// @notice kWh energy tokens: ERC-20 with ERC-2612 permits, 3 decimals (one base unit is one Wh, one token one
/// kWh). Only the ledger mints them (from signed export registers) and burns them (redemption, sell-back).
interface IEnergyToken is IERC20Metadata, IERC20Permit {
    /// @notice The caller is not the ledger.
    error OnlyLedger(address caller);

    /// @notice The ledger that mints and burns.
    function ledger() external view returns (address);

    /// @notice Mints `wh` to `to`. Ledger only.
    function mint(address to, uint256 wh) external;

    /// @notice Burns `wh` of `from`'s tokens. Ledger only; the ledger burns only for a call `from` made itself.
    function burn(address from, uint256 wh) external;
}
