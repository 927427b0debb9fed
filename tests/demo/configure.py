"""Configure the demo's Home Assistant the way a household would: through the real config flows
(ESPHome, then Grid Ledger), then a dashboard and the Energy dashboard's grid source; and the
way the operator would for the transformer above them: its meter through ESPHome, the
automation that feeds it the households' import, and its Grid Ledger feeder entry."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import re
import time
from typing import Any
import urllib.error

import yaml

from tests.demo.stack import (
    AUTO_BID_CEILING,
    AUTO_SELL_FLOOR,
    CONSUMER,
    FEEDER_ID,
    HA_CURRENCY,
    HISTORY_HOURS,
    HOUSEHOLDS,
    PLANT_ID,
    PRICE_PER_KWH,
    PROSUMER,
    READING_INTERVAL_MINUTES,
    SPENDING_CAP,
    TRANSFORMER,
    WARNING_LEAD_MINUTES,
    DemoKeys,
    DemoStack,
    Household,
    timeline,
)
from tests.esphome.simulator import SIMULATOR_YAML

DASHBOARD_FILE = "grid_ledger_dashboard.yaml"
HISTORY = "grid_ledger_demo:simulated_history"
HISTORY_COST = "grid_ledger_demo:simulated_history_cost"
TRANSFORMER_AUTOMATION = "grid_ledger_demo_transformer_downstream"


async def wait_for_entity(stack: DemoStack, predicate: Any, what: str, within: float = 60) -> str:
    assert stack.hass is not None
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for entity_id, state in (await asyncio.to_thread(stack.hass.states)).items():
            if predicate(entity_id, state) and state["state"] not in ("unavailable", "unknown"):
                return entity_id
        await asyncio.sleep(1)
    raise TimeoutError(f"no {what} entity appeared in Home Assistant within {within} s")


@dataclass
class HouseholdInHA:
    """A household as Home Assistant knows it: its Grid Ledger entry, our entities by
    translation key, and its ESPHome meter's entities."""

    household: Household
    entry_id: str
    device_id: str  # the meter's device: our events name it
    entities: dict[str, str]
    energy: str
    relay: str
    exported: str


async def add_esphome_device(stack: DemoStack, friendly_name: str, port: int, whose: str) -> None:
    """A simulator through ESPHome's config flow, unless added before."""
    hass = stack.hass
    assert hass is not None
    if friendly_name not in {e["title"] for e in hass.config_entries("esphome")}:
        await asyncio.to_thread(hass.run_flow, "esphome", {"host": "127.0.0.1", "port": port})
        timeline(f"ESPHome integration added the {whose} meter simulator")


async def add_meter_device(stack: DemoStack, household: Household) -> tuple[str, str, str]:
    """The household's meter through ESPHome's config flow (unless added before); its import
    register, relay and export register entities."""
    port = stack.port_of(household)
    await add_esphome_device(stack, household.friendly_name, port, f"{household.role}'s")
    device = household.device
    energy = await wait_for_entity(
        stack,
        lambda e, s: (
            e.startswith(f"sensor.{device}_")
            and e.endswith("_energy")  # the import register, not "Energy exported"
            and s["attributes"].get("device_class") == "energy"
        ),
        f"{household.role}'s meter energy",
    )
    exported = await wait_for_entity(
        stack,
        lambda e, _: e.startswith(f"sensor.{device}_") and e.endswith("_energy_exported"),
        f"{household.role}'s meter export",
    )
    relay = await wait_for_entity(
        stack, lambda e, _: e.startswith(f"switch.{device}_"), f"{household.role}'s meter relay"
    )
    return energy, relay, exported


def market_options(stack: DemoStack, household: Household) -> dict[str, Any]:
    """A household's options in the demo's energy market: the prosumer sells its tokens from a
    floor, the consumer bids up to a ceiling and its bought tokens pay its bills first."""
    if "energyAuction" not in stack.deployment:
        return {}
    trade = (
        {"auto_sell_floor": AUTO_SELL_FLOOR}
        if household is PROSUMER
        else {"auto_bid_ceiling": AUTO_BID_CEILING, "redeem_tokens": True}
    )
    return {"auction_address": stack.deployment["energyAuction"], **trade}


