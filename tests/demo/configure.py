"""Configure the demo's Home Assistant the way a household would: through the real config flows
(ESPHome, then Grid Ledger), then a dashboard and the Energy dashboard's grid source."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from datetime import UTC, datetime, timedelta
import re
import time
from typing import Any
import urllib.error

from tests.demo.stack import (
    HA_CURRENCY,
    HISTORY_HOURS,
    METER_ID,
    PRICE_PER_KWH,
    READING_INTERVAL_MINUTES,
    SPENDING_CAP,
    WARNING_LEAD_MINUTES,
    DemoKeys,
    DemoStack,
    timeline,
)
from tests.esphome.simulator import SIMULATOR_YAML

DASHBOARD_FILE = "grid_ledger_dashboard.yaml"
HISTORY = "grid_ledger_demo:simulated_history"
HISTORY_COST = "grid_ledger_demo:simulated_history_cost"


async def wait_for_entity(stack: DemoStack, predicate: Any, what: str, within: float = 60) -> str:
    assert stack.hass is not None
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for entity_id, state in (await asyncio.to_thread(stack.hass.states)).items():
            if predicate(entity_id, state) and state["state"] not in ("unavailable", "unknown"):
                return entity_id
        await asyncio.sleep(1)
    raise TimeoutError(f"no {what} entity appeared in Home Assistant within {within} s")


async def configure_home_assistant(stack: DemoStack, keys: DemoKeys) -> None:
    hass = stack.hass
    assert hass is not None
    assert stack.anvil is not None
    if not hass.config_entries("esphome"):
        await asyncio.to_thread(
            hass.run_flow, "esphome", {"host": "127.0.0.1", "port": stack.meter_port}
        )
        timeline("ESPHome integration added the meter simulator")
    energy = await wait_for_entity(
        stack,
        lambda e, s: (
            e.startswith("sensor.")
            and "grid_ledger_sim" in e
            and e.endswith("_energy")  # the import register, not "Energy exported"
            and s["attributes"].get("device_class") == "energy"
        ),
        "meter energy",
    )
    relay = await wait_for_entity(
        stack, lambda e, s: e.startswith("switch.") and "grid_ledger_sim" in e, "meter relay"
    )
    fresh = not hass.config_entries("grid_ledger")
    if fresh:
        await asyncio.to_thread(
            hass.run_flow,
            "grid_ledger",
            {"url": stack.anvil.rpc_url, "contract_address": stack.deployment["gridLedger"]},
            {"next_step_id": "wallet_key"},
            {"wallet_key": keys.household_wallet},
            {
                "meter_id": METER_ID,
                "meter_key": keys.meter,
                "energy_entity": energy,
                "relay_entity": relay,
            },
        )
        timeline(f"Grid Ledger configured for meter {METER_ID} ({energy}, {relay})")
        await set_household_options(stack)
    entities = await grid_ledger_entities(stack)
    await first_reading(stack, entities["submit_reading"], entities["last_reading"])
    write_dashboard(stack, entities, energy, relay)
    if fresh:
        await import_energy_history(stack)
    await hass.websocket(
        {
            "type": "energy/save_prefs",
            "energy_sources": [
                {
                    "type": "grid",
                    "flow_from": [
                        {
                            "stat_energy_from": HISTORY,
                            "stat_cost": HISTORY_COST,
                            "entity_energy_price": None,
                            "number_energy_price": None,
                        },
                        {
                            "stat_energy_from": entities["energy"],
                            "stat_cost": None,
                            "entity_energy_price": entities["price"],
                            "number_energy_price": None,
                        },
                    ],
                    "flow_to": [],
                    "cost_adjustment_day": 0,
                }
            ],
            "device_consumption": [],
        }
    )
    timeline("Energy dashboard: grid consumption from the attested register, priced by tariff")


def simulated_history(until: datetime, hours: int, per_kwh: float) -> list[dict[str, Any]]:
    """Cumulative sums, hour by hour, for `hours` before `until`, of the simulator's load as its
    own model (base + swing · sin, the swing averaging out over each hour) draws it, in kWh, or
    priced at `per_kwh`."""
    base_w = re.search(r'sim_base_power_w: "(\d+)"', SIMULATOR_YAML.read_text())
    assert base_w is not None
    per_hour = int(base_w[1]) / 1000 * per_kwh
    return [
        {
            "start": (until - timedelta(hours=hours - hour)).isoformat(),
            "sum": round(per_hour * (hour + 1), 6),
        }
        for hour in range(hours)
    ]


async def import_energy_history(stack: DemoStack) -> None:
    """Give the Energy dashboard the week before the demo started, as energy integrations import
    their history: external statistics of the demo's own source (`grid_ledger_demo`), the
    simulator's load and its cost at the demo's tariff, shown beside the live attested register.
    (A live sensor's own statistics cannot take them: Home Assistant continues its sums from its
    short-term statistics, which start with the sensor.)"""
    assert stack.hass is not None
    this_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    price = PRICE_PER_KWH / 10**6
    for statistic_id, name, unit, unit_class, per_kwh in (
        (HISTORY, "Simulated history before the demo", "kWh", "energy", 1.0),
        (HISTORY_COST, "Cost of the simulated history", HA_CURRENCY, None, price),
    ):
        stats = simulated_history(this_hour, HISTORY_HOURS, per_kwh)
        await stack.hass.websocket(
            {
                "type": "recorder/import_statistics",
                "metadata": {
                    "mean_type": 0,
                    "has_sum": True,
                    "name": name,
                    "source": HISTORY.split(":", 1)[0],
                    "statistic_id": statistic_id,
                    "unit_class": unit_class,
                    "unit_of_measurement": unit,
                },
                "stats": stats,
            }
        )
        timeline(
            f"Energy dashboard history: {len(stats)} hours imported as {statistic_id} "
            f"({stats[-1]['sum']:g} {unit} up to {this_hour:%H:%M} UTC)"
        )


async def set_household_options(stack: DemoStack) -> None:
    """A household that reads every minute and pays its bills automatically, within a cap;
    warned (and its meter blinking) only as long before a trip as the demo's cycle allows."""
    assert stack.hass is not None
    (entry,) = stack.hass.config_entries("grid_ledger")
    options = {
        "reading_interval": READING_INTERVAL_MINUTES,
        "auto_pay": True,
        "spending_cap": SPENDING_CAP,
        "warning_leads": [str(WARNING_LEAD_MINUTES)],
    }
    await asyncio.to_thread(stack.hass.set_options, entry["entry_id"], **options)
    timeline(f"household options: {options}")


