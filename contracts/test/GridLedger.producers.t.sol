// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IGridLedgerProducerTypes} from "../src/interfaces/IGridLedgerProducers.sol";
import {LedgerTestBase} from "./utils/LedgerTestBase.sol";

/// @dev Bidirectional readings, energy tokens, redemption and sell-back.
contract GridLedgerProducersTest is LedgerTestBase, IGridLedgerProducerTypes {
    uint32 internal constant M = 7;
    uint32 internal constant MAX_EXPORT = 10_000;
    uint64 internal constant FEED_IN = 80_000;
    uint64 internal constant NETWORK = 100_000;

    function setUp() public {
        _deploy(false);
        _register(M, Mode.Postpaid);
        vm.prank(admin);
        pgl.enableExport(M, MAX_EXPORT, 0);
    }

    function _signBi(uint256 key, BidirectionalReading memory r) internal view returns (bytes memory) {
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(key, pgl.bidirectionalReadingDigest(r));
        return abi.encodePacked(rr, s, v);
    }

    function _readBi(uint64 importWh, uint64 exportWh) internal {
        BidirectionalReading memory r = BidirectionalReading(M, importWh, exportWh, uint32(vm.getBlockTimestamp()));
        vm.prank(relayer);
        pgl.submitBidirectionalReading(r, _signBi(meterKey, r));
    }

    function _expectBiRevert(uint64 importWh, uint64 exportWh, bytes memory err) internal {
        BidirectionalReading memory r = BidirectionalReading(M, importWh, exportWh, uint32(vm.getBlockTimestamp()));
        bytes memory sig = _signBi(meterKey, r);
        vm.expectRevert(err);
        pgl.submitBidirectionalReading(r, sig);
    }

    function test_BidirectionalReading_AccruesPendingTokens() public {
        skip(60);
        uint32 ts = uint32(vm.getBlockTimestamp());
        vm.expectEmit(address(ledger));
        emit BidirectionalReadingAccepted(M, 100, 150, ts, 150);
        _readBi(100, 150);
        ProducerInfo memory info = pgl.producerInfo(M);
        assertTrue(info.exports);
        assertEq(info.exportWh, 150);
        assertEq(info.pendingWh, 150);
        assertEq(gl.meter(M).lastWh, 100);
        assertEq(gl.meter(M).signer, meterSigner, "the signer moved, still reported");
        // An import-only reading keeps the export register.
        skip(60);
        _read(M, 120);
        assertEq(pgl.producerInfo(M).exportWh, 150);
    }

    function test_RevertWhen_ExportRegisterDecreased() public {
        skip(60);
        _readBi(100, 150);
        skip(60);
        _expectBiRevert(110, 149, abi.encodeWithSelector(ExportRegisterDecreased.selector, M, 149, 150));
        assertEq(pgl.producerInfo(M).pendingWh, 150, "nothing minted");
    }

    function test_RevertWhen_ExportOnImportOnlyMeter() public {
        _register(8, Mode.Postpaid);
        skip(60);
        BidirectionalReading memory r = BidirectionalReading(8, 10, 10, uint32(vm.getBlockTimestamp()));
        bytes memory sig = _signBi(meterKey, r);
        vm.expectRevert(abi.encodeWithSelector(ImportOnlyMeter.selector, 8));
        pgl.submitBidirectionalReading(r, sig);
        vm.expectRevert(abi.encodeWithSelector(ImportOnlyMeter.selector, 8));
        pgl.claimTokens(8);
        // The redeem-first choice is about pending tokens, which it has none of.
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(ImportOnlyMeter.selector, 8));
        pgl.setRedeemTokens(8, true);
    }

    /// @dev `payer` holds 400 tokens from M's export and owes an import-only meter 8's bill of 1000 Wh (300,000).
    function _importOnlyBillAndTokens() internal {
        _setProducerTariff();
        _register(8, Mode.Postpaid);
        skip(600);
        _readBi(0, 400);
        _read(8, 1000);
        skip(PERIOD);
        gl.settle(8);
        pgl.claimTokens(M);
    }

    function test_RedeemTokens_ImportOnlyMeterPaysWithTokensItHolds() public {
        _importOnlyBillAndTokens();
        vm.expectEmit(address(ledger));
        emit TokensRedeemed(8, payer, 300, 60_000);
        vm.prank(payer);
        // 300 Wh of the bill's 0.3 per kWh, less their network charge of 0.1 per kWh.
        assertEq(pgl.redeemTokens(8, 300), 60_000);
        assertEq(kwh.balanceOf(payer), 100, "burned");
        assertEq(gl.meterBalance(8), -240_000);
        assertEq(gl.billOf(8).amount, 240_000);
        ProducerInfo memory info = pgl.producerInfo(8);
        assertFalse(info.exports);
        assertEq(info.billRedeemedWh, 300);
        assertEq(gl.meter(8).signer, meterSigner, "still import-only: its signer stays in slot 0");
    }

    function test_RedeemTokens_ImportOnlyBillTakesNoMoreThanItsEnergy() public {
        _importOnlyBillAndTokens();
        // The bill's 1000 Wh: 300 redeemed, then 600 more bought; only 100 more count after that.
        vm.prank(payer);
        pgl.redeemTokens(8, 300);
        deal(address(kwh), payer, 700, true);
        vm.prank(payer);
        pgl.redeemTokens(8, 600);
        vm.prank(payer);
        assertEq(pgl.redeemTokens(8, 100), 20_000, "the last 100 Wh of the bill");
        assertEq(kwh.balanceOf(payer), 0);
        assertEq(pgl.producerInfo(8).billRedeemedWh, 1000);
        // The whole energy is redeemed (the network charge of 100,000 stays due): nothing more to redeem.
        deal(address(kwh), payer, 50, true);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(NothingToRedeem.selector, 8));
        pgl.redeemTokens(8, 50);
        assertEq(gl.meterBalance(8), -100_000);
    }

    function test_RedeemTokens_ImportOnlyNextBillStartsFromNothingRedeemed() public {
        _importOnlyBillAndTokens();
        vm.prank(payer);
        pgl.redeemTokens(8, 400);
        uint256 due = gl.amountDue(8);
        vm.prank(payer);
        gl.payBill{value: due}(8);
        skip(60);
        _read(8, 1500);
        assertEq(pgl.producerInfo(8).billRedeemedWh, 400, "the open period has not closed");
        skip(PERIOD);
        assertEq(pgl.producerInfo(8).billRedeemedWh, 0, "as the next bill will be");
        gl.settle(8);
        assertEq(gl.billOf(8).energyWh, 500);
        deal(address(kwh), payer, 500, true);
        vm.prank(payer);
        assertEq(pgl.redeemTokens(8, 500), 100_000);
        assertEq(pgl.producerInfo(8).billRedeemedWh, 500);
    }

    function test_EnableExport_KeepsWhatTokensPaidOfTheOpenBill() public {
        _importOnlyBillAndTokens();
        vm.prank(payer);
        pgl.redeemTokens(8, 400);
        // The registrar enables the export register mid-bill: the 400 Wh stay redeemed, so they cannot pay twice.
        vm.prank(admin);
        pgl.enableExport(8, MAX_EXPORT, 0);
        assertEq(pgl.producerInfo(8).billRedeemedWh, 400);
        deal(address(kwh), payer, 1000, true);
        vm.prank(payer);
        pgl.redeemTokens(8, 1000);
        assertEq(pgl.producerInfo(8).billRedeemedWh, 1000);
        assertEq(gl.meterBalance(8), -100_000, "only the network charge is left");
    }

    function test_RevertWhen_ExportBeyondRating() public {
        skip(60);
        // 10 kW for 60 s is at most 166 Wh.
        _expectBiRevert(0, 200, abi.encodeWithSelector(ImplausibleExportPower.selector, M, 12_000, MAX_EXPORT));
    }

    function test_RevertWhen_BidirectionalSignedByOther() public {
        skip(60);
        BidirectionalReading memory r = BidirectionalReading(M, 10, 10, uint32(vm.getBlockTimestamp()));
        bytes memory sig = _signBi(0xB0B, r);
        vm.expectRevert(abi.encodeWithSelector(InvalidSignature.selector, M, vm.addr(0xB0B)));
        pgl.submitBidirectionalReading(r, sig);
    }

    function test_RevertWhen_BidirectionalSignatureMalformed() public {
        skip(60);
        BidirectionalReading memory r = BidirectionalReading(M, 10, 10, uint32(vm.getBlockTimestamp()));
        (, bytes32 rr, bytes32 s) = vm.sign(meterKey, pgl.bidirectionalReadingDigest(r));
        // v = 29 recovers nobody: address(0) never matches the signer bits.
        vm.expectRevert(abi.encodeWithSelector(InvalidSignature.selector, M, address(0)));
        pgl.submitBidirectionalReading(r, abi.encodePacked(rr, s, uint8(29)));
    }

    function test_SetMeterSigner_RotatesAProducerMetersSigner() public {
        uint256 newKey = 0x5E11;
        vm.prank(admin);
        gl.setMeterSigner(M, vm.addr(newKey));
        assertEq(gl.meter(M).signer, vm.addr(newKey));
        skip(60);
        BidirectionalReading memory r = BidirectionalReading(M, 10, 10, uint32(vm.getBlockTimestamp()));
        bytes memory sig = _signBi(meterKey, r);
        vm.expectRevert(abi.encodeWithSelector(InvalidSignature.selector, M, meterSigner));
        pgl.submitBidirectionalReading(r, sig);
        pgl.submitBidirectionalReading(r, _signBi(newKey, r));
        assertEq(pgl.producerInfo(M).pendingWh, 10);
    }

    function test_EnableExport_RebaseKeepsPendingTokens() public {
        skip(60);
        _readBi(100, 150);
        // A new meter whose export register starts below, then above, what is pending.
        vm.startPrank(admin);
        pgl.enableExport(M, MAX_EXPORT, 20);
        assertEq(pgl.producerInfo(M).pendingWh, 150);
        pgl.enableExport(M, MAX_EXPORT, 5000);
        vm.stopPrank();
        ProducerInfo memory info = pgl.producerInfo(M);
        assertEq(info.exportWh, 5000);
        assertEq(info.pendingWh, 150);
        assertEq(gl.meter(M).signer, meterSigner, "the rebase keeps the signer");
        skip(60);
        _readBi(110, 5050);
        assertEq(pgl.claimTokens(M), 200);
    }

    function test_ClaimTokens_MintsPendingToPayer() public {
        skip(60);
        _readBi(100, 150);
        vm.expectEmit(address(ledger));
        emit TokensClaimed(M, payer, 150);
        assertEq(pgl.claimTokens(M), 150);
        assertEq(kwh.balanceOf(payer), 150);
        assertEq(kwh.decimals(), 3);
        assertEq(pgl.producerInfo(M).pendingWh, 0);
        vm.expectRevert(abi.encodeWithSelector(NothingToClaim.selector, M));
        pgl.claimTokens(M);
    }

    function test_RevertWhen_TokenMintedByOtherThanLedger() public {
        vm.expectRevert(abi.encodeWithSignature("OnlyLedger(address)", address(this)));
        kwh.mint(address(this), 1);
    }

    function test_Batch_IsolatesEntries() public {
        skip(60);
        uint32 ts = uint32(vm.getBlockTimestamp());
        SignedBidirectionalReading[] memory batch = new SignedBidirectionalReading[](2);
        batch[0] = _compactBi(BidirectionalReading(M, 10, 100, ts));
        batch[1] = _compactBi(BidirectionalReading(M, 20, 50, ts + 1));
        assertEq(pgl.submitBidirectionalReadings(batch), 1);
        assertEq(pgl.producerInfo(M).pendingWh, 100);
    }

    function _compactBi(BidirectionalReading memory r) internal view returns (SignedBidirectionalReading memory) {
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(meterKey, pgl.bidirectionalReadingDigest(r));
        return SignedBidirectionalReading(r, rr, bytes32(uint256(s) | (uint256(v - 27) << 255)));
    }

    function _setProducerTariff() internal {
        vm.prank(admin);
        pgl.setProducerTariff(TARIFF, ProducerTariff(FEED_IN, NETWORK));
    }

    function test_RedeemAtClose_TokensPayTheBillFirst() public {
        _setProducerTariff();
        vm.prank(payer);
        pgl.setRedeemTokens(M, true);
        skip(600);
        _readBi(1000, 400);
        skip(PERIOD);
        gl.settle(M);
        // 1000 Wh at 0.3 = 300,000; 400 Wh redeemed: 120,000 off, less their network charge 40,000.
        Bill memory b = gl.billOf(M);
        assertEq(b.amount, 300_000 - 80_000);
        assertEq(gl.meterBalance(M), -220_000);
        ProducerInfo memory info = pgl.producerInfo(M);
        assertEq(info.pendingWh, 0);
        assertEq(info.billRedeemedWh, 400);
    }

    function test_RedeemTokens_AgainstTheUnpaidBill() public {
        _setProducerTariff();
        skip(600);
        _readBi(1000, 400);
        skip(PERIOD);
        gl.settle(M);
        pgl.claimTokens(M);
        vm.prank(payer);
        uint256 amount = pgl.redeemTokens(M, 300);
        assertEq(amount, 90_000 - 30_000);
        assertEq(kwh.balanceOf(payer), 100, "burned");
        assertEq(gl.meterBalance(M), -240_000);
        // Redeeming more than held.
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(InsufficientTokens.selector, payer, 200, 100));
        pgl.redeemTokens(M, 200);
    }

    function test_SellBack_PaidFromFeedInFunds() public {
        _setProducerTariff();
        skip(600);
        _readBi(0, 1000);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(FeedInFundsExhausted.selector, 80_000, 0));
        pgl.sellBack(M, 1000);
        pgl.depositFeedInFunds{value: 50_000}(50_000);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(FeedInFundsExhausted.selector, 80_000, 50_000));
        pgl.sellBack(M, 1000);
        pgl.depositFeedInFunds{value: 50_000}(50_000);
        vm.prank(payer);
        assertEq(pgl.sellBack(M, 1000), 80_000);
        assertEq(pgl.feedInFunds(), 20_000);
        assertEq(pgl.proceedsOf(payer), 80_000);
        // The operator takes neither the proceeds nor the feed-in funds with `withdraw`.
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(WithdrawalExceedsBalance.selector, 1, 0));
        gl.withdraw(1);
        uint256 before = payer.balance;
        vm.prank(payer);
        pgl.withdrawProceeds();
        assertEq(payer.balance - before, 80_000);
        vm.prank(admin);
        pgl.withdrawFeedInFunds(20_000);
        assertEq(treasury.balance, 20_000);
        assertEq(address(ledger).balance, 0);
    }
}
