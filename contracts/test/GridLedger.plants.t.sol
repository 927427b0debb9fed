// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {IGridLedgerProducerTypes} from "../src/interfaces/IGridLedgerProducers.sol";
import {LedgerTestBase} from "./utils/LedgerTestBase.sol";

/// @dev Plants: root feeders whose signed output mints energy tokens for their owner, from the register at which the
/// registrar made them plants.
contract GridLedgerPlantsTest is LedgerTestBase, IGridLedgerProducerTypes {
    uint32 internal constant PLANT = 5;
    uint32 internal constant DISTRIBUTOR = 6;
    uint256 internal constant PLANT_KEY = 0x501A2;
    uint32 internal constant PLANT_POWER = 5_000_000;

    address internal owner = makeAddr("plant owner");
    address internal heir = makeAddr("heir");

    function setUp() public {
        _deploy(false);
        vm.startPrank(admin);
        gl.registerFeeder(PLANT, vm.addr(PLANT_KEY), 0, 500, PLANT_POWER);
        gl.registerFeeder(DISTRIBUTOR, feederSigner, PLANT, 500, FEEDER_POWER);
        vm.stopPrank();
    }

    function _feedAfter(uint32 id, uint256 key, uint256 dt, uint64 wh) internal {
        skip(dt);
        FeederReading memory r = FeederReading(id, wh, uint32(vm.getBlockTimestamp()));
        gl.submitFeederReading(r, _signFeeder(key, r));
    }

    /// @dev The plant's first reading (its register's start), then the registrar makes it `owner`'s plant.
    function _plant(uint64 firstWh) internal {
        _feedAfter(PLANT, PLANT_KEY, 60, firstWh);
        vm.prank(admin);
        pgl.enablePlant(PLANT, owner);
    }

    function test_Plant_MintsOnlyOutputSignedAfterItWasEnabled() public {
        _feedAfter(PLANT, PLANT_KEY, 60, 1_000_000);
        _feedAfter(PLANT, PLANT_KEY, 60, 1_050_000); // before it is a plant: nobody's tokens
        vm.expectEmit(address(ledger));
        emit PlantEnabled(PLANT, owner, 1_050_000);
        vm.prank(admin);
        pgl.enablePlant(PLANT, owner);
        assertEq(pgl.plantInfo(PLANT).pendingWh, 0);

        _feedAfter(PLANT, PLANT_KEY, 60, 1_080_000);
        _feedAfter(PLANT, PLANT_KEY, 60, 1_100_000);
        PlantInfo memory info = pgl.plantInfo(PLANT);
        assertEq(info.owner, owner);
        assertEq(info.outputWh, 1_100_000);
        assertEq(info.pendingWh, 50_000);

        vm.expectEmit(address(ledger));
        emit PlantTokensClaimed(PLANT, owner, 50_000);
        vm.prank(relayer); // anyone may claim: the tokens go to the owner
        assertEq(pgl.claimPlantTokens(PLANT), 50_000);
        assertEq(kwh.balanceOf(owner), 50_000);
        assertEq(kwh.balanceOf(relayer), 0);
        assertEq(pgl.plantInfo(PLANT).pendingWh, 0);
        vm.expectRevert(abi.encodeWithSelector(NothingToClaim.selector, PLANT));
        pgl.claimPlantTokens(PLANT);

        _feedAfter(PLANT, PLANT_KEY, 60, 1_100_700);
        assertEq(pgl.claimPlantTokens(PLANT), 700);
        assertEq(kwh.totalSupply(), 50_700, "exactly the output since it was enabled");
    }

    /// @dev The plant's output still counts as its feeder's energy, and its child's loss check is unchanged.
    function test_Plant_FeederAccountingUnchanged() public {
        _plant(0);
        _feedAfter(DISTRIBUTOR, feederKey, 0, 0);
        _feedAfter(PLANT, PLANT_KEY, 600, 100_000);
        _feedAfter(DISTRIBUTOR, feederKey, 0, 97_000);
        FeederPeriod memory fp = gl.feederPeriod(PLANT, gl.currentPeriod());
        assertEq(fp.feederWh, 100_000);
        assertEq(fp.childrenWh, 97_000, "the distributor's energy counts under the plant");
        assertEq(pgl.plantInfo(PLANT).pendingWh, 100_000);
        assertEq(pgl.plantInfo(DISTRIBUTOR).owner, address(0), "the distributor is no plant");
    }

    function _unauthorized(address caller) internal view returns (bytes memory) {
        return abi.encodeWithSelector(
            IAccessControl.AccessControlUnauthorizedAccount.selector, caller, ledger.METER_REGISTRAR_ROLE()
        );
    }

    function test_RevertWhen_EnablePlantNotAllowed() public {
        bytes memory unauthorized = _unauthorized(owner);
        vm.prank(owner);
        vm.expectRevert(unauthorized);
        pgl.enablePlant(PLANT, owner);

        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(UnknownFeeder.selector, 99));
        pgl.enablePlant(99, owner);
        vm.expectRevert(ZeroAddress.selector);
        pgl.enablePlant(PLANT, address(0));
        // A plant's register starts at its own first signed reading, not at a number the registrar names.
        vm.expectRevert(abi.encodeWithSelector(PlantNotRead.selector, PLANT));
        pgl.enablePlant(PLANT, owner);
        vm.stopPrank();

        _feedAfter(DISTRIBUTOR, feederKey, 60, 10);
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(PlantNotRoot.selector, DISTRIBUTOR, PLANT));
        pgl.enablePlant(DISTRIBUTOR, owner);
        vm.stopPrank();

        _plant(10);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PlantExists.selector, PLANT));
        pgl.enablePlant(PLANT, heir);
        assertEq(pgl.plantInfo(PLANT).owner, owner);
    }

    function test_RevertWhen_NotAPlant() public {
        vm.expectRevert(abi.encodeWithSelector(NotAPlant.selector, FEEDER));
        pgl.claimPlantTokens(FEEDER);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(NotAPlant.selector, FEEDER));
        pgl.setPlantOwner(FEEDER, owner);
        PlantInfo memory info = pgl.plantInfo(FEEDER);
        assertEq(info.owner, address(0));
        assertEq(info.outputWh, 0);
        assertEq(info.pendingWh, 0);
    }

    /// @dev The owner hands its plant on with its pending tokens (as a payer hands on a meter); the registrar moves
    /// only a plant with none pending.
    function test_SetPlantOwner_OwnerHandsOnRegistrarOnlyWithNothingPending() public {
        _plant(0);
        _feedAfter(PLANT, PLANT_KEY, 60, 30_000);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(NotPlantOwner.selector, PLANT, admin));
        pgl.setPlantOwner(PLANT, heir);
        bytes memory unauthorized = _unauthorized(relayer);
        vm.prank(relayer);
        vm.expectRevert(unauthorized);
        pgl.setPlantOwner(PLANT, relayer);

        vm.expectEmit(address(ledger));
        emit PlantOwnerChanged(PLANT, heir);
        vm.prank(owner);
        pgl.setPlantOwner(PLANT, heir);
        pgl.claimPlantTokens(PLANT);
        assertEq(kwh.balanceOf(heir), 30_000, "the pending output went with the plant");

        unauthorized = _unauthorized(owner);
        vm.prank(owner);
        vm.expectRevert(unauthorized);
        pgl.setPlantOwner(PLANT, owner);
        // Nothing pending: the registrar may move it.
        vm.prank(admin);
        pgl.setPlantOwner(PLANT, owner);
        assertEq(pgl.plantInfo(PLANT).owner, owner);
        vm.prank(owner);
        vm.expectRevert(ZeroAddress.selector);
        pgl.setPlantOwner(PLANT, address(0));
    }

    /// @dev Any signed output, claimed in any split, mints exactly the register's rise since the plant was enabled.
    function testFuzz_Plant_MintsExactlyTheSignedRise(uint64 firstWh, uint32[6] memory steps, uint8 claimMask) public {
        firstWh = uint64(bound(firstWh, 0, 1e12));
        _plant(firstWh);
        uint64 wh = firstWh;
        for (uint256 i; i < steps.length; ++i) {
            // At most the plant's rating in ten minutes.
            wh += uint64(bound(steps[i], 0, uint256(PLANT_POWER) / 6));
            _feedAfter(PLANT, PLANT_KEY, 600, wh);
            if (claimMask & (1 << i) != 0 && pgl.plantInfo(PLANT).pendingWh != 0) pgl.claimPlantTokens(PLANT);
        }
        assertEq(kwh.totalSupply() + pgl.plantInfo(PLANT).pendingWh, wh - firstWh);
        assertEq(kwh.balanceOf(owner), kwh.totalSupply());
    }
}
