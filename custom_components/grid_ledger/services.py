"""Actions of the integration: submit a reading now."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
import voluptuous as vol

from .chain import (
    CannotConnectError,
    GridLedgerError,
    InsufficientFundsError,
    Receipt,
    RevertedError,
    TransactionTimeoutError,
)
from .const import DOMAIN
from .coordinator import GridLedgerConfigEntry

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
SERVICE_SUBMIT_READING = "submit_reading"
SUBMIT_READING_SCHEMA = vol.Schema({vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string})


def entry_of(hass: HomeAssistant, entry_id: str) -> GridLedgerConfigEntry:
    entry: GridLedgerConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found",
            translation_placeholders={"entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"entry_id": entry_id},
        )
    return entry


async def async_submit_reading(entry: GridLedgerConfigEntry) -> Receipt | None:
    """Submit a reading now; chain errors become translated Home Assistant errors."""
    try:
        return await entry.runtime_data.pipeline.async_submit_now()
    except (CannotConnectError, TransactionTimeoutError) as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN, translation_key="reading_queued"
        ) from err
    except InsufficientFundsError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN, translation_key="wallet_no_gas"
        ) from err
    except RevertedError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="reading_rejected",
            translation_placeholders={"error": err.name},
        ) from err
    except GridLedgerError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="update_failed",
            translation_placeholders={"error": str(err)},
        ) from err


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    async def _submit_reading(call: ServiceCall) -> ServiceResponse:
        entry = entry_of(hass, call.data[ATTR_CONFIG_ENTRY_ID])
        receipt = await async_submit_reading(entry)
        submitted = entry.runtime_data.pipeline.last_submitted
        if receipt is None or submitted is None:
            return {"submitted": False}
        return {
            "submitted": True,
            "tx_hash": receipt.tx_hash,
            "block_number": receipt.block_number,
            "wh": submitted["wh"],
            "timestamp": submitted["timestamp"],
        }

    hass.services.async_register(
        DOMAIN,
        SERVICE_SUBMIT_READING,
        _submit_reading,
        schema=SUBMIT_READING_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