async def add_household(
    stack: DemoStack, keys: DemoKeys, household: Household, market: bool = True
) -> HouseholdInHA:
    """The household's meter in ESPHome, then its Grid Ledger entry through the config flow
    with its own wallet and meter key (unless configured before), then a first reading; with
    `market`, it trades energy tokens automatically."""
    hass = stack.hass
    assert hass is not None
    assert stack.anvil is not None
    energy, relay, exported = await add_meter_device(stack, household)
    entries = {e["title"]: e for e in hass.config_entries("grid_ledger")}
    # The prosumer's readings carry its export register once the ledger takes it.
    producer = household is PROSUMER and "energyToken" in stack.deployment
    created = household.title not in entries
    if created:
        meter = {
            "meter_id": household.meter_id,
            "meter_key": getattr(keys, household.meter_key),
            "energy_entity": energy,
            "relay_entity": relay,
        }
        if producer:
            meter["export_entity"] = exported
        await asyncio.to_thread(
            hass.run_flow,
            "grid_ledger",
            {"next_step_id": "household"},
            {"url": stack.anvil.rpc_url, "contract_address": stack.deployment["gridLedger"]},
            {"next_step_id": "wallet_key"},
            {"wallet_key": getattr(keys, household.wallet)},
            meter,
        )
        registers = f"{energy}, {exported}" if producer else energy
        timeline(
            f"Grid Ledger configured for the {household.role}'s meter {household.meter_id} "
            f"({registers}, {relay})"
        )
        entries = {e["title"]: e for e in hass.config_entries("grid_ledger")}
        # A prosumer's energy tokens pay its bills first (its tokens' best use); in the market
        # it offers the rest, and the consumer buys them to pay its own bills first.
        tokens = {"redeem_tokens": True} if producer else {}
        if market:
            tokens |= market_options(stack, household)
        await set_household_options(stack, entries[household.title]["entry_id"], **tokens)
    entry_id = str(entries[household.title]["entry_id"])
    # Just configured to trade: its market entities come with the reload of its options.
    trading = created and market and bool(market_options(stack, household))
    registry = await grid_ledger_registry(stack, entry_id, "market_best_price" if trading else None)
    entities = {key: entry["entity_id"] for key, entry in registry.items()}
    device_id = str(registry["permit_active"]["device_id"])
    await first_reading(stack, entities["submit_reading"], entities["last_reading"])
    return HouseholdInHA(household, entry_id, device_id, entities, energy, relay, exported)


@dataclass
class FeederInHA:
    """The transformer as Home Assistant knows it: its Grid Ledger feeder entry, our entities
    by translation key, and its ESPHome meter's entities by object id."""

    entry_id: str
    device_id: str  # the feeder's device: `grid_ledger_loss_detected` names it
    entities: dict[str, str]
    meter: dict[str, str]


@dataclass
class DemoInHA:
    """What `configure_home_assistant` set up: the households by role, and the feeder."""

    homes: dict[str, HouseholdInHA]
    feeder: FeederInHA


async def add_transformer(stack: DemoStack, keys: DemoKeys) -> FeederInHA:
    """The transformer's meter in ESPHome, the automation that keeps its downstream power equal
    to the households' import, then its Grid Ledger feeder entry through the config flow with
    the feeder's key (unless configured before), reading each minute, then a first reading."""
    hass = stack.hass
    assert hass is not None
    assert stack.anvil is not None
    await add_esphome_device(
        stack, TRANSFORMER.friendly_name, stack.transformer_port, "transformer"
    )
    device = TRANSFORMER.device
    meter = {}
    for object_id, domain in TRANSFORMER_ENTITIES.items():
        entity = f"{domain}.{device}_{object_id}"
        meter[object_id] = await wait_for_entity(
            stack, lambda e, _, wanted=entity: e == wanted, f"transformer's {object_id}"
        )
    await add_downstream_automation(stack, meter["downstream_power"])
    settles = stack.settles
    if settles:  # the plant first: its register starts with its first reading
        plant = await add_feeder_entry(stack, PLANT_ID, keys.plant, meter["energy"])
        plant_entities = {
            k: e["entity_id"] for k, e in (await grid_ledger_registry(stack, plant)).items()
        }
        await first_reading(stack, plant_entities["submit_reading"], plant_entities["last_reading"])
        await asyncio.to_thread(stack.enable_settlement, keys)
    # The distributor follows its settlement (markup, loss, amount owed) and settles with it.
    settlement = {"settlement_address": stack.deployment["settlement"]} if settles else {}
    kept = TRANSFORMER.title in {e["title"] for e in hass.config_entries("grid_ledger")}
    entry_id = await add_feeder_entry(stack, FEEDER_ID, keys.feeder, meter["energy"], settlement)
    # A kept entry (from a demo before the settlement) may lack the option.
    awaited = "settled_markup" if settles and not kept else None
    registry = await grid_ledger_registry(stack, entry_id, awaited)
    entities = {key: entry["entity_id"] for key, entry in registry.items()}
    device_id = str(registry["loss"]["device_id"])
    await first_reading(stack, entities["submit_reading"], entities["last_reading"])
    return FeederInHA(entry_id, device_id, entities, meter)


