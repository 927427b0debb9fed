"""Households in the energy market on anvil: a prosumer offers its tokens from Home Assistant,
a consumer bids, is outbid by a neighbour, withdraws its refund, bids again and wins; the lot is
finalized and the bought tokens pay the consumer's bill. Each step's response, entities and bus
events, and the translated refusals."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from eth_account import Account
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.grid_ledger.chain.abi import ERC20_ABI
from custom_components.grid_ledger.chain.market import LOT_WINDOW
from custom_components.grid_ledger.const import (
    AUTO_OFFER_DURATION,
    CONF_AUCTION,
    CONF_AUTO_BID_CEILING,
    CONF_AUTO_PAY,
    CONF_AUTO_SELL_FLOOR,
    CONF_REDEEM_TOKENS,
    CONF_SPENDING_CAP,
    DOMAIN,
    EVENT_LOT_EXPIRED,
    EVENT_LOT_SOLD,
    EVENT_LOT_WON,
    EVENT_OUTBID,
    EVENT_TOKENS_MINTED,
)

from .conftest import (
    Ledger,
    LocalChain,
    MeterSetup,
    call,
    deploy,
    entry_data,
    register_meter,
    set_up_entry,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")

MAX_EXPORT_W = 2**20 - 1
PRICE = 10**15  # wei per kWh: 0.001 ETH
NEIGHBOUR = 3  # the anvil account that bids straight on the chain


def auction_of(ledger: Ledger) -> Any:
    auction = ledger.deployment.auction
    assert auction is not None
    return auction


def energy_balance(ledger: Ledger, address: str) -> int:
    token = ledger.contract.functions.energyToken().call()
    erc20 = ledger.w3.eth.contract(address=token, abi=ERC20_ABI)
    return int(erc20.functions.balanceOf(address).call())


def export_and_claim(ledger: Ledger, meter: MeterSetup, export_wh: int) -> None:
    """The meter's signed export of `export_wh`, relayed, and its tokens claimed to the payer."""
    export(ledger, meter, export_wh)
    ledger.transact(ledger.contract.functions.claimTokens(meter.meter_id))


def export(ledger: Ledger, meter: MeterSetup, export_wh: int) -> None:
    """The meter's signed export of `export_wh`, relayed: its tokens pending on the meter."""
    ledger.deployment.enable_export(meter.meter_id, MAX_EXPORT_W, 0)
    last_wh = int(ledger.contract.functions.meter(meter.meter_id).call()[7])
    ledger.anvil.increase_time(20)
    timestamp = ledger.anvil.timestamp() + 1
    signer = Account.from_key(meter.meter_key)
    signature = ledger.deployment.sign_bidirectional_reading(
        signer, meter.meter_id, last_wh + 1, export_wh, timestamp
    )
    ledger.transact(
        ledger.contract.functions.submitBidirectionalReading(
            (meter.meter_id, last_wh + 1, export_wh, timestamp), signature
        )
    )


def bill(ledger: Ledger, meter: MeterSetup, kwh: int) -> int:
    """Import `kwh` more in a signed reading ten minutes on, end the period and settle: the
    bill is issued. Returns the amount due."""
    last_wh = int(ledger.contract.functions.meter(meter.meter_id).call()[7])
    ledger.anvil.increase_time(600)
    timestamp = ledger.anvil.timestamp() + 1
    wh = last_wh + kwh * 1_000
    signer = Account.from_key(meter.meter_key)
    signature = ledger.deployment.sign_reading(signer, meter.meter_id, wh, timestamp)
    ledger.transact(
        ledger.contract.functions.submitReading((meter.meter_id, wh, timestamp), signature)
    )
    ledger.anvil.increase_time(ledger.deployment.config.period_length)
    ledger.transact(ledger.contract.functions.settle(meter.meter_id))
    return int(ledger.contract.functions.amountDue(meter.meter_id).call())


async def household(
    hass: HomeAssistant, ledger: Ledger, payer_index: int, **options: Any
) -> tuple[MeterSetup, MockConfigEntry]:
    meter = register_meter(ledger, payer_index=payer_index)
    return meter, await set_up(hass, ledger, meter, **options)


async def set_up(
    hass: HomeAssistant, ledger: Ledger, meter: MeterSetup, **options: Any
) -> MockConfigEntry:
    """An entry in the market, whose spending cap is 0.01 ETH, unless the options say else."""
    market = {CONF_AUCTION: auction_of(ledger).address, CONF_SPENDING_CAP: 0.01}
    return await set_up_entry(hass, ledger, meter, **{**market, **options})


