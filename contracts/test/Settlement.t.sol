// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IGridLedgerTypes} from "../src/interfaces/IGridLedger.sol";
import {ISettlement} from "../src/interfaces/ISettlement.sol";
import {Settlement} from "../src/settlement/Settlement.sol";
import {SettlementTestBase} from "./utils/SettlementTestBase.sol";

contract SettlementFormulaTest is SettlementTestBase {
    function setUp() public {
        _setUpSettlement(false);
    }

    /// @dev The formula's vectors: ideal 5 %, service 10 %, penalty 2×.
    function test_MarkupVectors() public view {
        assertEq(settlement.markupBps(0, IDEAL, SERVICE, PENALTY), 1500, "no loss");
        assertEq(settlement.markupBps(300, IDEAL, SERVICE, PENALTY), 1500, "below ideal");
        assertEq(settlement.markupBps(500, IDEAL, SERVICE, PENALTY), 1500, "equal to ideal");
        assertEq(settlement.markupBps(501, IDEAL, SERVICE, PENALTY), 1498, "1 bps above: 2 bps less");
        assertEq(settlement.markupBps(1000, IDEAL, SERVICE, PENALTY), 500, "above ideal");
        assertEq(settlement.markupBps(1250, IDEAL, SERVICE, PENALTY), 0, "penalty equals the markup");
        assertEq(settlement.markupBps(2000, IDEAL, SERVICE, PENALTY), 0, "clamped at 0");
        assertEq(settlement.markupBps(10_000, IDEAL, SERVICE, PENALTY), 0, "all lost");
    }

    /// @dev The penalty's product rounds down: 333 bps over the ideal × 1.5 = 499.5 → 499.
    function test_MarkupRoundsThePenaltyDown() public view {
        assertEq(settlement.markupBps(833, IDEAL, SERVICE, 15_000), 1001);
        assertEq(settlement.markupBps(501, IDEAL, SERVICE, 5000), 1500, "half a bps of penalty is none");
        assertEq(settlement.markupBps(502, IDEAL, SERVICE, 5000), 1499);
    }

    function testFuzz_MarkupNeverAboveBaseAndFallsWithLoss(uint16 loss, uint16 more, uint32 penalty) public view {
        uint256 l = bound(loss, 0, 10_000);
        uint256 l2 = bound(uint256(l) + more, l, 10_000);
        uint32 pen = uint32(bound(penalty, 0, settlement.MAX_PENALTY_BPS()));
        uint16 m1 = settlement.markupBps(l, IDEAL, SERVICE, pen);
        uint16 m2 = settlement.markupBps(l2, IDEAL, SERVICE, pen);
        assertLe(m1, IDEAL + SERVICE);
        assertLe(m2, m1, "more loss never earns more");
    }
}

