// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

import {IEnergyToken} from "../interfaces/IEnergyToken.sol";

/// @title EnergyToken
/// @notice One token is one kWh that a meter exported (3 decimals: one base unit is one Wh). The ledger mints it from
/// signed export registers only, and burns it when its holder redeems it against a bill or sells it back; otherwise it
/// is a plain transferable ERC-20 with ERC-2612 permits, so markets can trade it. No transfer hooks.
contract EnergyToken is ERC20, ERC20Permit, IEnergyToken {
    /// @inheritdoc IEnergyToken
    address public immutable ledger;

    /// @param ledger_ The `GridLedger` that mints and burns (deployed after this token, at a predicted address: the
    /// ledger's constructor checks that this names it).
    constructor(address ledger_) ERC20("Grid Ledger Energy", "kWh") ERC20Permit("Grid Ledger Energy") {
        if (ledger_ == address(0)) revert OnlyLedger(address(0));
        ledger = ledger_;
    }

    modifier onlyLedger() {
        if (msg.sender != ledger) revert OnlyLedger(msg.sender);
        _;
    }

    /// @inheritdoc IEnergyToken
    function mint(address to, uint256 wh) external onlyLedger {
        _mint(to, wh);
    }

    /// @inheritdoc IEnergyToken
    function burn(address from, uint256 wh) external onlyLedger {
        _burn(from, wh);
    }

    /// @notice Three decimals: one base unit is one Wh.
    function decimals() public pure override(ERC20, IERC20Metadata) returns (uint8) {
        return 3;
    }

    /// @inheritdoc IERC20Permit
    function nonces(address owner) public view override(ERC20Permit, IERC20Permit) returns (uint256) {
        return super.nonces(owner);
    }
}
