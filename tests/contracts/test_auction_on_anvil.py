"""The energy auction on a real anvil beside its ledger, driven as a client would drive it."""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount
import pytest

from tests.anvil import Anvil
from tests.chain_fixtures import AUCTION_EXTENSION, Deployment

pytestmark = pytest.mark.usefixtures("socket_enabled")

DURATION = 600


def _claimed_tokens(anvil: Anvil, d: Deployment, wh: int) -> LocalAccount:
    """A prosumer's payer holding `wh` energy tokens: signed export, then a claim."""
    meter = d.new_meter()
    d.enable_export(meter.meter_id, 10_000, 0)
    for import_wh, export_wh in ((10, 0), (20, wh)):
        anvil.increase_time(3600)
        ts = anvil.timestamp()
        sig = d.sign_bidirectional_reading(meter.signer, meter.meter_id, import_wh, export_wh, ts)
        call = d.ledger.functions.submitBidirectionalReading(
            (meter.meter_id, import_wh, export_wh, ts), sig
        )
        d.transact(call)
    d.transact(d.ledger.functions.claimTokens(meter.meter_id))
    return meter.payer


def _buyer(d: Deployment, dollars: int) -> LocalAccount:
    buyer: LocalAccount = Account.create()
    d.fund(buyer.address)
    d.mint(buyer.address, dollars)
    return buyer


def test_auction_reads_its_ledger(ledger_native: Deployment, ledger_token: Deployment) -> None:
    for d in (ledger_native, ledger_token):
        assert d.auction is not None
        assert d.energy_token is not None
        auction = d.auction.functions
        assert auction.ledger().call() == d.address
        assert auction.energyToken().call() == d.energy_token.address
        assert auction.extensionWindow().call() == AUCTION_EXTENSION
    assert ledger_native.auction is not None
    assert ledger_native.auction.functions.paymentToken().call() == "0x" + "00" * 20


def test_auction_sells_claimed_tokens_for_dollars(anvil: Anvil, ledger_token: Deployment) -> None:
    """Offer with a permit, a bid, an outbid with a permit, finalize, and every withdrawal."""
    d = ledger_token
    assert d.auction is not None
    assert d.energy_token is not None
    assert d.token is not None
    auction, energy, dollar = d.auction.functions, d.energy_token.functions, d.token.functions
    seller = _claimed_tokens(anvil, d, 1_500)
    deadline = anvil.timestamp() + 3600
    v, r, s = d.permit_signature(seller, 1_000, deadline, d.energy_token, d.auction.address)
    lot_id = auction.nextLotId().call()
    d.transact(auction.offerWithPermit(1_000, 200_000, DURATION, deadline, v, r, s), seller)
    assert energy.balanceOf(d.auction.address).call() == 1_000
    assert energy.balanceOf(seller.address).call() == 500

    alice, bob = _buyer(d, 10**6), _buyer(d, 10**6)
    first = auction.paymentFor(1_000, 200_000).call()
    assert first == 200_000  # 1 kWh at 0.20 tUSD
    d.transact(dollar.approve(d.auction.address, first), alice)
    d.transact(auction.bid(lot_id, 200_000), alice)
    price, second = auction.minimumBid(lot_id).call()
    assert price == 210_000  # beats the highest by 5 %
    v, r, s = d.permit_signature(bob, second, deadline, spender=d.auction.address)
    d.transact(auction.bidWithPermit(lot_id, price, deadline, v, r, s), bob)
    assert auction.refundOf(alice.address).call() == first

    anvil.increase_time(DURATION)
    d.transact(auction.finalize(lot_id), alice)  # anyone may finalize
    assert energy.balanceOf(bob.address).call() == 1_000
    assert auction.proceedsOf(seller.address).call() == second
    d.transact(auction.withdrawRefund(), alice)
    d.transact(auction.withdrawProceeds(), seller)
    assert dollar.balanceOf(alice.address).call() == 10**6
    assert dollar.balanceOf(seller.address).call() == second
    assert dollar.balanceOf(d.auction.address).call() == 0


def test_auction_errors_name_themselves(anvil: Anvil, ledger_native: Deployment) -> None:
    """A client reads the auction's custom errors from the deployment's ABIs."""
    d = ledger_native
    assert d.auction is not None
    assert d.energy_token is not None
    seller = _claimed_tokens(anvil, d, 800)
    d.transact(d.energy_token.functions.approve(d.auction.address, 800), seller)
    lot_id = d.auction.functions.nextLotId().call()
    d.transact(d.auction.functions.offer(800, 10**12, DURATION), seller)
    low = d.auction.functions.bid(lot_id, 10**12 - 1)
    assert d.revert_reason(low, seller) == f"SellerCannotBid({lot_id},)"
    buyer = Account.create()
    d.fund(buyer.address)
    reason = d.revert_reason(low, buyer)
    assert reason == f"BidTooLow({lot_id}, {10**12 - 1}, {10**12})"
    receipt = d.send(low, buyer)
    assert receipt["status"] == 0
    early = d.auction.functions.finalize(lot_id)
    assert d.revert_reason(early).startswith(f"LotStillOpen({lot_id}, ")
