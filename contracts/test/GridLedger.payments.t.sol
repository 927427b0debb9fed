// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {GridLedger} from "../src/GridLedger.sol";
import {GridLedgerBase} from "../src/GridLedgerBase.sol";
import {GridLedgerExtension} from "../src/GridLedgerExtension.sol";
import {IGridLedger} from "../src/interfaces/IGridLedger.sol";

import {LedgerTestBase} from "./utils/LedgerTestBase.sol";

contract GridLedgerTokenPaymentsTest is LedgerTestBase {
    uint32 internal constant M = 7;
    uint256 internal payerKey = 0xCAFE;

    function setUp() public {
        _deploy(true);
        payer = vm.addr(payerKey);
        usd.mint(payer, 1000e6);
        _register(M, Mode.Postpaid);
        _readAfter(M, 600, 1000);
        vm.warp(T0 + PERIOD + 60);
    }

    function _permit(uint256 amount, uint256 deadline) internal view returns (uint8 v, bytes32 r, bytes32 s) {
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                payer,
                address(gl),
                amount,
                usd.nonces(payer),
                deadline
            )
        );
        return vm.sign(payerKey, keccak256(abi.encodePacked("\x19\x01", usd.DOMAIN_SEPARATOR(), structHash)));
    }

    function test_Stablecoin_HasSixDecimals() public view {
        assertEq(usd.decimals(), 6);
        assertEq(usd.symbol(), "tUSD");
        assertEq(gl.paymentToken(), address(usd));
    }

    function test_RevertWhen_StablecoinMintedByStranger() public {
        vm.prank(payer);
        vm.expectRevert();
        usd.mint(payer, 1);
    }

    function test_PayBill_PullsAmountDue() public {
        uint256 due = gl.amountDue(M);
        vm.prank(payer);
        usd.approve(address(gl), type(uint256).max);
        vm.prank(payer);
        gl.payBill(M);
        assertEq(usd.balanceOf(address(gl)), due);
        assertEq(gl.amountDue(M), 0);
    }

    function test_RevertWhen_PayBillWithoutAllowance() public {
        uint256 due = gl.amountDue(M);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(gl), 0, due));
        gl.payBill(M);
    }

    function test_RevertWhen_NativeSentToTokenLedger() public {
        vm.deal(payer, 1 ether);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(WrongCurrency.selector, address(usd)));
        gl.payBill{value: 1}(M);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(WrongCurrency.selector, address(usd)));
        gl.topUp{value: 1}(M, 1);
    }

    function test_PayBillWithPermit_OneTransaction() public {
        uint256 due = gl.amountDue(M);
        (uint8 v, bytes32 r, bytes32 s) = _permit(due, vm.getBlockTimestamp() + 1 hours);
        vm.expectEmit(address(gl));
        emit PaymentReceived(M, payer, due, 0);
        vm.prank(payer);
        gl.payBillWithPermit(M, due, vm.getBlockTimestamp() + 1 hours, v, r, s);
        assertEq(usd.balanceOf(address(gl)), due);
        assertEq(usd.allowance(payer, address(gl)), 0);
        assertEq(gl.permitUntil(M), T0 + 2 * PERIOD + WINDOW + GRACE);
    }

    function test_PayBillWithPermit_SurvivesFrontRunPermit() public {
        uint256 due = gl.amountDue(M);
        uint256 deadline = vm.getBlockTimestamp() + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _permit(due, deadline);
        usd.permit(payer, address(gl), due, deadline, v, r, s); // someone used the signature first
        vm.prank(payer);
        gl.payBillWithPermit(M, due, deadline, v, r, s);
        assertEq(gl.amountDue(M), 0);
    }

    function test_RevertWhen_PermitBelowAmountDue() public {
        uint256 due = gl.amountDue(M);
        (uint8 v, bytes32 r, bytes32 s) = _permit(due - 1, vm.getBlockTimestamp() + 1 hours);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(InsufficientPayment.selector, M, due - 1, due));
        gl.payBillWithPermit(M, due - 1, vm.getBlockTimestamp() + 1 hours, v, r, s);
    }

    function test_PayBillWithPermit_SlowPathBeforeSettle() public {
        // Not settled yet: the payment closes the period first.
        assertEq(gl.meter(M).openPeriod, 1);
        uint256 due = gl.amountDue(M);
        (uint8 v, bytes32 r, bytes32 s) = _permit(due, vm.getBlockTimestamp() + 1 hours);
        vm.prank(payer);
        gl.payBillWithPermit(M, due, vm.getBlockTimestamp() + 1 hours, v, r, s);
        assertEq(gl.meter(M).openPeriod, 2);
        assertEq(gl.meter(M).balance, 0);
    }

    function test_TopUpWithPermit_AddsCredit() public {
        (uint8 v, bytes32 r, bytes32 s) = _permit(5e6, vm.getBlockTimestamp() + 1 hours);
        vm.prank(payer);
        gl.topUpWithPermit(M, 5e6, vm.getBlockTimestamp() + 1 hours, v, r, s);
        assertEq(gl.meterBalance(M), int256(5e6 - _cost(1000)));
        assertEq(usd.balanceOf(address(gl)), 5e6);
    }

    function test_TopUp_PullsTokens() public {
        vm.startPrank(payer);
        usd.approve(address(gl), 2e6);
        gl.topUp(M, 2e6);
        vm.stopPrank();
        assertEq(usd.balanceOf(address(gl)), 2e6);
    }

    function test_Withdraw_SendsTokensToTreasury() public {
        uint256 paidBill = _cost(1000);
        vm.startPrank(payer);
        usd.approve(address(gl), paidBill + 2e6);
        gl.payBill(M);
        gl.topUp(M, 2e6);
        vm.stopPrank();
        vm.expectEmit(address(gl));
        emit Withdrawn(treasury, paidBill);
        vm.prank(admin);
        gl.withdraw(paidBill);
        assertEq(usd.balanceOf(treasury), paidBill);
        assertEq(usd.balanceOf(address(gl)), 2e6, "the household's credit stays");
    }

    function test_RevertWhen_WithdrawBeyondBalance() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(WithdrawalExceedsBalance.selector, 1, 0));
        gl.withdraw(1);
    }

    function test_RevertWhen_WithdrawByStranger() public {
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, payer, bytes32(0))
        );
        gl.withdraw(1);
    }
}

