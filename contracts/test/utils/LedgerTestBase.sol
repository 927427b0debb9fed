// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";

import {GridLedger} from "../../src/GridLedger.sol";
import {GridLedgerBase} from "../../src/GridLedgerBase.sol";
import {GridLedgerExtension} from "../../src/GridLedgerExtension.sol";
import {GridLedgerFeedersAndViews} from "../../src/GridLedgerFeedersAndViews.sol";
import {GridLedgerProducers} from "../../src/GridLedgerProducers.sol";
import {IGridLedger, IGridLedgerTypes} from "../../src/interfaces/IGridLedger.sol";
import {IGridLedgerProducers} from "../../src/interfaces/IGridLedgerProducers.sol";
import {EnergyToken} from "../../src/token/EnergyToken.sol";
import {TestStablecoin} from "../mocks/TestStablecoin.sol";

/// @dev Deploys a ledger (native or token) at a realistic time and signs readings for tests.
abstract contract LedgerTestBase is Test, IGridLedgerTypes {
    uint256 internal constant T0 = 1_767_225_600; // 2026-01-01 00:00 UTC, a Thursday
    uint32 internal constant PERIOD = 1 hours;
    uint32 internal constant WINDOW = 10 minutes;
    uint32 internal constant GRACE = 15 minutes;
    uint32 internal constant SKEW = 5 minutes;
    uint64 internal constant PRICE = 300_000; // per kWh
    uint32 internal constant MAX_POWER = 20_000;
    uint32 internal constant FEEDER = 1;
    uint32 internal constant FEEDER_POWER = 1_000_000;
    uint32 internal constant TARIFF = 1;
    uint64 internal constant FOREVER = type(uint64).max;
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    IGridLedger internal gl;
    /// @dev The same ledger, as its producer interface.
    IGridLedgerProducers internal pgl;
    GridLedger internal ledger;
    EnergyToken internal kwh;
    TestStablecoin internal usd;
    GridLedgerBase.Config internal config;
    /// @dev Full periods without a reading before a meter is overdue; 0 (never) unless a test sets it before `_deploy`.
    uint32 internal readingTimeout;

    address internal admin = makeAddr("admin");
    address internal treasury = makeAddr("treasury");
    address internal payer = makeAddr("payer");
    address internal relayer = makeAddr("relayer");
    uint256 internal meterKey = 0xA11CE;
    address internal meterSigner = vm.addr(0xA11CE);
    uint256 internal feederKey = 0xFEED;
    address internal feederSigner = vm.addr(0xFEED);

    function _deploy(bool token) internal {
        vm.warp(T0);
        if (token) usd = new TestStablecoin(address(this));
        config = GridLedgerBase.Config({
            admin: admin,
            adminTransferDelay: 1 days,
            paymentToken: token ? address(usd) : address(0),
            treasury: treasury,
            genesis: uint32(T0),
            periodLength: PERIOD,
            paymentWindow: WINDOW,
            grace: GRACE,
            maxClockSkew: SKEW,
            readingTimeoutPeriods: readingTimeout
        });
        (ledger, kwh) = _newLedger(config);
        gl = IGridLedger(address(ledger));
        pgl = IGridLedgerProducers(address(ledger));
        vm.startPrank(admin);
        gl.setTariff(TARIFF, _flat(PRICE));
        gl.registerFeeder(FEEDER, feederSigner, 0, 500, FEEDER_POWER);
        vm.stopPrank();
        vm.deal(payer, 1000 ether);
        if (token) usd.mint(payer, 1_000_000e6);
    }

    /// @dev Deploys a ledger's contracts as the deployment script does: views, extension, the energy token (minted
    /// by the ledger's address, predicted from this contract's nonce), producers, ledger.
    function _newLedger(GridLedgerBase.Config memory c) internal returns (GridLedger l, EnergyToken token) {
        GridLedgerExtension ext = new GridLedgerExtension(c, address(new GridLedgerFeedersAndViews(c)));
        token = new EnergyToken(vm.computeCreateAddress(address(this), vm.getNonce(address(this)) + 2));
        GridLedgerProducers producers = new GridLedgerProducers(c, address(token));
        l = new GridLedger(c, address(ext), address(producers));
        assertEq(token.ledger(), address(l), "predicted ledger address");
    }

    function _flat(uint64 price) internal pure returns (Tariff memory t) {
        t.pricePerKWh = price;
    }

    function _register(uint32 id, Mode mode) internal {
        _registerWith(id, meterSigner, mode, TARIFF, 0);
    }

    function _registerWith(uint32 id, address signer, Mode mode, uint32 tariffId, uint64 initialWh) internal {
        vm.prank(admin);
        gl.registerMeter(id, MeterParams(signer, payer, FEEDER, tariffId, mode, MAX_POWER, initialWh));
    }

    function _reading(uint32 id, uint64 wh, uint32 ts) internal pure returns (Reading memory) {
        return Reading(id, wh, ts);
    }

    function _sign(uint256 key, Reading memory r) internal view returns (bytes memory) {
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(key, gl.readingDigest(r));
        return abi.encodePacked(rr, s, v);
    }

    function _signCompact(uint256 key, Reading memory r) internal view returns (SignedReading memory) {
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(key, gl.readingDigest(r));
        return SignedReading(r, rr, bytes32(uint256(s) | (uint256(v - 27) << 255)));
    }

    function _signFeeder(uint256 key, FeederReading memory r) internal view returns (bytes memory) {
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(key, gl.feederReadingDigest(r));
        return abi.encodePacked(rr, s, v);
    }

    /// @dev Submits a reading of meter `id` signed with `meterKey` at the current time.
    function _read(uint32 id, uint64 wh) internal {
        Reading memory r = Reading(id, wh, uint32(vm.getBlockTimestamp()));
        vm.prank(relayer);
        gl.submitReading(r, _sign(meterKey, r));
    }

    /// @dev Moves time forward and submits a reading there.
    function _readAfter(uint32 id, uint256 dt, uint64 wh) internal {
        skip(dt);
        _read(id, wh);
    }

    function _periodEnd() internal view returns (uint256) {
        return gl.periodStart(gl.currentPeriod() + 1);
    }

    /// @dev The charge of `wh` at the flat price, rounded down.
    function _cost(uint256 wh) internal pure returns (uint256) {
        return wh * PRICE / 1000;
    }
}
