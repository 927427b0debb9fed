"""Grid Ledger: sign a household's meter readings and bill them on an Ethereum contract; sign
a feeder meter's readings so the contract finds the losses below it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_PASSWORD, CONF_URL, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv, issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.storage import Store
from homeassistant.helpers.typing import ConfigType

from .billing import Billing, HassPaymentStore
from .chain import (
    CannotConnectError,
    EventFollower,
    FeederReadingSigner,
    GridLedgerClient,
    GridLedgerError,
    InvalidKeyError,
    LedgerInfo,
    ReadingSigner,
    Wallet,
    decrypt_keystore,
)
from .chain.client import meter_topic
from .chain.market import AuctionClient
from .chain.settlement import SettlementClient
from .const import (
    CONF_AUCTION,
    CONF_CHAIN_ID,
    CONF_CONTRACT,
    CONF_FEEDER_KEY,
    CONF_KEYSTORE,
    CONF_METER_KEY,
    CONF_READING_INTERVAL,
    CONF_SETTLEMENT,
    CONF_WALLET_KEY,
    CONF_WALLET_TYPE,
    DEFAULT_READING_INTERVAL,
    DOMAIN,
    RECEIPT_TIMEOUT,
    WALLET_KEYSTORE,
)
from .coordinator import (
    FeederConfigEntry,
    FeederCoordinator,
    FeederRuntimeData,
    GridLedgerConfigEntry,
    GridLedgerCoordinator,
    GridLedgerRuntimeData,
    LedgerCoordinator,
    is_feeder,
)
from .enforcement import PermitEnforcer
from .feeder import FeederReadings, LossWatch
from .market import Market
from .producer import Producer
from .readings import MeterReadings, ReadingPipeline
from .repairs import async_check_wallet_backup, async_watch_entities
from .services import async_setup_services
from .settlement import FeederSettlement

PLATFORMS = [Platform.BINARY_SENSOR, Platform.BUTTON, Platform.CALENDAR, Platform.SENSOR]
FEEDER_PLATFORMS = [Platform.BINARY_SENSOR, Platform.BUTTON, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)
STORAGE_VERSION = 1
# The entry's stores: the reading outbox, payment and token intents, billing, enforcement and
# export totals; a feeder's losses announced; the last block of events delivered, the ledger's
# and the market's; a feeder's settlement intent and the last block of its events delivered.
ENTRY_STORES = (
    "",
    ".payment",
    ".tokens",
    ".billing",
    ".enforcement",
    ".export",
    ".loss",
    ".events",
    ".market_events",
    ".settlement",
    ".settlement_events",
)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    async_setup_services(hass)
    return True


async def async_wallet_key(hass: HomeAssistant, entry: GridLedgerConfigEntry) -> str:
    """The wallet's private key; a keystore is decrypted off the event loop."""
    if entry.data[CONF_WALLET_TYPE] != WALLET_KEYSTORE:
        return str(entry.data[CONF_WALLET_KEY])
    try:
        return await hass.async_add_executor_job(
            decrypt_keystore, entry.data[CONF_KEYSTORE], entry.data[CONF_PASSWORD]
        )
    except InvalidKeyError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN, translation_key="keystore_locked"
        ) from err


async def _async_connect(
    hass: HomeAssistant, entry: ConfigEntry[Any]
) -> tuple[GridLedgerClient, LedgerInfo]:
    """The entry's contract on its node, checked as the flow checked it."""
    client = GridLedgerClient(
        entry.data[CONF_URL],
        entry.data[CONF_CONTRACT],
        session=async_get_clientsession(hass),
        expected_chain_id=entry.data[CONF_CHAIN_ID],
    )
    try:
        info = await client.connect()
    except CannotConnectError as err:
        await client.close()
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN, translation_key="cannot_connect"
        ) from err
    except GridLedgerError as err:
        await client.close()
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="contract_unusable",
            translation_placeholders={"error": str(err)},
        ) from err
    entry.async_on_unload(client.close)
    return client, info