async def add_feeder_entry(
    stack: DemoStack,
    feeder_id: int,
    key: str,
    energy: str,
    more: dict[str, Any] | None = None,
) -> str:
    """A feeder's Grid Ledger entry through the config flow (unless configured before), reading
    `energy` each minute; returns its entry id. The plant's reads the transformer's register."""
    hass = stack.hass
    assert hass is not None
    assert stack.anvil is not None
    title = f"Feeder {feeder_id}"
    entries = {e["title"]: e for e in hass.config_entries("grid_ledger")}
    if title not in entries:
        await asyncio.to_thread(
            hass.run_flow,
            "grid_ledger",
            {"next_step_id": "feeder"},
            {"url": stack.anvil.rpc_url, "contract_address": stack.deployment["gridLedger"]},
            {
                "feeder_id": feeder_id,
                "feeder_key": key,
                "energy_source": "entity",
                "energy_entity": energy,
            },
        )
        timeline(f"Grid Ledger configured for feeder {feeder_id} ({energy})")
        entries = {e["title"]: e for e in hass.config_entries("grid_ledger")}
        entry_id = str(entries[title]["entry_id"])
        options = {"reading_interval": READING_INTERVAL_MINUTES, **(more or {})}
        await asyncio.to_thread(hass.set_options, entry_id, **options)
        timeline(f"feeder {feeder_id}'s options: {options}")
    return str(entries[title]["entry_id"])


# The transformer's ESPHome entities by object id, and their domains.
TRANSFORMER_ENTITIES = {
    "energy": "sensor",
    "power": "sensor",
    "downstream_power": "number",
    "illegal_tap": "switch",
    "illegal_tap_power": "number",
    "technical_loss": "number",
}


def downstream_automation(downstream: str) -> dict[str, Any]:
    """The automation that keeps the transformer's "Downstream power" equal to what the
    households import: each meter's power, export (negative) counted as 0, as the ledger adds
    only their import to the feeder's children."""
    powers = [f"sensor.{household.device}_power" for household in HOUSEHOLDS]
    imports = " + ".join(f"[states('{power}') | float(0), 0] | max" for power in powers)
    return {
        "alias": "Transformer: downstream power follows the households' import",
        "description": (
            "Grid Ledger demo: the transformer (feeder) meter above the households sees what "
            "they draw from the grid; a household's export is not subtracted."
        ),
        "mode": "queued",
        "max": 2,
        "max_exceeded": "silent",
        "triggers": [{"trigger": "state", "entity_id": powers}],
        "actions": [
            {
                "action": "number.set_value",
                "target": {"entity_id": downstream},
                "data": {"value": "{{ (" + imports + ") | round(1) }}"},
            }
        ],
    }


async def add_downstream_automation(stack: DemoStack, downstream: str) -> None:
    """Through the automation editor's API, as a user saving it there (rewritten on a resumed
    demo: the same id)."""
    assert stack.hass is not None
    await asyncio.to_thread(
        stack.hass.request,
        "POST",
        f"/api/config/automation/config/{TRANSFORMER_AUTOMATION}",
        downstream_automation(downstream),
    )
    timeline(f"automation {TRANSFORMER_AUTOMATION}: {downstream} = the households' import")


