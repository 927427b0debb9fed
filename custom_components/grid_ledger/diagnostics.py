"""Diagnostics: entry, contract state (with the producer's), outbox, export totals and token
intents; a feeder's state (with its settlement's), outbox, losses announced and settlement
intent. Every key, signature, raw transaction
and the RPC URL is redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant

from .const import SECRET_KEYS
from .coordinator import FeederConfigEntry, GridLedgerConfigEntry, is_feeder

TO_REDACT = {*SECRET_KEYS, CONF_URL, "signature", "raw"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: GridLedgerConfigEntry | FeederConfigEntry
) -> dict[str, Any]:
    runtime = entry.runtime_data
    coordinator = runtime.coordinator
    common = {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
        },
        "contract": asdict(coordinator.info),
        "wallet": runtime.wallet.address,
        "last_update_success": coordinator.last_update_success,
        "state": asdict(coordinator.data) if coordinator.data is not None else None,
        "outbox": async_redact_data(runtime.pipeline.outbox.as_dict(), TO_REDACT),
    }
    if is_feeder(entry):
        feeder = entry.runtime_data
        settlement = None
        if feeder.settlement is not None:
            intent = await feeder.settlement.engine.pending()
            settlement = {
                "address": feeder.settlement.settlement.address,
                "intent": None if intent is None else intent.redacted(),
            }
        return common | {"losses": dict(feeder.losses.state), "settlement": settlement}
    household = entry.runtime_data
    token_intent = await household.producer.engine.pending()
    return common | {
        "meter_signer": household.pipeline.signer.address,
        "export_totals": dict(household.coordinator.export_totals.data),
        "token_intent": None if token_intent is None else token_intent.redacted(),
    }
