// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {LedgerTestBase} from "../utils/LedgerTestBase.sol";

/// @dev A household's credit under a payer change: the registrar cannot redirect it, before or after retirement.
contract AttackPayerChangeTest is LedgerTestBase {
    uint32 internal constant P = 8;

    function setUp() public {
        _deploy(false);
        _register(P, Mode.Prepaid);
        vm.prank(payer);
        gl.topUp{value: 1 ether}(P, 1 ether);
    }

    function test_Attack_RegistrarCannotRedirectRetiredCredit() public {
        address operatorWallet = makeAddr("operatorWallet");
        vm.startPrank(admin);
        gl.retireMeter(P);
        vm.expectRevert(abi.encodeWithSelector(RetiredMeter.selector, P));
        gl.setMeterPayer(P, operatorWallet);
        vm.stopPrank();
        // Not even the payer moves it after retirement: the credit goes back to the payer at retirement.
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(RetiredMeter.selector, P));
        gl.setMeterPayer(P, operatorWallet);
        uint256 before = payer.balance;
        vm.prank(payer);
        gl.withdrawCredit(P);
        assertEq(payer.balance - before, 1 ether, "the household took its credit back");
        assertEq(operatorWallet.balance, 0);
    }

    function test_Attack_RegistrarCannotStageARedirectWhileCreditIsHeld() public {
        address operatorWallet = makeAddr("operatorWallet");
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(NotPayer.selector, P, admin));
        gl.setMeterPayer(P, operatorWallet);
        assertEq(gl.meter(P).payer, payer, "the payer is unchanged");
    }

    function test_Attack_PayerHandsItsMeterOnWithItsCredit() public {
        address heir = makeAddr("heir");
        vm.prank(payer);
        gl.setMeterPayer(P, heir);
        assertEq(gl.meter(P).payer, heir);
        vm.prank(admin);
        gl.retireMeter(P);
        vm.prank(heir);
        gl.withdrawCredit(P);
        assertEq(heir.balance, 1 ether, "the payer's consent moved its credit");
    }

    function test_Attack_StrangerCannotChangeThePayer() public {
        address stranger = makeAddr("stranger");
        bytes32 role = ledger.METER_REGISTRAR_ROLE();
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role)
        );
        gl.setMeterPayer(P, stranger);
    }
}
