"""Billing against the real contracts on anvil: bills announced, paid within the cap exactly
once, put to the household above it, the wallet's gas watched, low credit announced."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
import itertools
import re
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from homeassistant.components import persistent_notification
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events
from web3.exceptions import ContractCustomError

from custom_components.grid_ledger.chain import generate_private_key
from custom_components.grid_ledger.const import (
    CONF_AUTO_PAY,
    CONF_READING_INTERVAL,
    CONF_SPENDING_CAP,
    DOMAIN,
)
from custom_components.grid_ledger.units import base_units, display_amount
from tests.chain_fixtures import POSTPAID, PREPAID

from .conftest import (
    Ledger,
    MeterSetup,
    set_up_entry as set_up,
    until,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")

TARIFF = 77  # 0.01 ETH per kWh: bills of readable size
LOW_CREDIT_TARIFF = 78  # the same price, LowCredit under 0.005 ETH
PRICE = 10**16
LOW_CREDIT = 5 * 10**15
BILL = 10**16  # one kWh
_IDS = itertools.count(7_000)


def set_up_tariffs(ledger: Ledger) -> None:
    try:
        ledger.contract.functions.tariff(LOW_CREDIT_TARIFF).call()
    except ContractCustomError:  # UnknownTariff: the first test on this ledger
        ledger.deployment.set_tariff(TARIFF, PRICE)
        ledger.deployment.set_tariff(LOW_CREDIT_TARIFF, PRICE, low_credit_threshold=LOW_CREDIT)


def new_meter(
    ledger: Ledger, *, coin: int = 10**18, mode: int = POSTPAID, tariff: int = TARIFF
) -> MeterSetup:
    """A meter paid by a fresh wallet holding `coin` wei, registered at 1 kWh."""
    set_up_tariffs(ledger)
    wallet: LocalAccount = Account.create()
    if coin:
        ledger.deployment.fund(wallet.address, coin)
    meter_id = next(_IDS)
    meter_key = generate_private_key()
    ledger.deployment.register_meter(
        meter_id,
        Account.from_key(meter_key).address,
        wallet.address,
        tariff_id=tariff,
        mode=mode,
        initial_wh=1_000,
    )
    return MeterSetup(meter_id, meter_key, wallet.address, "0x" + bytes(wallet.key).hex())


def read(ledger: Ledger, meter: MeterSetup, wh: int) -> None:
    """Submit the meter's register `wh` ten minutes on, signed with its key (as a relay would);
    10 minutes keep a kWh within the meter's plausible power."""
    ledger.anvil.increase_time(600)
    timestamp = ledger.anvil.timestamp() + 1
    signer = Account.from_key(meter.meter_key)
    signature = ledger.deployment.sign_reading(signer, meter.meter_id, wh, timestamp)
    ledger.transact(
        ledger.contract.functions.submitReading((meter.meter_id, wh, timestamp), signature)
    )


def issue_bill(ledger: Ledger, meter: MeterSetup, kwh: int = 1) -> int:
    """Use `kwh` in this period, let the period end and settle: the bill is issued."""
    last_wh = int(ledger.contract.functions.meter(meter.meter_id).call()[7])
    read(ledger, meter, last_wh + kwh * 1_000)
    ledger.anvil.increase_time(ledger.deployment.config.period_length)
    ledger.transact(ledger.contract.functions.settle(meter.meter_id))
    due = int(ledger.contract.functions.amountDue(meter.meter_id).call())
    assert due > 0
    return due


def payments(ledger: Ledger, meter: MeterSetup) -> list[Any]:
    return list(
        ledger.contract.events.PaymentReceived().get_logs(
            from_block=0, argument_filters={"meterId": meter.meter_id}
        )
    )


def amount_due(ledger: Ledger, meter: MeterSetup) -> int:
    return int(ledger.contract.functions.amountDue(meter.meter_id).call())


def device_id(hass: HomeAssistant, ledger: Ledger, meter: MeterSetup) -> str:
    identifier = f"{ledger.anvil.chain_id}-{ledger.address.lower()}-{meter.meter_id}"
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, identifier)})
    assert device is not None
    return device.id


