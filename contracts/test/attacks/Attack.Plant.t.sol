// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IGridLedgerProducerTypes} from "../../src/interfaces/IGridLedgerProducers.sol";
import {LedgerTestBase} from "../utils/LedgerTestBase.sol";

/// @dev Whoever holds a plant's feeder key, the registrar or a stranger, trying to mint more than the plant signed
/// once after it became a plant, or to take its owner's pending tokens.
contract AttackPlantTest is LedgerTestBase, IGridLedgerProducerTypes {
    uint32 internal constant PLANT = 5;
    uint256 internal constant PLANT_KEY = 0x501A2;
    uint32 internal constant PLANT_POWER = 5_000_000;
    uint256 internal constant STRANGER_KEY = 0xBAD;

    address internal owner = makeAddr("plant owner");

    function setUp() public {
        _deploy(false);
        vm.prank(admin);
        gl.registerFeeder(PLANT, vm.addr(PLANT_KEY), 0, 500, PLANT_POWER);
        _feedAfter(PLANT_KEY, 60, 1000);
        vm.prank(admin);
        pgl.enablePlant(PLANT, owner);
    }

    function _signed(uint256 key, uint64 wh) internal view returns (FeederReading memory r, bytes memory sig) {
        r = FeederReading(PLANT, wh, uint32(vm.getBlockTimestamp()));
        sig = _signFeeder(key, r);
    }

    function _feedAfter(uint256 key, uint256 dt, uint64 wh) internal {
        skip(dt);
        (FeederReading memory r, bytes memory sig) = _signed(key, wh);
        gl.submitFeederReading(r, sig);
    }

    function test_Attack_FeederKeyReplayingReadings_MintsEachWhOnce() public {
        skip(60);
        (FeederReading memory r, bytes memory sig) = _signed(PLANT_KEY, 11_000);
        gl.submitFeederReading(r, sig);
        pgl.claimPlantTokens(PLANT);
        // The same signed reading again, at once and later, in a new period.
        vm.expectRevert(abi.encodeWithSelector(StaleReading.selector, PLANT, r.timestamp, r.timestamp));
        gl.submitFeederReading(r, sig);
        vm.warp(_periodEnd() + 60);
        vm.expectRevert(abi.encodeWithSelector(StaleReading.selector, PLANT, r.timestamp, r.timestamp));
        gl.submitFeederReading(r, sig);
        vm.expectRevert(abi.encodeWithSelector(NothingToClaim.selector, PLANT));
        pgl.claimPlantTokens(PLANT);
        assertEq(kwh.totalSupply(), 10_000);
    }

    function test_Attack_PlantReadingGoingBackwards_Refused() public {
        _feedAfter(PLANT_KEY, 60, 50_000);
        skip(60);
        (FeederReading memory r, bytes memory sig) = _signed(PLANT_KEY, 20_000);
        vm.expectRevert(abi.encodeWithSelector(RegisterDecreased.selector, PLANT, 20_000, 50_000));
        gl.submitFeederReading(r, sig);
        // Nor can it go back and come up again to be minted twice.
        _feedAfter(PLANT_KEY, 0, 50_000);
        _feedAfter(PLANT_KEY, 60, 60_000);
        assertEq(pgl.claimPlantTokens(PLANT), 59_000);
    }

    function test_Attack_StrangerSignature_MintsNothing() public {
        skip(60);
        (FeederReading memory r, bytes memory sig) = _signed(STRANGER_KEY, 80_000);
        vm.expectRevert(abi.encodeWithSelector(InvalidSignature.selector, PLANT, vm.addr(STRANGER_KEY)));
        gl.submitFeederReading(r, sig);
        // A household meter's key is no plant's either, nor is a meter reading's signature over the same numbers.
        (r, sig) = _signed(meterKey, 80_000);
        vm.expectRevert(abi.encodeWithSelector(InvalidSignature.selector, PLANT, meterSigner));
        gl.submitFeederReading(r, sig);
        bytes memory asMeter = _sign(PLANT_KEY, Reading(PLANT, 80_000, r.timestamp));
        vm.expectRevert();
        gl.submitFeederReading(r, asMeter);
        assertEq(pgl.plantInfo(PLANT).pendingWh, 0);
        vm.expectRevert(abi.encodeWithSelector(NothingToClaim.selector, PLANT));
        pgl.claimPlantTokens(PLANT);
    }

    /// @dev Beyond the plant's rating since its last reading: refused, so even the key holder mints at most the
    /// rating's energy per unit of time.
    function test_Attack_OutputBeyondTheRating_Refused() public {
        skip(60);
        uint64 most = uint64(uint256(PLANT_POWER) * 60 / 3600);
        (FeederReading memory r, bytes memory sig) = _signed(PLANT_KEY, 1000 + most + 1);
        vm.expectRevert(
            abi.encodeWithSelector(ImplausiblePower.selector, PLANT, uint256(most + 1) * 3600 / 60, PLANT_POWER)
        );
        gl.submitFeederReading(r, sig);
        (r, sig) = _signed(PLANT_KEY, 1000 + most);
        gl.submitFeederReading(r, sig);
        assertEq(pgl.plantInfo(PLANT).pendingWh, most);
    }

    /// @dev The registrar cannot move a plant with pending tokens to itself (or anyone): the tokens stay the owner's.
    function test_Attack_RegistrarMovingOwnerWithTokensPending_Refused() public {
        _feedAfter(PLANT_KEY, 60, 41_000);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(NotPlantOwner.selector, PLANT, admin));
        pgl.setPlantOwner(PLANT, admin);
        // Nor by enabling it again for itself.
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PlantExists.selector, PLANT));
        pgl.enablePlant(PLANT, admin);
        pgl.claimPlantTokens(PLANT);
        assertEq(kwh.balanceOf(owner), 40_000);
        assertEq(kwh.balanceOf(admin), 0);
        // With nothing pending it may move the plant (a sale, say): what it mints from then on is the new owner's.
        vm.prank(admin);
        pgl.setPlantOwner(PLANT, admin);
        _feedAfter(PLANT_KEY, 60, 42_000);
        pgl.claimPlantTokens(PLANT);
        assertEq(kwh.balanceOf(owner), 40_000);
        assertEq(kwh.balanceOf(admin), 1000);
    }

    /// @dev A signer rotation does not reset the register: the new key continues from the last accepted one.
    function test_Attack_SignerRotationMintsNothingTwice() public {
        _feedAfter(PLANT_KEY, 60, 21_000);
        uint256 newKey = 0x501A3;
        vm.prank(admin);
        gl.updateFeeder(PLANT, vm.addr(newKey), 500);
        skip(60);
        (FeederReading memory r, bytes memory sig) = _signed(newKey, 1000);
        vm.expectRevert(abi.encodeWithSelector(RegisterDecreased.selector, PLANT, 1000, 21_000));
        gl.submitFeederReading(r, sig);
        _feedAfter(newKey, 0, 22_000);
        assertEq(pgl.claimPlantTokens(PLANT), 21_000);
    }
}