async def configure_home_assistant(
    stack: DemoStack, keys: DemoKeys, market: bool = True
) -> DemoInHA:
    """Both households (trading in the energy market unless `market` is false), the
    transformer, the dashboard and the Energy dashboard."""
    hass = stack.hass
    assert hass is not None
    fresh = not hass.config_entries("grid_ledger")
    homes = {h.role: await add_household(stack, keys, h, market) for h in HOUSEHOLDS}
    # After the households: the feeder's first period then holds no energy of theirs that
    # they did not read themselves.
    feeder = await add_transformer(stack, keys)
    write_dashboard(stack, list(homes.values()), feeder)
    if fresh:
        await import_energy_history(stack)
    consumer, prosumer = homes[CONSUMER.role], homes[PROSUMER.role]
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
                        *(
                            {
                                "stat_energy_from": home.entities["energy"],
                                "stat_cost": None,
                                "entity_energy_price": home.entities["price"],
                                "number_energy_price": None,
                            }
                            for home in (consumer, prosumer)
                        ),
                    ],
                    "flow_to": [return_to_grid(prosumer)],
                    "cost_adjustment_day": 0,
                }
            ],
            "device_consumption": [],
        }
    )
    timeline(
        "Energy dashboard: both households' attested registers from the grid, priced by tariff;"
        " the prosumer's export to it"
    )
    return DemoInHA(homes, feeder)


def return_to_grid(prosumer: HouseholdInHA) -> dict[str, Any]:
    """The prosumer's export on the Energy dashboard: the register the ledger accepted and the
    compensation Grid Ledger counts, or, on a ledger without export, the meter's own register."""
    entities = prosumer.entities
    attested = "exported_energy" in entities and "export_compensation" in entities
    return {
        "stat_energy_to": entities["exported_energy"] if attested else prosumer.exported,
        "stat_compensation": entities["export_compensation"] if attested else None,
        "entity_energy_price": None,
        "number_energy_price": None,
    }


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


async def set_household_options(stack: DemoStack, entry_id: str, **more: Any) -> None:
    """A household that reads every minute and pays its bills automatically, within a cap;
    warned (and its meter blinking) only as long before a trip as the demo's cycle allows."""
    assert stack.hass is not None
    options = {
        "reading_interval": READING_INTERVAL_MINUTES,
        "auto_pay": True,
        "spending_cap": SPENDING_CAP,
        "warning_leads": [str(WARNING_LEAD_MINUTES)],
        **more,
    }
    await asyncio.to_thread(stack.hass.set_options, entry_id, **options)
    timeline(f"household options: {options}")


async def first_reading(stack: DemoStack, button: str, last: str) -> None:
    """Press "Submit a reading now", as a household trying it would: a reading on-chain at once
    rather than after the first interval (and on a resumed demo, one at the time it resumes)."""
    hass = stack.hass
    assert hass is not None

    before = (await asyncio.to_thread(hass.states)).get(last, {}).get("state")
    deadline = time.monotonic() + 60
    while True:
        states = await asyncio.to_thread(hass.states)
        state = states.get(last, {}).get("state")
        if state not in (before, None, "unknown", "unavailable"):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"no reading on-chain a minute after start ({last}: {state})")
        # A button not yet added (no state) or reloading with its entry (unavailable): pressing
        # it then only logs a warning.
        if states.get(button, {}).get("state") not in (None, "unavailable"):
            with suppress(urllib.error.HTTPError):  # the entry may still be reloading its options
                await asyncio.to_thread(
                    hass.request, "POST", "/api/services/button/press", {"entity_id": button}
                )
        await asyncio.sleep(2)
    timeline(f"reading on-chain: {last} = {state}")


