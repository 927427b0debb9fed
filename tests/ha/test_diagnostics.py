"""Diagnostics and logs never contain key material."""

from __future__ import annotations

import json
import logging

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.grid_ledger.const import DOMAIN

from .conftest import Ledger, MeterSetup, make_entry, set_register

pytestmark = pytest.mark.usefixtures("socket_enabled")


def key_material(meter: MeterSetup) -> list[str]:
    """Every spelling of both private keys."""
    spellings = []
    for key in (meter.meter_key, meter.wallet_key):
        bare = key.removeprefix("0x").lower()
        spellings += [bare, bare.upper(), bare[:32], bare[32:]]
    return spellings


async def test_diagnostics_and_logs_hold_no_keys(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    ledger: Ledger,
    meter: MeterSetup,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await set_register(hass, 1.0)
    entry = make_entry(ledger, meter)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await set_register(hass, 1.002)
    await hass.services.async_call(
        DOMAIN, "submit_reading", {"config_entry_id": entry.entry_id}, blocking=True
    )
    await set_register(hass, 1.001)  # backwards: refused and repaired, never submitted
    with pytest.raises(HomeAssistantError):
        await hass.services.async_call(
            DOMAIN, "submit_reading", {"config_entry_id": entry.entry_id}, blocking=True
        )

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["entry"]["data"]["meter_key"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["wallet_key"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["url"] == "**REDACTED**"
    assert diagnostics["wallet"] == meter.wallet_address
    assert diagnostics["state"]["meter"]["last_wh"] == 1002
    assert diagnostics["outbox"]["last_submitted"]["wh"] == 1002
    assert diagnostics["outbox"]["export"] == {"offset": 0, "held_wh": 0, "releasing": False}
    assert diagnostics["export_totals"]["compensation_milli"] == 0
    assert diagnostics["token_intent"] is None  # no token transaction in flight
    dumped = json.dumps(diagnostics).lower()
    logs = caplog.text.lower()
    assert "reading" in logs  # the log is not empty: debug records were captured
    for secret in key_material(meter):
        assert secret.lower() not in dumped
        assert secret.lower() not in logs
