// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IntegrityHandler} from "./handlers/IntegrityHandler.sol";
import {TimeOfUseHandler} from "./handlers/TimeOfUseHandler.sol";
import {LedgerTestBase} from "./utils/LedgerTestBase.sol";

/// @dev The ledger's promises against the parties who would gain by breaking them (handlers in `handlers/`).
contract GridLedgerAttackInvariantsTest is LedgerTestBase {
    IntegrityHandler internal handler;

    function setUp() public {
        readingTimeout = 3;
        _deploy(false);
        handler = new IntegrityHandler(gl, admin, meterKey, feederKey);
        Tariff memory prepaid = _flat(PRICE);
        prepaid.emergencyCredit = 1e15;
        prepaid.lowCreditThreshold = 1e16;
        vm.startPrank(admin);
        gl.setTariff(2, prepaid);
        gl.registerFeeder(handler.CHILD_FEEDER(), vm.addr(handler.CHILD_FEEDER_KEY()), FEEDER, 500, type(uint32).max);
        for (uint256 i; i < handler.meterCount(); ++i) {
            bool isPrepaid = i >= 2;
            gl.registerMeter(
                handler.ids(i),
                MeterParams(
                    meterSigner,
                    handler.payerOf(i),
                    handler.CHILD_FEEDER(),
                    isPrepaid ? 2 : TARIFF,
                    isPrepaid ? Mode.Prepaid : Mode.Postpaid,
                    MAX_POWER,
                    0
                )
            );
        }
        gl.setFriendlyWindow(FriendlyWindow(3600, 1320, 360, 1 << 6));
        vm.stopPrank();
        targetContract(address(handler));
    }

    /// @dev The operator, trying every amount, never takes money the ledger owes households.
    function invariant_LiabilityCoveredByBalance() public view {
        assertGe(address(gl).balance, gl.liability());
        assertEq(handler.overdrafts(), 0);
    }

    function invariant_LiabilityIsHouseholdsCredit() public view {
        uint256 credit;
        for (uint256 i; i < handler.meterCount(); ++i) {
            int256 balance = gl.meter(handler.ids(i)).balance;
            if (balance > 0) credit += uint256(balance);
        }
        assertEq(gl.liability(), credit);
    }

    /// @dev Whatever the feeder keys submit, households' readings, payments and settlements go through.
    function invariant_NoHouseholdCallReverts() public view {
        assertEq(handler.householdReverts(), 0, vm.toString(abi.encodePacked(handler.lastHouseholdRevert())));
    }

    /// @dev No transition ends a running permit sooner than a grace after it happened.
    function invariant_PermitEndsAtLeastGraceAfterKnown() public view {
        assertEq(handler.unfairTrips(), 0);
    }
}

/// @dev A household relaying only some of its meter's signed readings, chosen to pay less.
contract GridLedgerTimeOfUseInvariantsTest is LedgerTestBase {
    TimeOfUseHandler internal handler;

    function setUp() public {
        _deploy(false);
        Tariff memory t = _flat(PRICE);
        t.bands = new Band[](3);
        t.bands[0] = Band(30, 45, 900_000);
        t.bands[1] = Band(1380, 20, 50_000); // wraps midnight
        t.bands[2] = Band(600, 900, 600_000);
        vm.prank(admin);
        gl.setTariff(3, t);
        handler = new TimeOfUseHandler(gl, meterKey);
        _registerWith(handler.ALL(), meterSigner, Mode.Postpaid, 3, 0);
        _registerWith(handler.SOME(), meterSigner, Mode.Postpaid, 3, 0);
        targetContract(address(handler));
    }

    function invariant_SubsequenceNeverCostsLess() public view {
        assertEq(handler.cheaper(), 0);
    }
}
