// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

import {IEnergyAuction} from "../../src/interfaces/IEnergyAuction.sol";
import {EnergyAuction} from "../../src/market/EnergyAuction.sol";
import {LedgerTestBase} from "./LedgerTestBase.sol";

/// @dev A ledger (native or test-dollar payments) with an `EnergyAuction` on it, a seller holding energy tokens and
/// three bidders with keys for permits.
abstract contract AuctionTestBase is LedgerTestBase {
    uint16 internal constant INCREMENT_BPS = 500; // 5 %
    uint32 internal constant EXTENSION = 5 minutes;
    uint256 internal constant LOT_WH = 2500;
    uint256 internal constant START_PRICE = 100_000; // 0.10 tUSD per kWh
    uint256 internal constant DURATION = 1 hours;
    uint256 internal constant SELLER_KEY = 0x5E11E4;
    uint256 internal constant ALICE_KEY = 0xA11CE0;
    uint256 internal constant BOB_KEY = 0xB0B;
    uint256 internal constant CAROL_KEY = 0xCA401;

    EnergyAuction internal auction;
    bool internal native;
    address internal seller = vm.addr(SELLER_KEY);
    address internal alice = vm.addr(ALICE_KEY);
    address internal bob = vm.addr(BOB_KEY);
    address internal carol = vm.addr(CAROL_KEY);
    address internal feeSink = makeAddr("feeSink");

    function _setUpAuction(bool token) internal {
        _deploy(token);
        native = !token;
        auction = new EnergyAuction(address(ledger), INCREMENT_BPS, EXTENSION);
        _mintWh(seller, 100_000);
    }

    /// @dev Energy tokens as the ledger mints them from a claim.
    function _mintWh(address to, uint256 wh) internal {
        vm.prank(address(ledger));
        kwh.mint(to, wh);
    }

    /// @dev The payment currency's balance of `account`.
    function _money(address account) internal view returns (uint256) {
        return native ? account.balance : usd.balanceOf(account);
    }

    /// @dev Gives `account` `amount` of the payment currency (and, on a token auction, the allowance to bid it).
    function _fund(address account, uint256 amount) internal {
        if (native) {
            vm.deal(account, account.balance + amount);
            return;
        }
        usd.mint(account, amount);
        uint256 allowance = usd.allowance(account, address(auction));
        vm.prank(account);
        usd.approve(address(auction), allowance + amount);
    }

    function _offer(uint256 wh, uint256 price, uint256 duration) internal returns (uint256 lotId) {
        return _offerFrom(seller, wh, price, duration);
    }

    function _offerFrom(address from, uint256 wh, uint256 price, uint256 duration) internal returns (uint256 lotId) {
        vm.startPrank(from);
        kwh.approve(address(auction), wh);
        lotId = auction.offer(wh, price, duration);
        vm.stopPrank();
    }

    /// @dev Funds `bidder` with exactly the payment and bids.
    function _bid(address bidder, uint256 lotId, uint256 price) internal returns (uint256 payment) {
        payment = auction.paymentFor(auction.lot(lotId).amountWh, price);
        _fund(bidder, payment);
        _bidFunded(bidder, lotId, price, payment);
    }

    /// @dev Bids with funds (and allowance) the bidder already holds.
    function _bidFunded(address bidder, uint256 lotId, uint256 price, uint256 payment) internal {
        vm.prank(bidder);
        auction.bid{value: native ? payment : 0}(lotId, price);
    }

    /// @dev An ERC-2612 permit signature of `key`'s owner for `spender`.
    function _permitSig(IERC20Permit token, uint256 key, address spender, uint256 value, uint256 deadline)
        internal
        view
        returns (uint8 v, bytes32 r, bytes32 s)
    {
        address owner = vm.addr(key);
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                owner,
                spender,
                value,
                token.nonces(owner),
                deadline
            )
        );
        return vm.sign(key, keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash)));
    }

    function _setFee(uint16 bps) internal {
        vm.prank(admin);
        auction.setFee(bps, feeSink);
    }

    function _status(uint256 lotId) internal view returns (IEnergyAuction.LotStatus) {
        return auction.lot(lotId).status;
    }

    /// @dev Helper for `expectRevert` on a funded bid (an external call, so the revert is the bid's).
    function bidAs(address bidder, uint256 lotId, uint256 price) external {
        uint256 payment = price > type(uint96).max ? 0 : auction.paymentFor(auction.lot(lotId).amountWh, price);
        _fund(bidder, payment);
        _bidFunded(bidder, lotId, price, payment);
    }
}
