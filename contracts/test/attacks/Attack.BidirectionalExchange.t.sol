// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {IGridLedgerProducerTypes} from "../../src/interfaces/IGridLedgerProducers.sol";
import {LedgerTestBase} from "../utils/LedgerTestBase.sol";

/// @dev The exchange of a meter with an export register: every Wh the old meter exported mints once (its last export,
/// read by the registrar, included), the new meter's export continues from its own register, and the registrar cannot
/// use the exchange to drop a producer's tokens or to mint for itself.
/// Trust boundary: the old meter's final registers are the registrar's word as the import register's always were,
/// bounded by the last signed registers (never below) and by the meter's ratings since them (at most that much
/// more); whatever it adds is pending for the meter's payer, whom it cannot move while tokens are pending. The new
/// meter's registers are its word as at registration; the meter's signed readings go on from them, within the ratings.
contract AttackBidirectionalExchangeTest is LedgerTestBase, IGridLedgerProducerTypes {
    uint32 internal constant M = 7;
    uint32 internal constant IMPORT_ONLY = 8;
    uint32 internal constant MAX_EXPORT = 10_000;
    uint64 internal constant NETWORK = 100_000;

    function setUp() public {
        _deploy(false);
        _register(M, Mode.Postpaid);
        _register(IMPORT_ONLY, Mode.Postpaid);
        vm.startPrank(admin);
        pgl.enableExport(M, MAX_EXPORT, 0);
        pgl.setProducerTariff(TARIFF, ProducerTariff(80_000, NETWORK));
        vm.stopPrank();
    }

    function _readBi(uint64 importWh, uint64 exportWh) internal {
        BidirectionalReading memory r = BidirectionalReading(M, importWh, exportWh, uint32(vm.getBlockTimestamp()));
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(meterKey, pgl.bidirectionalReadingDigest(r));
        vm.prank(relayer);
        pgl.submitBidirectionalReading(r, abi.encodePacked(rr, s, v));
    }

    function _exchange(uint64 oldImportWh, uint64 oldExportWh, uint64 newImportWh, uint64 newExportWh) internal {
        vm.prank(admin);
        pgl.recordBidirectionalMeterExchange(
            M, oldImportWh, oldExportWh, newImportWh, newExportWh, uint32(vm.getBlockTimestamp())
        );
    }

    function _expectExchangeRevert(uint64 oldImportWh, uint64 oldExportWh, uint64 newExportWh, bytes memory err)
        internal
    {
        vm.prank(admin);
        vm.expectRevert(err);
        pgl.recordBidirectionalMeterExchange(
            M, oldImportWh, oldExportWh, 0, newExportWh, uint32(vm.getBlockTimestamp())
        );
    }

    function test_BidirectionalExchange_EveryExportedWhMintsOnce() public {
        skip(10 minutes);
        _readBi(1000, 400);
        skip(1 minutes);
        uint32 ts = uint32(vm.getBlockTimestamp());
        vm.expectEmit(address(ledger));
        emit MeterExchanged(M, 1100, 5, ts);
        vm.expectEmit(address(ledger));
        emit ExportExchanged(M, 450, 20, 50);
        _exchange(1100, 450, 5, 20);
        ProducerInfo memory info = pgl.producerInfo(M);
        assertEq(info.exportWh, 20, "the export register continues from the new meter's");
        assertEq(info.pendingWh, 450, "the old meter's export, to its final register");
        assertEq(gl.meter(M).lastWh, 5);
        assertEq(gl.meter(M).lastTimestamp, ts);
        assertEq(gl.billOf(M).energyWh, 1100, "the old meter's final bill");

        skip(10 minutes);
        _readBi(205, 320);
        assertEq(pgl.producerInfo(M).pendingWh, 750);
        assertEq(pgl.claimTokens(M), 750, "450 from the old meter, 300 from the new");
        assertEq(kwh.balanceOf(payer), 750);
    }

    /// @dev With its export register, a meter is exchanged only with both registers: its last export is never lost.
    function test_Attack_ImportOnlyExchangeOfABidirectionalMeter_Refused() public {
        skip(10 minutes);
        _readBi(1000, 400);
        skip(1 minutes);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(ExportRegisterNotExchanged.selector, M));
        gl.recordMeterExchange(M, 1100, 0, uint32(vm.getBlockTimestamp()));
        // And an import-only meter has no export register to exchange.
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(ImportOnlyMeter.selector, IMPORT_ONLY));
        pgl.recordBidirectionalMeterExchange(IMPORT_ONLY, 0, 0, 0, 0, uint32(vm.getBlockTimestamp()));
        assertEq(gl.meter(M).lastWh, 1000);
        assertEq(pgl.producerInfo(M).pendingWh, 400);
    }

    /// @dev A final export register below the last signed one would drop the producer's tokens: refused.
    function test_Attack_LowerFinalExportCannotDropTokens() public {
        skip(10 minutes);
        _readBi(1000, 400);
        skip(1 minutes);
        _expectExchangeRevert(1000, 399, 0, abi.encodeWithSelector(ExportRegisterDecreased.selector, M, 399, 400));
        // Rebasing to a low new register keeps what is pending.
        _exchange(1000, 400, 0, 0);
        assertEq(pgl.producerInfo(M).pendingWh, 400);
    }

    /// @dev A higher final export register adds at most the export rating's energy since the last reading, and it
    /// is the payer's: the registrar cannot move the payer while tokens are pending, nor claim them for itself.
    function test_Attack_HigherFinalExportIsBoundedAndTheProducers() public {
        skip(10 minutes);
        _readBi(1000, 400);
        skip(1 minutes);
        // 10 kW for a minute is 166 Wh.
        _expectExchangeRevert(
            1000, 567, 0, abi.encodeWithSelector(ImplausibleExportPower.selector, M, 167 * 60, MAX_EXPORT)
        );
        _exchange(1000, 566, 0, 0);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(NotPayer.selector, M, admin));
        gl.setMeterPayer(M, admin);
        vm.prank(admin);
        pgl.claimTokens(M);
        assertEq(kwh.balanceOf(payer), 566);
        assertEq(kwh.balanceOf(admin), 0);
    }

    function test_Attack_ExchangeCheckedAsAReading() public {
        skip(10 minutes);
        _readBi(1000, 400);
        uint32 last = uint32(vm.getBlockTimestamp());
        _expectExchangeRevert(1000, 400, 0, abi.encodeWithSelector(StaleReading.selector, M, last, last));
        skip(1 minutes);
        _expectExchangeRevert(999, 400, 0, abi.encodeWithSelector(RegisterDecreased.selector, M, 999, 1000));
        uint64 tooHigh = uint64(1) << 40;
        _expectExchangeRevert(1000, 400, tooHigh, abi.encodeWithSelector(RegisterOutOfRange.selector, M, tooHigh));
        vm.prank(admin);
        gl.pause();
        _expectExchangeRevert(1000, 400, 0, abi.encodeWithSelector(Pausable.EnforcedPause.selector));
        vm.prank(admin);
        gl.unpause();

        // Nor may the household record one (to take the final registers into its own hands).
        bytes memory unauthorized = abi.encodeWithSelector(
            IAccessControl.AccessControlUnauthorizedAccount.selector, payer, ledger.METER_REGISTRAR_ROLE()
        );
        vm.prank(payer);
        vm.expectRevert(unauthorized);
        pgl.recordBidirectionalMeterExchange(M, 1000, 400, 0, 0, uint32(vm.getBlockTimestamp()));
        assertEq(pgl.producerInfo(M).exportWh, 400);
        assertEq(gl.meter(M).lastTimestamp, last);
    }

    /// @dev The old meter's last export may pay its final bill (tokens first, when the payer chose so); each Wh is
    /// settled once: what is minted, pending or redeemed adds up to the export.
    function test_BidirectionalExchange_FinalBillRedeemsTheOldMetersLastExport() public {
        vm.prank(payer);
        pgl.setRedeemTokens(M, true);
        skip(10 minutes);
        _readBi(1000, 100);
        // 300 Wh in two minutes: 9 kW.
        skip(2 minutes);
        vm.expectEmit(address(ledger));
        // 400 Wh of a 1000 Wh bill of 300,000: 120,000 less their network charge of 40,000.
        emit TokensRedeemed(M, payer, 400, 80_000);
        _exchange(1000, 400, 0, 0);
        assertEq(gl.billOf(M).amount, 220_000);
        assertEq(pgl.producerInfo(M).pendingWh, 0);
        skip(10 minutes);
        _readBi(100, 50);
        pgl.claimTokens(M);
        assertEq(kwh.totalSupply() + pgl.producerInfo(M).pendingWh + 400, 450, "minted + pending + redeemed");
    }

    /// @dev Pending Wh are kept across any number of exchanges, however the new registers are chosen.
    function testFuzz_BidirectionalExchange_KeepsEveryExportedWh(uint64[4] memory exported, uint64[4] memory newExport)
        public
    {
        uint64 importWh;
        uint64 exportWh;
        uint256 total;
        for (uint256 i; i < exported.length; ++i) {
            skip(10 minutes);
            // At most the export rating in ten minutes, by a signed reading, then by the registrar's final register.
            uint64 signed = uint64(bound(exported[i], 0, 1666));
            _readBi(importWh, exportWh + signed);
            skip(1 minutes);
            uint64 last = uint64(bound(exported[i] >> 16, 0, 166));
            exportWh = uint64(bound(newExport[i], 0, 1e9));
            _exchange(importWh, pgl.producerInfo(M).exportWh + last, importWh, exportWh);
            total += signed + last;
            if (i % 2 == 1 && pgl.producerInfo(M).pendingWh != 0) pgl.claimTokens(M);
        }
        assertEq(kwh.totalSupply() + pgl.producerInfo(M).pendingWh, total);
    }
}
