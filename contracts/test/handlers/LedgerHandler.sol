// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

import {IGridLedger, IGridLedgerTypes} from "../../src/interfaces/IGridLedger.sol";

/// @dev Drives a native-coin ledger with honest and hostile actors and keeps ghost books.
contract LedgerHandler is CommonBase, StdUtils {
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    uint256 internal constant METERS = 5;

    IGridLedger public immutable gl;
    address public immutable admin;
    address public immutable treasury;
    uint64 public immutable price;
    uint32[METERS] public ids = [uint32(11), 12, 13, 14, 15];
    uint256[METERS] public keys = [uint256(0x1001), 0x1002, 0x1003, 0x1004, 0x1005];
    uint32 public constant PROTECTED_ID = 15;

    // Ghost books.
    uint64[METERS] public lastWh;
    uint256[METERS] public credited;
    uint256 public paid;
    uint256 public withdrawn;
    uint256 public forgedAccepted;
    uint256 public registerDecreases;
    uint256 public pauseShortened;
    uint256 public acceptedReadings;
    uint256 public rejectedForgeries;
    mapping(bytes32 => bool) internal _spent;
    IGridLedgerTypes.Reading[] internal _history;
    bytes[] internal _historySigs;

    constructor(IGridLedger ledger, address admin_, address treasury_, uint64 price_) {
        gl = ledger;
        admin = admin_;
        treasury = treasury_;
        price = price_;
    }

    function meterCount() external pure returns (uint256) {
        return METERS;
    }

    // ------------------------------------------------------------ honest actors

    function read(uint256 meterSeed, uint256 dt, uint256 powerSeed) external {
        uint256 i = meterSeed % METERS;
        vm.warp(vm.getBlockTimestamp() + bound(dt, 1, 2 hours));
        IGridLedgerTypes.MeterInfo memory m = gl.meter(ids[i]);
        uint256 maxWh = uint256(m.maxPowerW) * (vm.getBlockTimestamp() - m.lastTimestamp) / 3600;
        uint64 wh = uint64(m.lastWh + bound(powerSeed, 0, maxWh));
        IGridLedgerTypes.Reading memory r = IGridLedgerTypes.Reading(ids[i], wh, uint32(vm.getBlockTimestamp()));
        bytes memory sig = _sign(keys[i], gl.readingDigest(r));
        if (gl.paused()) return;
        gl.submitReading(r, sig);
        _history.push(r);
        _historySigs.push(sig);
        ++acceptedReadings;
        _checkRegister(i);
    }

    function payBill(uint256 meterSeed) external {
        uint256 i = meterSeed % METERS;
        uint256 due = gl.amountDue(ids[i]);
        if (due == 0 || gl.paused()) return;
        address payer = address(uint160(0x9000 + i));
        vm.deal(payer, due);
        vm.prank(payer);
        gl.payBill{value: due}(ids[i]);
        paid += due;
        credited[i] += due;
    }

    function topUp(uint256 meterSeed, uint256 amount) external {
        uint256 i = meterSeed % METERS;
        amount = bound(amount, 1, 10 ether);
        if (gl.paused()) return;
        address payer = address(uint160(0x9000 + i));
        vm.deal(payer, amount);
        vm.prank(payer);
        gl.topUp{value: amount}(ids[i], amount);
        paid += amount;
        credited[i] += amount;
    }

    function withdraw(uint256 amount) external {
        uint256 available = address(gl).balance;
        if (available == 0) return;
        amount = bound(amount, 1, available);
        vm.prank(admin);
        gl.withdraw(amount);
        withdrawn += amount;
    }

    function settle(uint256 meterSeed) external {
        gl.settle(ids[meterSeed % METERS]);
    }

    function warp(uint256 dt) external {
        vm.warp(vm.getBlockTimestamp() + bound(dt, 1, 3 days));
    }

    function pause() external {
        if (gl.paused()) return;
        uint64[METERS] memory before;
        for (uint256 i; i < METERS; ++i) {
            before[i] = gl.permitUntil(ids[i]);
        }
        vm.prank(admin);
        gl.pause();
        for (uint256 i; i < METERS; ++i) {
            if (before[i] > vm.getBlockTimestamp() && gl.permitUntil(ids[i]) < before[i]) ++pauseShortened;
        }
    }

    function unpause() external {
        if (!gl.paused()) return;
        vm.prank(admin);
        gl.unpause();
    }

    // ------------------------------------------------------------ hostile actors

    /// @dev Each kind of forgery, through the single and the batch entry points.
    function forge(uint256 meterSeed, uint256 kind, uint256 whSeed) external {
        uint256 i = meterSeed % METERS;
        vm.warp(vm.getBlockTimestamp() + 1);
        IGridLedgerTypes.MeterInfo memory m = gl.meter(ids[i]);
        IGridLedgerTypes.Reading memory r =
            IGridLedgerTypes.Reading(ids[i], uint64(m.lastWh + bound(whSeed, 0, 5)), uint32(vm.getBlockTimestamp()));
        bytes memory sig;
        kind = kind % 5;
        if (kind == 0) {
            sig = _sign(0xBAD, gl.readingDigest(r)); // wrong key
        } else if (kind == 1) {
            sig = _sign(keys[i], _digest(block.chainid + 1, address(gl), r)); // other chain
        } else if (kind == 2) {
            sig = _sign(keys[i], _digest(block.chainid, address(0xC0FFEE), r)); // other contract
        } else if (kind == 3) {
            (uint8 v, bytes32 rr, bytes32 s) = vm.sign(keys[i], gl.readingDigest(r));
            sig = abi.encodePacked(rr, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27)); // high s
        } else {
            if (_history.length == 0) return;
            uint256 h = whSeed % _history.length; // replay of an accepted reading
            r = _history[h];
            sig = _historySigs[h];
        }
        try gl.submitReading(r, sig) {
            ++forgedAccepted;
        } catch {
            ++rejectedForgeries;
        }
        IGridLedgerTypes.SignedReading[] memory batch = new IGridLedgerTypes.SignedReading[](1);
        batch[0] = _compact(r, sig);
        try gl.submitReadings(batch) returns (uint256 accepted) {
            forgedAccepted += accepted;
        } catch {}
        _checkRegister(i);
    }

    // ------------------------------------------------------------ helpers

    function _checkRegister(uint256 i) internal {
        uint64 wh = gl.meter(ids[i]).lastWh;
        if (wh < lastWh[i]) ++registerDecreases;
        lastWh[i] = wh;
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _compact(IGridLedgerTypes.Reading memory r, bytes memory sig)
        internal
        pure
        returns (IGridLedgerTypes.SignedReading memory)
    {
        bytes32 rr;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            rr := mload(add(sig, 0x20))
            s := mload(add(sig, 0x40))
            v := byte(0, mload(add(sig, 0x60)))
        }
        // A high-s value keeps its top bit clear, so it survives the compact form and must be rejected there too.
        return IGridLedgerTypes.SignedReading(r, rr, bytes32(uint256(s) | (uint256(v == 28 ? 1 : 0) << 255)));
    }

    function _digest(uint256 chainId, address verifying, IGridLedgerTypes.Reading memory r)
        internal
        pure
        returns (bytes32)
    {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("GridLedger"),
                keccak256("1"),
                chainId,
                verifying
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(keccak256("Reading(uint32 meterId,uint64 wh,uint32 timestamp)"), r.meterId, r.wh, r.timestamp)
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }
}
