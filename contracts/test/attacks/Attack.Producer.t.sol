// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IGridLedgerProducerTypes} from "../../src/interfaces/IGridLedgerProducers.sol";
import {LedgerTestBase} from "../utils/LedgerTestBase.sol";

/// @dev A household (or whoever holds its payer key) trying to get more from its export than it exported once.
contract AttackProducerTest is LedgerTestBase, IGridLedgerProducerTypes {
    uint32 internal constant M = 7;
    uint32 internal constant TWIN = 8;
    uint32 internal constant MAX_EXPORT = 10_000;
    uint64 internal constant FEED_IN = 80_000;
    uint64 internal constant NETWORK = 100_000;

    address internal heir = makeAddr("heir");

    function setUp() public {
        _deploy(false);
        _register(M, Mode.Postpaid);
        vm.startPrank(admin);
        pgl.enableExport(M, MAX_EXPORT, 0);
        pgl.setProducerTariff(TARIFF, ProducerTariff(FEED_IN, NETWORK));
        vm.stopPrank();
    }

    function _readBi(uint32 id, uint64 importWh, uint64 exportWh) internal {
        BidirectionalReading memory r = BidirectionalReading(id, importWh, exportWh, uint32(vm.getBlockTimestamp()));
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(meterKey, pgl.bidirectionalReadingDigest(r));
        vm.prank(relayer);
        pgl.submitBidirectionalReading(r, abi.encodePacked(rr, s, v));
    }

    /// @dev A closed bill of 1000 Wh (300,000) and 400 Wh of pending export, redemption at close off.
    function _billWithExport() internal {
        skip(600);
        _readBi(M, 1000, 400);
        skip(PERIOD);
        gl.settle(M);
    }

    // ------------------------------------------------------------ who gets pending tokens

    /// @dev Lazy minting pays the payer at the claim, not at the export: a payer handing the meter on keeps what it
    /// exported only by claiming first (anyone may claim, so it can).
    function test_Attack_PayerHandingOnMeter_KeepsOnlyWhatWasClaimedFirst() public {
        skip(600);
        _readBi(M, 100, 500);
        pgl.claimTokens(M);
        vm.prank(payer);
        gl.setMeterPayer(M, heir);
        skip(600);
        _readBi(M, 200, 800);
        pgl.claimTokens(M);
        assertEq(kwh.balanceOf(payer), 500);
        assertEq(kwh.balanceOf(heir), 300);
    }

    /// @dev Unclaimed export goes with the meter when its payer hands it on.
    function test_Attack_PayerHandingOnMeter_UnclaimedExportGoesToNewPayer() public {
        skip(600);
        _readBi(M, 100, 500);
        vm.prank(payer);
        gl.setMeterPayer(M, heir);
        pgl.claimTokens(M);
        assertEq(kwh.balanceOf(heir), 500);
        assertEq(kwh.balanceOf(payer), 0);
    }

    // ------------------------------------------------------------ redemption

    function test_Attack_RedeemPayRedeem_NothingLeftToRedeem() public {
        _billWithExport();
        pgl.claimTokens(M);
        vm.prank(payer);
        // 100 Wh of a 1000 Wh bill of 300,000: 30,000 less their network charge 10,000.
        assertEq(pgl.redeemTokens(M, 100), 20_000);
        vm.prank(payer);
        gl.payBill{value: 280_000}(M);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(NothingToRedeem.selector, M));
        pgl.redeemTokens(M, 100);
        assertEq(gl.meterBalance(M), 0);
        assertEq(kwh.balanceOf(payer), 300, "kept");
        assertEq(gl.liability(), 0);
    }

    /// @dev A part payment leaves a small debt: redeeming more than it takes only the tokens that pay it.
    function test_Attack_RedeemBeyondTheDebt_TakesOnlyWhatPaysIt() public {
        _billWithExport();
        pgl.claimTokens(M);
        vm.prank(payer);
        gl.topUp{value: 270_000}(M, 270_000);
        vm.prank(payer);
        // 30,000 of debt at 200 per Wh (300 less the network charge of 100): 150 Wh.
        assertEq(pgl.redeemTokens(M, 400), 30_000);
        assertEq(gl.meterBalance(M), 0, "never credit");
        assertEq(kwh.balanceOf(payer), 250);
        assertEq(gl.liability(), 0);
    }

    function test_Attack_RedeemOthersTokensOrForOthersMeter_Reverts() public {
        _register(TWIN, Mode.Postpaid);
        vm.prank(admin);
        pgl.enableExport(TWIN, MAX_EXPORT, 0);
        vm.prank(admin);
        gl.setMeterPayer(TWIN, heir);
        _billWithExport();
        pgl.claimTokens(M);
        vm.prank(heir);
        vm.expectRevert(abi.encodeWithSelector(NotPayer.selector, M, heir));
        pgl.redeemTokens(M, 100);
        // The heir's own meter has no bill to redeem against, and the payer's tokens are not the heir's.
        vm.prank(heir);
        vm.expectRevert(abi.encodeWithSelector(NothingToRedeem.selector, TWIN));
        pgl.redeemTokens(TWIN, 100);
        pgl.depositFeedInFunds{value: 100_000}(100_000);
        vm.prank(heir);
        vm.expectRevert(abi.encodeWithSelector(InsufficientTokens.selector, heir, 100, 0));
        pgl.sellBack(TWIN, 100);
    }

    /// @dev A relayer claiming after the period ended but before it closed denies the close its pending tokens; the
    /// payer redeems the minted ones for exactly what the close would have taken off.
    function test_Attack_ClaimBeforeClose_CostsTheRedeemingHouseholdNothing() public {
        vm.prank(payer);
        pgl.setRedeemTokens(M, true);
        skip(600);
        _readBi(M, 1000, 400);
        skip(PERIOD);
        int256 projected = gl.meterBalance(M);
        assertEq(projected, -220_000);
        vm.prank(relayer);
        pgl.claimTokens(M);
        gl.settle(M);
        assertEq(gl.meterBalance(M), -300_000, "closed without tokens");
        vm.prank(payer);
        pgl.redeemTokens(M, 400);
        assertEq(gl.meterBalance(M), projected);
        assertEq(kwh.totalSupply(), 0);
    }

    // ------------------------------------------------------------ sell-back

    function test_Attack_SellBackPendingThenClaim_MintsOnlyTheRest() public {
        pgl.depositFeedInFunds{value: 100_000}(100_000);
        skip(600);
        _readBi(M, 0, 1000);
        vm.prank(payer);
        assertEq(pgl.sellBack(M, 600), 48_000);
        assertEq(pgl.claimTokens(M), 400);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(InsufficientTokens.selector, payer, 401, 400));
        pgl.sellBack(M, 401);
    }

    /// @dev Pending tokens the close would redeem, sold first, are settled once: the close finds none.
    function test_Attack_SellBackBeforeClose_SettlesEachWhOnce() public {
        pgl.depositFeedInFunds{value: 100_000}(100_000);
        vm.prank(payer);
        pgl.setRedeemTokens(M, true);
        skip(600);
        _readBi(M, 1000, 400);
        skip(PERIOD);
        vm.prank(payer);
        pgl.sellBack(M, 400);
        gl.settle(M);
        assertEq(gl.billOf(M).amount, 300_000);
        assertEq(pgl.producerInfo(M).pendingWh, 0);
        assertEq(pgl.producerInfo(M).billRedeemedWh, 0);
        vm.expectRevert(abi.encodeWithSelector(NothingToClaim.selector, M));
        pgl.claimTokens(M);
    }

    // ------------------------------------------------------------ rounding

    function testFuzz_Attack_SplitSellBacksNeverGainDust(uint64 feedIn, uint16 pieces) public {
        feedIn = uint64(bound(feedIn, 1, 999_999));
        pieces = uint16(bound(pieces, 2, 60));
        vm.prank(admin);
        pgl.setProducerTariff(TARIFF, ProducerTariff(feedIn, NETWORK));
        pgl.depositFeedInFunds{value: 1 ether}(1 ether);
        skip(600);
        _readBi(M, 0, 600);
        uint256 split;
        vm.startPrank(payer);
        for (uint256 k; k < pieces; ++k) {
            split += pgl.sellBack(M, 1);
        }
        vm.stopPrank();
        assertLe(split, uint256(pieces) * feedIn / 1000);
        assertEq(pgl.proceedsOf(payer), split);
    }

    /// @dev Twins with the same bill at awkward prices: 1 Wh at a time never takes more off than all at once (each
    /// 1 Wh piece's network charge once rounded down to 0).
    function testFuzz_Attack_SplitRedemptionsNeverGainDust(uint64 price, uint64 network, uint16 pieces) public {
        price = uint64(bound(price, 1000, 999_999));
        network = uint64(bound(network, 0, price));
        pieces = uint16(bound(pieces, 2, 60));
        vm.startPrank(admin);
        gl.setTariff(2, _flat(price));
        pgl.setProducerTariff(2, ProducerTariff(FEED_IN, network));
        vm.stopPrank();
        _registerWith(TWIN, meterSigner, Mode.Postpaid, 2, 0);
        _registerWith(TWIN + 1, meterSigner, Mode.Postpaid, 2, 0);
        vm.startPrank(admin);
        pgl.enableExport(TWIN, MAX_EXPORT, 0);
        pgl.enableExport(TWIN + 1, MAX_EXPORT, 0);
        vm.stopPrank();
        skip(600);
        _readBi(TWIN, 997, 600);
        _readBi(TWIN + 1, 997, 600);
        skip(PERIOD);
        uint256 split;
        vm.startPrank(payer);
        for (uint256 k; k < pieces; ++k) {
            split += pgl.redeemTokens(TWIN, 1);
        }
        uint256 whole = pgl.redeemTokens(TWIN + 1, pieces);
        vm.stopPrank();
        assertLe(split, whole);
    }

    // ------------------------------------------------------------ the registrar moves the payer

    /// @dev The registrar may move only a meter that holds no credit, so that nobody but the payer who paid it
    /// redirects credit; pending tokens are energy credit the old payer exported, so they never go with the move.
    function test_Attack_RegistrarMovingPayer_LeavesOldPayerItsExport() public {
        skip(600);
        _readBi(M, 100, 500);
        vm.prank(admin);
        try gl.setMeterPayer(M, heir) {} catch {}
        pgl.claimTokens(M);
        assertEq(kwh.balanceOf(payer), 500, "exported while payer");
        assertEq(kwh.balanceOf(heir), 0);
    }
}