async def prosumer_with_tokens(
    hass: HomeAssistant, ledger: Ledger, wh: int
) -> tuple[MeterSetup, MockConfigEntry]:
    """Payer 1's meter, which exported and claimed `wh` tokens, and its entry."""
    meter = register_meter(ledger, payer_index=1)
    export_and_claim(ledger, meter, wh)
    return meter, await set_up(hass, ledger, meter)


async def follow(hass: HomeAssistant, *entries: MockConfigEntry) -> None:
    """Each entry's market follower reads the chain now (as its next poll would), and the
    market is read again."""
    for entry in entries:
        market = entry.runtime_data.market
        assert market is not None
        await market.follower.async_step()
        await market.market.async_refresh()
    await hass.async_block_till_done()


def sensor(hass: HomeAssistant, meter: MeterSetup, name: str) -> Any:
    found = hass.states.get(f"sensor.grid_ledger_meter_{meter.meter_id}_{name}")
    assert found is not None, name
    return found


def neighbour_bid(ledger: Ledger, lot_id: int) -> int:
    """The neighbour bids the lot's minimum straight on the chain; returns its price."""
    auction = auction_of(ledger).functions
    price, payment = auction.minimumBid(lot_id).call()
    _, key = ledger.anvil.accounts[NEIGHBOUR]
    ledger.deployment.send(auction.bid(lot_id, price), Account.from_key(key), value=payment)
    return int(price)


async def test_a_whole_auction_between_two_households(
    hass: HomeAssistant, local_chain: LocalChain
) -> None:
    ledger = local_chain.ledger
    auction = auction_of(ledger).functions
    seller, seller_entry = await prosumer_with_tokens(hass, ledger, 1_500)
    # The buyer's meter is import-only: the tokens it buys pay its bill all the same.
    buyer = register_meter(ledger, payer_index=2)
    buyer_entry = await set_up(hass, ledger, buyer, **{CONF_REDEEM_TOKENS: True})
    outbid = async_capture_events(hass, EVENT_OUTBID)
    won = async_capture_events(hass, EVENT_LOT_WON)
    sold = async_capture_events(hass, EVENT_LOT_SOLD)

    # Offer: escrowed with a permit, in one transaction.
    offer = await call(
        hass, seller_entry, "offer_energy", amount=1.0, start_price=0.001, duration={"minutes": 2}
    )
    lot_id = offer["lot_id"]
    assert offer["kwh"] == 1.0
    assert offer["price_per_kwh"] == 0.001
    assert offer["currency"] == "ETH"
    assert energy_balance(ledger, seller.wallet_address) == 500
    assert energy_balance(ledger, auction_of(ledger).address) == 1_000
    await follow(hass, seller_entry, buyer_entry)
    offers = sensor(hass, seller, "open_market_offers")
    assert offers.state == "1"
    assert offers.attributes["lots"][0]["lot_id"] == lot_id
    assert offers.attributes["lots"][0]["bidder"] is None
    assert float(sensor(hass, seller, "energy_tokens_offered").state) == 1.0
    assert sensor(hass, seller, "auction_end").state == offer["ends_at"]
    assert float(sensor(hass, buyer, "best_market_price").state) == 0.001

    # The seller cannot bid on its own lot; a bid under the start price is refused.
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, seller_entry, "bid_energy", lot_id=lot_id, price=0.002)
    assert err.value.translation_key == "contract_seller_cannot_bid"
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, buyer_entry, "bid_energy", lot_id=lot_id, price=0.0005)
    assert err.value.translation_key == "contract_bid_too_low"
    assert err.value.translation_placeholders == {
        "lot_id": str(lot_id),
        "price": "0.0005",
        "minimum": "0.001",
        "currency": "ETH",
    }

    # First bid: the buyer's payment is escrowed.
    first = await call(hass, buyer_entry, "bid_energy", lot_id=lot_id, price=0.001)
    assert (first["lot_id"], first["payment"], first["kwh"]) == (lot_id, 0.001, 1.0)
    assert auction.lot(lot_id).call()[5] == buyer.wallet_address

    # The neighbour outbids it: the buyer is told once, and its money waits as a refund.
    neighbour_price = neighbour_bid(ledger, lot_id)
    await follow(hass, seller_entry, buyer_entry)
    await follow(hass, buyer_entry)
    assert [event.data["lot_id"] for event in outbid] == [lot_id]
    assert outbid[0].data["device_id"] == buyer_entry.runtime_data.coordinator.device_id
    assert outbid[0].data["price_per_kwh"] == neighbour_price / 10**18
    assert float(sensor(hass, buyer, "market_refunds_and_proceeds").state) == 0.001
    before = ledger.w3.eth.get_balance(buyer.wallet_address)
    refund = await call(hass, buyer_entry, "withdraw_refunds")
    assert (refund["refund"], refund["proceeds"]) == (0.001, 0)
    receipt = ledger.w3.eth.get_transaction_receipt(refund["tx_hash"])
    gas = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert ledger.w3.eth.get_balance(buyer.wallet_address) == before + PRICE - gas
    assert int(auction.refundOf(buyer.wallet_address).call()) == 0
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, buyer_entry, "withdraw_refunds")
    assert err.value.translation_key == "nothing_to_withdraw"

    # The second bid beats the neighbour's by the increment.
    minimum, payment = auction.minimumBid(lot_id).call()
    second = await call(hass, buyer_entry, "bid_energy", lot_id=lot_id, price=minimum / 10**18)
    assert second["payment"] == payment / 10**18
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, seller_entry, "cancel_offer", lot_id=lot_id)
    assert err.value.translation_key == "contract_lot_has_bid"
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, buyer_entry, "finalize_lot", lot_id=lot_id)
    assert err.value.translation_key == "contract_lot_still_open"

    # After the deadline (extended by the late bids) the seller finalizes.
    ledger.anvil.increase_time(600)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, buyer_entry, "bid_energy", lot_id=lot_id, price=0.002)
    assert err.value.translation_key == "contract_lot_ended"
    final = await call(hass, seller_entry, "finalize_lot", lot_id=lot_id)
    assert (final["price_per_kwh"], final["payment"]) == (minimum / 10**18, payment / 10**18)
    assert energy_balance(ledger, buyer.wallet_address) == 1_000
    await follow(hass, seller_entry, buyer_entry)
    assert [event.data["lot_id"] for event in won] == [lot_id]
    assert won[0].data["device_id"] == buyer_entry.runtime_data.coordinator.device_id
    assert [event.data["proceeds"] for event in sold] == [payment / 10**18]
    assert sold[0].data["device_id"] == seller_entry.runtime_data.coordinator.device_id
    assert len(outbid) == 1  # the neighbour's outbid is not the buyer's
    assert float(sensor(hass, seller, "last_market_price").state) == minimum / 10**18
    assert float(sensor(hass, buyer, "last_market_price").state) == minimum / 10**18
    assert sensor(hass, seller, "open_market_offers").state == "0"
    proceeds = await call(hass, seller_entry, "withdraw_refunds")
    assert (proceeds["refund"], proceeds["proceeds"]) == (0, payment / 10**18)

    # The bought tokens pay the buyer's next bill first.
    await hass.async_block_till_done(wait_background_tasks=True)
    assert not ledger.contract.functions.producerInfo(buyer.meter_id).call()[0]  # import-only
    due = bill(ledger, buyer, kwh=2)
    assert due > 0
    await buyer_entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)
    (redeemed,) = ledger.contract.events.TokensRedeemed().get_logs(
        from_block=0, argument_filters={"meterId": buyer.meter_id}
    )
    assert redeemed["args"]["wh"] == 1_000
    assert energy_balance(ledger, buyer.wallet_address) == 0
    assert int(ledger.contract.functions.amountDue(buyer.meter_id).call()) == (
        due - redeemed["args"]["amount"]
    )
    assert ledger.contract.functions.producerInfo(buyer.meter_id).call()[5] == 1_000


