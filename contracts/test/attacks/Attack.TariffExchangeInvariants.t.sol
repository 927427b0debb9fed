// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";

import {GridLedgerBase} from "../../src/GridLedgerBase.sol";
import {IGridLedger, IGridLedgerTypes} from "../../src/interfaces/IGridLedger.sol";
import {TariffExchangeHandler} from "../handlers/TariffExchangeHandler.sol";

/// @dev A native-coin ledger deployed from its built artifacts, so that these tests compile without the ledger.
abstract contract ArtifactLedgerBase is Test, IGridLedgerTypes {
    uint256 internal constant T0 = 1_767_225_600; // 2026-01-01 00:00 UTC
    uint32 internal constant PERIOD = 1 hours;
    uint64 internal constant PRICE = 300_000;

    IGridLedger internal gl;
    address internal admin = makeAddr("admin");
    address internal treasury = makeAddr("treasury");
    uint256 internal meterKey = 0xA11CE;

    function _deploy() internal {
        vm.warp(T0);
        GridLedgerBase.Config memory c = GridLedgerBase.Config({
            admin: admin,
            adminTransferDelay: 1 days,
            paymentToken: address(0),
            treasury: treasury,
            genesis: uint32(T0),
            periodLength: PERIOD,
            paymentWindow: 10 minutes,
            grace: 15 minutes,
            maxClockSkew: 5 minutes,
            readingTimeoutPeriods: 0
        });
        address views = deployCode("GridLedgerFeedersAndViews.sol:GridLedgerFeedersAndViews", abi.encode(c));
        address ext = deployCode("GridLedgerExtension.sol:GridLedgerExtension", abi.encode(c, views));
        // No producer meters here: the producers module runs without an energy token.
        address producers = deployCode("GridLedgerProducers.sol:GridLedgerProducers", abi.encode(c, address(0)));
        gl = IGridLedger(deployCode("GridLedger.sol:GridLedger", abi.encode(c, ext, producers)));
    }

    function _flat(uint64 price) internal pure returns (Tariff memory t) {
        t.pricePerKWh = price;
    }

    /// @dev Base price, a dear band across a period end (00:50-01:10 local) and a cheap one across midnight
    /// (23:00-00:30), at UTC+1: genesis is 01:00 local.
    function _timeOfUse() internal pure returns (Tariff memory t) {
        t.pricePerKWh = PRICE;
        t.utcOffsetSeconds = 1 hours;
        t.bands = new Band[](2);
        t.bands[0] = Band(50, 70, 4 * PRICE);
        t.bands[1] = Band(1380, 30, PRICE / 7);
    }

    /// @dev Relays meter `id`'s register `wh` as read at `at`, signed with the meter key.
    function _relayReading(uint32 id, uint64 wh, uint256 at) internal {
        Reading memory r = Reading(id, wh, uint32(at));
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(meterKey, gl.readingDigest(r));
        gl.submitReading(r, abi.encodePacked(rr, s, v));
    }
}

