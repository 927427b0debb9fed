"""Diagnostics: entry, contract state (with the producer's), outbox, export totals and token
intents, with every key, signature, raw transaction and the RPC URL redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant

from .const import SECRET_KEYS
from .coordinator import GridLedgerConfigEntry

TO_REDACT = {*SECRET_KEYS, CONF_URL, "signature", "raw"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: GridLedgerConfigEntry
) -> dict[str, Any]:
    runtime = entry.runtime_data
    coordinator = runtime.coordinator
    token_intent = await runtime.producer.engine.pending()
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
        },
        "contract": asdict(coordinator.info),
        "wallet": runtime.wallet.address,
        "meter_signer": runtime.pipeline.signer.address,
        "last_update_success": coordinator.last_update_success,
        "state": asdict(coordinator.data) if coordinator.data is not None else None,
        "outbox": async_redact_data(runtime.pipeline.outbox.as_dict(), TO_REDACT),
        "export_totals": dict(coordinator.export_totals.data),
        "token_intent": None if token_intent is None else token_intent.redacted(),
    }
