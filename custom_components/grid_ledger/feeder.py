"""Feeder meters: a transformer's or a plant's register, signed as `FeederReading`s and sent
through the same reading pipeline as a household's, and the losses the ledger finds below it."""

from __future__ import annotations

from typing import TypedDict

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store

from .chain import FeederReadingSigner, FeederState, GridLedgerClient, SignedReading
from .chain.models import ContractCall
from .const import DOMAIN, EVENT_LOSS_DETECTED, ISSUE_LOSS_DETECTED
from .coordinator import FeederConfigEntry, FeederCoordinator
from .repairs import async_clear_issue, async_raise_issue
from .units import kwh, percent

STORAGE_VERSION = 1


class FeederReadings:
    """A feeder's readings: `FeederReading`s of its one register, signed with the feeder's key.
    No tariff prices them; the ledger compares each period's energy with its children's."""

    exports = False

    def __init__(
        self, client: GridLedgerClient, feeder_id: int, signer: FeederReadingSigner
    ) -> None:
        self.client = client
        self.meter_id = feeder_id
        self.signer = signer

    def submit_call(self, signed: SignedReading) -> ContractCall:
        return self.client.submit_feeder_reading_call(signed)

    async def async_last_timestamp(self) -> int:
        return (await self.client.feeder(self.meter_id)).last_timestamp

    async def async_tariff(self) -> None:
        return None


class LossState(TypedDict):
    """What survives a restart."""

    announced_period: int  # the newest period announced with `grid_ledger_loss_detected`


class LossWatch:
    """Announces a period in which the feeder lost more than its tolerance, by the ledger's
    verdict (`FeederState.loss_detected`): the event `grid_ledger_loss_detected` once per period
    (the newest period announced survives restarts), and a repair while that verdict is the
    newest one."""

    def __init__(
        self, hass: HomeAssistant, entry: FeederConfigEntry, coordinator: FeederCoordinator
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.coordinator = coordinator
        self._store: Store[LossState] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}.loss"
        )
        self.state: LossState = {"announced_period": 0}

    async def async_load(self) -> None:
        if (stored := await self._store.async_load()) is not None:
            self.state = stored

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Judge the state read at set-up, then every state read after it."""
        self._schedule_evaluation()
        return self.coordinator.async_add_listener(self._schedule_evaluation)

    @callback
    def _schedule_evaluation(self) -> None:
        self.entry.async_create_background_task(
            self.hass, self.async_evaluate(), f"{DOMAIN} feeder losses"
        )

    async def async_evaluate(self) -> None:
        coordinator = self.coordinator
        if not coordinator.last_update_success:
            return
        data = coordinator.data
        if not data.loss_detected:
            async_clear_issue(self.hass, self.entry.entry_id, ISSUE_LOSS_DETECTED)
            return
        compared = data.compared
        figures = self._figures(data)
        async_raise_issue(
            self.hass,
            self.entry.entry_id,
            ISSUE_LOSS_DETECTED,
            {name: f"{value:g}" for name, value in figures.items()},
            severity=ir.IssueSeverity.WARNING,
        )
        if compared.period <= self.state["announced_period"]:
            return
        self.state = {"announced_period": compared.period}
        self.hass.bus.async_fire(
            EVENT_LOSS_DETECTED, {"device_id": coordinator.device_id, **figures}
        )
        await self._store.async_save(self.state)

    @staticmethod
    def _figures(data: FeederState) -> dict[str, int | float]:
        """The event's data (with `device_id`) and the repair's placeholders."""
        compared, feeder = data.compared, data.feeder
        return {
            "feeder_id": feeder.feeder_id,
            "period": compared.period,
            "loss_percent": percent(compared.loss_bps or 0),
            "tolerance_percent": percent(feeder.loss_tolerance_bps),
            "feeder_kwh": kwh(compared.feeder_wh),
            "children_kwh": kwh(compared.children_wh),
        }
