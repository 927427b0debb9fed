// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {GridLedger} from "../src/GridLedger.sol";
import {GridLedgerBase} from "../src/GridLedgerBase.sol";
import {GridLedgerExtension} from "../src/GridLedgerExtension.sol";
import {GridLedgerFeedersAndViews} from "../src/GridLedgerFeedersAndViews.sol";
import {GridLedgerProducers} from "../src/GridLedgerProducers.sol";
import {GridLedgerSlowPath} from "../src/GridLedgerSlowPath.sol";
import {IGridLedger} from "../src/interfaces/IGridLedger.sol";
import {LedgerTestBase} from "./utils/LedgerTestBase.sol";

contract GridLedgerAdminTest is LedgerTestBase {
    uint32 internal constant M = 7;
    address internal stranger = makeAddr("stranger");

    function setUp() public {
        _deploy(false);
        _register(M, Mode.Postpaid);
    }

    function _unauthorized(bytes32 role) internal view returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role);
    }

    function _params() internal view returns (MeterParams memory) {
        return MeterParams(meterSigner, payer, FEEDER, TARIFF, Mode.Postpaid, MAX_POWER, 0);
    }

    // ------------------------------------------------------------ deployment

    function test_Deploy_ExposesParameters() public view {
        assertEq(gl.VERSION(), "3.0.0");
        assertEq(gl.paymentToken(), address(0));
        assertEq(gl.treasury(), treasury);
        assertEq(gl.periodLength(), PERIOD);
        assertEq(gl.genesis(), T0);
        assertEq(gl.paymentWindow(), WINDOW);
        assertEq(gl.grace(), GRACE);
        assertEq(gl.maxClockSkew(), SKEW);
        assertEq(gl.PERMIT_FOREVER(), FOREVER);
        assertEq(gl.MAX_BANDS(), 3);
        assertEq(gl.currentPeriod(), 1);
        assertEq(gl.periodOf(T0 - 1), 0);
        assertEq(gl.periodOf(T0 + PERIOD), 2);
        assertEq(gl.periodStart(2), T0 + PERIOD);
        assertEq(gl.periodStart(0), 0);
        assertEq(gl.FEEDER_READING_TYPEHASH(), keccak256("FeederReading(uint32 feederId,uint64 wh,uint32 timestamp)"));
        (, string memory name, string memory version, uint256 chainId, address verifying,,) = ledger.eip712Domain();
        assertEq(name, "GridLedger");
        assertEq(version, "1");
        assertEq(chainId, block.chainid);
        assertEq(verifying, address(gl));
        assertEq(
            gl.DOMAIN_SEPARATOR(),
            keccak256(
                abi.encode(
                    keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                    keccak256("GridLedger"),
                    keccak256("1"),
                    block.chainid,
                    address(gl)
                )
            )
        );
    }

    function test_Deploy_AdminHoldsEveryRole() public view {
        assertTrue(ledger.hasRole(ledger.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(ledger.hasRole(ledger.METER_REGISTRAR_ROLE(), admin));
        assertTrue(ledger.hasRole(ledger.TARIFF_SETTER_ROLE(), admin));
        assertTrue(ledger.hasRole(ledger.PAUSER_ROLE(), admin));
        assertTrue(ledger.hasRole(ledger.PROTECTION_OFFICER_ROLE(), admin));
    }

    function test_RevertWhen_ExtensionConfigDiffers() public {
        GridLedgerBase.Config memory other = config;
        other.grace = GRACE + 1;
        address otherViews = address(new GridLedgerFeedersAndViews(other));
        GridLedgerExtension ext = new GridLedgerExtension(other, otherViews);
        GridLedgerProducers producers = new GridLedgerProducers(other, address(0));
        (address ownExt, address ownProducers) = (ledger.extension(), ledger.producers());
        vm.expectRevert(GridLedgerBase.InvalidConfig.selector);
        new GridLedger(config, address(ext), ownProducers);
        vm.expectRevert(GridLedgerBase.InvalidConfig.selector);
        new GridLedger(config, ownExt, address(producers));
        vm.expectRevert(GridLedgerBase.InvalidConfig.selector);
        new GridLedgerExtension(config, otherViews);
    }

    function test_SlowPath_RunsOnlyThroughTheLedgersReadings() public {
        GridLedgerSlowPath slow = GridLedgerSlowPath(ledger.slowPath());
        assertEq(slow.configHash(), ledger.configHash(), "deployed with the ledger's parameters");
        uint32 ts = uint32(vm.getBlockTimestamp());
        // Called directly it would only touch its own storage; it refuses all the same.
        vm.expectRevert(OnlyLedger.selector);
        slow.applyReadingSlow(M, 10, ts);
        // No fallback of the ledger serves it: only the reading functions reach it, after checking the reading.
        (bool ok,) = address(ledger).call(abi.encodeCall(GridLedgerSlowPath.applyReadingSlow, (M, 10, ts)));
        assertFalse(ok, "not an entry point of the ledger");
        assertEq(gl.meter(M).lastWh, 0);
    }

    function test_RevertWhen_ExtensionMissing() public {
        (address ownExt, address ownProducers) = (ledger.extension(), ledger.producers());
        vm.expectRevert(GridLedgerBase.InvalidConfig.selector);
        new GridLedger(config, address(0xE), ownProducers);
        vm.expectRevert(GridLedgerBase.InvalidConfig.selector);
        new GridLedger(config, ownExt, address(0xE));
        vm.expectRevert(GridLedgerBase.InvalidConfig.selector);
        new GridLedgerExtension(config, address(0xE));
    }

    function test_RevertWhen_ConfigInvalid() public {
        GridLedgerBase.Config memory c = config;
        c.periodLength = 0;
        vm.expectRevert(GridLedgerBase.InvalidConfig.selector);
        new GridLedgerFeedersAndViews(c);
        c = config;
        c.genesis = uint32(vm.getBlockTimestamp() + 1);
        vm.expectRevert(GridLedgerBase.InvalidConfig.selector);
        new GridLedgerFeedersAndViews(c);
        c = config;
        c.treasury = address(0);
        vm.expectRevert(ZeroAddress.selector);
        new GridLedgerFeedersAndViews(c);
    }

    function test_Extension_DirectCallsTouchOnlyItsOwnStorage() public {
        IGridLedger ext = IGridLedger(ledger.extension());
        vm.expectRevert(abi.encodeWithSelector(UnknownMeter.selector, M));
        ext.meter(M);
        IGridLedger views = IGridLedger(GridLedgerExtension(payable(ledger.extension())).views());
        vm.expectRevert(abi.encodeWithSelector(UnknownMeter.selector, M));
        views.meter(M);
        assertEq(gl.meter(M).signer, meterSigner);
    }

    function test_RevertWhen_UnknownSelector() public {
        (bool ok,) = address(gl).call(abi.encodeWithSignature("nope()"));
        assertFalse(ok);
    }

    // ------------------------------------------------------------ roles and admin transfer

    function test_DefaultAdmin_TransferTakesTwoSteps() public {
        address next = makeAddr("next");
        vm.prank(admin);
        ledger.beginDefaultAdminTransfer(next);
        skip(1 days + 1);
        vm.prank(next);
        ledger.acceptDefaultAdminTransfer();
        assertEq(ledger.defaultAdmin(), next);
        assertFalse(ledger.hasRole(ledger.DEFAULT_ADMIN_ROLE(), admin));
    }

    function test_RevertWhen_StrangerUsesOperatorFunctions() public {
        vm.startPrank(stranger);
        vm.expectRevert(_unauthorized(ledger.METER_REGISTRAR_ROLE()));
        gl.registerMeter(9, _params());
        vm.expectRevert(_unauthorized(ledger.METER_REGISTRAR_ROLE()));
        gl.registerFeeder(9, stranger, 0, 0, FEEDER_POWER);
        vm.expectRevert(_unauthorized(ledger.METER_REGISTRAR_ROLE()));
        gl.updateFeeder(FEEDER, stranger, 0);
        vm.expectRevert(_unauthorized(ledger.METER_REGISTRAR_ROLE()));
        gl.setMeterSigner(M, stranger);
        vm.expectRevert(_unauthorized(ledger.METER_REGISTRAR_ROLE()));
        gl.setMeterPayer(M, stranger);
        vm.expectRevert(_unauthorized(ledger.TARIFF_SETTER_ROLE()));
        gl.setTariff(TARIFF, _flat(0));
        vm.expectRevert(_unauthorized(ledger.TARIFF_SETTER_ROLE()));
        gl.setMeterTariff(M, TARIFF);
        vm.expectRevert(_unauthorized(ledger.PROTECTION_OFFICER_ROLE()));
        gl.setProtected(M, true);
        vm.expectRevert(_unauthorized(ledger.PROTECTION_OFFICER_ROLE()));
        gl.setFriendlyWindow(FriendlyWindow(0, 0, 0, 0));
        vm.expectRevert(_unauthorized(ledger.PAUSER_ROLE()));
        gl.pause();
        vm.expectRevert(_unauthorized(ledger.PAUSER_ROLE()));
        gl.unpause();
        vm.expectRevert(_unauthorized(bytes32(0)));
        gl.setTreasury(stranger);
        vm.stopPrank();
    }

    function test_Pause_EmitsAndToggles() public {
        vm.prank(admin);
        gl.pause();
        assertTrue(ledger.paused());
        vm.prank(admin);
        vm.expectRevert(bytes4(keccak256("EnforcedPause()")));
        gl.pause();
        vm.prank(admin);
        gl.unpause();
        assertFalse(ledger.paused());
        vm.prank(admin);
        vm.expectRevert(bytes4(keccak256("ExpectedPause()")));
        gl.unpause();
    }

    function test_SetTreasury_ChangesTreasury() public {
        vm.expectEmit(address(gl));
        emit TreasurySet(address(0x71));
        vm.prank(admin);
        gl.setTreasury(address(0x71));
        assertEq(gl.treasury(), address(0x71));
        vm.prank(admin);
        vm.expectRevert(ZeroAddress.selector);
        gl.setTreasury(address(0));
    }

    // ------------------------------------------------------------ meters

    function test_RegisterMeter_StoresEverything() public {
        MeterParams memory p = MeterParams(vm.addr(5), address(0x99), FEEDER, TARIFF, Mode.Prepaid, 1_000_000, 12_345);
        vm.expectEmit(address(gl));
        emit MeterRegistered(9, FEEDER, vm.addr(5), address(0x99), TARIFF, Mode.Prepaid, 1_000_000, 12_345);
        vm.prank(admin);
        gl.registerMeter(9, p);
        MeterInfo memory info = gl.meter(9);
        assertEq(info.signer, vm.addr(5));
        assertEq(info.payer, address(0x99));
        assertEq(info.feederId, FEEDER);
        assertEq(info.tariffId, TARIFF);
        assertEq(info.nextTariffId, TARIFF);
        assertEq(uint8(info.mode), uint8(Mode.Prepaid));
        assertFalse(info.isProtected);
        assertEq(info.lastWh, 12_345);
        assertEq(info.lastTimestamp, vm.getBlockTimestamp());
        assertEq(info.maxPowerW, 1_000_000);
        assertEq(info.openPeriod, 1);
        assertEq(info.periodStartWh, 12_345);
        assertEq(info.balance, 0);
    }

    function test_RevertWhen_RegisterMeterInvalid() public {
        vm.startPrank(admin);
        MeterParams memory p = _params();
        vm.expectRevert(ZeroId.selector);
        gl.registerMeter(0, p);
        vm.expectRevert(abi.encodeWithSelector(MeterExists.selector, M));
        gl.registerMeter(M, p);
        p.signer = address(0);
        vm.expectRevert(ZeroAddress.selector);
        gl.registerMeter(9, p);
        p = _params();
        p.payer = address(0);
        vm.expectRevert(ZeroAddress.selector);
        gl.registerMeter(9, p);
        p = _params();
        p.feederId = 5;
        vm.expectRevert(abi.encodeWithSelector(UnknownFeeder.selector, 5));
        gl.registerMeter(9, p);
        p = _params();
        p.maxPowerW = 0;
        vm.expectRevert(abi.encodeWithSelector(MaxPowerOutOfRange.selector, 0));
        gl.registerMeter(9, p);
        p.maxPowerW = 1 << 20;
        vm.expectRevert(abi.encodeWithSelector(MaxPowerOutOfRange.selector, 1 << 20));
        gl.registerMeter(9, p);
        p = _params();
        p.initialWh = uint64(1) << 40;
        vm.expectRevert(abi.encodeWithSelector(RegisterOutOfRange.selector, 9, uint64(1) << 40));
        gl.registerMeter(9, p);
        p = _params();
        p.tariffId = 77;
        vm.expectRevert(abi.encodeWithSelector(UnknownTariff.selector, 77));
        gl.registerMeter(9, p);
        vm.stopPrank();
    }

    function test_SetMeterPayer_ChangesPayer() public {
        vm.expectEmit(address(gl));
        emit MeterPayerChanged(M, address(0x42));
        vm.prank(admin);
        gl.setMeterPayer(M, address(0x42));
        assertEq(gl.meter(M).payer, address(0x42));
        assertEq(gl.meter(M).signer, meterSigner);
    }

    function test_RevertWhen_MeterUpdatesInvalid() public {
        vm.startPrank(admin);
        vm.expectRevert(ZeroAddress.selector);
        gl.setMeterSigner(M, address(0));
        vm.expectRevert(ZeroAddress.selector);
        gl.setMeterPayer(M, address(0));
        vm.expectRevert(abi.encodeWithSelector(UnknownMeter.selector, 9));
        gl.setMeterSigner(9, address(1));
        vm.expectRevert(abi.encodeWithSelector(UnknownMeter.selector, 9));
        gl.setMeterPayer(9, address(1));
        vm.expectRevert(abi.encodeWithSelector(UnknownMeter.selector, 9));
        gl.setProtected(9, true);
        vm.expectRevert(abi.encodeWithSelector(UnknownTariff.selector, 77));
        gl.setMeterTariff(M, 77);
        vm.expectRevert(abi.encodeWithSelector(UnknownMeter.selector, 9));
        gl.setMeterTariff(9, TARIFF);
        vm.stopPrank();
    }

    function test_RevertWhen_ViewsOfUnknownMeter() public {
        vm.expectRevert(abi.encodeWithSelector(UnknownMeter.selector, 9));
        gl.meter(9);
        vm.expectRevert(abi.encodeWithSelector(UnknownMeter.selector, 9));
        gl.permitUntil(9);
        vm.expectRevert(abi.encodeWithSelector(UnknownMeter.selector, 9));
        gl.meterBalance(9);
        vm.expectRevert(abi.encodeWithSelector(UnknownMeter.selector, 9));
        gl.amountDue(9);
        vm.expectRevert(abi.encodeWithSelector(UnknownMeter.selector, 9));
        gl.billOf(9);
        vm.expectRevert(abi.encodeWithSelector(UnknownFeeder.selector, 9));
        gl.feeder(9);
        vm.expectRevert(abi.encodeWithSelector(UnknownTariff.selector, 9));
        gl.tariff(9);
        vm.expectRevert(abi.encodeWithSelector(UnknownTariff.selector, 9));
        gl.tariffAt(9, 1);
        vm.expectRevert(abi.encodeWithSelector(UnknownTariff.selector, 9));
        gl.priceAt(9, vm.getBlockTimestamp());
    }

    // ------------------------------------------------------------ feeders

    function test_RegisterFeeder_BuildsTree() public {
        vm.expectEmit(address(gl));
        emit FeederRegistered(2, FEEDER, address(0x22), 250, FEEDER_POWER);
        vm.prank(admin);
        gl.registerFeeder(2, address(0x22), FEEDER, 250, FEEDER_POWER);
        FeederInfo memory f = gl.feeder(2);
        assertEq(f.signer, address(0x22));
        assertEq(f.parentId, FEEDER);
        assertEq(f.lossToleranceBps, 250);
    }

    function test_RevertWhen_RegisterFeederInvalid() public {
        vm.startPrank(admin);
        vm.expectRevert(ZeroId.selector);
        gl.registerFeeder(0, address(1), 0, 0, FEEDER_POWER);
        vm.expectRevert(ZeroAddress.selector);
        gl.registerFeeder(2, address(0), 0, 0, FEEDER_POWER);
        vm.expectRevert(abi.encodeWithSelector(FeederExists.selector, FEEDER));
        gl.registerFeeder(FEEDER, address(1), 0, 0, FEEDER_POWER);
        vm.expectRevert(abi.encodeWithSelector(UnknownFeeder.selector, 9));
        gl.registerFeeder(2, address(1), 9, 0, FEEDER_POWER);
        vm.expectRevert(abi.encodeWithSelector(LossToleranceOutOfRange.selector, 10_001));
        gl.registerFeeder(2, address(1), 0, 10_001, FEEDER_POWER);
        vm.stopPrank();
    }

    function test_UpdateFeeder_ChangesSignerAndTolerance() public {
        vm.expectEmit(address(gl));
        emit FeederUpdated(FEEDER, address(0x33), 42);
        vm.prank(admin);
        gl.updateFeeder(FEEDER, address(0x33), 42);
        assertEq(gl.feeder(FEEDER).signer, address(0x33));
        assertEq(gl.feeder(FEEDER).lossToleranceBps, 42);
    }

    function test_RevertWhen_UpdateFeederInvalid() public {
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(UnknownFeeder.selector, 9));
        gl.updateFeeder(9, address(1), 0);
        vm.expectRevert(ZeroAddress.selector);
        gl.updateFeeder(FEEDER, address(0), 0);
        vm.expectRevert(abi.encodeWithSelector(LossToleranceOutOfRange.selector, 10_001));
        gl.updateFeeder(FEEDER, address(1), 10_001);
        vm.stopPrank();
    }

    // ------------------------------------------------------------ tariffs

    function test_SetTariff_NewIdAppliesNow() public {
        Tariff memory t = _flat(123);
        t.utcOffsetSeconds = -5 hours;
        t.emergencyCredit = 7;
        t.lowCreditThreshold = 8;
        t.bands = new Band[](1);
        t.bands[0] = Band(60, 120, 456);
        vm.expectEmit(address(gl));
        emit TariffSet(5, 0, 123, 1);
        vm.prank(admin);
        gl.setTariff(5, t);
        Tariff memory got = gl.tariff(5);
        assertEq(got.pricePerKWh, 123);
        assertEq(got.utcOffsetSeconds, -5 hours);
        assertEq(got.emergencyCredit, 7);
        assertEq(got.lowCreditThreshold, 8);
        assertEq(got.bands.length, 1);
        assertEq(got.bands[0].pricePerKWh, 456);
        // 01:30 local (UTC-5) is 06:30 UTC.
        assertEq(gl.priceAt(5, T0 + 6 hours + 30 minutes), 456);
        assertEq(gl.priceAt(5, T0 + 1 hours + 30 minutes), 123);
    }

    function test_SetTariff_FewerBandsClearOldOnes() public {
        Tariff memory t = _flat(1);
        t.bands = new Band[](3);
        t.bands[0] = Band(0, 1, 2);
        t.bands[1] = Band(1, 2, 3);
        t.bands[2] = Band(2, 3, 4);
        vm.startPrank(admin);
        gl.setTariff(5, t);
        gl.setTariff(5, _flat(9));
        vm.stopPrank();
        assertEq(gl.tariffAt(5, 2).bands.length, 0);
        assertEq(gl.tariffAt(5, 1).bands.length, 3);
    }

    function test_RevertWhen_SetTariffInvalid() public {
        vm.startPrank(admin);
        vm.expectRevert(ZeroId.selector);
        gl.setTariff(0, _flat(1));
        Tariff memory t = _flat(1);
        t.bands = new Band[](4);
        vm.expectRevert(abi.encodeWithSelector(TooManyBands.selector, 4));
        gl.setTariff(5, t);
        t.bands = new Band[](1);
        t.bands[0] = Band(10, 10, 1);
        vm.expectRevert(abi.encodeWithSelector(InvalidBand.selector, 0));
        gl.setTariff(5, t);
        t.bands[0] = Band(10, 1440, 1);
        vm.expectRevert(abi.encodeWithSelector(InvalidBand.selector, 0));
        gl.setTariff(5, t);
        t.bands = new Band[](0);
        t.utcOffsetSeconds = 15 hours;
        vm.expectRevert(abi.encodeWithSelector(InvalidBand.selector, type(uint256).max));
        gl.setTariff(5, t);
        vm.stopPrank();
    }
}