async def grid_ledger_registry(
    stack: DemoStack, entry_id: str, awaited: str | None = None
) -> dict[str, dict[str, Any]]:
    """One entry's entities' registry entries by translation key; with `awaited`, once that
    entity is among them (an entry reloading with new options adds entities)."""
    assert stack.hass is not None
    deadline = time.monotonic() + 60
    while True:
        (registry,) = await stack.hass.websocket({"type": "config/entity_registry/list"})
        found = {
            entry["translation_key"]: entry
            for entry in registry
            if entry["platform"] == "grid_ledger"
            and entry["config_entry_id"] == entry_id
            and entry.get("translation_key")
        }
        if awaited is None or awaited in found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {awaited} entity of entry {entry_id} within 60 s")
        await asyncio.sleep(1)


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
        "token_balance": "Energy tokens",
        "wallet_pending": "Pending transactions",
        "wallet_gas_low": "Gas running low",
        "last_reading": "Last reading submitted",
    },
    "Energy market": {
        "market_offers": "Open offers",
        "market_tokens_offered": "Energy tokens offered",
        "market_best_price": "Best price",
        "market_auction_end": "Auction end",
        "market_last_price": "Last price",
        "market_withdrawable": "Refunds and proceeds",
    },
    "Meter": {
        "energy": "Attested energy",
        "submit_reading": "Submit a reading now",
    },
}
# The producer's entities (a prosumer's entry), shown once the integration has them.
PRODUCER_CARD = {
    "exported_energy": "Exported energy",
    "tokens_minted_period": "Tokens minted this period",
    "token_balance": "Energy tokens",
    "export_compensation": "Export compensation",
}
# The prosumer's simulated roof and meter, as its ESPHome device reports them.
SOLAR_ROWS = {
    "solar_power": "Solar power",
    "simulated_load_power": "Household load",
    "power": "Meter power (import +, export -)",
    "simulated_hour_of_day": "Simulated hour of day",
}


def rows(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"entity": entity, "name": name} for entity, name in pairs]


def household_view(home: HouseholdInHA, path: str) -> dict[str, Any]:
    """One household's view: its permit, bill, wallet and meter; a prosumer's solar and
    export too."""
    entities, household = home.entities, home.household
    cards: list[dict[str, Any]] = []
    if household is PROSUMER:
        device = f"sensor.{household.device}_"
        solar = [(device + key, name) for key, name in SOLAR_ROWS.items()]
        solar.append((home.exported, "Meter export register"))
        cards.append({"type": "entities", "title": "Rooftop solar", "entities": rows(solar)})
        cards.append(
            {
                "type": "history-graph",
                "title": "Solar against the load",
                "hours_to_show": 1,
                "entities": [f"{device}solar_power", f"{device}simulated_load_power"],
            }
        )
        producer = [(entities[k], name) for k, name in PRODUCER_CARD.items() if k in entities]
        if producer:
            cards.append({"type": "entities", "title": "Producer", "entities": rows(producer)})
    for title, names in CARDS.items():
        shown = {
            "Meter": [(home.energy, "Meter register"), (home.relay, "Supply relay")],
            # What the wallet's tokens come from (a prosumer's export shows as negative).
            "Wallet": [(f"sensor.{household.device}_power", "Meter power (import +, export -)")],
        }.get(title, [])
        shown += [(entities[key], name) for key, name in names.items() if key in entities]
        if len(shown) > (title == "Wallet"):  # a card only with our entities in it
            cards.append({"type": "entities", "title": title, "entities": rows(shown)})
    if "wallet_address" in entities:  # too long for an entities row: a card of its own
        template = "{{ states('" + entities["wallet_address"] + "') }}"
        cards.append(
            {
                "type": "markdown",
                "title": f"{household.role.capitalize()}'s wallet",
                "content": f"Fund it with coin for gas and with the payment token:\n`{template}`\n",
            }
        )
    if "schedule" in entities:
        cards.append(
            {"type": "calendar", "initial_view": "listWeek", "entities": [entities["schedule"]]}
        )
    title = f"{household.role.capitalize()} (meter {household.meter_id})"
    return {"title": title, "path": path, "cards": cards}


FEEDER_CARD = {
    "feeder_energy": "Feeder energy this period",
    "children_energy": "Households' energy this period",
    "loss": "Actual loss (last period compared)",
    "loss_tolerance": "Loss tolerance",
    "loss_above_tolerance": "Loss above tolerance",
    "last_reading": "Last reading submitted",
    "submit_reading": "Submit a reading now",
}
SETTLEMENT_CARD = {
    "last_settlement": "Last settled period",
    "settled_loss": "Loss it was settled on",
    "settled_markup": "Distributor's markup",
    "settlement_owed": "Owed to the distributor",
}
TRANSFORMER_ROWS = {
    "illegal_tap": "Illegal tap",
    "illegal_tap_power": "Illegal tap power",
    "power": "Feeder power",
    "downstream_power": "Households' import power",
    "technical_loss": "Technical loss",
    "energy": "Feeder meter register",
}


