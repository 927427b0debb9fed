// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {StdInvariant} from "forge-std/StdInvariant.sol";

import {SettlementHandler} from "./handlers/SettlementHandler.sol";
import {SettlementTestBase} from "./utils/SettlementTestBase.sol";

/// @dev Whatever the distributors' meters report (or withhold), however households read, pay or withhold, and
/// whenever a stranger calls `settle`, whatever cut-off the operator sets and when: Settlement holds exactly the operator's deposit plus what it owes, pays each
/// period once and only after its cut-off, by the formula from the plant's honest output split by its distributors'
/// energy, never pays the plant for more than its output, and no household's reading or payment reverts.
contract SettlementInvariantsTest is SettlementTestBase {
    SettlementHandler internal handler;

    function setUp() public {
        _setUpSettlement(false);
        vm.prank(admin);
        gl.registerMeter(3, MeterParams(meterSigner, payer, DISTRIBUTOR, TARIFF, Mode.Postpaid, MAX_POWER, 0));
        handler = new SettlementHandler(
            gl, settlement, admin, plantOwner, distributorPayee, plantKey, distributorKey, meterKey
        );
        // A sibling distributor below the plant, paid to the same payee; its baseline is read before the run.
        uint32 sibling = handler.SIBLING();
        vm.startPrank(admin);
        gl.registerFeeder(sibling, vm.addr(handler.SIBLING_KEY()), PLANT, 500, BIG_POWER);
        settlement.setDistributorTerms(sibling, IDEAL, SERVICE, PENALTY, TARIFF, distributorPayee);
        vm.stopPrank();
        vm.warp(vm.getBlockTimestamp() + 1);
        _feederRead(handler.SIBLING_KEY(), sibling, 0);
        handler.recordInitialDeposit(settlement.deposit());
        bytes4[] memory selectors = new bytes4[](12);
        selectors[0] = SettlementHandler.warp.selector;
        selectors[1] = SettlementHandler.plantReads.selector;
        selectors[2] = SettlementHandler.distributorReads.selector;
        selectors[3] = SettlementHandler.householdReads.selector;
        selectors[4] = SettlementHandler.householdPays.selector;
        selectors[5] = SettlementHandler.settle.selector;
        selectors[6] = SettlementHandler.partyWithdraws.selector;
        selectors[7] = SettlementHandler.overWithdraws.selector;
        selectors[8] = SettlementHandler.operatorDeposits.selector;
        selectors[9] = SettlementHandler.operatorWithdrawsDeposit.selector;
        selectors[10] = SettlementHandler.strangerSetsTerms.selector;
        selectors[11] = SettlementHandler.operatorSetsCutoff.selector;
        targetSelector(StdInvariant.FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    /// @dev Money in = money out + money held, to the base unit; what is held is the deposit plus what is owed.
    function invariant_MoneyInIsOutPlusHeld() public view {
        uint256 held = address(settlement).balance;
        assertEq(held, settlement.deposit() + settlement.totalOwed(), "held != deposit + owed");
        assertEq(handler.moneyIn(), handler.moneyOut() + held, "in != out + held");
    }

    /// @dev Owed totals = what the parties may withdraw = what settlements credited less what they withdrew.
    function invariant_OwedIsWithdrawable() public view {
        uint256 plant = settlement.owedTo(plantOwner);
        uint256 dist = settlement.owedTo(distributorPayee);
        assertEq(settlement.totalOwed(), plant + dist, "total != parties");
        assertEq(plant, handler.credited(plantOwner) - handler.withdrawn(plantOwner), "plant");
        assertEq(dist, handler.credited(distributorPayee) - handler.withdrawn(distributorPayee), "distributor");
    }

    /// @dev Each period settles once, never before its cut-off, by the formula; nobody breaks a rule for gain.
    function invariant_RulesHold() public view {
        assertEq(handler.settledTwice(), 0, "settled twice");
        assertEq(handler.settledEarly(), 0, "settled before the cut-off");
        assertEq(handler.formulaMismatches(), 0, "statement differs from the formula on the plant's output");
        assertEq(handler.overWithdrawals(), 0, "withdrew more than owed");
        assertEq(handler.strangerTerms(), 0, "a stranger set terms");
        assertEq(handler.plantOverpaid(), 0, "the plant was paid for more than its output");
    }

    /// @dev Feeder data and settlement never make a household's reading or payment revert.
    function invariant_HouseholdsNeverBlocked() public view {
        assertEq(handler.paymentReverts(), 0, "payment reverted");
        assertEq(handler.readingReverts(), 0, "reading reverted");
    }
}
