// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {GridLedger} from "../../src/GridLedger.sol";
import {GridLedgerBase} from "../../src/GridLedgerBase.sol";
import {GridLedgerExtension} from "../../src/GridLedgerExtension.sol";
import {IGridLedger} from "../../src/interfaces/IGridLedger.sol";
import {FeeOnTransferToken} from "../mocks/FeeOnTransferToken.sol";
import {LedgerTestBase} from "../utils/LedgerTestBase.sol";

/// @dev A ledger deployed with a fee-on-transfer token: no payment is credited beyond what arrived, so what it owes
/// households never exceeds what it holds.
contract AttackFeeTokenTest is LedgerTestBase {
    FeeOnTransferToken internal fee;
    address internal alice = makeAddr("alice");

    function setUp() public {
        vm.warp(T0);
        fee = new FeeOnTransferToken();
        GridLedgerBase.Config memory c = GridLedgerBase.Config({
            admin: admin,
            adminTransferDelay: 1 days,
            paymentToken: address(fee),
            treasury: treasury,
            genesis: uint32(T0),
            periodLength: PERIOD,
            paymentWindow: WINDOW,
            grace: GRACE,
            maxClockSkew: SKEW,
            readingTimeoutPeriods: 0
        });
        (GridLedger l,) = _newLedger(c);
        gl = IGridLedger(address(l));
        vm.startPrank(admin);
        gl.setTariff(TARIFF, _flat(PRICE));
        gl.registerFeeder(FEEDER, feederSigner, 0, 500, FEEDER_POWER);
        gl.registerMeter(1, MeterParams(meterSigner, alice, FEEDER, TARIFF, Mode.Prepaid, MAX_POWER, 0));
        gl.registerMeter(2, MeterParams(meterSigner, alice, FEEDER, TARIFF, Mode.Postpaid, MAX_POWER, 0));
        vm.stopPrank();
        fee.mint(alice, 1000e6);
        vm.prank(alice);
        fee.approve(address(gl), type(uint256).max);
    }

    function test_Attack_FeeTokenTopUpIsRefused() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(PaymentTokenShortfall.selector, address(fee), 100e6, 99e6));
        gl.topUp(1, 100e6);
        assertEq(gl.liability(), 0);
        assertLe(gl.liability(), fee.balanceOf(address(gl)), "liability within holdings");
    }

    function test_Attack_FeeTokenBillPaymentIsRefused() public {
        _readAfter(2, 600, 1000);
        vm.warp(T0 + PERIOD + 1);
        gl.settle(2);
        uint256 due = gl.amountDue(2);
        assertGt(due, 0);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(PaymentTokenShortfall.selector, address(fee), due, due - due / 100));
        gl.payBill(2);
        assertEq(gl.amountDue(2), due, "the bill is still owed");
        assertLe(gl.liability(), fee.balanceOf(address(gl)), "liability within holdings");
    }
}