def feeder_view(feeder: FeederInHA, path: str) -> dict[str, Any]:
    """The operator's view of the transformer: the ledger's balance of the feeder, its meter
    and the tap to switch."""
    ledger = [(feeder.entities[k], name) for k, name in FEEDER_CARD.items() if k in feeder.entities]
    meter = [(feeder.meter[k], name) for k, name in TRANSFORMER_ROWS.items()]
    settled = [(feeder.entities[k], n) for k, n in SETTLEMENT_CARD.items() if k in feeder.entities]
    settlement = [{"type": "entities", "title": "Settlement", "entities": rows(settled)}]
    return {
        "title": f"Transformer (feeder {FEEDER_ID})",
        "path": path,
        "cards": [
            {"type": "entities", "title": "Transformer meter", "entities": rows(meter)},
            {"type": "entities", "title": "Feeder on the ledger", "entities": rows(ledger)},
            *(settlement if settled else []),
            {
                "type": "history-graph",
                "title": "Feeder power against the households' import",
                "hours_to_show": 1,
                "entities": [feeder.meter["power"], feeder.meter["downstream_power"]],
            },
            {
                "type": "markdown",
                "title": "How the tap is caught",
                "content": (
                    "The ledger compares each period's feeder energy with what the households' "
                    "meters billed in it, when the feeder's first reading two periods later "
                    "arrives (the households have closed it by then). Switch the illegal tap "
                    "on: the loss alert comes two to three periods later."
                ),
            },
        ],
    }


MARKET_WALLET_ROWS = {
    "token_balance": "Energy tokens",
    "wallet_token": "Stablecoin",
    "wallet_coin": "Gas (coin)",
    "wallet_pending": "Pending transactions",
}


def market_view(homes: list[HouseholdInHA], path: str) -> dict[str, Any]:
    """Both households in the energy market side by side: each wallet (its tokens, what the
    meter exports or draws, its balances, its transactions in flight) and its trades."""
    cards: list[dict[str, Any]] = []
    for home in homes:
        entities, household = home.entities, home.household
        power = (f"sensor.{household.device}_power", "Meter power (import +, export -)")
        wallet = [
            power,
            *((entities[k], n) for k, n in MARKET_WALLET_ROWS.items() if k in entities),
        ]
        market = [(entities[k], n) for k, n in CARDS["Energy market"].items() if k in entities]
        name = f"{household.role.capitalize()} (meter {household.meter_id})"
        cards.append(
            {
                "type": "vertical-stack",
                "cards": [
                    {"type": "entities", "title": f"{name}: wallet", "entities": rows(wallet)},
                    {"type": "entities", "title": f"{name}: market", "entities": rows(market)},
                ],
            }
        )
    cards.append(
        {
            "type": "markdown",
            "title": "How the households trade",
            "content": (
                "The prosumer offers the energy tokens its meter earned from "
                f"{AUTO_SELL_FLOOR:g} per kWh for a billing period; the consumer bids up to "
                f"{AUTO_BID_CEILING:g}, within its spending cap. When the lot ends, their entries "
                "finalize it, and the bought tokens pay the consumer's next bill before its "
                "automatic payment pays the rest."
            ),
        }
    )
    return {"title": "Energy market", "path": path, "cards": cards}


def write_dashboard(stack: DemoStack, homes: list[HouseholdInHA], feeder: FeederInHA) -> None:
    """A YAML dashboard (HA rereads it on every load) with a view per household and short
    names for our entities: the consumer's at /grid-ledger/0, the prosumer's at /1, the
    transformer's at /2, the energy market's at /3."""
    assert stack.hass is not None
    views = [household_view(home, str(number)) for number, home in enumerate(homes)]
    views.append(feeder_view(feeder, str(len(views))))
    views.append(market_view(homes, str(len(views))))
    dashboard = {"title": "Grid Ledger", "views": views}
    (stack.hass.config_dir / DASHBOARD_FILE).write_text(yaml.safe_dump(dashboard, sort_keys=False))