contract SettlementTest is SettlementTestBase {
    function setUp() public {
        _setUpSettlement(false);
    }

    /// @dev Plant 10,000 Wh, households 6,000 + 3,000: 10 % loss, 5 % over the ideal, markup 15 % - 10 % = 5 %.
    function test_SettleAbovePaysExactShares() public {
        _period(10_000, 9500, 6000, 3000);
        uint256 depositBefore = settlement.deposit();
        vm.warp(_start(P + 1) + CUTOFF);
        ISettlement.Statement memory expected = ISettlement.Statement({
            plantWh: 10_000,
            distributorWh: 9500,
            householdsWh: 9000,
            lossBps: 1000,
            markupBps: 500,
            settled: true,
            householdsValue: 2_700_000,
            plantOwed: 1_000_000,
            distributorOwed: 135_000
        });
        vm.expectEmit(address(settlement));
        emit ISettlement.PeriodSettled(P, DISTRIBUTOR, PLANT, plantOwner, distributorPayee, expected);
        vm.prank(stranger);
        ISettlement.Statement memory s = settlement.settle(P, DISTRIBUTOR);
        assertEq(keccak256(abi.encode(s)), keccak256(abi.encode(expected)), "returned");
        ISettlement.Statement memory stored = settlement.statement(P, DISTRIBUTOR);
        assertEq(keccak256(abi.encode(stored)), keccak256(abi.encode(expected)), "stored");
        assertEq(settlement.owedTo(plantOwner), 1_000_000);
        assertEq(settlement.owedTo(distributorPayee), 135_000);
        assertEq(settlement.totalOwed(), 1_135_000);
        assertEq(settlement.deposit(), depositBefore - 1_135_000);
        assertEq(address(settlement).balance, settlement.deposit() + settlement.totalOwed());
    }

    /// @dev A second distributor below the plant reads 4,000 Wh in period P and falls silent for good (its period is
    /// still its running one when P is settled): both settlements see its energy in the plant's children sum, so the
    /// plant is paid 6,000 + 4,000 Wh, its whole output and no more, whichever distributor settles first.
    function test_SilentDistributorSplitsThePlantExactly() public {
        uint32 sibling = 30;
        uint256 siblingKey = 0x5B1;
        vm.startPrank(admin);
        gl.registerFeeder(sibling, vm.addr(siblingKey), PLANT, 500, BIG_POWER);
        settlement.setDistributorTerms(sibling, IDEAL, SERVICE, PENALTY, TARIFF, distributorPayee);
        vm.stopPrank();
        vm.warp(_start(P) + 1);
        _feederRead(siblingKey, sibling, 0);
        vm.warp(_start(P + 1) - 1);
        _feederRead(siblingKey, sibling, 4000);
        _period(10_000, 6000, 3000, 2000);
        vm.warp(_start(P + 1) + CUTOFF);
        assertEq(gl.feederPeriod(PLANT, P).childrenWh, 10_000);
        vm.startPrank(stranger);
        ISettlement.Statement memory s = settlement.settle(P, sibling);
        assertEq(s.plantWh, 4000);
        assertEq(s.householdsWh, 0);
        s = settlement.settle(P, DISTRIBUTOR);
        assertEq(s.plantWh, 6000);
        assertEq(s.householdsWh, 5000);
        vm.stopPrank();
        assertEq(settlement.owedTo(plantOwner), 10_000 * uint256(PLANT_PRICE) / 1000);
    }

    /// @dev Loss below the ideal keeps the whole markup; the loss rounds down (1 Wh of 9,999 is 1.0001 bps → 1).
    function test_SettleBelowAndAtIdeal() public {
        _period(9999, 9999, 4999, 4999);
        ISettlement.Statement memory s = _settleAtCutoff();
        assertEq(s.lossBps, 1);
        assertEq(s.markupBps, 1500);
        assertEq(s.householdsValue, 9998 * 300_000 / 1000);
        assertEq(s.distributorOwed, uint256(9998) * 300_000 / 1000 * 1500 / 10_000);
        assertEq(s.plantOwed, 999_900);
    }

    function test_SettleAtIdealExactly() public {
        _period(10_000, 10_000, 5000, 4500);
        ISettlement.Statement memory s = _settleAtCutoff();
        assertEq(s.lossBps, 500);
        assertEq(s.markupBps, 1500);
        assertEq(s.distributorOwed, 2_850_000 * 1500 / 10_000);
    }

    /// @dev 20 % loss: the penalty (2 × 15 %) exceeds the markup; the distributor gets nothing, the plant its energy.
    function test_SettleClampsTheMarkupAtZero() public {
        _period(10_000, 10_000, 4000, 4000);
        ISettlement.Statement memory s = _settleAtCutoff();
        assertEq(s.lossBps, 2000);
        assertEq(s.markupBps, 0);
        assertEq(s.distributorOwed, 0);
        assertEq(s.plantOwed, 1_000_000);
        assertEq(settlement.owedTo(distributorPayee), 0);
    }

    function test_HouseholdWithholdingLowersTheMarkup() public {
        vm.warp(_start(P) + 1);
        _feederRead(plantKey, PLANT, 0);
        _feederRead(distributorKey, DISTRIBUTOR, 0);
        _houseRead(HOUSE_A, 0);
        vm.warp(_start(P + 1) - 1);
        _feederRead(plantKey, PLANT, 10_000);
        _feederRead(distributorKey, DISTRIBUTOR, 10_000);
        _houseRead(HOUSE_A, 9000);
        vm.warp(_start(P + 1) + 1);
        _houseRead(HOUSE_A, 9000);
        // Household B never reads: its meter's period 2 stays open past the cut-off.
        ISettlement.Statement memory s = _settleAtCutoff();
        assertEq(s.householdsWh, 9000);
        assertEq(s.lossBps, 1000);
        assertEq(s.markupBps, 500);
        // Its late bill still goes to the ledger's feeder sums, but the settled period stays as it was.
        _houseRead(HOUSE_B, 500);
        assertEq(settlement.statement(P, DISTRIBUTOR).householdsWh, 9000);
    }

    function test_WithdrawalsByPull() public {
        _period(10_000, 9500, 6000, 3000);
        _settleAtCutoff();
        uint256 before = plantOwner.balance;
        vm.expectEmit(address(settlement));
        emit ISettlement.Withdrawn(plantOwner, 400_000);
        vm.prank(plantOwner);
        settlement.withdraw(400_000);
        assertEq(plantOwner.balance, before + 400_000);
        assertEq(settlement.owedTo(plantOwner), 600_000);
        vm.prank(distributorPayee);
        settlement.withdraw(135_000);
        assertEq(distributorPayee.balance, 135_000);
        assertEq(settlement.totalOwed(), 600_000);
        assertEq(address(settlement).balance, settlement.deposit() + settlement.totalOwed());
    }

    function test_OperatorWithdrawsOnlyTheUnowedDeposit() public {
        _period(10_000, 9500, 6000, 3000);
        _settleAtCutoff();
        uint256 free = settlement.deposit();
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.WithdrawalExceedsOwed.selector, admin, free + 1, free));
        settlement.withdrawDeposit(free + 1);
        uint256 before = treasury.balance;
        vm.prank(admin);
        settlement.withdrawDeposit(free);
        assertEq(treasury.balance, before + free);
        assertEq(address(settlement).balance, settlement.totalOwed());
    }

    function test_RevertWhen_StrangerWithdrawsTheDeposit() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.MissingLedgerRole.selector, stranger, bytes32(0)));
        settlement.withdrawDeposit(1);
    }

    function test_RevertWhen_SettledTwice() public {
        _period(10_000, 9500, 6000, 3000);
        _settleAtCutoff();
        vm.expectRevert(abi.encodeWithSelector(ISettlement.PeriodAlreadySettled.selector, P, DISTRIBUTOR));
        settlement.settle(P, DISTRIBUTOR);
    }

    function test_RevertWhen_SettledBeforeTheCutoff() public {
        _period(10_000, 9500, 6000, 3000);
        uint256 notBefore = _start(P + 1) + CUTOFF;
        vm.warp(notBefore - 1);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.SettlementTooEarly.selector, P, DISTRIBUTOR, notBefore));
        settlement.settle(P, DISTRIBUTOR);
        vm.warp(notBefore);
        vm.prank(stranger);
        settlement.settle(P, DISTRIBUTOR);
    }

    function test_RevertWhen_FeederHasNoParent() public {
        _period(10_000, 9500, 6000, 3000);
        vm.warp(_start(P + 1) + CUTOFF);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.FeederWithoutParent.selector, PLANT));
        settlement.settle(P, PLANT);
    }

    function test_RevertWhen_ParentIsNotAPlant() public {
        vm.prank(admin);
        gl.registerFeeder(30, feederSigner, FEEDER, 500, BIG_POWER);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NotAPlant.selector, FEEDER));
        settlement.setDistributorTerms(30, IDEAL, SERVICE, PENALTY, TARIFF, distributorPayee);
        vm.warp(_start(P + 1) + CUTOFF);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NotAPlant.selector, FEEDER));
        settlement.settle(P, 30);
    }

    function test_RevertWhen_NoTermsForThePeriod() public {
        vm.prank(admin);
        gl.registerFeeder(30, feederSigner, PLANT, 500, BIG_POWER);
        vm.warp(_start(P + 1) + CUTOFF);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NotADistributor.selector, 30, P));
        settlement.settle(P, 30);
        // Terms set now apply from the next period only.
        vm.prank(admin);
        settlement.setDistributorTerms(30, IDEAL, SERVICE, PENALTY, TARIFF, distributorPayee);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NotADistributor.selector, 30, P));
        settlement.settle(P, 30);
    }

    function test_TermsChangedAfterThePeriodDoNotApplyToIt() public {
        _period(10_000, 9500, 6000, 3000);
        vm.startPrank(admin);
        settlement.setDistributorTerms(DISTRIBUTOR, 0, 0, 0, TARIFF, admin);
        settlement.setPlantPrice(PLANT, 1);
        vm.stopPrank();
        ISettlement.Statement memory s = _settleAtCutoff();
        assertEq(s.markupBps, 500);
        assertEq(s.plantOwed, 1_000_000);
        assertEq(settlement.owedTo(distributorPayee), 135_000);
        ISettlement.DistributorTerms memory t = settlement.distributorTermsAt(DISTRIBUTOR, P + 2);
        assertEq(t.from, P + 2);
        assertEq(t.payee, admin);
        assertEq(settlement.plantPriceAt(PLANT, P).pricePerKWh, PLANT_PRICE);
        assertEq(settlement.plantPriceAt(PLANT, P + 2).pricePerKWh, 1);
    }

    function test_RevertWhen_LossAboveAllOrBelowZero() public {
        _period(5000, 9500, 6000, 3000);
        vm.warp(_start(P + 1) + CUTOFF);
        vm.expectRevert(
            abi.encodeWithSelector(ISettlement.LossOutOfRange.selector, DISTRIBUTOR, P, uint256(5000), uint256(9000))
        );
        settlement.settle(P, DISTRIBUTOR);
    }

    function test_RevertWhen_ZeroPlantEnergy() public {
        _period(0, 9500, 6000, 3000);
        vm.warp(_start(P + 1) + CUTOFF);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.ZeroPlantEnergy.selector, PLANT, P));
        settlement.settle(P, DISTRIBUTOR);
    }

    function test_RevertWhen_DistributorMeterSilent() public {
        _period(10_000, 0, 6000, 3000);
        vm.warp(_start(P + 1) + CUTOFF);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.ZeroPlantEnergy.selector, PLANT, P));
        settlement.settle(P, DISTRIBUTOR);
    }

    function test_RevertWhen_WithdrawingMoreThanOwed() public {
        _period(10_000, 9500, 6000, 3000);
        _settleAtCutoff();
        vm.prank(distributorPayee);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISettlement.WithdrawalExceedsOwed.selector, distributorPayee, uint256(135_001), uint256(135_000)
            )
        );
        settlement.withdraw(135_001);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.WithdrawalExceedsOwed.selector, stranger, 1, 0));
        settlement.withdraw(1);
    }

    function test_RevertWhen_DepositShortfall() public {
        uint256 surplus = settlement.deposit() - 1_000_000;
        vm.prank(admin);
        settlement.withdrawDeposit(surplus);
        _period(10_000, 9500, 6000, 3000);
        vm.warp(_start(P + 1) + CUTOFF);
        vm.expectRevert(
            abi.encodeWithSelector(ISettlement.DepositShortfall.selector, uint256(1_135_000), uint256(1_000_000))
        );
        settlement.settle(P, DISTRIBUTOR);
        _fundDeposit(135_000);
        settlement.settle(P, DISTRIBUTOR);
        assertEq(settlement.deposit(), 0);
    }

    function test_RevertWhen_NoPlantPrice() public {
        vm.prank(admin);
        gl.registerFeeder(11, feederSigner, 0, 500, BIG_POWER);
        skip(1);
        _feederRead(feederKey, 11, 0);
        vm.prank(admin);
        pgl.enablePlant(11, plantOwner);
        vm.prank(admin);
        gl.registerFeeder(31, feederSigner, 11, 500, BIG_POWER);
        vm.prank(admin);
        settlement.setDistributorTerms(31, IDEAL, SERVICE, PENALTY, TARIFF, distributorPayee);
        vm.warp(_start(P + 1) + CUTOFF);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NoPlantPrice.selector, 11, P));
        settlement.settle(P, 31);
    }

    function test_RevertWhen_TermsOutOfRangeOrNotTheSetter() public {
        vm.startPrank(admin);
        vm.expectRevert(ISettlement.TermsOutOfRange.selector);
        settlement.setDistributorTerms(DISTRIBUTOR, 5000, 5001, PENALTY, TARIFF, distributorPayee);
        vm.expectRevert(ISettlement.TermsOutOfRange.selector);
        settlement.setDistributorTerms(DISTRIBUTOR, IDEAL, SERVICE, 1_000_001, TARIFF, distributorPayee);
        vm.expectRevert(ISettlement.ZeroAddress.selector);
        settlement.setDistributorTerms(DISTRIBUTOR, IDEAL, SERVICE, PENALTY, TARIFF, address(0));
        vm.expectRevert(abi.encodeWithSelector(IGridLedgerTypes.UnknownTariff.selector, 9));
        settlement.setDistributorTerms(DISTRIBUTOR, IDEAL, SERVICE, PENALTY, 9, distributorPayee);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.CutoffOutOfRange.selector, uint256(30 days + 1)));
        settlement.setCutoff(30 days + 1);
        vm.stopPrank();
        bytes32 setter = keccak256("TARIFF_SETTER_ROLE");
        vm.startPrank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.MissingLedgerRole.selector, stranger, setter));
        settlement.setDistributorTerms(DISTRIBUTOR, IDEAL, SERVICE, PENALTY, TARIFF, stranger);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.MissingLedgerRole.selector, stranger, setter));
        settlement.setPlantPrice(PLANT, 1);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.MissingLedgerRole.selector, stranger, bytes32(0)));
        settlement.setCutoff(0);
        vm.stopPrank();
    }

    function test_RevertWhen_DepositValueMismatch() public {
        vm.deal(stranger, 10);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.WrongPayment.selector, 9, 10));
        settlement.addDeposit{value: 9}(10);
    }

    /// @dev Two distributors under one plant share its output in proportion to their own meters.
    function test_TwoDistributorsShareThePlant() public {
        uint256 key2 = 0xD2;
        vm.startPrank(admin);
        gl.registerFeeder(21, vm.addr(key2), PLANT, 500, BIG_POWER);
        settlement.setDistributorTerms(21, IDEAL, SERVICE, PENALTY, TARIFF, stranger);
        vm.stopPrank();
        vm.warp(_start(P) + 1);
        _feederRead(key2, 21, 0);
        vm.warp(_start(P + 1) - 1);
        _feederRead(key2, 21, 2500);
        // Plant 10,000; distributors 7,500 and 2,500 (sum 10,000): shares 7,500 and 2,500.
        _period(10_000, 7500, 4000, 3000);
        ISettlement.Statement memory s = _settleAtCutoff();
        assertEq(s.plantWh, 7500);
        ISettlement.Statement memory s2 = settlement.settle(P, 21);
        assertEq(s2.plantWh, 2500);
        assertEq(s2.householdsWh, 0);
        assertEq(s2.lossBps, 10_000);
        assertEq(s2.markupBps, 0);
        assertEq(settlement.owedTo(plantOwner), 1_000_000, "the plant is paid its output once");
    }

    /// @dev Settlement reads the ledger and writes only its own books: households keep paying and reading.
    function test_HouseholdsPayWhateverTheFeederData() public {
        _period(5000, 50_000_000, 6000, 3000);
        vm.warp(_start(P + 1) + CUTOFF);
        vm.expectRevert(
            abi.encodeWithSelector(ISettlement.LossOutOfRange.selector, DISTRIBUTOR, P, uint256(5000), uint256(9000))
        );
        settlement.settle(P, DISTRIBUTOR);
        uint256 due = gl.amountDue(HOUSE_A);
        assertGt(due, 0);
        vm.prank(payer);
        gl.payBill{value: due}(HOUSE_A);
        assertEq(gl.amountDue(HOUSE_A), 0);
    }
}

contract SettlementTokenTest is SettlementTestBase {
    function setUp() public {
        _setUpSettlement(true);
    }

    function test_TokenDepositSettleAndWithdraw() public {
        assertEq(settlement.paymentToken(), address(usd));
        _period(10_000, 9500, 6000, 3000);
        _settleAtCutoff();
        vm.prank(plantOwner);
        settlement.withdraw(1_000_000);
        assertEq(usd.balanceOf(plantOwner), 1_000_000);
        assertEq(usd.balanceOf(address(settlement)), settlement.deposit() + settlement.totalOwed());
        vm.deal(stranger, 1);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.WrongPayment.selector, 1, 5));
        settlement.addDeposit{value: 1}(5);
    }

    function test_RevertWhen_LedgerIsZero() public {
        vm.expectRevert(ISettlement.ZeroAddress.selector);
        new Settlement(address(0), 0);
    }
}