def _async_follow(
    hass: HomeAssistant,
    entry: ConfigEntry[Any],
    pipeline: ReadingPipeline,
) -> None:
    """What every entry runs: readings on the interval, the entities it reads, and a reload
    when its options change."""
    interval = timedelta(minutes=entry.options.get(CONF_READING_INTERVAL, DEFAULT_READING_INTERVAL))
    entry.async_on_unload(pipeline.async_start(interval))
    entry.async_on_unload(async_watch_entities(hass, entry))
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))


async def _async_follow_events(
    hass: HomeAssistant, entry: ConfigEntry[Any], coordinator: LedgerCoordinator[Any]
) -> None:
    """The party's contract events, once every listener of them is in place: from the block
    the last run stopped at, so none emitted while Home Assistant was down is missed."""
    follower = EventFollower(
        coordinator.client,
        [None, meter_topic(coordinator.party_id)],
        coordinator.async_on_events,
        store=HassPaymentStore(hass, f"{DOMAIN}.{entry.entry_id}.events"),
    )
    await follower.async_load()
    coordinator.follower = follower
    follower.start()
    entry.async_on_unload(follower.stop)


def _async_retry_outbox(
    hass: HomeAssistant, entry: ConfigEntry[Any], pipeline: ReadingPipeline
) -> None:
    if pipeline.pending is not None:
        entry.async_create_background_task(hass, pipeline.async_retry(), f"{DOMAIN} outbox")


async def async_setup_entry(
    hass: HomeAssistant, entry: GridLedgerConfigEntry | FeederConfigEntry
) -> bool:
    if is_feeder(entry):
        return await _async_setup_feeder(hass, entry)
    wallet_key = await async_wallet_key(hass, entry)
    client, info = await _async_connect(hass, entry)
    wallet = Wallet(client, wallet_key, receipt_timeout=RECEIPT_TIMEOUT)
    coordinator = GridLedgerCoordinator(hass, entry, client, info, wallet.address)
    await coordinator.export_totals.async_load()
    await coordinator.async_config_entry_first_refresh()
    signer = ReadingSigner(entry.data[CONF_METER_KEY], info.chain_id, info.address)
    pipeline = ReadingPipeline(hass, entry, wallet, MeterReadings(coordinator, signer), coordinator)
    await pipeline.async_load()
    enforcer = PermitEnforcer(hass, entry, coordinator)
    await enforcer.async_load()
    billing = Billing(hass, entry, wallet, coordinator)
    await billing.async_load()
    producer = Producer(hass, entry, wallet, coordinator)
    billing.tokens_pay_first = producer.tokens_pay_first
    market = await _async_market(hass, entry, wallet, coordinator, billing, producer)
    entry.runtime_data = GridLedgerRuntimeData(
        client=client,
        wallet=wallet,
        coordinator=coordinator,
        pipeline=pipeline,
        enforcer=enforcer,
        billing=billing,
        producer=producer,
        market=market,
    )

    _async_follow(hass, entry, pipeline)
    async_check_wallet_backup(hass, entry)

    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(enforcer.async_start())  # after the platforms: the device exists
    entry.async_on_unload(billing.async_start())
    entry.async_on_unload(producer.async_start())
    if market is not None:
        market.async_start()
    await _async_follow_events(hass, entry, coordinator)  # every listener is in place
    _async_retry_outbox(hass, entry, pipeline)
    return True


async def _async_market(
    hass: HomeAssistant,
    entry: GridLedgerConfigEntry,
    wallet: Wallet,
    coordinator: GridLedgerCoordinator,
    billing: Billing,
    producer: Producer,
) -> Market | None:
    """The energy market the household chose (an option), checked to trade this ledger's
    tokens; None when it chose none. A market that is not one is a configuration error."""
    if not (address := entry.options.get(CONF_AUCTION)):
        return None
    auction = await _async_check_beside(
        lambda: _async_connected(AuctionClient(coordinator.client, address)),
        translation_key="market_unusable",
    )
    market = Market(hass, entry, wallet, coordinator, billing, producer.engine, auction)
    market.tokens_pay_first = producer.tokens_pay_first
    await market.async_load()
    return market