async def test_an_unsold_lot_returns_and_a_cancelled_one_too(
    hass: HomeAssistant, local_chain: LocalChain
) -> None:
    ledger = local_chain.ledger
    seller, entry = await prosumer_with_tokens(hass, ledger, 2_000)
    expired = async_capture_events(hass, EVENT_LOT_EXPIRED)

    with pytest.raises(ServiceValidationError) as err:
        await call(hass, entry, "offer_energy", amount=3, start_price=0.001, duration=60)
    assert err.value.translation_key == "more_than_held"
    kept = await call(hass, entry, "offer_energy", amount=1, start_price=0.001, duration=60)
    taken = await call(hass, entry, "offer_energy", amount=1, start_price=0.001, duration=60)
    assert taken["lot_id"] == kept["lot_id"] + 1
    cancelled = await call(hass, entry, "cancel_offer", lot_id=taken["lot_id"])
    assert cancelled["lot_id"] == taken["lot_id"]
    assert energy_balance(ledger, seller.wallet_address) == 1_000
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, entry, "cancel_offer", lot_id=taken["lot_id"])
    assert err.value.translation_key == "contract_lot_closed"
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, entry, "finalize_lot", lot_id=99)
    assert err.value.translation_key == "contract_unknown_lot"

    ledger.anvil.increase_time(120)
    await call(hass, entry, "finalize_lot", lot_id=kept["lot_id"])
    assert energy_balance(ledger, seller.wallet_address) == 2_000
    await follow(hass, entry)
    assert [event.data["lot_id"] for event in expired] == [kept["lot_id"]]
    assert sensor(hass, seller, "auction_end").state == "unknown"
    assert sensor(hass, seller, "best_market_price").state == "unknown"


