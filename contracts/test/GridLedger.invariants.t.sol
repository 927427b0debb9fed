// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {LedgerHandler} from "./handlers/LedgerHandler.sol";
import {LedgerTestBase} from "./utils/LedgerTestBase.sol";

contract GridLedgerInvariantsTest is LedgerTestBase {
    LedgerHandler internal handler;

    function setUp() public {
        _deploy(false);
        handler = new LedgerHandler(gl, admin, treasury, PRICE);
        Tariff memory prepaid = _flat(PRICE);
        prepaid.emergencyCredit = 1e15;
        prepaid.lowCreditThreshold = 1e16;
        vm.startPrank(admin);
        gl.setTariff(2, prepaid);
        for (uint256 i; i < handler.meterCount(); ++i) {
            Mode mode = i < 3 ? Mode.Postpaid : Mode.Prepaid;
            gl.registerMeter(
                handler.ids(i),
                MeterParams(
                    vm.addr(handler.keys(i)), address(uint160(0x9000 + i)), FEEDER, i < 3 ? 1 : 2, mode, MAX_POWER, 0
                )
            );
        }
        gl.setProtected(handler.PROTECTED_ID(), true);
        gl.setFriendlyWindow(FriendlyWindow(3600, 1320, 360, 1 << 6));
        vm.stopPrank();
        targetContract(address(handler));
    }

    function invariant_NoForgedOrReplayedReadingAccepted() public view {
        assertEq(handler.forgedAccepted(), 0);
    }

    function invariant_RegistersNeverDecrease() public view {
        assertEq(handler.registerDecreases(), 0);
        for (uint256 i; i < handler.meterCount(); ++i) {
            assertGe(gl.meter(handler.ids(i)).lastWh, handler.lastWh(i));
        }
    }

    function invariant_MoneyConserved() public view {
        assertEq(handler.paid(), address(gl).balance + handler.withdrawn());
        assertEq(treasury.balance, handler.withdrawn());
    }

    function invariant_ProtectedPermitNeverEnds() public view {
        assertEq(gl.permitUntil(handler.PROTECTED_ID()), FOREVER);
    }

    function invariant_PauseNeverShortensPermits() public view {
        assertEq(handler.pauseShortened(), 0);
    }

    /// @dev Per meter: what was billed (credits minus stored balance) equals the closed energy priced at the flat
    /// price, rounded down by less than one unit per closed period.
    function invariant_BilledEqualsPricedEnergy() public view {
        for (uint256 i; i < handler.meterCount(); ++i) {
            MeterInfo memory m = gl.meter(handler.ids(i));
            int256 billed = int256(handler.credited(i)) - m.balance;
            uint256 exact = uint256(m.periodStartWh) * PRICE; // in thousandths of a base unit
            assertGe(billed, 0);
            assertLe(uint256(billed) * 1000, exact);
            assertGt(uint256(billed) * 1000 + 1000 * uint256(m.openPeriod), exact);
        }
    }
}
