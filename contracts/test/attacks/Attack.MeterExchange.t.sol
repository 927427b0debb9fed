// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {LedgerTestBase} from "../utils/LedgerTestBase.sol";

/// @dev A meter exchange (or register reset) recorded by the registrar: the energy before and after it is billed once,
/// in the period it was used, and the registrar cannot use it to bill energy nobody used, erase attested energy, move
/// energy between periods or bill it twice. A household cannot record one.
contract AttackMeterExchangeTest is LedgerTestBase {
    uint32 internal constant M = 21;
    uint64 internal constant FIRST_WH = 1000;

    function setUp() public {
        _deploy(false);
        _registerWith(M, meterSigner, Mode.Postpaid, TARIFF, FIRST_WH);
    }

    function _exchange(uint64 oldFinalWh, uint64 newInitialWh) internal {
        vm.prank(admin);
        gl.recordMeterExchange(M, oldFinalWh, newInitialWh, uint32(vm.getBlockTimestamp()));
    }

    /// @dev The energy billed in every period up to the open one (one meter on the feeder).
    function _billedWh() internal view returns (uint256 total) {
        for (uint32 p = 1; p <= gl.currentPeriod(); ++p) {
            total += gl.feederPeriod(FEEDER, p).childrenWh;
        }
    }

    function _settleNextPeriod() internal {
        vm.warp(_periodEnd() + 1);
        gl.settle(M);
    }

    function test_MeterExchange_BillsBothRegistersOnceInThePeriod() public {
        _readAfter(M, 10 minutes, 1500);
        skip(10 minutes);
        vm.expectEmit(address(ledger));
        emit MeterExchanged(M, 1800, 5, uint32(vm.getBlockTimestamp()));
        _exchange(1800, 5);
        assertEq(gl.meter(M).lastWh, 5, "the register continues from the new meter's");
        Bill memory b = gl.billOf(M);
        assertEq(b.period, 1);
        assertEq(b.energyWh, 800, "the old register's final bill, to its final reading");
        assertEq(b.amount, _cost(800));
        _readAfter(M, 10 minutes, 405);
        _settleNextPeriod();
        b = gl.billOf(M);
        assertEq(b.period, 1, "the new register's energy stays in the period it was used");
        assertEq(b.energyWh, 400, "from the new register's initial value");
        assertEq(gl.feederPeriod(FEEDER, 1).childrenWh, 1200);
        assertEq(gl.meter(M).balance, -int256(_cost(800) + _cost(400)));
    }

    function test_Attack_ExchangeKeepsTheTariffUntilThePeriodEnds() public {
        uint32 dear = 2;
        vm.startPrank(admin);
        gl.setTariff(dear, _flat(3 * PRICE));
        gl.setMeterTariff(M, dear);
        vm.stopPrank();
        _readAfter(M, 10 minutes, 1500);
        skip(1 minutes);
        _exchange(1600, 0);
        assertEq(gl.meter(M).tariffId, TARIFF, "the exchange does not bring the next period's tariff forward");
        assertEq(gl.meter(M).nextTariffId, dear);
        _readAfter(M, 10 minutes, 100);
        _settleNextPeriod();
        assertEq(gl.meter(M).balance, -int256(_cost(600) + _cost(100)));
    }

    function test_MeterExchange_NewRegisterBillsInLaterPeriods() public {
        _readAfter(M, 10 minutes, 1500);
        skip(40 minutes);
        _exchange(1700, 0);
        vm.warp(_periodEnd() + 5 minutes);
        _read(M, 300);
        _settleNextPeriod();
        assertEq(gl.feederPeriod(FEEDER, 1).childrenWh, 700, "the old meter's energy stays in its period");
        assertEq(gl.feederPeriod(FEEDER, 2).childrenWh, 300, "the new meter's in the period it was read");
        assertEq(gl.meter(M).balance, -int256(_cost(700) + _cost(300)));
    }

    function test_MeterExchange_LateExchangeBillsInThePeriodOfItsTime() public {
        _readAfter(M, 10 minutes, 1500);
        uint32 exchangedAt = uint32(vm.getBlockTimestamp() + 20 minutes);
        vm.warp(_periodEnd() + 2 minutes);
        vm.prank(admin);
        gl.recordMeterExchange(M, 1900, 10, exchangedAt);
        assertEq(gl.feederPeriod(FEEDER, 1).childrenWh, 900, "the exchange completed period 1, as a late reading would");
        _readAfter(M, 10 minutes, 60);
        _settleNextPeriod();
        assertEq(gl.feederPeriod(FEEDER, 2).childrenWh, 50);
        assertEq(_billedWh(), 900 + 50);
    }

    function test_MeterExchange_TimeOfUseKeepsTheOldRegistersBand() public {
        uint32 tou = 4;
        Tariff memory t = _flat(PRICE);
        t.bands = new Band[](2);
        t.bands[0] = Band(30, 45, 600_000); // 00:30-00:45
        t.bands[1] = Band(1380, 20, 100_000); // 23:00-00:20, wraps midnight
        vm.prank(admin);
        gl.setTariff(tou, t);
        uint32 id = 22;
        vm.warp(T0 + 21 minutes);
        _registerWith(id, meterSigner, Mode.Postpaid, tou, 5000);
        skip(4 minutes);
        // 00:21-00:25 touches only the base price.
        vm.prank(admin);
        gl.recordMeterExchange(id, 5100, 0, uint32(vm.getBlockTimestamp()));
        // 00:25-00:40 touches the 00:30-00:45 band.
        _readAfter(id, 15 minutes, 200);
        vm.warp(_periodEnd() + 1);
        gl.settle(id);
        assertEq(gl.feederPeriod(FEEDER, 1).childrenWh, 300);
        assertEq(
            gl.meter(id).balance, -int256(uint256(100 * PRICE + 200 * 600_000) / 1000), "each register at its own band"
        );
    }

    function test_MeterExchange_PrepaidCreditCountsTheOldRegistersEnergy() public {
        uint32 id = 23;
        _registerWith(id, meterSigner, Mode.Prepaid, TARIFF, 0);
        vm.prank(payer);
        gl.topUp{value: _cost(1000)}(id, _cost(1000));
        _readAfter(id, 5 minutes, 800);
        skip(1 minutes);
        vm.prank(admin);
        gl.recordMeterExchange(id, 800, 0, uint32(vm.getBlockTimestamp()));
        _readAfter(id, 5 minutes, 150);
        assertEq(gl.meter(id).exhaustedAt, 0, "950 Wh of 1000 paid for");
        _readAfter(id, 5 minutes, 300);
        assertEq(gl.meter(id).exhaustedAt, uint32(vm.getBlockTimestamp()), "1100 Wh: the credit ran out");
        assertLt(gl.permitUntil(id), FOREVER);
    }

    function test_Attack_HouseholdCannotRecordAnExchange() public {
        _readAfter(M, 10 minutes, 1500);
        bytes32 role = ledger.METER_REGISTRAR_ROLE();
        address[2] memory households = [payer, meterSigner];
        for (uint256 i; i < households.length; ++i) {
            vm.prank(households[i]);
            vm.expectRevert(
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, households[i], role)
            );
            gl.recordMeterExchange(M, 1500, 0, uint32(vm.getBlockTimestamp()));
        }
    }

    function test_Attack_ExchangeCannotEraseAttestedEnergy() public {
        _readAfter(M, 10 minutes, 1500);
        skip(1 minutes);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(RegisterDecreased.selector, M, 1499, 1500));
        gl.recordMeterExchange(M, 1499, 0, uint32(vm.getBlockTimestamp()));
    }

    function test_Attack_ExchangeCannotBillBeyondTheRating() public {
        _readAfter(M, 10 minutes, 1500);
        skip(1 minutes);
        // 20 kW for a minute is 333 Wh.
        uint64 tooMuch = 1500 + 334;
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(ImplausiblePower.selector, M, uint256(334) * 3600 / 60, MAX_POWER));
        gl.recordMeterExchange(M, tooMuch, 0, uint32(vm.getBlockTimestamp()));
        // Nor through the new register: its first reading is checked against the rating from the exchange's time.
        _exchange(1500, 0);
        skip(1 minutes);
        Reading memory r = Reading(M, 334, uint32(vm.getBlockTimestamp()));
        bytes memory sig = _sign(meterKey, r);
        vm.expectRevert(abi.encodeWithSelector(ImplausiblePower.selector, M, uint256(334) * 3600 / 60, MAX_POWER));
        gl.submitReading(r, sig);
    }

    function test_Attack_ExchangeCannotBeReplayedOrBackdated() public {
        _readAfter(M, 10 minutes, 1500);
        uint32 lastTs = uint32(vm.getBlockTimestamp());
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(StaleReading.selector, M, lastTs, lastTs));
        gl.recordMeterExchange(M, 1600, 0, lastTs);
        skip(5 minutes);
        _exchange(1600, 0);
        uint32 at = uint32(vm.getBlockTimestamp());
        // The same exchange again would bill the old register twice: it is stale.
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(StaleReading.selector, M, at, at));
        gl.recordMeterExchange(M, 1600, 0, at);
        // A reading the old meter signed before the exchange cannot land after it.
        Reading memory old = Reading(M, 1550, at - 1);
        bytes memory sig = _sign(meterKey, old);
        vm.expectRevert(abi.encodeWithSelector(StaleReading.selector, M, at - 1, at));
        gl.submitReading(old, sig);
        _settleNextPeriod();
        assertEq(_billedWh(), 600);
    }

    function test_RevertWhen_MeterExchange_InTheFuture() public {
        uint32 tooLate = uint32(vm.getBlockTimestamp() + SKEW + 1);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(FutureReading.selector, M, tooLate, vm.getBlockTimestamp()));
        gl.recordMeterExchange(M, 1000, 0, tooLate);
    }

    function test_RevertWhen_MeterExchange_UnknownOrRetiredMeter() public {
        uint32 at = uint32(vm.getBlockTimestamp() + 1);
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(UnknownMeter.selector, 99));
        gl.recordMeterExchange(99, 1000, 0, at);
        gl.retireMeter(M);
        vm.expectRevert(abi.encodeWithSelector(RetiredMeter.selector, M));
        gl.recordMeterExchange(M, 1000, 0, at);
        vm.stopPrank();
    }

    function test_RevertWhen_MeterExchange_NewRegisterOutOfRange() public {
        skip(1 minutes);
        uint64 beyond = uint64(type(uint40).max) + 1;
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(RegisterOutOfRange.selector, M, beyond));
        gl.recordMeterExchange(M, 1000, beyond, uint32(vm.getBlockTimestamp()));
    }

    function test_RevertWhen_MeterExchange_Paused() public {
        skip(1 minutes);
        vm.startPrank(admin);
        gl.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        gl.recordMeterExchange(M, 1000, 0, uint32(vm.getBlockTimestamp()));
        vm.stopPrank();
    }

    /// @dev Whatever the readings around it, billed energy = (oldFinal - first) + (last - newInitial), and each
    /// period's charge is its energy at the price, rounded once.
    function testFuzz_MeterExchange_EnergyBilledOnce(
        uint256[4] memory before,
        uint256[4] memory later,
        uint64 newInitial
    ) public {
        uint64 wh = FIRST_WH;
        for (uint256 i; i < before.length; ++i) {
            wh = _fuzzReading(wh, before[i]);
        }
        uint256 dt = bound(before[0] >> 128, 1, 2 * PERIOD);
        skip(dt);
        uint64 oldFinal = wh + uint64(bound(before[1] >> 128, 0, uint256(MAX_POWER) * dt / 3600));
        newInitial = uint64(bound(newInitial, 0, 1e9));
        _exchange(oldFinal, newInitial);
        wh = newInitial;
        for (uint256 i; i < later.length; ++i) {
            wh = _fuzzReading(wh, later[i]);
        }
        _settleNextPeriod();
        assertEq(_billedWh(), (oldFinal - FIRST_WH) + (wh - newInitial), "billed once");
        uint256 charged;
        for (uint32 p = 1; p <= gl.currentPeriod(); ++p) {
            charged += _cost(gl.feederPeriod(FEEDER, p).childrenWh);
        }
        assertEq(gl.meter(M).balance, -int256(charged), "each period priced once");
    }

    /// @dev A reading after a random interval (up to two periods) with a random energy within the rating.
    function _fuzzReading(uint64 wh, uint256 seed) internal returns (uint64) {
        uint256 dt = bound(seed, 1, 2 * PERIOD);
        skip(dt);
        wh += uint64(bound(seed >> 64, 0, uint256(MAX_POWER) * dt / 3600));
        _read(M, wh);
        return wh;
    }
}