async def test_a_bid_over_the_spending_cap_is_refused_and_an_outbid_frees_it(
    hass: HomeAssistant, local_chain: LocalChain
) -> None:
    ledger = local_chain.ledger
    _, seller_entry = await prosumer_with_tokens(hass, ledger, 2_000)
    buyer, buyer_entry = await household(hass, ledger, 2, **{CONF_SPENDING_CAP: 0.0015})
    first = await call(hass, seller_entry, "offer_energy", amount=1, start_price=0.001, duration=60)
    other = await call(hass, seller_entry, "offer_energy", amount=1, start_price=0.001, duration=60)

    await call(hass, buyer_entry, "bid_energy", lot_id=first["lot_id"], price=0.001)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, buyer_entry, "bid_energy", lot_id=other["lot_id"], price=0.001)
    assert err.value.translation_key == "over_spending_cap"
    assert err.value.translation_placeholders == {
        "payment": "0.001",
        "spent": "0.001",
        "cap": "0.0015",
        "currency": "ETH",
    }
    assert auction_of(ledger).functions.lot(other["lot_id"]).call()[5] == "0x" + "00" * 20

    neighbour_bid(ledger, first["lot_id"])
    await follow(hass, buyer_entry)
    await call(hass, buyer_entry, "bid_energy", lot_id=other["lot_id"], price=0.001)
    assert auction_of(ledger).functions.lot(other["lot_id"]).call()[5] == buyer.wallet_address


async def test_market_actions_need_a_market(hass: HomeAssistant, local_chain: LocalChain) -> None:
    ledger = local_chain.ledger
    _, entry = await household(hass, ledger, 1, **{CONF_AUCTION: ""})
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, entry, "withdraw_refunds")
    assert err.value.translation_key == "no_market"


@pytest.mark.parametrize(
    ("market", "reason"),
    [
        ("not an address", "is not an address"),
        ("ledger", "is not an energy auction"),  # a contract, but no auction
        ("other ledger's", "trades the tokens of another ledger"),
    ],
)
async def test_a_market_that_is_not_this_ledgers_is_a_configuration_error(
    hass: HomeAssistant, local_chain: LocalChain, market: str, reason: str
) -> None:
    ledger = local_chain.ledger
    address = {
        "not an address": "0x1234",
        "ledger": ledger.address,
        "other ledger's": auction_of(deploy(local_chain.node)).address,
    }[market]
    meter = register_meter(ledger)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"Meter {meter.meter_id}",
        data=entry_data(ledger, meter),
        options={CONF_AUCTION: address},
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None
    assert reason in entry.reason


async def test_a_price_finer_than_the_currency_is_refused(
    hass: HomeAssistant, local_chain: LocalChain
) -> None:
    ledger = local_chain.ledger
    _, entry = await prosumer_with_tokens(hass, ledger, 1_000)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, entry, "bid_energy", lot_id=1, price=1e-19)
    assert err.value.translation_key == "invalid_amount"
    assert err.value.translation_placeholders == {"amount": "1e-19", "decimals": "18"}


async def test_events_while_stopped_are_announced_once_after_a_restart(
    hass: HomeAssistant, local_chain: LocalChain
) -> None:
    """Tokens minted and a bid outbid while the entry was unloaded: both announced once."""
    ledger = local_chain.ledger
    _, seller_entry = await prosumer_with_tokens(hass, ledger, 1_000)
    buyer, buyer_entry = await household(hass, ledger, 2)
    offer = await call(hass, seller_entry, "offer_energy", amount=1, start_price=0.001, duration=60)
    await call(hass, buyer_entry, "bid_energy", lot_id=offer["lot_id"], price=0.001)
    ledger.deployment.enable_export(buyer.meter_id, MAX_EXPORT_W, 0)
    await buyer_entry.runtime_data.coordinator.async_refresh()
    minted = async_capture_events(hass, EVENT_TOKENS_MINTED)
    outbid = async_capture_events(hass, EVENT_OUTBID)

    assert await hass.config_entries.async_unload(buyer_entry.entry_id)
    await hass.async_block_till_done()
    export_and_claim(ledger, buyer, 700)  # TokensClaimed while Home Assistant is down
    neighbour_bid(ledger, offer["lot_id"])
    assert await hass.config_entries.async_setup(buyer_entry.entry_id)
    await hass.async_block_till_done()
    for _ in range(2):  # read again: nothing comes twice
        follower = buyer_entry.runtime_data.coordinator.follower
        assert follower is not None
        await follower.async_step()
        await follow(hass, buyer_entry)
    assert [event.data["kwh"] for event in minted] == [0.7]
    assert [event.data["lot_id"] for event in outbid] == [offer["lot_id"]]

    assert await hass.config_entries.async_reload(buyer_entry.entry_id)
    await hass.async_block_till_done()
    await follow(hass, buyer_entry)
    assert len(minted) == 1
    assert len(outbid) == 1


