// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IGridLedger, IGridLedgerAccounts} from "../../src/interfaces/IGridLedger.sol";
import {LedgerTestBase} from "../utils/LedgerTestBase.sol";

/// @dev A payer contract that tries to re-enter the ledger when it receives its credit back.
contract ReentrantPayer {
    IGridLedger internal immutable _gl;
    uint32 internal immutable _meterId;
    uint32 internal immutable _otherMeterId;
    uint256 public reentries;
    uint256 public reentriesRefused;

    constructor(IGridLedger gl, uint32 meterId, uint32 otherMeterId) {
        _gl = gl;
        _meterId = meterId;
        _otherMeterId = otherMeterId;
    }

    function topUp(uint32 id) external payable {
        _gl.topUp{value: msg.value}(id, msg.value);
    }

    function claim() external {
        _gl.withdrawCredit(_meterId);
    }

    receive() external payable {
        ++reentries;
        // A second claim of the same credit, an operator withdrawal and a top-up bought with the refund.
        (bool again,) = address(_gl).call(abi.encodeCall(IGridLedgerAccounts.withdrawCredit, (_meterId)));
        (bool sweep,) = address(_gl).call(abi.encodeCall(IGridLedgerAccounts.withdraw, (1)));
        (bool buy,) = address(_gl).call{value: 1}(abi.encodeCall(IGridLedgerAccounts.topUp, (_otherMeterId, 1)));
        if (!again) ++reentriesRefused;
        if (!sweep) ++reentriesRefused;
        if (!buy) ++reentriesRefused;
    }
}