/// @dev Tariff versions, tariff moves and meter exchanges interleaved with withheld and late readings, payments and
/// operator withdrawals.
contract AttackTariffExchangeInvariantsTest is ArtifactLedgerBase {
    uint64 internal constant INITIAL_WH = 5000;

    TariffExchangeHandler internal handler;

    function setUp() public {
        _deploy();
        handler = new TariffExchangeHandler(gl, admin, treasury, meterKey, INITIAL_WH);
        Tariff memory prepaid;
        prepaid.pricePerKWh = PRICE + 333;
        prepaid.emergencyCredit = 1e13;
        prepaid.lowCreditThreshold = 1e14;
        vm.startPrank(admin);
        gl.setTariff(1, _flat(PRICE));
        gl.setTariff(2, _timeOfUse());
        gl.setTariff(3, prepaid);
        uint256 pairs = handler.PAIRS();
        for (uint256 k; k < handler.METERS(); ++k) {
            uint256 i = k % pairs;
            gl.registerFeeder(handler.feederOf(k), makeAddr("feeder"), 0, 500, 1_000_000);
            gl.registerMeter(
                handler.idOf(k),
                MeterParams(
                    vm.addr(meterKey),
                    handler.payerOf(k),
                    handler.feederOf(k),
                    uint32(1 + i),
                    i == 2 ? Mode.Prepaid : Mode.Postpaid,
                    handler.MAX_POWER(),
                    INITIAL_WH
                )
            );
        }
        vm.stopPrank();
        targetContract(address(handler));
    }

    /// @dev 1. Per meter, the energy of all its bills plus the open period's equals the sum of every accepted
    /// register increase, across exchanges (old final register minus the last reading before it), to the Wh.
    function invariant_Attack_EveryWhBilledOnce() public view {
        for (uint256 k; k < handler.METERS(); ++k) {
            MeterInfo memory m = gl.meter(handler.idOf(k));
            assertEq(
                handler.billedWh(k) + (m.lastWh - m.periodStartWh), handler.acceptedWh(k), "energy lost or doubled"
            );
        }
    }

    /// @dev 2. Once a household has relayed the reading its shadow relayed last and both have billed everything, the
    /// household has paid at least what its shadow has, less one base unit of rounding per bill issued: whoever
    /// settled either meter in between.
    function invariant_Attack_WithholdingNeverLowersTheBill() public view {
        uint256 pairs = handler.PAIRS();
        for (uint256 i; i < pairs; ++i) {
            MeterInfo memory h = gl.meter(handler.idOf(i));
            MeterInfo memory s = gl.meter(handler.idOf(i + pairs));
            bool sameReading = h.lastTimestamp == s.lastTimestamp && h.lastWh == s.lastWh;
            if (!sameReading || h.lastWh != h.periodStartWh || s.lastWh != s.periodStartWh) continue;
            int256 billedHousehold = int256(handler.credited(i)) - h.balance;
            int256 billedShadow = int256(handler.credited(i + pairs)) - s.balance;
            int256 rounding = int256(uint256(h.openPeriod) + handler.exchanges(i));
            assertGe(billedHousehold + rounding, billedShadow, "the withholder paid less");
        }
    }

    /// @dev 3. The ledger holds exactly what was paid in and not withdrawn, and never less than it owes households.
    function invariant_Attack_MoneyConserved() public view {
        assertEq(address(gl).balance, handler.deposits() - handler.withdrawn());
        assertEq(treasury.balance, handler.withdrawn());
        assertGe(address(gl).balance, gl.liability());
        assertEq(handler.overdrafts(), 0, "the operator took households' money");
        uint256 positive;
        for (uint256 k; k < handler.METERS(); ++k) {
            int256 b = gl.meter(handler.idOf(k)).balance;
            if (b > 0) positive += uint256(b);
        }
        assertEq(gl.liability(), positive);
    }

    /// @dev 4. No reading, payment, top-up or settle of a household reverted; a reading signed before its meter's
    /// exchange is refused as stale, and only so.
    function invariant_Attack_HouseholdCallsNeverRevert() public view {
        assertEq(handler.householdReverts(), 0, vm.toString(abi.encodePacked(handler.lastHouseholdRevert())));
    }
}

