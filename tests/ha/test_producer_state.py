"""The producer's pieces that need no chain: the bidirectional reading's signature, the outbox's
export register, the export totals across a restart, the token errors' sentences."""

from __future__ import annotations

import dataclasses
from typing import Any

from eth_account import Account
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import pytest

from custom_components.grid_ledger.chain import (
    Bill,
    LedgerEvent,
    Meter,
    MeterState,
    Mode,
    ProducerInfo,
    ProducerState,
    Reading,
    ReadingSigner,
    RevertedError,
    generate_private_key,
)
from custom_components.grid_ledger.contract_errors import contract_error
from custom_components.grid_ledger.coordinator import ExportTotals
from custom_components.grid_ledger.readings import EXPORT, Adjustment, Outbox, PendingReading

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
BIDIRECTIONAL_TYPES = {
    "BidirectionalReading": [
        {"name": "meterId", "type": "uint32"},
        {"name": "importWh", "type": "uint64"},
        {"name": "exportWh", "type": "uint64"},
        {"name": "timestamp", "type": "uint32"},
    ]
}


def test_a_reading_with_an_export_register_is_a_signed_bidirectional_reading() -> None:
    key = generate_private_key()
    signer = ReadingSigner(key, 31337, CONTRACT)
    signed = signer.sign(Reading(7, 12_345, 1_800_000_000, export_wh=6_789))
    domain = {
        "name": "GridLedger",
        "version": "1",
        "chainId": 31337,
        "verifyingContract": CONTRACT,
    }
    message = {"meterId": 7, "importWh": 12_345, "exportWh": 6_789, "timestamp": 1_800_000_000}
    expected = Account.from_key(key).sign_typed_data(domain, BIDIRECTIONAL_TYPES, message)
    assert signed.signature == bytes(expected.signature)
    # The same registers without export are a plain `Reading`: another digest.
    plain = signer.sign(Reading(7, 12_345, 1_800_000_000))
    assert plain.signature != signed.signature


def test_the_outbox_keeps_the_export_register_and_its_adjustment() -> None:
    signer = ReadingSigner(generate_private_key(), 31337, CONTRACT)
    outbox = Outbox(PendingReading(signer.sign(Reading(7, 2_000, 1_800_000_000, export_wh=500))))
    outbox.adjustments[EXPORT.name] = Adjustment(offset=40, held_wh=3, releasing=False)
    stored: dict[str, Any] = outbox.as_dict()
    restored = Outbox.from_dict(stored)
    assert restored.pending is not None
    assert restored.pending.signed == outbox.pending.signed  # type: ignore[union-attr]
    assert restored.pending.signed.reading.export_wh == 500
    assert restored.adjustments[EXPORT.name] == Adjustment(40, 3, False)
    # An outbox stored before meters exported reads as import-only.
    del stored["pending"]["export_wh"], stored["export"]
    old = Outbox.from_dict(stored)
    assert old.pending is not None
    assert old.pending.signed.reading.export_wh is None
    assert old.adjustments[EXPORT.name] == Adjustment()


def _state(export_wh: int, period: int = 3, price: int = 80_000) -> MeterState:
    meter = Meter(7, "0x1", "0x2", 1, 1, Mode.POSTPAID, False, 5_000, 1, 20_000, period, 5_000)
    producer = ProducerState(
        info=ProducerInfo(True, False, 5_000, export_wh, 0, 0),
        token_balance_wh=0,
        feed_in_price_per_kwh=price,
        network_charge_per_kwh=0,
        proceeds=0,
    )
    return MeterState(1, 1, meter, 0, 0, Bill(0, 0, 0, 0), 0, 0, 0, None, producer)