async def test_the_pending_transactions_sensor_follows_the_wallet(
    hass: HomeAssistant, local_chain: LocalChain
) -> None:
    ledger = local_chain.ledger
    seller, entry = await prosumer_with_tokens(hass, ledger, 1_000)
    wallet = entry.runtime_data.wallet
    pending = f"sensor.grid_ledger_meter_{seller.meter_id}_pending_transactions"
    assert hass.states.get(pending).state == "0"
    offer = await call(hass, entry, "offer_energy", amount=1, start_price=0.001, duration=60)

    sent = asyncio.Event()
    remove = wallet.add_pending_listener(sent.set)
    ledger.anvil.rpc("evm_setAutomine", False)
    try:
        cancel = hass.async_create_task(call(hass, entry, "cancel_offer", lot_id=offer["lot_id"]))
        async with asyncio.timeout(30):
            await sent.wait()
        state = hass.states.get(pending)
        assert state.state == "1"
        assert state.attributes["transactions"] == wallet.pending_hashes
        assert state.attributes["transactions"][0].startswith("0x")
    finally:
        ledger.anvil.rpc("evm_setAutomine", True)
        remove()
    ledger.anvil.rpc("evm_mine")
    response = await cancel
    assert response["tx_hash"] == state.attributes["transactions"][0]
    assert hass.states.get(pending).state == "0"
    assert hass.states.get(pending).attributes["transactions"] == []


async def test_auto_trading_offers_surplus_and_bids_up_to_the_ceiling(
    hass: HomeAssistant, local_chain: LocalChain
) -> None:
    ledger = local_chain.ledger
    auction = auction_of(ledger).functions
    seller = register_meter(ledger, payer_index=1)
    export_and_claim(ledger, seller, 1_500)
    # The seller offers what it holds, at its floor (no better price on the market).
    await set_up(hass, ledger, seller, **{CONF_AUTO_SELL_FLOOR: 0.001})
    await hass.async_block_till_done(wait_background_tasks=True)
    lot_id = int(auction.nextLotId().call()) - 1
    lot = auction.lot(lot_id).call()
    assert (lot[0], lot[1], lot[6]) == (seller.wallet_address, 1_500, PRICE)
    assert energy_balance(ledger, seller.wallet_address) == 0

    # The buyer bids the lot's minimum, up to its ceiling, within its cap.
    buyer, buyer_entry = await household(hass, ledger, 2, **{CONF_AUTO_BID_CEILING: 0.0012})
    await hass.async_block_till_done(wait_background_tasks=True)
    lot = auction.lot(lot_id).call()
    assert (lot[5], lot[6]) == (buyer.wallet_address, PRICE)

    # Outbid once, it bids again (0.00105 x 1.05 is within the ceiling) exactly once.
    neighbour_bid(ledger, lot_id)
    await follow(hass, buyer_entry)
    await hass.async_block_till_done(wait_background_tasks=True)
    lot = auction.lot(lot_id).call()
    assert (lot[5], lot[6]) == (buyer.wallet_address, 1_102_500_000_000_000)
    await follow(hass, buyer_entry)
    await hass.async_block_till_done(wait_background_tasks=True)
    bids = auction_of(ledger).events.BidPlaced().get_logs(from_block=0)
    assert [event["args"]["bidder"] == buyer.wallet_address for event in bids] == [
        True,
        False,
        True,
    ]

    # Above the ceiling: it stops.
    neighbour_bid(ledger, lot_id)
    await follow(hass, buyer_entry)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert auction.lot(lot_id).call()[5] != buyer.wallet_address
    assert len(auction_of(ledger).events.BidPlaced().get_logs(from_block=0)) == 4


def read_both(ledger: Ledger, meter: MeterSetup, import_wh: int, export_wh: int) -> None:
    """A signed bidirectional reading ten minutes on: `import_wh` more imported and `export_wh`
    more exported in the running period, relayed (its tokens pending on the meter)."""
    ledger.deployment.enable_export(meter.meter_id, MAX_EXPORT_W, 0)
    exported = int(ledger.contract.functions.producerInfo(meter.meter_id).call()[3])
    last_wh = int(ledger.contract.functions.meter(meter.meter_id).call()[7])
    ledger.anvil.increase_time(600)
    timestamp = ledger.anvil.timestamp() + 1
    registers = (last_wh + import_wh, exported + export_wh)
    signer = Account.from_key(meter.meter_key)
    signature = ledger.deployment.sign_bidirectional_reading(
        signer, meter.meter_id, *registers, timestamp
    )
    ledger.transact(
        ledger.contract.functions.submitBidirectionalReading(
            (meter.meter_id, *registers, timestamp), signature
        )
    )