async def _async_connected[C: AuctionClient | SettlementClient](contract: C) -> C:
    await contract.connect()
    return contract


async def _async_check_beside[C](make: Callable[[], Awaitable[C]], *, translation_key: str) -> C:
    """A contract beside the ledger (an option), checked: an unreachable node is retried; an
    address that is none, or a contract that is not the one asked for or is another ledger's,
    is a configuration error."""
    try:
        return await make()
    except CannotConnectError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN, translation_key="cannot_connect"
        ) from err
    except GridLedgerError as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key=translation_key,
            translation_placeholders={"error": str(err)},
        ) from err


async def _async_settlement_client(
    client: GridLedgerClient, entry: FeederConfigEntry
) -> SettlementClient | None:
    """The settlement the feeder entry names (an option), checked to settle its ledger."""
    if not (address := entry.options.get(CONF_SETTLEMENT)):
        return None
    return await _async_check_beside(
        lambda: _async_connected(SettlementClient(client, address)),
        translation_key="settlement_unusable",
    )


async def _async_setup_feeder(hass: HomeAssistant, entry: FeederConfigEntry) -> bool:
    """A feeder meter: its key signs its readings and pays their gas, and withdraws what the
    settlement owes its party (when the entry names the settlement)."""
    client, info = await _async_connect(hass, entry)
    key = entry.data[CONF_FEEDER_KEY]
    wallet = Wallet(client, key, receipt_timeout=RECEIPT_TIMEOUT)
    settlement_client = await _async_settlement_client(client, entry)
    coordinator = FeederCoordinator(
        hass, entry, client, info, wallet.address, settlement=settlement_client
    )
    await coordinator.async_config_entry_first_refresh()
    signer = FeederReadingSigner(key, info.chain_id, info.address)
    readings = FeederReadings(client, coordinator.feeder_id, signer)
    pipeline = ReadingPipeline(hass, entry, wallet, readings, coordinator)
    await pipeline.async_load()
    losses = LossWatch(hass, entry, coordinator)
    await losses.async_load()
    settlement = None
    if settlement_client is not None:
        settlement = FeederSettlement(hass, entry, wallet, coordinator, settlement_client)
        await settlement.async_load()
    entry.runtime_data = FeederRuntimeData(
        client=client,
        wallet=wallet,
        coordinator=coordinator,
        pipeline=pipeline,
        losses=losses,
        settlement=settlement,
    )

    _async_follow(hass, entry, pipeline)
    await hass.config_entries.async_forward_entry_setups(entry, FEEDER_PLATFORMS)
    entry.async_on_unload(losses.async_start())  # after the platforms: events name the device
    if settlement is not None:
        settlement.async_start()
    await _async_follow_events(hass, entry, coordinator)
    _async_retry_outbox(hass, entry, pipeline)
    return True


async def _async_options_updated(hass: HomeAssistant, entry: GridLedgerConfigEntry) -> None:
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(
    hass: HomeAssistant, entry: GridLedgerConfigEntry | FeederConfigEntry
) -> bool:
    platforms = FEEDER_PLATFORMS if is_feeder(entry) else PLATFORMS
    return await hass.config_entries.async_unload_platforms(entry, platforms)


async def async_remove_entry(hass: HomeAssistant, entry: GridLedgerConfigEntry) -> None:
    """Delete the entry's stores with it: they hold signed readings and signed raw
    transactions of its wallet. The wallet's key goes with the entry; the README says to back
    it up or empty the wallet first."""
    for part in ENTRY_STORES:
        await Store[Any](hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}{part}").async_remove()
    for domain, issue_id in list(ir.async_get(hass).issues):
        if domain == DOMAIN and entry.entry_id in issue_id:  # every issue id names its entry
            ir.async_delete_issue(hass, DOMAIN, issue_id)
