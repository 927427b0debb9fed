// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @dev A stablecoin that keeps 1 % of every transfer between accounts (as USDT can be switched to).
contract FeeOnTransferToken is ERC20 {
    address public constant FEE_SINK = address(0xFEE);

    constructor() ERC20("Fee USD", "fUSD") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && to != address(0)) {
            uint256 fee = value / 100;
            super._update(from, FEE_SINK, fee);
            value -= fee;
        }
        super._update(from, to, value);
    }
}