async def refresh(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.fixture
async def notifications(hass: HomeAssistant) -> dict[str, persistent_notification.Notification]:
    """The persistent notifications shown, by id."""
    assert await async_setup_component(hass, persistent_notification.DOMAIN, {})
    shown: dict[str, persistent_notification.Notification] = {}

    @callback
    def _updated(
        update: persistent_notification.UpdateType,
        changed: dict[str, persistent_notification.Notification],
    ) -> None:
        if update is persistent_notification.UpdateType.REMOVED:
            for key in changed:
                shown.pop(key, None)
        else:
            shown.update(changed)

    persistent_notification.async_register_callback(hass, _updated)
    return shown


def data_of(events: list[Event]) -> list[dict[str, Any]]:
    return [dict(event.data) for event in events]


# ---------------------------------------------------------------------------- tests


async def test_auto_pay_within_cap_pays_exactly_once(
    hass: HomeAssistant, ledger: Ledger, hass_storage: dict[str, Any]
) -> None:
    meter = new_meter(ledger)
    entry = await set_up(hass, ledger, meter, **{CONF_AUTO_PAY: True, CONF_SPENDING_CAP: 0.05})
    issued = async_capture_events(hass, "grid_ledger_bill_issued")
    confirmed = async_capture_events(hass, "grid_ledger_payment_confirmed")
    asked = async_capture_events(hass, "grid_ledger_payment_approval_requested")
    nonce = ledger.w3.eth.get_transaction_count(meter.wallet_address)

    due = issue_bill(ledger, meter)
    assert due == BILL
    await until(lambda: len(confirmed) == 1)  # the BillIssued event reached HA by itself
    await hass.async_block_till_done(wait_background_tasks=True)

    device = device_id(hass, ledger, meter)
    [bill] = data_of(issued)
    period = int(ledger.contract.functions.billOf(meter.meter_id).call()[0])
    due_at = int(ledger.contract.functions.billOf(meter.meter_id).call()[3])
    assert bill == {
        "device_id": device,
        "period": period,
        "amount": 0.01,
        "amount_due": 0.01,
        "currency": "ETH",
        "energy_kwh": 1.0,
        "due_at": bill["due_at"],
    }
    assert bill["due_at"].endswith("+00:00")
    assert int(datetime.fromisoformat(bill["due_at"]).timestamp()) == due_at
    [paid] = data_of(confirmed)
    assert set(paid) == {"device_id", "amount", "currency", "tx_hash"}
    assert (paid["device_id"], paid["amount"], paid["currency"]) == (device, 0.01, "ETH")
    [event] = payments(ledger, meter)
    assert "0x" + bytes(event["transactionHash"]).hex() == paid["tx_hash"]
    assert event["args"]["amount"] == BILL
    assert asked == []
    assert amount_due(ledger, meter) == 0

    # More refreshes and a restart of the entry: nothing more is paid or announced.
    for _ in range(3):
        await refresh(hass, entry)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(payments(ledger, meter)) == 1
    assert ledger.w3.eth.get_transaction_count(meter.wallet_address) == nonce + 1
    assert len(issued) == 1
    assert len(confirmed) == 1
    billing = hass_storage[f"{DOMAIN}.{entry.entry_id}.billing"]["data"]
    assert billing["spent"] == {f"auto_{meter.meter_id}_{period}": BILL}
    assert billing["bill_period"] == period
    assert hass_storage[f"{DOMAIN}.{entry.entry_id}.payment"]["data"]["pending"] is None


async def test_over_cap_asks_for_approval_then_pay_bill_pays(
    hass: HomeAssistant,
    ledger: Ledger,
    notifications: dict[str, persistent_notification.Notification],
) -> None:
    meter = new_meter(ledger)
    entry = await set_up(hass, ledger, meter, **{CONF_AUTO_PAY: True, CONF_SPENDING_CAP: 0.005})
    asked = async_capture_events(hass, "grid_ledger_payment_approval_requested")
    confirmed = async_capture_events(hass, "grid_ledger_payment_confirmed")

    issue_bill(ledger, meter)
    await until(lambda: len(asked) == 1)
    await hass.async_block_till_done(wait_background_tasks=True)

    device = device_id(hass, ledger, meter)
    [request] = data_of(asked)
    assert set(request) == {"device_id", "request_id", "amount", "currency"}
    assert (request["device_id"], request["amount"], request["currency"]) == (device, 0.01, "ETH")
    assert re.fullmatch(r"[A-Za-z0-9_-]+", request["request_id"])
    notification = notifications[f"{DOMAIN}_approval_{entry.entry_id}"]
    assert notification["title"] == "Approve a payment of 0.01 ETH"
    assert "over your automatic spending cap of 0.005 ETH" in notification["message"]
    assert payments(ledger, meter) == []

    # Asked once per bill in a run, however often the contract is read.
    await refresh(hass, entry)
    assert len(asked) == 1

    response = await hass.services.async_call(
        DOMAIN,
        "pay_bill",
        {"device_id": request["device_id"], "amount": request["amount"]},
        blocking=True,
        return_response=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    [event] = payments(ledger, meter)
    assert response == {
        "tx_hash": "0x" + bytes(event["transactionHash"]).hex(),
        "block_number": event["blockNumber"],
        "amount": 0.01,
        "currency": "ETH",
    }
    assert amount_due(ledger, meter) == 0
    assert data_of(confirmed) == [
        {"device_id": device, "amount": 0.01, "currency": "ETH", "tx_hash": response["tx_hash"]}
    ]
    assert f"{DOMAIN}_approval_{entry.entry_id}" not in notifications


async def test_approval_asked_again_after_a_restart(hass: HomeAssistant, ledger: Ledger) -> None:
    meter = new_meter(ledger)
    entry = await set_up(hass, ledger, meter, **{CONF_AUTO_PAY: True, CONF_SPENDING_CAP: 0.005})
    asked = async_capture_events(hass, "grid_ledger_payment_approval_requested")
    issue_bill(ledger, meter)
    await until(lambda: len(asked) == 1)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(asked) == 2
    assert asked[0].data["request_id"] != asked[1].data["request_id"]
    assert payments(ledger, meter) == []


async def test_auto_pay_off_announces_the_bill_and_pays_nothing(
    hass: HomeAssistant, ledger: Ledger
) -> None:
    meter = new_meter(ledger)
    entry = await set_up(hass, ledger, meter, **{CONF_SPENDING_CAP: 1.0})
    issued = async_capture_events(hass, "grid_ledger_bill_issued")
    asked = async_capture_events(hass, "grid_ledger_payment_approval_requested")
    issue_bill(ledger, meter)
    await refresh(hass, entry)
    assert len(issued) == 1
    assert asked == []
    assert payments(ledger, meter) == []


async def test_wallet_gas_low_raises_a_repair_and_a_binary_sensor(
    hass: HomeAssistant, ledger: Ledger, issue_registry: ir.IssueRegistry
) -> None:
    meter = new_meter(ledger, coin=10**14)  # a few readings' worth, far below 24 payments
    entry = await set_up(hass, ledger, meter)
    await hass.async_block_till_done(wait_background_tasks=True)
    sensor = f"binary_sensor.grid_ledger_meter_{meter.meter_id}_wallet_gas_low"
    assert hass.states.get(sensor).state == "on"
    issue = issue_registry.async_get_issue(DOMAIN, f"wallet_gas_low_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders == {
        "address": meter.wallet_address,
        "transactions": "24",
    }

    ledger.deployment.fund(meter.wallet_address, 10**18)
    await refresh(hass, entry)
    assert hass.states.get(sensor).state == "off"
    assert issue_registry.async_get_issue(DOMAIN, f"wallet_gas_low_{entry.entry_id}") is None


async def test_low_credit_event_from_the_contract(hass: HomeAssistant, ledger: Ledger) -> None:
    meter = new_meter(ledger, mode=PREPAID, tariff=LOW_CREDIT_TARIFF)
    await set_up(hass, ledger, meter)
    low = async_capture_events(hass, "grid_ledger_low_credit")
    response = await hass.services.async_call(
        DOMAIN,
        "top_up",
        {"device_id": device_id(hass, ledger, meter), "amount": 0.01},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    assert (response["amount"], response["currency"]) == (0.01, "ETH")
    read(ledger, meter, 1_600)  # 0.6 kWh: 0.004 ETH of credit left, under 0.005
    await until(lambda: len(low) == 1)
    assert data_of(low) == [
        {
            "device_id": device_id(hass, ledger, meter),
            "balance": 0.004,
            "threshold": 0.005,
            "currency": "ETH",
        }
    ]


@pytest.mark.parametrize(
    ("amount", "decimals", "shown"),
    [
        (BILL, 18, 0.01),
        (42_170_000, 6, 42.17),
        (123_456_789_012_345_678, 18, None),  # the nearest float is above
        (123_456_789_012_345_681, 18, None),  # the nearest float is below: one step up
        (0, 6, 0.0),
    ],
)
def test_display_amount_never_below_the_exact_amount(
    amount: int, decimals: int, shown: float | None
) -> None:
    value = display_amount(amount, decimals)
    if shown is not None:
        assert value == shown
    assert Decimal(str(value)).scaleb(decimals) >= amount
    assert (base_units(value, decimals, rounding=ROUND_CEILING) or 0) >= amount


def test_display_amount_keeps_the_sign_of_a_debt() -> None:
    assert display_amount(-1, 6) == -0.000001
    assert display_amount(-(10**18), 18) == -1.0


def test_base_units_refuses_more_decimals_than_the_currency() -> None:
    assert base_units(0.01, 18) == BILL
    assert base_units(1.0000001, 6) is None
    assert base_units(1.0000001, 6, rounding=ROUND_CEILING) == 1_000_001
    assert base_units(1.0000001, 6, rounding=ROUND_FLOOR) == 1_000_000


async def test_options_turn_auto_pay_on_with_a_cap(hass: HomeAssistant, ledger: Ledger) -> None:
    meter = new_meter(ledger)
    entry = await set_up(hass, ledger, meter)
    billing = entry.runtime_data.billing
    assert (billing.auto_pay, billing.spending_cap) == (False, 0)
    flow = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        flow["flow_id"],
        {
            CONF_READING_INTERVAL: 15,
            CONF_AUTO_PAY: True,
            CONF_SPENDING_CAP: 0.0250000001,
        },
    )
    assert result["type"] == "create_entry"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.options[CONF_AUTO_PAY] is True
    billing = entry.runtime_data.billing  # the entry reloaded with the new options
    assert billing.auto_pay is True
    assert billing.spending_cap == 25_000_000_100_000_000  # wei
