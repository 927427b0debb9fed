// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {LedgerTestBase} from "../utils/LedgerTestBase.sol";

/// @dev A household in its friendly deferral, under a pause or a window change: neither ends its permit without
/// notice (raw expiry 01:25 in the 01:00-06:00 window, deferred to 06:00).
contract AttackPauseAndWindowTest is LedgerTestBase {
    uint32 internal constant M = 7;

    function setUp() public {
        _deploy(false);
        _register(M, Mode.Postpaid);
        vm.prank(admin);
        gl.setFriendlyWindow(FriendlyWindow(0, 60, 360, 0)); // 01:00-06:00 UTC every day
        _readAfter(M, 600, 1000);
        vm.warp(T0 + PERIOD + 1);
        gl.settle(M);
        assertEq(gl.permitUntil(M), T0 + 6 hours);
    }

    function test_Attack_PauseInsideTheDeferralHoldsThePermit() public {
        vm.warp(T0 + 5400); // 01:30, after the raw expiry, inside the deferral
        vm.prank(admin);
        gl.pause();
        assertEq(gl.permitUntil(M), type(uint64).max, "held while the household cannot pay");
        vm.warp(T0 + 7 hours);
        vm.prank(admin);
        gl.unpause();
        assertGe(gl.permitUntil(M), vm.getBlockTimestamp() + GRACE, "a grace after the resume");
        uint256 due = gl.amountDue(M);
        vm.prank(payer);
        gl.payBill{value: due}(M);
        assertEq(gl.meterBalance(M), 0);
    }

    function test_Attack_WindowRemovalKeepsAGraceAfterTheChange() public {
        vm.warp(T0 + 5400); // 01:30
        vm.prank(admin);
        gl.setFriendlyWindow(FriendlyWindow(0, 0, 0, 0));
        assertGe(gl.permitUntil(M), T0 + 5400 + GRACE, "at least a grace after the change");
    }

    function test_Attack_WindowWaitsForTheResume() public {
        vm.warp(T0 + 5400); // 01:30
        vm.prank(admin);
        gl.pause();
        vm.warp(T0 + 7 hours);
        vm.prank(admin);
        vm.expectRevert(bytes4(keccak256("EnforcedPause()")));
        gl.setFriendlyWindow(FriendlyWindow(0, 0, 0, 0));
        assertEq(gl.permitUntil(M), type(uint64).max, "still held while paused");
        vm.prank(admin);
        gl.unpause();
        uint256 heldUntil = gl.permitUntil(M);
        assertGe(heldUntil, vm.getBlockTimestamp() + GRACE, "a grace after the resume");
        // Nor can the window end the permits the pause held before they have run out.
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(FriendlyWindowChangeTooSoon.selector, heldUntil));
        gl.setFriendlyWindow(FriendlyWindow(0, 0, 0, 0));
        assertEq(gl.permitUntil(M), heldUntil);
    }
}