async def test_export_totals_count_each_delta_once_across_a_restart(hass: HomeAssistant) -> None:
    totals = ExportTotals(hass, "entry")
    await totals.async_load()
    await totals.async_count(_state(10_000))  # the first register seen is the starting point
    assert (totals.compensation, totals.period_wh) == (0, 0)
    await totals.async_count(_state(11_250))
    assert totals.compensation == 1_250 * 80_000 // 1_000
    assert totals.period_wh == 1_250
    await totals.async_count(_state(11_250))  # a refresh without a new reading adds nothing
    assert totals.compensation == 100_000

    again = ExportTotals(hass, "entry")  # a restart
    await again.async_load()
    assert again.compensation == 100_000
    await again.async_count(_state(11_251, price=1))  # a thousandth of a base unit is kept
    await again.async_count(_state(12_251, period=4, price=1))  # a new period
    assert again.compensation == 100_001
    assert again.period_wh == 1_000
    # The operator rebased the register for a new meter: counting resumes from it.
    await again.async_count(_state(0, period=4))
    await again.async_count(_state(500, period=4))
    assert again.compensation == 100_001 + 500 * 80_000 // 1_000
    assert again.period_wh == 1_500


def _exchanged(block: int, exported: int, new_initial: int, log_index: int = 1) -> LedgerEvent:
    args = {"meterId": 7, "oldFinalExportWh": 0, "newInitialExportWh": new_initial}
    return LedgerEvent("ExportExchanged", args | {"exportedWh": exported}, block, "0x1", log_index)


def _state_at(block: int, export_wh: int) -> MeterState:
    return dataclasses.replace(_state(export_wh), block_number=block)


async def test_an_exchange_adds_the_old_meters_last_export_once_in_either_order(
    hass: HomeAssistant,
) -> None:
    # The event first: the new meter's register (above the old one's) is where counting resumes.
    totals = ExportTotals(hass, "event first")
    await totals.async_load()
    await totals.async_count(_state_at(10, 2_000))
    await totals.async_count_exchange(_exchanged(12, 50, new_initial=9_000), 80_000)
    await totals.async_count(_state_at(12, 9_000))
    await totals.async_count(_state_at(13, 9_300))
    assert totals.period_wh == 350
    assert totals.compensation == 350 * 80_000 // 1_000
    # The same event again (a subscription may deliver it twice) adds nothing.
    await totals.async_count_exchange(_exchanged(12, 50, new_initial=9_000), 80_000)
    assert totals.period_wh == 350

    # The state first: its lower register was the new starting point, the event adds the rest.
    other = ExportTotals(hass, "state first")
    await other.async_load()
    await other.async_count(_state_at(10, 2_000))
    await other.async_count(_state_at(12, 0))
    await other.async_count(_state_at(13, 300))
    await other.async_count_exchange(_exchanged(12, 50, new_initial=0), 80_000)
    assert other.period_wh == 350
    await other.async_count(_state_at(14, 400))
    assert other.period_wh == 450


@pytest.mark.parametrize(
    ("error", "key", "placeholders"),
    [
        (
            RevertedError("InsufficientTokens", {"holder": "0x1", "wh": 2_500, "available": 1_200}),
            "more_than_held",
            {"kwh": "2.5", "held_kwh": "1.2"},
        ),
        (
            RevertedError("FeedInFundsExhausted", {"amount": 150_000, "funds": 20_000}),
            "feed_in_funds_exhausted",
            {"amount": "0.15", "funds": "0.02", "currency": "tUSD"},
        ),
        (RevertedError("NothingToClaim", {"meterId": 7}), "nothing_to_claim", None),
        (RevertedError("NoFeedInPrice", {"tariffId": 1}), "no_feed_in_price", None),
    ],
)
def test_token_reverts_become_sentences(
    error: RevertedError, key: str, placeholders: dict[str, str] | None
) -> None:
    translated = contract_error(error, decimals=6, currency="tUSD")
    assert translated.translation_key == key
    assert translated.translation_placeholders == placeholders
    household_mistake = key in {"more_than_held", "nothing_to_claim"}
    assert isinstance(translated, ServiceValidationError) is household_mistake
