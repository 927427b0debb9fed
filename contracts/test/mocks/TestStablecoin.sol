// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title TestStablecoin
/// @notice A test-only dollar stablecoin (6 decimals, ERC-2612 permit) for tests and the demo. Its owner mints.
contract TestStablecoin is ERC20, ERC20Permit, Ownable {
    constructor(address owner) ERC20("Test USD", "tUSD") ERC20Permit("Test USD") Ownable(owner) {}

    /// @notice Creates `amount` base units for `to`. Owner only.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    /// @notice Six decimals, like the common dollar stablecoins.
    function decimals() public pure override returns (uint8) {
        return 6;
    }
}