@pytest.mark.parametrize(
    ("import_wh", "export_wh", "tokens_pay_first", "offered_wh"),
    [
        (2_000, 1_500, True, None),  # its own import takes every token: nothing to sell
        (500, 1_500, True, 1_000),  # the surplus only
        (2_000, 1_500, False, 1_500),  # tokens not for its bills: all of them, as before
    ],
)
async def test_auto_sell_with_tokens_paying_bills_first_offers_only_the_surplus(
    hass: HomeAssistant,
    local_chain: LocalChain,
    import_wh: int,
    export_wh: int,
    tokens_pay_first: bool,
    offered_wh: int | None,
) -> None:
    ledger = local_chain.ledger
    auction = auction_of(ledger)
    meter = register_meter(ledger, payer_index=1)
    read_both(ledger, meter, import_wh, export_wh)
    running = ledger.contract.functions.meter(meter.meter_id).call()
    assert running[7] - running[11] == import_wh  # the running period's import, not billed
    options = {CONF_AUTO_SELL_FLOOR: 0.001, CONF_REDEEM_TOKENS: tokens_pay_first}
    entry = await set_up(hass, ledger, meter, **options)
    await hass.async_block_till_done(wait_background_tasks=True)
    # A later reading (the meter's listener) decides again on the same surplus.
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)

    offers = auction.events.LotOffered().get_logs(from_block=0)
    pending = ledger.contract.functions.producerInfo(meter.meter_id).call()[4]
    held = energy_balance(ledger, meter.wallet_address)
    if offered_wh is None:
        assert offers == []
        assert (pending, held) == (export_wh, 0)  # not even claimed: the bill takes them
        return
    assert [(o["args"]["seller"], o["args"]["amountWh"]) for o in offers] == [
        (meter.wallet_address, offered_wh)
    ]
    # Claimed to be offered; what the running period's import takes stays in the wallet.
    assert (pending, held) == (0, export_wh - offered_wh)


