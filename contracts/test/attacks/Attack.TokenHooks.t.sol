// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

import {GridLedger} from "../../src/GridLedger.sol";
import {GridLedgerBase} from "../../src/GridLedgerBase.sol";
import {GridLedgerExtension} from "../../src/GridLedgerExtension.sol";
import {IGridLedger, IGridLedgerAccounts, IGridLedgerHotPaths} from "../../src/interfaces/IGridLedger.sol";
import {LedgerTestBase} from "../utils/LedgerTestBase.sol";

/// @dev A payment token with a transfer hook (as ERC-777 or hook-carrying stablecoins have) that re-enters the
/// ledger on every transfer, the way a hostile sender's hook would.
contract HookToken is ERC20 {
    IGridLedger public ledger;
    uint32 public meterId;
    uint256 public reentries;
    uint256 public reentriesRefused;

    constructor() ERC20("Hook USD", "hUSD") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @dev The hook pays with its own funds, so only the ledger's guard can refuse its top-ups.
    function aim(IGridLedger ledger_, uint32 meterId_) external {
        ledger = ledger_;
        meterId = meterId_;
        _approve(address(this), address(ledger_), type(uint256).max);
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (address(ledger) == address(0) || from == address(0) || to == address(0)) return;
        ++reentries;
        bytes[4] memory calls = [
            abi.encodeCall(IGridLedgerHotPaths.payBill, (meterId)),
            abi.encodeCall(IGridLedgerAccounts.topUp, (meterId, 1)),
            abi.encodeCall(IGridLedgerAccounts.withdrawCredit, (meterId)),
            abi.encodeCall(IGridLedgerAccounts.withdraw, (1))
        ];
        for (uint256 i; i < calls.length; ++i) {
            (bool ok,) = address(ledger).call(calls[i]);
            if (!ok) ++reentriesRefused;
        }
    }
}

/// @dev A token deployment whose token calls back into the ledger from inside every transfer.
contract AttackTokenHooksTest is LedgerTestBase {
    uint32 internal constant P = 8;
    uint32 internal constant M = 7;

    HookToken internal hook;

    function setUp() public {
        _deploy(false);
        // The same configuration, paid in the hook token.
        hook = new HookToken();
        config.paymentToken = address(hook);
        GridLedgerBase.Config memory c = config;
        (GridLedger l,) = _newLedger(c);
        gl = IGridLedger(address(l));
        vm.startPrank(admin);
        gl.setTariff(TARIFF, _flat(PRICE));
        gl.registerFeeder(FEEDER, feederSigner, 0, 500, FEEDER_POWER);
        vm.stopPrank();
        _register(P, Mode.Prepaid);
        _register(M, Mode.Postpaid);
        hook.mint(payer, 10e6);
        hook.mint(address(hook), 10e6);
        vm.prank(payer);
        hook.approve(address(gl), type(uint256).max);
    }

    function test_Attack_TokenHookReentryIsRefusedAndBooksHold() public {
        hook.aim(gl, P);
        vm.prank(payer);
        gl.topUp(P, 5e6);
        assertEq(hook.reentries(), 1);
        assertEq(hook.reentriesRefused(), 4, "every re-entry during the top-up reverted");
        assertEq(gl.meter(P).balance, 5e6);
        assertEq(gl.liability(), 5e6);
        assertEq(hook.balanceOf(address(gl)), 5e6);

        _readAfter(M, 600, 1000);
        vm.warp(T0 + PERIOD + 60);
        hook.aim(gl, M);
        vm.prank(payer);
        gl.payBill(M);
        assertEq(hook.reentriesRefused(), 8, "and during the bill payment");
        assertEq(gl.amountDue(M), 0);
        assertEq(hook.balanceOf(address(gl)), 5e6 + _cost(1000));

        vm.prank(admin);
        gl.retireMeter(P);
        hook.aim(gl, P);
        vm.prank(payer);
        gl.withdrawCredit(P);
        assertEq(hook.reentriesRefused(), 12, "and during the credit refund");
        assertEq(hook.balanceOf(address(gl)), _cost(1000));
        assertEq(gl.liability(), 0);
        vm.prank(admin);
        gl.withdraw(_cost(1000));
        assertEq(hook.balanceOf(treasury), _cost(1000));
    }
}
