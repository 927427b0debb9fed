// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {TouWithholdingHandler} from "../handlers/TouWithholdingHandler.sol";
import {LedgerTestBase} from "../utils/LedgerTestBase.sol";

/// @dev Withholding any readings, over any number of periods and band edges, never lowers a time-of-use charge
/// (one tariff version; across versions see the attack report).
contract AttackTouInvariantsTest is LedgerTestBase {
    uint32 internal constant TOU = 2;
    uint32 internal constant ALL = 61;
    uint32 internal constant SOME = 62;

    TouWithholdingHandler internal handler;

    function setUp() public {
        _deploy(false);
        Tariff memory t = _flat(PRICE);
        t.bands = new Band[](3);
        t.bands[0] = Band(50, 70, 2_000_000); // 00:50-01:10 local, across a period end
        t.bands[1] = Band(1380, 30, 40_000); // 23:00-00:30, cheap, across midnight
        t.bands[2] = Band(600, 1080, 700_000); // 10:00-18:00
        t.utcOffsetSeconds = 3600;
        vm.startPrank(admin);
        gl.setTariff(TOU, t);
        gl.registerMeter(ALL, MeterParams(meterSigner, payer, FEEDER, TOU, Mode.Prepaid, MAX_POWER, 0));
        gl.registerMeter(SOME, MeterParams(meterSigner, payer, FEEDER, TOU, Mode.Prepaid, MAX_POWER, 0));
        vm.stopPrank();
        vm.startPrank(payer);
        gl.topUp{value: 100 ether}(ALL, 100 ether);
        gl.topUp{value: 100 ether}(SOME, 100 ether);
        vm.stopPrank();
        handler = new TouWithholdingHandler(gl, meterKey, ALL, SOME, MAX_POWER);
        targetContract(address(handler));
    }

    function invariant_Attack_WithheldReadingsNeverCostLess() public view {
        if (!handler.synced()) return;
        assertEq(gl.meter(SOME).lastWh, gl.meter(ALL).lastWh);
        assertLe(gl.meterBalance(SOME), gl.meterBalance(ALL), "the withholder was charged less");
    }

    /// @dev The run really relays: readings for both, and withheld ones in between.
    function afterInvariant() public view {
        assertGt(handler.readings(), handler.syncs());
    }
}