contract GridLedgerNativePaymentsTest is LedgerTestBase {
    function setUp() public {
        _deploy(false);
        _register(7, Mode.Postpaid);
    }

    function test_RevertWhen_PermitPathOnNativeLedger() public {
        vm.expectRevert(abi.encodeWithSelector(WrongCurrency.selector, address(0)));
        gl.payBillWithPermit(7, 1, 1, 27, bytes32(0), bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(WrongCurrency.selector, address(0)));
        gl.topUpWithPermit(7, 1, 1, 27, bytes32(0), bytes32(0));
    }

    /// @dev Meter 8 uses 10 kWh at `price` per kWh and pays its bill with 3 ether; meter 7 gets 1 ether of credit.
    function _paidBills(uint64 price) internal {
        vm.prank(admin);
        gl.setTariff(2, _flat(price));
        _registerWith(8, meterSigner, Mode.Postpaid, 2, 0);
        _readAfter(8, 3000, 10_000);
        vm.warp(T0 + PERIOD + 60);
        vm.prank(payer);
        gl.payBill{value: 3 ether}(8);
        vm.prank(payer);
        gl.topUp{value: 1 ether}(7, 1 ether);
    }

    function test_Withdraw_SendsNativeToTreasury() public {
        _paidBills(0.3 ether);
        assertEq(gl.liability(), 1 ether);
        vm.prank(admin);
        gl.withdraw(2 ether);
        assertEq(treasury.balance, 2 ether);
        assertEq(address(gl).balance, 2 ether);
    }

    function test_RevertWhen_WithdrawZero() public {
        vm.prank(admin);
        vm.expectRevert(ZeroAmount.selector);
        gl.withdraw(0);
    }

    function test_RevertWhen_TreasuryRefusesNative() public {
        _paidBills(0.3 ether);
        vm.prank(admin);
        gl.setTreasury(address(this)); // this test contract has no receive()
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(NativeTransferFailed.selector, address(this), 1 ether));
        gl.withdraw(1 ether);
    }

    function test_RevertWhen_BalanceOverflowsSlot() public {
        uint256 huge = uint256(1) << 95;
        vm.deal(payer, huge);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(AmountOutOfRange.selector, huge));
        gl.topUp{value: huge}(7, huge);
    }

    function test_RevertWhen_PlainTransfer() public {
        vm.prank(payer);
        (bool ok,) = address(gl).call{value: 1}("");
        assertFalse(ok);
    }
}

/// @dev A payment token that calls back into the ledger while being pulled.
contract ReentrantToken {
    IGridLedger public ledger;

    function setLedger(IGridLedger l) external {
        ledger = l;
    }

    /// @dev The ledger reads its holdings around a transfer; the re-entry comes first.
    function balanceOf(address) external pure returns (uint256) {
        return 0;
    }

    function transferFrom(address, address, uint256) external returns (bool) {
        ledger.topUp(7, 1);
        return true;
    }
}

contract GridLedgerReentrancyTest is LedgerTestBase {
    function test_RevertWhen_TokenReentersPayment() public {
        vm.warp(T0);
        ReentrantToken token = new ReentrantToken();
        config = GridLedgerBase.Config(admin, 0, address(token), treasury, uint32(T0), PERIOD, WINDOW, GRACE, SKEW, 0);
        (GridLedger l,) = _newLedger(config);
        gl = IGridLedger(address(l));
        token.setLedger(gl);
        vm.startPrank(admin);
        gl.setTariff(TARIFF, _flat(PRICE));
        gl.registerFeeder(FEEDER, feederSigner, 0, 500, FEEDER_POWER);
        vm.stopPrank();
        _register(7, Mode.Postpaid);
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        gl.topUp(7, 1);
    }
}
