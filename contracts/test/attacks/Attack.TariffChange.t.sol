// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {LedgerTestBase} from "../utils/LedgerTestBase.sol";

/// @dev Readings withheld or delayed across a tariff version change: the energy of an interval that spans the change
/// is priced at the dearest version (and band) it touches, and energy used wholly before it at the old version.
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

        uint256[4] memory ts;
        uint64[4] memory wh;
        uint256 t = T0;
        uint64 total;
        for (uint256 i; i < 4; ++i) {
            uint256 gap = bound(gaps[i], 2, 50 minutes);
            t += gap;
            total += uint64(bound(powers[i], 0, MAX_POWER) * gap / 3600);
            (ts[i], wh[i]) = (t, total);
        }
        for (uint256 i; i < 4; ++i) {
            vm.warp(ts[i]);
            _submit(HONEST, wh[i], ts[i]);
            if (i == 3 || (keep >> i) & 1 == 1) {
                // Relayed late, but before the honest household's next reading (the last one: up to 3 periods).
                vm.warp(ts[i] + bound(delays[i], 0, i == 3 ? 3 * PERIOD : ts[i + 1] - ts[i] - 1));
                if ((settleBefore >> i) & 1 == 1) gl.settle(WITHHOLDER);
                _submit(WITHHOLDER, wh[i], ts[i]);
            }
        }
        vm.warp(T0 + 8 * PERIOD);
        gl.settle(HONEST);
        gl.settle(WITHHOLDER);
        assertLe(gl.meterBalance(WITHHOLDER), gl.meterBalance(HONEST), "a subsequence costs at least as much");
    }
}
