// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {StdInvariant} from "forge-std/StdInvariant.sol";

import {FeederHandler} from "../handlers/FeederHandler.sol";
import {LedgerTestBase} from "../utils/LedgerTestBase.sol";

/// @dev Feeder keys that stamp their readings late or ahead, go silent, replay and backdate (see `FeederHandler`):
/// whatever they do, each period shows exactly the energy of the readings stamped in it, once (the running period's
/// too, before a later reading stores it), a parent's children sum is at every moment its child feeders' energy plus
/// its households' billed energy, so that shares of a plant's output cut as `Settlement` cuts them never add up to
/// more than the output, and every loss check sees those same figures.
contract AttackFeederInvariantsTest is LedgerTestBase {
    FeederHandler internal handler;

    function setUp() public {
        _deploy(false);
        handler = new FeederHandler(gl, feederKey, meterKey, FEEDER_POWER, MAX_POWER);
        vm.startPrank(admin);
        gl.registerFeeder(handler.DISTRIBUTOR(), vm.addr(handler.DISTRIBUTOR_KEY()), FEEDER, 500, FEEDER_POWER);
        gl.registerFeeder(handler.SIBLING(), vm.addr(handler.SIBLING_KEY()), FEEDER, 500, FEEDER_POWER);
        gl.registerMeter(
            handler.HOUSE_A(),
            MeterParams(meterSigner, payer, handler.DISTRIBUTOR(), TARIFF, Mode.Postpaid, MAX_POWER, 0)
        );
        gl.registerMeter(
            handler.HOUSE_B(),
            MeterParams(meterSigner, payer, handler.DISTRIBUTOR(), TARIFF, Mode.Postpaid, MAX_POWER, 0)
        );
        vm.stopPrank();
        bytes4[] memory selectors = new bytes4[](9);
        selectors[0] = FeederHandler.warp.selector;
        selectors[1] = FeederHandler.feederReads.selector;
        selectors[2] = FeederHandler.feederReads.selector;
        selectors[3] = FeederHandler.feederReplays.selector;
        selectors[4] = FeederHandler.feederBackdates.selector;
        selectors[5] = FeederHandler.checksLoss.selector;
        selectors[6] = FeederHandler.houseReads.selector;
        selectors[7] = FeederHandler.houseSettles.selector;
        selectors[8] = FeederHandler.warp.selector;
        targetSelector(StdInvariant.FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    /// @dev Each feeder's periods, as `feederPeriod` shows them, are the energy of its readings stamped in them; they
    /// add up to its register's rise since its first reading. The plant's children sum is its distributors' periods,
    /// distributor 2's its households' bills; a settlement's shares of the plant's output never exceed it.
    function invariant_FeederPeriodsAreTheirReadings() public view {
        uint32 last = handler.maxPeriod() + 1;
        uint256[4] memory sums;
        for (uint32 p = 0; p <= last; ++p) {
            FeederPeriod[4] memory fp;
            for (uint32 id = 1; id <= 3; ++id) {
                fp[id] = gl.feederPeriod(id, p);
                assertEq(fp[id].feederWh, handler.energyOf(id, p), "feeder period != its readings");
                assertEq(fp[id].childrenWh, handler.childrenOf(id, p), "children sum != children");
                sums[id] += fp[id].feederWh;
            }
            uint256 plantWh = fp[1].feederWh;
            if (fp[1].childrenWh != 0) {
                uint256 shares = Math.mulDiv(plantWh, fp[2].feederWh, fp[1].childrenWh)
                    + Math.mulDiv(plantWh, fp[3].feederWh, fp[1].childrenWh);
                assertLe(shares, plantWh, "shares exceed the plant's output");
            }
        }
        for (uint32 id = 1; id <= 3; ++id) {
            if (!handler.reading(id)) continue;
            assertEq(sums[id], gl.feeder(id).lastWh - handler.firstWh(id), "periods != register rise");
        }
    }

    /// @dev No replay or backdated reading is accepted, every loss check sees the ghost figures, households read.
    function invariant_NoEnergyTwiceOrElsewhere() public view {
        assertEq(handler.replays(), 0, "replayed reading accepted");
        assertEq(handler.backdated(), 0, "backdated reading accepted");
        assertEq(handler.lossMismatches(), 0, "loss check saw other figures");
        assertEq(handler.householdReverts(), 0, "household reading reverted");
    }
}
