// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {LedgerTestBase} from "../utils/LedgerTestBase.sol";

/// @dev Readings withheld or delayed across a tariff version change. An interval that spans the start of a period is cut
/// there, and its energy fills the parts dearest first, each holding at most what the meter's rating draws in its time;
/// energy used wholly in a closed period is priced at that period's version.
contract AttackTariffChangeTest is LedgerTestBase {
    uint32 internal constant HONEST = 7;
    uint32 internal constant WITHHOLDER = 8;
    uint32 internal constant LATE = 9;
    uint32 internal constant TOU = 2;

    function _submit(uint32 id, uint64 wh, uint256 ts) internal {
        Reading memory r = Reading(id, wh, uint32(ts));
        gl.submitReading(r, _sign(meterKey, r));
    }

    /// @dev Announced during period 1, in force from period 2.
    function _announce(uint32 tariffId, Tariff memory t) internal {
        vm.prank(admin);
        gl.setTariff(tariffId, t);
    }

    /// @dev Four readings after `start`, `minGap` to `maxGap` apart, each interval at a power up to the meter's rating.
    function _readings(uint256 start, uint256 minGap, uint256 maxGap, uint256[4] memory gaps, uint256[4] memory powers)
        internal
        pure
        returns (Reading[4] memory r)
    {
        uint256 t = start;
        uint64 total;
        for (uint256 i; i < 4; ++i) {
            uint256 gap = bound(gaps[i], minGap, maxGap);
            t += gap;
            total += uint64(bound(powers[i], 0, MAX_POWER) * gap / 3600);
            r[i] = Reading(0, total, uint32(t));
        }
    }

    /// @dev The honest household relays every reading on time; the withholder the ones `keep` marks and the last,
    /// each delayed (before the next reading is taken; the last by up to `lastDelay`) and maybe after a `settle`.
    /// Then both settle far later.
    function _relay(Reading[4] memory r, uint256[4] memory delays, uint8 keep, uint8 settleBefore, uint256 lastDelay)
        internal
    {
        for (uint256 i; i < 4; ++i) {
            vm.warp(r[i].timestamp);
            _submit(HONEST, r[i].wh, r[i].timestamp);
            if (i == 3 || (keep >> i) & 1 == 1) {
                vm.warp(
                    r[i].timestamp + bound(delays[i], 0, i == 3 ? lastDelay : r[i + 1].timestamp - r[i].timestamp - 1)
                );
                if ((settleBefore >> i) & 1 == 1) gl.settle(WITHHOLDER);
                _submit(WITHHOLDER, r[i].wh, r[i].timestamp);
            }
        }
        vm.warp(T0 + 8 * PERIOD);
        gl.settle(HONEST);
        gl.settle(WITHHOLDER);
    }

    function test_Attack_WithholdingOrDelayingBeforeATariffCutNeverLowersTheBill() public {
        _deploy(false);
        _register(HONEST, Mode.Postpaid);
        _register(WITHHOLDER, Mode.Postpaid);
        _register(LATE, Mode.Postpaid);
        _announce(TARIFF, _flat(PRICE / 10));
        // The same consumption: 1,000 Wh by 00:50 (period 1), 1,010 Wh at 01:01 (period 2).
        vm.warp(T0 + 3000);
        _submit(HONEST, 1000, T0 + 3000);
        Reading memory held = Reading(LATE, 1000, uint32(T0 + 3000));
        bytes memory heldSig = _sign(meterKey, held);

        vm.warp(T0 + PERIOD + 60);
        gl.settle(LATE); // period 1 closes with 0 Wh
        gl.submitReading(held, heldSig); // relayed after the settle: billed with period 1, at its price
        assertEq(gl.billOf(LATE).amount, _cost(1000));
        _submit(HONEST, 1010, T0 + PERIOD + 60);
        _submit(WITHHOLDER, 1010, T0 + PERIOD + 60);
        _submit(LATE, 1010, T0 + PERIOD + 61);

        vm.warp(T0 + 2 * PERIOD + 60);
        gl.settle(HONEST);
        gl.settle(WITHHOLDER);
        gl.settle(LATE);
        // The 10 Wh interval spanning the cut takes the dearer (old) price for everyone.
        uint256 honestOwes = gl.amountDue(HONEST);
        assertEq(honestOwes, _cost(1010));
        assertGe(gl.amountDue(WITHHOLDER), honestOwes, "withholding the last reading before the cut");
        assertGe(gl.amountDue(LATE), honestOwes, "relaying it after settle");
    }

    function test_Attack_ADelayedReadingBeforeAPriceRiseIsBilledAtTheOldPrice() public {
        _deploy(false);
        _register(HONEST, Mode.Postpaid);
        _register(LATE, Mode.Postpaid);
        _announce(TARIFF, _flat(PRICE * 10));
        vm.warp(T0 + 3000);
        _submit(HONEST, 1000, T0 + 3000);
        Reading memory held = Reading(LATE, 1000, uint32(T0 + 3000));
        bytes memory heldSig = _sign(meterKey, held);

        // A relayer holds the household's reading back past the rise and someone settles first.
        vm.warp(T0 + PERIOD + 60);
        gl.settle(LATE);
        gl.submitReading(held, heldSig);
        vm.warp(T0 + 2 * PERIOD + 60);
        gl.settle(HONEST);
        gl.settle(LATE);
        assertEq(gl.amountDue(HONEST), _cost(1000));
        assertEq(gl.amountDue(LATE), gl.amountDue(HONEST), "the delay does not raise the bill");
    }

    /// @dev Four readings over three periods with a time-of-use version in period 1 and another (random prices and
    /// bands) from period 2: a household relaying any subsequence of them (the last one kept, so the energy is the
    /// same), each maybe delayed and preceded by a `settle`, owes at least as much as one relaying all on time.
    function testFuzz_Attack_AnySubsequenceAcrossATariffChangeCostsAtLeastAsMuch(
        uint256[4] memory gaps,
        uint256[4] memory powers,
        uint256[4] memory delays,
        uint8 keep,
        uint8 settleBefore,
        uint64[2] memory prices,
        uint16[2] memory edges
    ) public {
        _deploy(false);
        Tariff memory v1 = _flat(PRICE);
        v1.bands = new Band[](1);
        v1.bands[0] = Band(50, 70, 4 * PRICE); // 00:50-01:10, across the period boundary
        _announce(TOU, v1);
        _registerWith(HONEST, meterSigner, Mode.Postpaid, TOU, 0);
        _registerWith(WITHHOLDER, meterSigner, Mode.Postpaid, TOU, 0);
        // Whole base units per Wh: each period's bill rounds down once, so sub-unit prices could move a rounding carry
        // between two bills (at most 1 base unit per bill), which this test does not measure.
        Tariff memory v2 = _flat(uint64(bound(prices[0], 0, 20 * PRICE / 1000) * 1000));
        v2.bands = new Band[](1);
        uint16 start = uint16(bound(edges[0], 0, 1439));
        uint16 end = uint16(bound(edges[1], 0, 1438));
        if (end >= start) ++end;
        v2.bands[0] = Band(start, end, uint64(bound(prices[1], 0, 20 * PRICE / 1000) * 1000));
        _announce(TOU, v2);

        _relay(_readings(T0, 2, 50 minutes, gaps, powers), delays, keep, settleBefore, 3 * PERIOD);
        assertLe(gl.meterBalance(WITHHOLDER), gl.meterBalance(HONEST), "a subsequence costs at least as much");
    }

    /// @dev Flat versions before and after the change at random prices (a cut or a rise), readings around it at random
    /// times: a household relaying any subsequence (the last reading kept), each maybe delayed and preceded by a
    /// `settle`, owes at least what one relaying all on time owes, less one base unit of rounding per interval.
    function testFuzz_Attack_WithheldOrDelayedAcrossAFlatVersionChangeNeverCostsLess(
        uint256[4] memory gaps,
        uint256[4] memory powers,
        uint256[4] memory delays,
        uint8 keep,
        uint8 settleBefore,
        uint64 newPrice
    ) public {
        _deploy(false);
        _register(HONEST, Mode.Postpaid);
        _register(WITHHOLDER, Mode.Postpaid);
        _announce(TARIFF, _flat(uint64(bound(newPrice, 0, 20 * PRICE))));
        // Four readings from 40 minutes into period 1 on, 1 s to 25 minutes apart: the change falls among them.
        _relay(_readings(T0 + 40 minutes, 1, 25 minutes, gaps, powers), delays, keep, settleBefore, 2 * PERIOD);
        assertLe(gl.meterBalance(WITHHOLDER), gl.meterBalance(HONEST) + 4, "withholding lowers the bill");
    }

    /// @dev The version changes exactly at a reading's timestamp (the start of period 2): the energy before it is
    /// billed at the old version, the energy after it at the new one, to the unit, for a cut and for a rise.
    function test_AReadingAtTheVersionChangeBillsEachSideAtItsOwnVersion() public {
        for (uint256 rise; rise < 2; ++rise) {
            _deploy(false);
            _register(HONEST, Mode.Postpaid);
            uint64 newPrice = rise == 1 ? PRICE * 10 : PRICE / 10;
            _announce(TARIFF, _flat(newPrice));
            vm.warp(T0 + 3000);
            _submit(HONEST, 1000, T0 + 3000);
            vm.warp(T0 + PERIOD);
            _submit(HONEST, 1100, T0 + PERIOD);
            vm.warp(T0 + PERIOD + 600);
            _submit(HONEST, 1300, T0 + PERIOD + 600);
            vm.warp(T0 + 2 * PERIOD + 60);
            gl.settle(HONEST);
            assertEq(gl.billOf(HONEST).amount, 200 * uint256(newPrice) / 1000, "period 2 at the new version");
            assertEq(gl.meterBalance(HONEST), -int256(_cost(1100) + 200 * uint256(newPrice) / 1000));
        }
    }

    /// @dev A reading one second before the change and one at it: the second interval cannot hold more than one
    /// second at the meter's rating, so the energy after the change is what it is priced at.
    function test_ReadingsAroundTheChangeBySecondsPriceOnlyWhatFitsTheDearSide() public {
        _deploy(false);
        _register(HONEST, Mode.Postpaid);
        _announce(TARIFF, _flat(PRICE * 10));
        vm.warp(T0 + PERIOD - 1);
        _submit(HONEST, 1000, T0 + PERIOD - 1);
        // 16 Wh in 3 s, of which 20 kW draws at most 11 Wh in the 2 s after the change (whole Wh of its clock).
        vm.warp(T0 + PERIOD + 2);
        _submit(HONEST, 1016, T0 + PERIOD + 2);
        vm.warp(T0 + 2 * PERIOD + 60);
        gl.settle(HONEST);
        // The dearer (new) side takes 11 Wh; the other 5 Wh are the old period's.
        assertEq(gl.billOf(HONEST).amount, 11 * uint256(PRICE) * 10 / 1000);
        assertEq(gl.meterBalance(HONEST), -int256(_cost(1005) + 11 * uint256(PRICE) * 10 / 1000));
    }

    /// @dev Energy that belongs to a period already closed, relayed two periods later after `settle`s, with a
    /// version per period: it is priced at its own period's version and added to the last bill, and the interval's
    /// energy after it fills the dearest of the later versions first, as far as the meter's rating allows.
    function test_Attack_LateEnergyOfAClosedPeriodIsPricedAtItsOwnVersion() public {
        for (uint256 settled; settled < 2; ++settled) {
            _deploy(false);
            _register(HONEST, Mode.Postpaid);
            _register(LATE, Mode.Postpaid);
            _announce(TARIFF, _flat(PRICE * 5)); // period 2
            vm.warp(T0 + 3000);
            _submit(HONEST, 1000, T0 + 3000);
            Reading memory held = Reading(LATE, 1000, uint32(T0 + 3000));
            bytes memory heldSig = _sign(meterKey, held);
            vm.warp(T0 + PERIOD);
            _submit(HONEST, 1100, T0 + PERIOD);
            vm.warp(T0 + PERIOD + 10);
            _announce(TARIFF, _flat(PRICE / 10)); // period 3
            vm.warp(T0 + 2 * PERIOD);
            _submit(HONEST, 2100, T0 + 2 * PERIOD);
            vm.warp(T0 + 2 * PERIOD + 600);
            _submit(HONEST, 2150, T0 + 2 * PERIOD + 600);
            uint256 honest = _cost(1100) + 1000 * uint256(PRICE) * 5 / 1000 + 50 * uint256(PRICE / 10) / 1000;

            // The household's readings of periods 1 and 3 are relayed in period 3, after period 2 closed.
            vm.warp(T0 + 2 * PERIOD + 700);
            if (settled == 1) gl.settle(LATE);
            gl.submitReading(held, heldSig);
            if (settled == 1) {
                assertEq(gl.billOf(LATE).period, 1, "added to the last bill");
                assertEq(gl.billOf(LATE).amount, _cost(1000), "at period 1's version");
            }
            _submit(LATE, 2150, T0 + 2 * PERIOD + 600);
            vm.warp(T0 + 4 * PERIOD);
            gl.settle(HONEST);
            gl.settle(LATE);
            // 1,150 Wh after 00:50: period 2's version is the dearest, and a whole period at 20 kW holds them all.
            uint256 late = _cost(1000) + 1150 * uint256(PRICE) * 5 / 1000;
            assertEq(-gl.meterBalance(HONEST), int256(honest));
            assertEq(-gl.meterBalance(LATE), int256(late));
            assertGe(late, honest);
        }
    }

    /// @dev Pro rata by time would split the withheld interval's energy by the times on either side of the change;
    /// the household chooses those times by choosing which readings to relay. Here it relays one reading a minute
    /// into period 1, uses 10 kWh before the cut, none after, and relays its next reading a minute before period 2
    /// ends: pro rata would bill half of the 10 kWh at the new price. The ledger bills what honest reporting does.
    function test_Attack_ProRataByTimeWouldBeGamedTheRatingBoundRuleIsNot() public {
        _deploy(false);
        _register(HONEST, Mode.Postpaid);
        _register(WITHHOLDER, Mode.Postpaid);
        _announce(TARIFF, _flat(PRICE / 10));
        vm.warp(T0 + 60);
        _submit(HONEST, 0, T0 + 60);
        _submit(WITHHOLDER, 0, T0 + 60);
        vm.warp(T0 + PERIOD - 1);
        _submit(HONEST, 10_000, T0 + PERIOD - 1);
        vm.warp(T0 + 2 * PERIOD - 60);
        _submit(HONEST, 10_000, T0 + 2 * PERIOD - 60);
        _submit(WITHHOLDER, 10_000, T0 + 2 * PERIOD - 60);
        vm.warp(T0 + 3 * PERIOD);
        gl.settle(HONEST);
        gl.settle(WITHHOLDER);
        uint256 honest = _cost(10_000);
        // Pro rata: (3600 - 60) of (7140 - 60) seconds before the change.
        uint256 proRata = _cost(5000) + 5000 * uint256(PRICE / 10) / 1000;
        assertLt(proRata, honest);
        assertEq(-gl.meterBalance(HONEST), int256(honest));
        assertEq(-gl.meterBalance(WITHHOLDER), int256(honest), "withholding gains nothing");
    }

    /// @dev An honest meter offline across a cut: only what its rating could draw before the change is billed at the
    /// old (dearer) price; the rest of the interval's energy, which must have been used after it, at the new one.
    function test_AnOfflineIntervalAcrossACutPricesOnlyWhatFitsBeforeItAtTheOldVersion() public {
        _deploy(false);
        _register(HONEST, Mode.Postpaid);
        _announce(TARIFF, _flat(PRICE / 10));
        vm.warp(T0 + PERIOD - 10);
        _submit(HONEST, 1000, T0 + PERIOD - 10);
        vm.warp(T0 + PERIOD + 1800);
        _submit(HONEST, 6000, T0 + PERIOD + 1800);
        vm.warp(T0 + 2 * PERIOD + 60);
        gl.settle(HONEST);
        // 20 kW draws 56 Wh in the 10 s before the change (55.6, in whole Wh of its clock).
        uint256 newSide = 4944 * uint256(PRICE / 10) / 1000;
        assertEq(gl.billOf(HONEST).amount, newSide);
        assertEq(-gl.meterBalance(HONEST), int256(_cost(1056) + newSide));
    }

    /// @dev Two readings relayed late, one after the other, after a `settle` into period 3: the first (period 1, at
    /// period 3's price) goes to the open period, the second reaches into period 2's dearer version and is added to
    /// the last bill. The first one's energy stays billed: adding the second to the bill does not drop it.
    function test_Attack_LateReadingsOneAfterAnotherKeepTheEnergyAlreadyRecorded() public {
        _deploy(false);
        _register(HONEST, Mode.Postpaid);
        _register(LATE, Mode.Postpaid);
        _announce(TARIFF, _flat(PRICE * 5)); // period 2
        Reading memory first = Reading(LATE, 1000, uint32(T0 + 3000));
        Reading memory second = Reading(LATE, 1500, uint32(T0 + 4000));
        bytes memory firstSig = _sign(meterKey, first);
        bytes memory secondSig = _sign(meterKey, second);
        vm.warp(T0 + 3000);
        _submit(HONEST, 1000, T0 + 3000);
        vm.warp(T0 + 4000);
        _submit(HONEST, 1500, T0 + 4000);
        vm.warp(T0 + PERIOD + 10);
        _announce(TARIFF, _flat(PRICE)); // period 3
        vm.warp(T0 + 2 * PERIOD + 60);
        gl.settle(HONEST);
        gl.settle(LATE);
        gl.submitReading(first, firstSig);
        gl.submitReading(second, secondSig);
        vm.warp(T0 + 4 * PERIOD);
        gl.settle(HONEST);
        gl.settle(LATE);
        // Honest: 1,000 Wh in period 1; the 500 Wh of the second interval all fit in its 400 s of period 2 at 20 kW
        // (2,223 Wh), period 2's dearer price.
        uint256 honest = _cost(1000) + 500 * uint256(PRICE) * 5 / 1000;
        assertEq(-gl.meterBalance(HONEST), int256(honest));
        assertEq(-gl.meterBalance(LATE), int256(honest));
    }
}
