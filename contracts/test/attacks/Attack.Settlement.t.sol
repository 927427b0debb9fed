// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ISettlement} from "../../src/interfaces/ISettlement.sol";
import {SettlementTestBase} from "../utils/SettlementTestBase.sol";

/// @dev The operator, who funds the settlement, trying to pay the plant or the distributor less for a period that has
/// begun: by shortening the cut-off once the period is over, so that it settles before the households' bills close
/// (their energy missing counts as loss, and the loss penalty takes the distributor's markup), or by pricing the
/// plant at 0 so that the period can never be settled at all.
contract AttackSettlementTest is SettlementTestBase {
    function setUp() public {
        _setUpSettlement(false);
    }

    /// @dev Period P's meters all read before its end; the households' bills close only at their first reading
    /// after it (`_period` takes those at the end's next second: here they come later).
    function _periodWithBillsStillOpen() internal {
        vm.warp(_start(P) + 1);
        _feederRead(plantKey, PLANT, 0);
        _feederRead(distributorKey, DISTRIBUTOR, 0);
        _houseRead(HOUSE_A, 0);
        _houseRead(HOUSE_B, 0);
        vm.warp(_start(P + 1) - 1);
        _feederRead(plantKey, PLANT, 10_000);
        _feederRead(distributorKey, DISTRIBUTOR, 9700);
        _houseRead(HOUSE_A, 5000);
        _houseRead(HOUSE_B, 4500);
        vm.warp(_start(P + 1) + 60);
    }

    function test_Attack_OperatorShorteningTheCutoffAfterAPeriod_WaitsThatPeriodsOwn() public {
        _periodWithBillsStillOpen();
        assertEq(gl.feederPeriod(DISTRIBUTOR, P).childrenWh, 0, "the bills are still open");
        vm.prank(admin);
        settlement.setCutoff(0);
        assertEq(settlement.cutoff(), 0, "the newest cut-off");
        assertEq(settlement.cutoffAt(P), CUTOFF, "P keeps the cut-off it began under");
        assertEq(settlement.cutoffAt(P + 1), CUTOFF, "so does the running period");
        assertEq(settlement.cutoffAt(P + 2), 0, "the next period waits the new one");
        uint256 notBefore = _start(P + 1) + CUTOFF;
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.SettlementTooEarly.selector, P, DISTRIBUTOR, notBefore));
        settlement.settle(P, DISTRIBUTOR);

        // The bills close within the wait; settled at its end, the distributor's loss is the real one (0.5 %).
        vm.warp(_start(P + 1) + 120);
        _houseRead(HOUSE_A, 5000);
        _houseRead(HOUSE_B, 4500);
        vm.warp(notBefore);
        vm.prank(admin);
        ISettlement.Statement memory s = settlement.settle(P, DISTRIBUTOR);
        assertEq(s.householdsWh, 9500);
        assertEq(s.lossBps, 500);
        assertEq(s.markupBps, IDEAL + SERVICE, "the whole markup");
        assertEq(s.distributorOwed, uint256(9500) * 300_000 / 1000 * (IDEAL + SERVICE) / 10_000);
    }

    /// @dev Lowered in one period, the cut-off is the new one for the next period: set twice in a period, the last
    /// value counts; the old versions keep answering for their periods.
    function test_CutoffVersionsPerPeriod() public {
        uint32 now_ = gl.currentPeriod();
        vm.startPrank(admin);
        vm.expectEmit(address(settlement));
        emit ISettlement.CutoffSet(now_ + 1, 10 minutes);
        settlement.setCutoff(10 minutes);
        settlement.setCutoff(5 minutes);
        vm.stopPrank();
        vm.warp(_start(now_ + 2));
        vm.prank(admin);
        settlement.setCutoff(2 hours);
        assertEq(settlement.cutoffAt(now_), CUTOFF);
        assertEq(settlement.cutoffAt(now_ + 1), 5 minutes, "the last of the period's changes");
        assertEq(settlement.cutoffAt(now_ + 2), 5 minutes);
        assertEq(settlement.cutoffAt(now_ + 3), 2 hours);
        assertEq(settlement.cutoff(), 2 hours);
    }

    /// @dev A price of 0 announced for the next period pays the plant nothing for it, but the period still settles
    /// and its distributor is paid its markup.
    function test_Attack_OperatorPricingThePlantAtZero_CannotBlockTheDistributor() public {
        vm.prank(admin);
        settlement.setPlantPrice(PLANT, 0);
        assertEq(settlement.plantPriceAt(PLANT, P).from, P);
        _period(10_000, 10_000, 5000, 4500);
        ISettlement.Statement memory s = _settleAtCutoff();
        assertEq(s.plantOwed, 0);
        assertEq(s.markupBps, IDEAL + SERVICE);
        assertEq(settlement.owedTo(distributorPayee), uint256(9500) * 300_000 / 1000 * (IDEAL + SERVICE) / 10_000);
    }
}
