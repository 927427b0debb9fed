"""Actions of the integration: pay the bill, top up credit, submit a reading now.

Each targets one meter by its device (`device_id`) or its entry (`config_entry_id`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
import contextlib
from decimal import ROUND_CEILING
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
import voluptuous as vol

from .billing import Billing, base_units, display_amount
from .chain import (
    CannotConnectError,
    GridLedgerError,
    InsufficientFundsError,
    Receipt,
    RevertedError,
    TransactionTimeoutError,
)
from .chain.payments import (
    AmountAboveLimitError,
    InsufficientBalanceError,
    NothingDueError,
    PaymentResult,
)
from .const import DOMAIN
from .contract_errors import contract_error
from .coordinator import GridLedgerConfigEntry

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_DEVICE_ID = "device_id"
ATTR_AMOUNT = "amount"
SERVICE_SUBMIT_READING = "submit_reading"
SERVICE_PAY_BILL = "pay_bill"
SERVICE_TOP_UP = "top_up"

TARGET: dict[vol.Marker, Any] = {
    vol.Exclusive(ATTR_DEVICE_ID, "meter"): cv.string,
    vol.Exclusive(ATTR_CONFIG_ENTRY_ID, "meter"): cv.string,
}
POSITIVE_AMOUNT = vol.All(vol.Coerce(float), vol.Range(min=0, min_included=False))
SUBMIT_READING_SCHEMA = vol.All(
    vol.Schema(TARGET), cv.has_at_least_one_key(ATTR_DEVICE_ID, ATTR_CONFIG_ENTRY_ID)
)
PAY_BILL_SCHEMA = vol.All(
    vol.Schema({**TARGET, vol.Optional(ATTR_AMOUNT): POSITIVE_AMOUNT}),
    cv.has_at_least_one_key(ATTR_DEVICE_ID, ATTR_CONFIG_ENTRY_ID),
)
TOP_UP_SCHEMA = vol.All(
    vol.Schema({**TARGET, vol.Required(ATTR_AMOUNT): POSITIVE_AMOUNT}),
    cv.has_at_least_one_key(ATTR_DEVICE_ID, ATTR_CONFIG_ENTRY_ID),
)


def entry_of(hass: HomeAssistant, call: ServiceCall) -> GridLedgerConfigEntry:
    """The loaded entry of the meter a call targets, by device or by entry id."""
    if (device_id := call.data.get(ATTR_DEVICE_ID)) is not None:
        device = dr.async_get(hass).async_get(device_id)
        entry_ids = [] if device is None else list(device.config_entries)
        entry_id = next(
            (
                candidate
                for candidate in entry_ids
                if (found := hass.config_entries.async_get_entry(candidate)) is not None
                and found.domain == DOMAIN
            ),
            None,
        )
        if entry_id is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="device_not_found",
                translation_placeholders={"device_id": device_id},
            )
    else:
        entry_id = call.data[ATTR_CONFIG_ENTRY_ID]
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
        raise contract_error(err) from err
    except GridLedgerError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="update_failed",
            translation_placeholders={"error": str(err)},
        ) from err


@contextlib.asynccontextmanager
async def payment_errors(billing: Billing) -> AsyncIterator[None]:
    """Payment failures as translated errors: the household's mistakes as validation errors."""
    decimals = billing.decimals
    try:
        yield
    except NothingDueError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="nothing_due"
        ) from err
    except AmountAboveLimitError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="amount_above_approval",
            translation_placeholders={
                "amount_due": f"{display_amount(err.amount_due, decimals):g}",
                "amount": f"{display_amount(err.limit, decimals):g}",
                "currency": billing.currency,
            },
        ) from err
    except InsufficientBalanceError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="insufficient_balance",
            translation_placeholders={
                "balance": f"{display_amount(err.balance, decimals):g}",
                "needed": f"{display_amount(err.needed, decimals):g}",
                "currency": err.currency,
            },
        ) from err
    except InsufficientFundsError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="payment_no_gas",
            translation_placeholders={"address": billing.engine.address},
        ) from err
    except TransactionTimeoutError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="payment_pending",
            translation_placeholders={"tx_hash": err.tx_hash},
        ) from err
    except CannotConnectError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN, translation_key="cannot_connect"
        ) from err
    except RevertedError as err:
        raise contract_error(err) from err
    except GridLedgerError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="update_failed",
            translation_placeholders={"error": str(err)},
        ) from err


def payment_response(billing: Billing, result: PaymentResult) -> dict[str, Any]:
    return {
        "tx_hash": result.tx_hash,
        "block_number": result.block_number,
        "amount": display_amount(result.amount, billing.decimals),
        "currency": result.currency,
    }


async def async_in_entry[T](
    entry: GridLedgerConfigEntry, work: Coroutine[Any, Any, T], name: str
) -> T:
    """Run a payment as a task of the entry: unloading it stops the wait for a receipt (the
    recorded intent is settled at the next start), and the caller is told so."""
    task = entry.async_create_background_task(entry.runtime_data.coordinator.hass, work, name)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if not task.cancelled() or (current is not None and current.cancelling()):
            raise
        raise HomeAssistantError(
            translation_domain=DOMAIN, translation_key="payment_interrupted"
        ) from None


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    async def _submit_reading(call: ServiceCall) -> ServiceResponse:
        entry = entry_of(hass, call)
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

    async def _pay_bill(call: ServiceCall) -> ServiceResponse:
        entry = entry_of(hass, call)
        billing = _billing(entry)
        limit = None
        if (amount := call.data.get(ATTR_AMOUNT)) is not None:
            limit = base_units(amount, billing.decimals, rounding=ROUND_CEILING)  # an approval
        async with payment_errors(billing):
            result = await async_in_entry(
                entry, billing.async_pay_bill(limit), f"{DOMAIN} pay bill"
            )
        return payment_response(billing, result)

    async def _top_up(call: ServiceCall) -> ServiceResponse:
        entry = entry_of(hass, call)
        billing = _billing(entry)
        amount = base_units(call.data[ATTR_AMOUNT], billing.decimals)
        if amount is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_amount",
                translation_placeholders={
                    "amount": str(call.data[ATTR_AMOUNT]),
                    "decimals": str(billing.decimals),
                },
            )
        async with payment_errors(billing):
            result = await async_in_entry(entry, billing.async_top_up(amount), f"{DOMAIN} top up")
        return payment_response(billing, result)

    for name, handler, schema in (
        (SERVICE_SUBMIT_READING, _submit_reading, SUBMIT_READING_SCHEMA),
        (SERVICE_PAY_BILL, _pay_bill, PAY_BILL_SCHEMA),
        (SERVICE_TOP_UP, _top_up, TOP_UP_SCHEMA),
    ):
        hass.services.async_register(
            DOMAIN, name, handler, schema=schema, supports_response=SupportsResponse.OPTIONAL
        )


def _billing(entry: GridLedgerConfigEntry) -> Billing:
    billing = entry.runtime_data.billing
    if billing is None:  # pragma: no cover - set before the entry is loaded
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"entry_id": entry.entry_id},
        )
    return billing
