"""Contract state of one meter, refreshed on contract events and on a slow timer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .chain import (
    CannotConnectError,
    GridLedgerClient,
    GridLedgerError,
    LedgerEvent,
    LedgerInfo,
    MeterState,
    TransactionSender,
)
from .const import (
    CONF_METER_ID,
    DOMAIN,
    ISSUE_NODE_UNREACHABLE,
    LOGGER,
    REFRESH_INTERVAL,
    UNREACHABLE_REPAIR_AFTER,
)

if TYPE_CHECKING:
    from .readings import ReadingPipeline


@dataclass
class GridLedgerRuntimeData:
    """What a set-up entry holds."""

    client: GridLedgerClient
    sender: TransactionSender
    coordinator: GridLedgerCoordinator
    pipeline: ReadingPipeline


type GridLedgerConfigEntry = ConfigEntry[GridLedgerRuntimeData]


class GridLedgerCoordinator(DataUpdateCoordinator[MeterState]):
    """Reads the meter, its bill, balance and permit, and the wallet, at one block."""

    config_entry: GridLedgerConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: GridLedgerConfigEntry,
        client: GridLedgerClient,
        info: LedgerInfo,
        wallet: str,
    ) -> None:
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} meter {entry.data[CONF_METER_ID]}",
            update_interval=REFRESH_INTERVAL,
        )
        self.client = client
        self.info = info
        self.wallet = wallet
        self.meter_id: int = entry.data[CONF_METER_ID]
        self.unreachable_since: float | None = None

    async def _async_update_data(self) -> MeterState:
        try:
            state = await self.client.meter_state(self.meter_id, self.wallet)
        except CannotConnectError as err:
            self._note_unreachable()
            raise UpdateFailed(translation_domain=DOMAIN, translation_key="cannot_connect") from err
        except GridLedgerError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="update_failed",
                translation_placeholders={"error": str(err)},
            ) from err
        self.unreachable_since = None
        ir.async_delete_issue(self.hass, DOMAIN, f"{ISSUE_NODE_UNREACHABLE}_{self.meter_id}")
        return state

    def _note_unreachable(self) -> None:
        now = dt_util.utcnow().timestamp()
        if self.unreachable_since is None:
            self.unreachable_since = now
        if now - self.unreachable_since >= UNREACHABLE_REPAIR_AFTER.total_seconds():
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                f"{ISSUE_NODE_UNREACHABLE}_{self.meter_id}",
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=ISSUE_NODE_UNREACHABLE,
                translation_placeholders={"rpc_url": self.client.rpc_url},
            )

    async def async_on_events(self, events: list[LedgerEvent]) -> None:
        """The contract changed something of this meter: read it again."""
        LOGGER.debug("Contract events: %s", [event.name for event in events])
        await self.async_request_refresh()
