// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";

import {MeterState} from "../src/libraries/MeterState.sol";

/// @dev The producer meter's packed words: the signer bits of slot 0 and the settled-at register.
contract MeterStateTest is Test {
    using MeterState for uint256;

    function _producerReading(address signer) internal pure returns (uint256) {
        return uint256(0).withExportSide(123, 10_000, signer);
    }

    function testFuzz_IsSignedBy_TheSignersLow99Bits(address signer, uint8 bit) public pure {
        signer = address(uint160(bound(uint160(signer), 1, type(uint160).max)));
        uint256 w = _producerReading(signer);
        assertTrue(w.isSignedBy(signer));
        assertEq(w.lastExportWhOf(), 123);
        assertEq(w.maxExportOf(), 10_000);
        assertTrue(w.isProducer());
        assertTrue(w.signerOf() != address(0), "never a zero signer");
        address other = address(uint160(signer) ^ uint160(1) << bound(bit, 0, 159));
        // Only the low 99 bits are kept: the forger's work is a match of those (see `MeterState`).
        assertEq(w.isSignedBy(other), bound(bit, 0, 159) >= 99 && other != address(0));
    }

    function test_IsSignedBy_NeverAddressZero() public pure {
        // A signer whose low 99 bits are all zero still does not accept what a malformed signature recovers.
        address signer = address(uint160(1) << 120);
        uint256 w = _producerReading(signer);
        assertTrue(w.isSignedBy(signer));
        assertFalse(w.isSignedBy(address(0)));
    }

    function testFuzz_WithSigner_ReplacesTheSignerBits(address signer, uint256 flip) public pure {
        signer = address(uint160(bound(uint160(signer), 1 << 99, type(uint160).max)));
        // Differs in the signer bits (and is never address(0): the higher bits stay).
        address next = address(uint160(signer) ^ uint160(bound(flip, 1, MeterState.SIGNER_BITS)));
        uint256 w = _producerReading(signer).withSigner(next);
        assertTrue(w.isSignedBy(next));
        assertFalse(w.isSignedBy(signer));
        assertEq(w.lastExportWhOf(), 123, "export side kept");
        assertEq(w.maxExportOf(), 10_000);
    }

    function testFuzz_PendingWh_SettledAtBelowZero(uint64 pending, uint64 register, uint64 settle) public pure {
        pending = uint64(bound(pending, 0, MeterState.MAX_WH));
        register = uint64(bound(register, 0, MeterState.MAX_WH));
        uint256 p = uint256(0).withProducerSigner(address(0xA11CE)).withRedeemTokens(true).withBillRedeemedWh(7);
        p = p.withSettledAtWh(int256(uint256(register)) - int256(uint256(pending)));
        uint256 w = _producerReading(address(0xA11CE)).withExportRegister(register);
        assertEq(w.pendingWhOf(p), pending);
        settle = uint64(bound(settle, 0, pending));
        assertEq(w.pendingWhOf(p.withWhSettled(settle)), pending - settle);
        assertEq(p.producerSignerOf(), address(0xA11CE));
        assertTrue(p.redeemsTokens());
        assertEq(p.billRedeemedWhOf(), 7);
    }
}
