// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {LedgerTestBase} from "../utils/LedgerTestBase.sol";

/// @dev A feeder key holder who wants to block or harm the households below it.
contract AttackFeederTest is LedgerTestBase {
    uint32 internal constant M = 7;
    uint32 internal constant CHILD = 2;
    uint256 internal constant CHILD_KEY = 0xC41D;
    uint64 internal constant MAX_WH = (uint64(1) << 40) - 1;

    function setUp() public {
        _deploy(false);
        // The widest rating the ledger accepts.
        vm.prank(admin);
        gl.registerFeeder(CHILD, vm.addr(CHILD_KEY), FEEDER, 0, type(uint32).max);
        _register(M, Mode.Postpaid);
    }

    function _feed(uint32 id, uint256 key, uint64 wh, uint256 ts) internal {
        FeederReading memory r = FeederReading(id, wh, uint32(ts));
        gl.submitFeederReading(r, _signFeeder(key, r));
    }

    function test_Attack_FeederAtItsLimitsCannotBlockHouseholds() public {
        skip(60);
        _feed(CHILD, CHILD_KEY, 0, vm.getBlockTimestamp());
        // Its first register was 0: from there at most its rating, and never beyond the 40-bit register.
        skip(60);
        uint64 most = uint64(uint256(type(uint32).max) * 60 / 3600);
        FeederReading memory tooMuch = FeederReading(CHILD, most + 1, uint32(vm.getBlockTimestamp()));
        bytes memory tooMuchSig = _signFeeder(CHILD_KEY, tooMuch);
        vm.expectRevert(
            abi.encodeWithSelector(ImplausiblePower.selector, CHILD, uint256(most + 1) * 3600 / 60, type(uint32).max)
        );
        gl.submitFeederReading(tooMuch, tooMuchSig);
        _feed(CHILD, CHILD_KEY, most, vm.getBlockTimestamp());
        FeederReading memory huge = FeederReading(CHILD, MAX_WH + 1, uint32(vm.getBlockTimestamp() + 1));
        bytes memory hugeSig = _signFeeder(CHILD_KEY, huge);
        skip(1);
        vm.expectRevert(abi.encodeWithSelector(RegisterOutOfRange.selector, CHILD, MAX_WH + 1));
        gl.submitFeederReading(huge, hugeSig);
        // A reading stamped in the next period (within the skew) is refused: it cannot close anything early.
        vm.warp(_periodEnd() - 10);
        FeederReading memory early = FeederReading(CHILD, most, uint32(_periodEnd()));
        bytes memory earlySig = _signFeeder(CHILD_KEY, early);
        vm.expectRevert(abi.encodeWithSelector(FutureReading.selector, CHILD, early.timestamp, vm.getBlockTimestamp()));
        gl.submitFeederReading(early, earlySig);

        // The households under the parent read, settle, pay and keep their permit.
        _read(M, 1000);
        vm.warp(T0 + PERIOD + 60);
        _read(M, 1100);
        uint256 due = gl.amountDue(M);
        assertEq(due, _cost(1000));
        vm.prank(payer);
        gl.payBill{value: due}(M);
        assertGt(gl.permitUntil(M), vm.getBlockTimestamp() + GRACE);
        vm.prank(admin);
        gl.setMeterTariff(M, TARIFF);
    }

    function test_Attack_FeederReplayAndForgery() public {
        skip(60);
        FeederReading memory r = FeederReading(CHILD, 1000, uint32(vm.getBlockTimestamp()));
        bytes memory sig = _signFeeder(CHILD_KEY, r);
        // A meter key (or any other key) cannot speak for a feeder.
        bytes memory forged = _signFeeder(meterKey, r);
        vm.expectRevert(abi.encodeWithSelector(InvalidSignature.selector, CHILD, meterSigner));
        gl.submitFeederReading(r, forged);
        gl.submitFeederReading(r, sig);
        vm.expectRevert(abi.encodeWithSelector(StaleReading.selector, CHILD, r.timestamp, r.timestamp));
        gl.submitFeederReading(r, sig);
        // A meter reading signature over the same numbers is not a feeder reading.
        Reading memory asMeter = Reading(CHILD, 2000, uint32(vm.getBlockTimestamp() + 1));
        skip(1);
        FeederReading memory asFeeder = FeederReading(CHILD, 2000, asMeter.timestamp);
        bytes memory meterSig = _sign(CHILD_KEY, asMeter);
        vm.expectRevert();
        gl.submitFeederReading(asFeeder, meterSig);
        assertEq(gl.feeder(CHILD).lastWh, 1000);
    }
}
