// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CreditAttackHandler} from "../handlers/CreditAttackHandler.sol";
import {LedgerTestBase} from "../utils/LedgerTestBase.sol";

/// @dev Whatever order households, the operator and time interleave, the ledger keeps every household's credit.
contract AttackCreditInvariantsTest is LedgerTestBase {
    CreditAttackHandler internal handler;

    function setUp() public {
        _deploy(false);
        handler = new CreditAttackHandler(gl, admin, meterKey);
        Tariff memory t = _flat(PRICE);
        t.emergencyCredit = 1e15;
        vm.startPrank(admin);
        gl.setTariff(2, t);
        for (uint256 i; i < handler.METERS(); ++i) {
            Mode mode = i % 2 == 0 ? Mode.Prepaid : Mode.Postpaid;
            gl.registerMeter(
                handler.ids(i), MeterParams(meterSigner, handler.payerOf(i), FEEDER, 2, mode, MAX_POWER, 0)
            );
        }
        vm.stopPrank();
        targetContract(address(handler));
    }

    function invariant_Attack_LedgerHoldsWhatItOwes() public view {
        assertGe(address(gl).balance, gl.liability());
        uint256 positive;
        for (uint256 i; i < handler.METERS(); ++i) {
            int256 b = gl.meter(handler.ids(i)).balance;
            if (b > 0) positive += uint256(b);
        }
        assertEq(gl.liability(), positive);
    }

    function invariant_Attack_NoCreditClaimedTwiceOrBeyondWhatWasPaid() public view {
        assertEq(handler.doubleClaims(), 0);
        for (uint256 i; i < handler.METERS(); ++i) {
            assertLe(handler.takenOut(i), handler.putIn(i));
        }
    }

    function invariant_Attack_OperatorNeverTakesHouseholdsCredit() public view {
        uint256 putIn;
        uint256 takenOut;
        for (uint256 i; i < handler.METERS(); ++i) {
            putIn += handler.putIn(i);
            takenOut += handler.takenOut(i);
        }
        assertEq(putIn, address(gl).balance + takenOut + handler.operatorTook());
        assertEq(treasury.balance, handler.operatorTook());
    }
}