/// @dev What the invariant suite found, reduced to unit tests, and the other orders of `settle` (or of a call that closes
/// a period) before a reading. Energy of periods already closed when its reading lands was priced with the tariff the
/// meter had moved to, not the one it was used under; and all the closed periods since the last reading formed one
/// part, priced at the dearest version or band among them with the capacity of all of them, while the open period
/// formed one of its own. So whether (anyone's) `settle` came before a reading changed the bill, down or up.
contract AttackClosedPeriodPricingTest is ArtifactLedgerBase {
    uint32 internal constant DEAR = 1;
    uint32 internal constant CHEAP = 2;
    uint32 internal constant HONEST = 41;
    uint32 internal constant WITHHOLDER = 42;

    /// @dev Two meters on the dear tariff from genesis.
    function _twoMetersOnTheDearTariff() internal {
        _twoMetersOn(_flat(PRICE));
    }

    /// @dev Two meters on tariff `dear` from genesis, and a cheap flat tariff to move them to.
    function _twoMetersOn(Tariff memory dear) internal {
        _deploy();
        vm.startPrank(admin);
        gl.setTariff(DEAR, dear);
        gl.setTariff(CHEAP, _flat(PRICE / 10));
        gl.registerFeeder(1, makeAddr("feeder"), 0, 500, 1_000_000);
        gl.registerMeter(HONEST, MeterParams(vm.addr(meterKey), makeAddr("a"), 1, DEAR, Mode.Postpaid, 20_000, 0));
        gl.registerMeter(WITHHOLDER, MeterParams(vm.addr(meterKey), makeAddr("b"), 1, DEAR, Mode.Postpaid, 20_000, 0));
        vm.stopPrank();
    }

    /// @dev Both meters relay the same reading.
    function _relayBoth(uint64 wh, uint256 at) internal {
        _relayReading(HONEST, wh, at);
        _relayReading(WITHHOLDER, wh, at);
    }

    /// @dev What each meter owes once both are settled at `at`.
    function _billsAt(uint256 at) internal returns (int256 honest, int256 withholder) {
        vm.warp(at);
        gl.settle(HONEST);
        gl.settle(WITHHOLDER);
        return (-gl.meterBalance(HONEST), -gl.meterBalance(WITHHOLDER));
    }

    /// @dev Once both meters are settled at `at`, each owes exactly `fair`: what the readings allow, whoever called
    /// what in between.
    function _assertBothBilledAt(uint256 at, uint256 fair, string memory withholderMessage) internal {
        (int256 honest, int256 withholder) = _billsAt(at);
        assertEq(honest, int256(fair), "the readings allow no more");
        assertEq(withholder, int256(fair), withholderMessage);
    }

    /// @dev Both meters on the dear tariff in period 1, moved to the cheap one from period 2.
    function _twoMetersMovedToTheCheapTariff() internal {
        _twoMetersOnTheDearTariff();
        vm.startPrank(admin);
        gl.setMeterTariff(HONEST, CHEAP);
        gl.setMeterTariff(WITHHOLDER, CHEAP);
        vm.stopPrank();
    }

    function test_Attack_WithheldReadingAcrossATariffMoveIsBilledAtTheTariffItWasUsedUnder() public {
        _twoMetersMovedToTheCheapTariff();
        // 1,000 Wh used in period 1, under the dear tariff; the honest meter relays it at once.
        vm.warp(T0 + 50 minutes);
        _relayReading(HONEST, 1000, T0 + 50 minutes);
        // In period 2 anyone settles the withholder (period 1 closes empty), then it relays its period-1 reading.
        vm.warp(T0 + PERIOD + 1 minutes);
        gl.settle(WITHHOLDER);
        _relayReading(WITHHOLDER, 1000, T0 + 50 minutes);
        vm.warp(T0 + 3 * PERIOD);
        gl.settle(HONEST);
        gl.settle(WITHHOLDER);
        assertEq(gl.amountDue(HONEST), 1000 * uint256(PRICE) / 1000, "period 1 at the dear tariff");
        assertGe(gl.amountDue(WITHHOLDER), gl.amountDue(HONEST), "withholding across the move lowered the bill");
    }

    /// @dev The invariant suite's counterexample, reduced: no reading is withheld; both meters are exchanged at the same
    /// time with the same registers, but one household topped up first (which closed its period 1, empty). The
    /// interval since registration fits in period 1 at the meter's rating, so the dear tariff should bill all of it.
    function test_Attack_ATopUpBeforeAnExchangeAcrossATariffMoveLowersTheBill() public {
        _twoMetersMovedToTheCheapTariff();
        vm.warp(T0 + PERIOD + 30 minutes);
        uint256 toppedUp = 1;
        vm.deal(makeAddr("b"), toppedUp);
        vm.prank(makeAddr("b"));
        gl.topUp{value: toppedUp}(WITHHOLDER, toppedUp);
        vm.startPrank(admin);
        gl.recordMeterExchange(HONEST, 1000, 0, uint32(vm.getBlockTimestamp()));
        gl.recordMeterExchange(WITHHOLDER, 1000, 0, uint32(vm.getBlockTimestamp()));
        vm.stopPrank();
        vm.warp(T0 + 3 * PERIOD);
        gl.settle(HONEST);
        gl.settle(WITHHOLDER);
        assertEq(-gl.meterBalance(HONEST), int256(1000 * uint256(PRICE) / 1000), "period 1 at the dear tariff");
        // The top-up is credit, not a lower bill.
        assertGe(
            -gl.meterBalance(WITHHOLDER) + int256(toppedUp), -gl.meterBalance(HONEST), "the top-up lowered the bill"
        );
    }

    /// @dev The suite's second counterexample, reduced: no tariff move, two meters with the same readings at the same
    /// times over a fall of the tariff's price from period 2. Someone settles one of them in period 3, a minute before
    /// their next reading lands: its interval since period 1 then has a "closed periods" part that spans period 1's
    /// last 600 s and all of period 2, priced at period 1's dear version with the capacity of both, so it bills more
    /// than the 3,334 Wh the rating could draw in period 1 at the dear price: more than the readings allow.
    function test_Attack_ASettleBeforeAReadingAcrossAPriceFallRaisesTheBill() public {
        _twoMetersOnTheDearTariff();
        vm.prank(admin);
        gl.setTariff(DEAR, _flat(PRICE / 10)); // the dear tariff falls from period 2
        vm.warp(T0 + 50 minutes);
        _relayBoth(1000, T0 + 50 minutes);
        vm.warp(T0 + 2 * PERIOD + 1 minutes);
        gl.settle(WITHHOLDER);
        vm.warp(T0 + 2 * PERIOD + 2 minutes);
        _relayBoth(11_000, T0 + 2 * PERIOD + 2 minutes);
        (int256 honest, int256 withholder) = _billsAt(T0 + 4 * PERIOD);
        // 1,000 Wh, then of the next 10,000 Wh the 3,334 Wh that fit in period 1's last 600 s at the dear price.
        uint256 fair = 1000 * uint256(PRICE) / 1000 + 3334 * uint256(PRICE) / 1000 + 6666 * uint256(PRICE / 10) / 1000;
        assertEq(honest, int256(fair), "the readings allow no more");
        assertLe(withholder, honest + 2, "someone else's settle raised the bill");
    }

    /// @dev The suite's third counterexample, reduced: time-of-use, no tariff change, no reading from registration to
    /// an exchange of both meters five and a half periods later; someone settles one of them first. Its closed
    /// periods then formed one part at the dear band of period 1's first ten minutes with the capacity of all five.
    function test_Attack_ASettleBeforeAnExchangeAcrossTimeOfUseBandsRaisesTheBill() public {
        _twoMetersOn(_timeOfUse()); // genesis is 01:00 local: in the dear band
        vm.warp(T0 + 5 * PERIOD + 30 minutes);
        gl.settle(WITHHOLDER);
        vm.startPrank(admin);
        gl.recordMeterExchange(HONEST, 50_000, 0, uint32(vm.getBlockTimestamp()));
        gl.recordMeterExchange(WITHHOLDER, 50_000, 0, uint32(vm.getBlockTimestamp()));
        vm.stopPrank();
        // Period 1 (with the dear band) holds at most 20,000 Wh at the rating; the other 30,000 Wh at the base price.
        uint256 fair = 20_000 * uint256(4 * PRICE) / 1000 + 30_000 * uint256(PRICE) / 1000;
        _assertBothBilledAt(T0 + 7 * PERIOD, fair, "someone else's settle changed the bill");
    }

    /// @dev Both meters read at 01:30 local and 26 hours later; between them the dear band (00:50-01:10 local) comes
    /// once, in periods 24 and 25. A household that settled itself in period 24 made that period a part of its own and
    /// cut its closed periods (without the dear band) off the rest, so only periods 24 to 26 held energy at the dear
    /// price, not the whole day its readings leave open: it paid 36,000,000 less.
    function test_Attack_ASettleOfOnesOwnMeterBeforeAReadingLowersTheBill() public {
        _twoMetersOn(_timeOfUse()); // genesis is 01:00 local: in the dear band
        vm.warp(T0 + 30 minutes);
        _relayBoth(1000, T0 + 30 minutes);
        vm.warp(T0 + 23 * PERIOD + 5 minutes);
        vm.prank(makeAddr("b"));
        gl.settle(WITHHOLDER);
        vm.warp(T0 + 26 * PERIOD);
        _relayBoth(101_000, T0 + 26 * PERIOD);
        // The first 1,000 Wh touched the dear band at 01:00; the next 100,000 Wh fit in the periods after the first,
        // which the dear band prices.
        uint256 fair = 101_000 * uint256(4 * PRICE) / 1000;
        _assertBothBilledAt(T0 + 28 * PERIOD, fair, "the household's own settle changed its bill");
    }

    /// @dev An operator's move of a meter to the tariff it is on changes nothing but closes its period (in period 2,
    /// so that period 2 was cut off from the dear day after it) and leaves a move in its history (which must not cut
    /// the late reading's periods either, once anyone has settled them).
    function test_Attack_AMoveToTheSameTariffChangesNoBill() public {
        _twoMetersOn(_timeOfUse()); // genesis is 01:00 local: in the dear band
        vm.warp(T0 + 30 minutes);
        _relayBoth(0, T0 + 30 minutes);
        vm.warp(T0 + PERIOD + 5 minutes);
        vm.prank(admin);
        gl.setMeterTariff(WITHHOLDER, DEAR);
        vm.warp(T0 + 26 * PERIOD + 5 minutes);
        gl.settle(WITHHOLDER);
        _relayBoth(500_000, T0 + 26 * PERIOD);
        // 500,000 Wh fit in the 25 periods from period 2, which the dear band prices; period 1's last half hour is
        // at the base price and holds none of it.
        uint256 fair = 500_000 * uint256(4 * PRICE) / 1000;
        _assertBothBilledAt(T0 + 28 * PERIOD, fair, "a move to the same tariff changed the bill");
    }
}