async def first_reading(stack: DemoStack, button: str, last: str) -> None:
    """Press "Submit a reading now", as a household trying it would: a reading on-chain at once
    rather than after the first interval (and on a resumed demo, one at the time it resumes)."""
    hass = stack.hass
    assert hass is not None

    async def last_submitted() -> str | None:
        return (await asyncio.to_thread(hass.states)).get(last, {}).get("state")

    before = await last_submitted()
    deadline = time.monotonic() + 60
    while (state := await last_submitted()) in (before, None, "unknown", "unavailable"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no reading on-chain a minute after start ({last}: {state})")
        with suppress(urllib.error.HTTPError):  # the entry may still be reloading its options
            await asyncio.to_thread(
                hass.request, "POST", "/api/services/button/press", {"entity_id": button}
            )
        await asyncio.sleep(2)
    timeline(f"reading on-chain: {last} = {state}")


async def grid_ledger_entities(stack: DemoStack) -> dict[str, str]:
    """Our entities by translation key, from HA's entity registry."""
    assert stack.hass is not None
    (registry,) = await stack.hass.websocket({"type": "config/entity_registry/list"})
    return {
        entry["translation_key"]: entry["entity_id"]
        for entry in registry
        if entry["platform"] == "grid_ledger" and entry.get("translation_key")
    }


CARDS = {
    "Supply permit": {
        "permit_active": "Permit active",
        "permit_until": "Permit until",
        "trip_imminent": "Trip imminent",
        "bill_overdue": "Bill overdue",
        "node_reachable": "Chain node",
    },
    "Bill": {
        "amount_due": "Amount due",
        "balance": "Balance",
        "bill_due": "Bill due",
        "cost": "Energy cost",
        "price": "Tariff price",
    },
    "Wallet": {
        "wallet_coin": "Gas (coin)",
        "wallet_token": "Stablecoin",
        "wallet_gas_low": "Gas running low",
        "last_reading": "Last reading submitted",
    },
    "Meter": {
        "energy": "Attested energy",
        "submit_reading": "Submit a reading now",
    },
}


def write_dashboard(stack: DemoStack, entities: dict[str, str], energy: str, relay: str) -> None:
    """A YAML dashboard (HA rereads it on every load) with short names for our entities."""
    assert stack.hass is not None
    meter_rows = [f"          - entity: {energy}\n            name: Meter register\n"]
    meter_rows.append(f"          - entity: {relay}\n            name: Supply relay\n")
    cards = []
    for title, rows in CARDS.items():
        lines = meter_rows[:] if title == "Meter" else []
        lines += [
            f"          - entity: {entities[key]}\n            name: {name}\n"
            for key, name in rows.items()
            if key in entities
        ]
        cards.append(f"      - type: entities\n        title: {title}\n        entities:\n")
        cards.append("".join(lines))
    if "wallet_address" in entities:  # too long for an entities row: a card of its own
        template = "{{ states('" + entities["wallet_address"] + "') }}"
        cards.append(
            "      - type: markdown\n        title: Household wallet\n        content: |\n"
            "          Fund it with coin for gas and with the payment token:\n"
            f"          `{template}`\n"
        )
    if "schedule" in entities:
        cards.append(
            "      - type: calendar\n        initial_view: listWeek\n        entities:\n"
            f"          - {entities['schedule']}\n"
        )
    (stack.hass.config_dir / DASHBOARD_FILE).write_text(
        'title: Grid Ledger\nviews:\n  - title: Meter\n    path: "0"\n    cards:\n' + "".join(cards)
    )