async def test_auto_bids_stop_at_the_spending_cap(
    hass: HomeAssistant, local_chain: LocalChain
) -> None:
    ledger = local_chain.ledger
    _, seller_entry = await prosumer_with_tokens(hass, ledger, 2_000)
    first = await call(hass, seller_entry, "offer_energy", amount=1, start_price=0.001, duration=60)
    await call(hass, seller_entry, "offer_energy", amount=1, start_price=0.001, duration=60)
    buyer, _ = await household(
        hass, ledger, 2, **{CONF_AUTO_BID_CEILING: 0.002, CONF_SPENDING_CAP: 0.0015}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    bids = auction_of(ledger).events.BidPlaced().get_logs(from_block=0)
    assert [(e["args"]["lotId"], e["args"]["bidder"]) for e in bids] == [
        (first["lot_id"], buyer.wallet_address)
    ]


async def test_traders_finalize_their_ended_lot_and_bought_tokens_pay_before_auto_pay(
    hass: HomeAssistant, local_chain: LocalChain
) -> None:
    ledger = local_chain.ledger
    auction = auction_of(ledger)
    seller = register_meter(ledger, payer_index=1)
    export(ledger, seller, 1_500)
    # The seller claims what its meter earned to offer it, for a billing period at most.
    seller_entry = await set_up(hass, ledger, seller, **{CONF_AUTO_SELL_FLOOR: 0.001})
    await hass.async_block_till_done(wait_background_tasks=True)
    (claimed,) = ledger.contract.events.TokensClaimed().get_logs(
        from_block=0, argument_filters={"meterId": seller.meter_id}
    )
    assert claimed["args"]["wh"] == 1_500
    (offered,) = auction.events.LotOffered().get_logs(from_block=claimed["blockNumber"])
    lot_id = int(offered["args"]["lotId"])
    opened = ledger.w3.eth.get_block(offered["blockNumber"])["timestamp"]
    duration = min(AUTO_OFFER_DURATION, ledger.deployment.config.period_length)
    assert offered["args"]["amountWh"] == 1_500
    assert offered["args"]["deadline"] == opened + duration

    # The buyer's meter is bidirectional (the ledger redeems tokens only for such meters): it
    # pays automatically, and its tokens pay its bills first.
    buyer = register_meter(ledger, payer_index=2)
    ledger.deployment.enable_export(buyer.meter_id, MAX_EXPORT_W, 0)
    options = {CONF_AUTO_BID_CEILING: 0.0012, CONF_REDEEM_TOKENS: True, CONF_AUTO_PAY: True}
    buyer_entry = await set_up(hass, ledger, buyer, **options, **{CONF_SPENDING_CAP: 1.0})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert auction.functions.lot(lot_id).call()[5] == buyer.wallet_address
    won = async_capture_events(hass, EVENT_LOT_WON)
    sold = async_capture_events(hass, EVENT_LOT_SOLD)
    # Both traders read the market again at the lot's deadline; nobody calls `finalize`.
    deadline = int(auction.functions.lot(lot_id).call()[2])
    for entry in (seller_entry, buyer_entry):
        market = entry.runtime_data.market
        assert market is not None
        assert market._deadline_at == deadline
    ledger.anvil.increase_time(duration)
    ledger.anvil.rpc("evm_mine")
    assert auction.functions.lot(lot_id).call()[4] == 1  # open, past its deadline
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=duration + 10))
    await hass.async_block_till_done(wait_background_tasks=True)
    (finalized,) = auction.events.LotFinalized().get_logs(from_block=0)
    assert finalized["args"]["lotId"] == lot_id
    assert finalized["args"]["winner"] == buyer.wallet_address
    assert auction.functions.lot(lot_id).call()[4] == 2  # sold
    assert energy_balance(ledger, buyer.wallet_address) == 1_500
    await follow(hass, seller_entry, buyer_entry)
    assert [event.data["lot_id"] for event in won] == [lot_id]
    assert [event.data["lot_id"] for event in sold] == [lot_id]

    # The bill: the bought tokens pay its energy first, auto-pay pays what they leave.
    due = bill(ledger, buyer, kwh=2)
    await buyer_entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)
    await buyer_entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)
    (redeemed,) = ledger.contract.events.TokensRedeemed().get_logs(
        from_block=0, argument_filters={"meterId": buyer.meter_id}
    )
    assert redeemed["args"]["wh"] == 1_500
    (paid,) = ledger.contract.events.PaymentReceived().get_logs(
        from_block=redeemed["blockNumber"], argument_filters={"meterId": buyer.meter_id}
    )
    assert paid["args"]["amount"] == due - redeemed["args"]["amount"] > 0
    assert int(ledger.contract.functions.amountDue(buyer.meter_id).call()) == 0
    assert energy_balance(ledger, buyer.wallet_address) == 0