/// @dev Households' money under attack: double claims, retire races, re-registration, re-entrancy, liability with
/// emergency credit and overpayments, rounding dust. Each test passes when the ledger holds.
contract AttackCreditTest is LedgerTestBase {
    uint32 internal constant M = 7; // postpaid
    uint32 internal constant P = 8; // prepaid
    uint32 internal constant Q = 9; // prepaid, someone else's

    function setUp() public {
        _deploy(false);
        _register(M, Mode.Postpaid);
        _register(P, Mode.Prepaid);
        _register(Q, Mode.Prepaid);
    }

    function _topUp(uint32 id, uint256 amount) internal {
        vm.prank(payer);
        gl.topUp{value: amount}(id, amount);
    }

    function test_Attack_DoubleWithdrawCredit() public {
        _topUp(P, 1 ether);
        _topUp(Q, 2 ether);
        vm.prank(admin);
        gl.retireMeter(P);
        vm.prank(payer);
        gl.withdrawCredit(P);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(NoCredit.selector, P));
        gl.withdrawCredit(P);
        // A period later the settle inside withdrawCredit charges nothing and frees nothing.
        vm.warp(T0 + 3 * PERIOD);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(NoCredit.selector, P));
        gl.withdrawCredit(P);
        assertEq(address(gl).balance, 2 ether, "the other household's credit stays");
        assertEq(gl.liability(), 2 ether);
    }

    function test_Attack_RetireTwiceOrReRegister() public {
        _topUp(P, 1 ether);
        address newcomer = makeAddr("newcomer");
        vm.startPrank(admin);
        gl.retireMeter(P);
        vm.expectRevert(abi.encodeWithSelector(RetiredMeter.selector, P));
        gl.retireMeter(P);
        // Re-registering the id under a new payer cannot inherit (or reset) the retired meter's credit.
        vm.expectRevert(abi.encodeWithSelector(MeterExists.selector, P));
        gl.registerMeter(P, MeterParams(meterSigner, newcomer, FEEDER, TARIFF, Mode.Prepaid, 1, 0));
        vm.stopPrank();
        assertEq(gl.meter(P).balance, 1 ether);
        vm.prank(payer);
        gl.withdrawCredit(P);
        assertEq(gl.liability(), 0);
    }

    function test_Attack_RetiringOperatorCannotClaimTheCredit() public {
        _topUp(P, 1 ether);
        vm.startPrank(admin);
        gl.retireMeter(P);
        vm.expectRevert(abi.encodeWithSelector(NotPayer.selector, P, admin));
        gl.withdrawCredit(P);
        vm.stopPrank();
        assertEq(gl.liability(), 1 ether);
    }

    function test_Attack_ReadingOrTopUpRacingRetirement() public {
        _topUp(P, 1 ether);
        _readAfter(P, 600, 1000);
        Reading memory late = Reading(P, 2000, uint32(vm.getBlockTimestamp() + 600));
        bytes memory sig = _sign(meterKey, late);
        vm.prank(admin);
        gl.retireMeter(P);
        skip(600);
        vm.expectRevert(abi.encodeWithSelector(RetiredMeter.selector, P));
        gl.submitReading(late, sig);
        SignedReading[] memory batch = new SignedReading[](1);
        batch[0] = _signCompact(meterKey, late);
        assertEq(gl.submitReadings(batch), 0);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(RetiredMeter.selector, P));
        gl.topUp{value: 1}(P, 1);
        uint256 before = payer.balance;
        vm.prank(payer);
        gl.withdrawCredit(P);
        assertEq(payer.balance - before, 1 ether - _cost(1000), "charged exactly the energy read before retirement");
    }

    function test_Attack_OverpayThenRetire_OperatorTakesOnlyTheBill() public {
        _readAfter(M, 600, 1000);
        vm.warp(T0 + PERIOD + 60);
        uint256 due = gl.amountDue(M);
        vm.prank(payer);
        gl.payBill{value: due + 0.5 ether}(M);
        _readAfter(M, 60, 1010); // 10 Wh more in period 2, billed at retirement
        vm.prank(admin);
        gl.retireMeter(M);
        uint256 credit = 0.5 ether - _cost(10);
        assertEq(gl.liability(), credit);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(WithdrawalExceedsBalance.selector, due + _cost(10) + 1, due + _cost(10)));
        gl.withdraw(due + _cost(10) + 1);
        vm.prank(admin);
        gl.withdraw(due + _cost(10));
        uint256 before = payer.balance;
        vm.prank(payer);
        gl.withdrawCredit(M);
        assertEq(payer.balance - before, credit);
        assertEq(address(gl).balance, 0);
        assertEq(gl.liability(), 0);
    }

    function test_Attack_EmergencyCreditDebtIsNotWithdrawable() public {
        Tariff memory t = _flat(PRICE);
        t.emergencyCredit = 1000;
        vm.prank(admin);
        gl.setTariff(2, t);
        _registerWith(20, meterSigner, Mode.Prepaid, 2, 0);
        _topUp(20, 100);
        _readAfter(20, 600, 3); // 900 charged against 100 credit: 800 of emergency credit used
        vm.warp(T0 + PERIOD + 60);
        gl.settle(20);
        assertEq(gl.meter(20).balance, -800);
        assertEq(gl.liability(), 0, "a debt is nobody's credit");
        vm.prank(admin);
        gl.retireMeter(20);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(NoCredit.selector, uint32(20)));
        gl.withdrawCredit(20);
        // The operator may take the 100 paid (it was spent on energy), not more.
        vm.prank(admin);
        gl.withdraw(100);
        assertEq(address(gl).balance, 0);
    }

    function test_Attack_ReentrantPayerGetsItsCreditOnce() public {
        ReentrantPayer attacker = new ReentrantPayer(gl, 30, Q);
        vm.prank(admin);
        gl.registerMeter(30, MeterParams(meterSigner, address(attacker), FEEDER, TARIFF, Mode.Prepaid, MAX_POWER, 0));
        vm.deal(address(attacker), 0);
        vm.prank(payer);
        attacker.topUp{value: 1 ether}(30);
        _topUp(Q, 3 ether);
        vm.prank(admin);
        gl.retireMeter(30);
        attacker.claim();
        assertEq(attacker.reentries(), 1);
        assertEq(attacker.reentriesRefused(), 3, "every re-entry reverted");
        assertEq(address(attacker).balance, 1 ether);
        assertEq(address(gl).balance, 3 ether);
        assertEq(gl.liability(), 3 ether);
        assertEq(gl.meter(Q).balance, 3 ether);
    }

    function test_Attack_ManySmallReadingsLeaveNoDust() public {
        _registerWith(40, meterSigner, Mode.Postpaid, TARIFF, 0);
        // Price 333/kWh: every 1 Wh reading alone would round down to 0.
        vm.prank(admin);
        gl.setTariff(3, _flat(333));
        vm.prank(admin);
        gl.setMeterTariff(M, 3);
        vm.prank(admin);
        gl.setMeterTariff(40, 3);
        vm.warp(T0 + PERIOD + 1);
        gl.settle(M);
        gl.settle(40);
        // Both report at the new tariff's start, so that no interval reaches back into period 1 (energy there would
        // be priced at the tariff it may have been used under, the dearer one).
        _readAfter(M, 0, 0);
        _readAfter(40, 0, 0);
        for (uint64 i = 1; i <= 90; ++i) {
            _readAfter(M, 30, i); // 90 readings of 1 Wh
        }
        Reading memory one = Reading(40, 90, uint32(vm.getBlockTimestamp()));
        gl.submitReading(one, _sign(meterKey, one));
        vm.warp(T0 + 2 * PERIOD + 1);
        gl.settle(M);
        gl.settle(40);
        assertEq(gl.billOf(M).amount, uint256(90) * 333 / 1000);
        assertEq(gl.billOf(M).amount, gl.billOf(40).amount, "splitting energy into readings changes nothing");
    }
}
