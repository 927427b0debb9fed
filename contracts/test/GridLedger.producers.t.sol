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