async def test_on_a_token_ledger_a_bid_escrows_dollars_with_a_permit(
    hass: HomeAssistant, local_chain: LocalChain
) -> None:
    ledger = deploy(local_chain.node, token=True)
    token = ledger.deployment.token
    assert token is not None
    seller, seller_entry = await prosumer_with_tokens(hass, ledger, 1_000)
    buyer = register_meter(ledger, payer_index=2)
    ledger.deployment.mint(buyer.wallet_address, 10**6)  # 1 tUSD
    # Auto-selling with no tokens held offers nothing.
    buyer_entry = await set_up(
        hass, ledger, buyer, **{CONF_SPENDING_CAP: 1.0, CONF_AUTO_SELL_FLOOR: 0.1}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    offer = await call(hass, seller_entry, "offer_energy", amount=1, start_price=0.2, duration=60)
    assert offer["currency"] == "tUSD"

    bid = await call(hass, buyer_entry, "bid_energy", lot_id=offer["lot_id"], price=0.2)
    assert (bid["payment"], bid["currency"]) == (0.2, "tUSD")
    balance = token.functions.balanceOf
    assert balance(buyer.wallet_address).call() == 800_000
    assert balance(auction_of(ledger).address).call() == 200_000
    assert auction_of(ledger).functions.nextLotId().call() == offer["lot_id"] + 1
    assert seller.wallet_address != buyer.wallet_address


def neighbour_offers(ledger: Ledger, count: int, price: int, duration: int) -> None:
    """The neighbour (a prosumer too) offers `count` lots of 1 Wh straight on the chain, all
    sent before a block is mined (a few blocks hold them all)."""
    neighbour = register_meter(ledger, payer_index=NEIGHBOUR)
    export_and_claim(ledger, neighbour, count)
    sender = Account.from_key(neighbour.wallet_key)
    auction = auction_of(ledger)
    token = ledger.w3.eth.contract(
        address=ledger.contract.functions.energyToken().call(), abi=ERC20_ABI
    )
    ledger.deployment.transact(token.functions.approve(auction.address, count), sender)
    w3 = ledger.w3
    nonce = w3.eth.get_transaction_count(sender.address)
    ledger.anvil.rpc("evm_setAutomine", False)
    try:
        for i in range(count):
            tx = auction.functions.offer(1, price, duration).build_transaction(
                {
                    "from": sender.address,
                    "nonce": nonce + i,
                    "gas": 200_000,
                    "chainId": ledger.deployment.chain_id,
                }
            )
            w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
        while w3.eth.get_transaction_count(sender.address) < nonce + count:
            ledger.anvil.rpc("evm_mine")
    finally:
        ledger.anvil.rpc("evm_setAutomine", True)
    assert int(auction.functions.nextLotId().call()) > count


def call_counter(
    monkeypatch: pytest.MonkeyPatch, entry: MockConfigEntry
) -> Callable[[Awaitable[Any]], Awaitable[int]]:
    """A count of the node calls (each one `guard` of the entry's client) that one awaited
    step makes, also in the tasks it starts; not those of other tasks meanwhile."""
    client = entry.runtime_data.coordinator.client
    counting: ContextVar[list[str] | None] = ContextVar("counting", default=None)
    guard = client.guard

    async def counted(call: Any) -> Any:
        if (calls := counting.get()) is not None:
            calls.append(repr(call))
        return await guard(call)

    monkeypatch.setattr(client, "guard", counted)

    async def calls_of(step: Awaitable[Any]) -> int:
        calls: list[str] = []
        token = counting.set(calls)
        try:
            await step
        finally:
            counting.reset(token)
        return len(calls)

    return calls_of


async def test_the_market_keeps_an_open_lot_older_than_the_newest_window_in_view(
    hass: HomeAssistant, local_chain: LocalChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = local_chain.ledger
    seller, entry = await prosumer_with_tokens(hass, ledger, 1_000)
    market = entry.runtime_data.market
    assert market is not None
    own = await call(hass, entry, "offer_energy", amount=1, start_price=0.002, duration=86_400)
    await market.follower.stop()  # stepped here only
    delivered: list[str] = []
    deliver = market.follower._callback

    async def record(events: Any) -> None:
        delivered.extend(event.name for event in events)
        await deliver(events)

    monkeypatch.setattr(market.follower, "_callback", record)
    await market.follower.async_step()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert delivered == ["LotOffered"]  # its own, naming it the seller
    delivered.clear()
    calls_of = call_counter(monkeypatch, entry)
    # One window: the block, the next lot id, the refund, the proceeds and one `lots` call.
    assert await calls_of(market.market.async_refresh()) == 5

    # More lots than one window, none of them the household's, at a lower price: each one
    # delivered (a neighbour's new lot is what an automatic bid waits for), in one log read.
    neighbour_offers(ledger, LOT_WINDOW + 1, PRICE, 3_600)
    # The head and the lots' logs, then the market read they ask for: the older open lot takes
    # a second `lots` call.
    assert await calls_of(market.follower.async_step()) == 2 + 6
    assert delivered == ["LotOffered"] * (LOT_WINDOW + 1)
    delivered.clear()

    assert await calls_of(market.market.async_refresh()) == 6
    await hass.async_block_till_done()
    assert [lot.lot_id for lot in market.own_open_lots()] == [own["lot_id"]]
    assert market.best_price() == 2 * PRICE
    assert sensor(hass, seller, "open_market_offers").state == "1"
    assert float(sensor(hass, seller, "best_market_price").state) == 0.002

    # A neighbour's bid on the household's lot comes as it is placed, and so does the lot's end,
    # finalized after its deadline by the neighbour.
    neighbour_bid(ledger, own["lot_id"])
    await market.follower.async_step()
    assert delivered == ["BidPlaced"]
    delivered.clear()
    ledger.anvil.increase_time(86_401)
    _, key = ledger.anvil.accounts[NEIGHBOUR]
    auction = auction_of(ledger).functions
    ledger.deployment.transact(auction.finalize(own["lot_id"]), Account.from_key(key))
    sold = async_capture_events(hass, EVENT_LOT_SOLD)
    await market.follower.async_step()
    await hass.async_block_till_done()
    assert delivered == ["LotFinalized"]
    assert [event.data["lot_id"] for event in sold] == [own["lot_id"]]

    # No lot is live any more (the neighbour's ended unfinalized): the next read moves its
    # bound past them (the read the lot's end asked for waits out the refresh cool-down), and
    # from then on one window is read again.
    assert await calls_of(market.market.async_refresh()) == 6
    assert await calls_of(market.market.async_refresh()) == 5
    assert market.market.data.live_from == int(auction.nextLotId().call())
    assert market.own_open_lots() == []
    assert market.best_price() is None
