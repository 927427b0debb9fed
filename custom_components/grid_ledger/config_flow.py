"""Config flow: household or feeder meter → chain → wallet → meter (→ serial meter), or →
chain → feeder meter (→ serial meter); options, reauth and reconfigure.

A feeder meter's key signs its readings and pays their gas: the operator provisions one secret
per transformer or plant meter (and rotates it with `updateFeeder`). A household keeps two keys
because its wallet pays bills; a feeder's pays only gas, so a second key would add a secret to
provision and fund without keeping any money apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import ConfigFlow, ConfigFlowResult, OptionsFlow
from homeassistant.const import CONF_PASSWORD, CONF_URL, Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import selector
from homeassistant.helpers.aiohttp_client import async_get_clientsession
import voluptuous as vol

from .chain import (
    CannotConnectError,
    GridLedgerClient,
    GridLedgerError,
    InvalidKeyError,
    LedgerInfo,
    NotGridLedgerError,
    RevertedError,
    UnsupportedVersionError,
    WrongChainError,
    address_of,
    decrypt_keystore,
    generate_private_key,
)
from .const import (
    CONF_AUCTION,
    CONF_AUTO_BID_CEILING,
    CONF_AUTO_PAY,
    CONF_AUTO_SELL_FLOOR,
    CONF_BAUDRATE,
    CONF_CHAIN_ID,
    CONF_CONTRACT,
    CONF_ENERGY_ENTITY,
    CONF_ENERGY_SOURCE,
    CONF_EXPORT_ENTITY,
    CONF_FAIL_SAFE,
    CONF_FEEDER_ID,
    CONF_FEEDER_KEY,
    CONF_KEYSTORE,
    CONF_METER_ID,
    CONF_METER_KEY,
    CONF_READING_INTERVAL,
    CONF_REDEEM_TOKENS,
    CONF_RELAY_ENTITY,
    CONF_SERIAL_PORT,
    CONF_SETTLEMENT,
    CONF_SPENDING_CAP,
    CONF_WALLET_KEY,
    CONF_WALLET_TYPE,
    CONF_WARNING_LEADS,
    DEFAULT_BAUDRATE,
    DEFAULT_FAIL_SAFE,
    DEFAULT_READING_INTERVAL,
    DEFAULT_SPENDING_CAP,
    DEFAULT_WARNING_LEADS,
    DOMAIN,
    LOGGER,
    SERIAL_READ_TIMEOUT,
    SOURCE_ENTITY,
    SOURCE_SERIAL,
    WALLET_GENERATED,
    WALLET_KEY,
    WALLET_KEYSTORE,
)
from .coordinator import is_feeder
from .meters.iec62056 import (
    BAUDRATES,
    FrameError,
    MeterTimeoutError,
    RegisterMissingError,
    SerialPortError,
    UnitError,
    read_meter,
)
from .policy import FailSafe

SECRET = selector.TextSelector(selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD))
URL = selector.TextSelector(selector.TextSelectorConfig(type=selector.TextSelectorType.URL))
CHAIN_SCHEMA = vol.Schema({vol.Required(CONF_URL): URL, vol.Required(CONF_CONTRACT): str})
KEY_SCHEMA = vol.Schema({vol.Required(CONF_WALLET_KEY): SECRET})
KEYSTORE_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_KEYSTORE): selector.TextSelector(
            selector.TextSelectorConfig(multiline=True)
        ),
        vol.Required(CONF_PASSWORD): SECRET,
    }
)
ENERGY_SENSOR = selector.EntitySelector(
    selector.EntitySelectorConfig(domain=Platform.SENSOR, device_class=SensorDeviceClass.ENERGY)
)
LEDGER_ID = selector.NumberSelector(  # a meter's or a feeder's id: a uint32 above 0
    selector.NumberSelectorConfig(
        min=1, max=2**32 - 1, step=1, mode=selector.NumberSelectorMode.BOX
    )
)
ENERGY_SOURCE = selector.SelectSelector(
    selector.SelectSelectorConfig(
        options=[SOURCE_ENTITY, SOURCE_SERIAL],
        translation_key=CONF_ENERGY_SOURCE,
        mode=selector.SelectSelectorMode.LIST,
    )
)
METER_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_METER_ID): LEDGER_ID,
        vol.Required(CONF_METER_KEY): SECRET,
        vol.Required(CONF_ENERGY_SOURCE, default=SOURCE_ENTITY): ENERGY_SOURCE,
        vol.Optional(CONF_ENERGY_ENTITY): ENERGY_SENSOR,
        vol.Optional(CONF_EXPORT_ENTITY): ENERGY_SENSOR,
        vol.Required(CONF_RELAY_ENTITY): selector.EntitySelector(
            selector.EntitySelectorConfig(domain=Platform.SWITCH)
        ),
    }
)
FEEDER_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_FEEDER_ID): LEDGER_ID,
        vol.Required(CONF_FEEDER_KEY): SECRET,
        vol.Required(CONF_ENERGY_SOURCE, default=SOURCE_ENTITY): ENERGY_SOURCE,
        vol.Optional(CONF_ENERGY_ENTITY): ENERGY_SENSOR,
    }
)
INTERVAL_SELECTOR = selector.NumberSelector(
    selector.NumberSelectorConfig(min=1, max=1440, step=1, unit_of_measurement="min")
)
SERIAL_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_SERIAL_PORT): selector.TextSelector(),
        vol.Required(CONF_BAUDRATE, default=str(DEFAULT_BAUDRATE)): selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=[str(rate) for rate in sorted(BAUDRATES.values())],
                mode=selector.SelectSelectorMode.DROPDOWN,
            )
        ),
    }
)

FAIL_SAFE_SELECTOR = selector.SelectSelector(
    selector.SelectSelectorConfig(
        options=[policy.value for policy in FailSafe],
        translation_key=CONF_FAIL_SAFE,
        mode=selector.SelectSelectorMode.LIST,
    )
)
WARNING_LEAD_MINUTES = (10080, 2880, 1440, 720, 360, 180, 60, 30, 15, 5)
WARNING_LEADS_SELECTOR = selector.SelectSelector(
    selector.SelectSelectorConfig(
        options=[str(minutes) for minutes in WARNING_LEAD_MINUTES],
        multiple=True,
        translation_key=CONF_WARNING_LEADS,
    )
)


async def async_check_chain(
    hass: HomeAssistant, url: str, contract: str, chain_id: int | None = None
) -> tuple[LedgerInfo | None, dict[str, str]]:
    """Connect once; errors are keyed by the field to correct."""
    try:
        client = GridLedgerClient(
            url, contract, session=async_get_clientsession(hass), expected_chain_id=chain_id
        )
    except NotGridLedgerError:
        return None, {CONF_CONTRACT: "invalid_address"}
    try:
        return await client.connect(), {}
    except CannotConnectError:
        return None, {CONF_URL: "cannot_connect"}
    except WrongChainError:
        return None, {CONF_URL: "wrong_chain"}
    except UnsupportedVersionError:
        return None, {CONF_CONTRACT: "unsupported_version"}
    except NotGridLedgerError:
        return None, {CONF_CONTRACT: "not_grid_ledger"}
    except GridLedgerError:
        LOGGER.exception("Unexpected error checking %s", contract)
        return None, {"base": "unknown"}
    finally:
        await client.close()


async def async_check_serial_meter(port: str, baudrate: int) -> dict[str, str]:
    """Read the meter once; errors are keyed by the field to correct."""
    try:
        await read_meter(port, baudrate, SERIAL_READ_TIMEOUT)
    except SerialPortError:
        return {CONF_SERIAL_PORT: "cannot_open_port"}
    except MeterTimeoutError:
        return {CONF_SERIAL_PORT: "meter_timeout"}
    except FrameError:
        return {CONF_BAUDRATE: "bad_frame"}
    except (UnitError, RegisterMissingError):
        return {"base": "no_import_register"}
    return {}


def _source_errors(user_input: dict[str, Any]) -> dict[str, str]:
    """A register read from a sensor needs the sensor."""
    if user_input[CONF_ENERGY_SOURCE] != SOURCE_SERIAL and CONF_ENERGY_ENTITY not in user_input:
        return {CONF_ENERGY_ENTITY: "energy_entity_required"}
    return {}


class GridLedgerConfigFlow(ConfigFlow, domain=DOMAIN):
    """Adds one meter of one Grid Ledger contract: a household's, or a feeder's."""

    VERSION = 1

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self._info: LedgerInfo | None = None
        self._wallet_key = ""
        self._feeder = False

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: Any) -> GridLedgerOptionsFlow:
        return GridLedgerOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        return self.async_show_menu(step_id="user", menu_options=["household", "feeder"])

    async def async_step_household(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        self._feeder = False
        return await self.async_step_chain()

    async def async_step_feeder(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        self._feeder = True
        return await self.async_step_chain()

    async def async_step_chain(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            self._info, errors = await async_check_chain(
                self.hass, user_input[CONF_URL], user_input[CONF_CONTRACT]
            )
            if self._info is not None:
                self._data = {
                    CONF_URL: user_input[CONF_URL],
                    CONF_CONTRACT: self._info.address,
                    CONF_CHAIN_ID: self._info.chain_id,
                }
                if self._feeder:
                    return await self.async_step_feeder_meter()
                return await self.async_step_wallet()
        return self.async_show_form(
            step_id="chain",
            data_schema=self.add_suggested_values_to_schema(CHAIN_SCHEMA, user_input),
            errors=errors,
        )

    @property
    def _ledger_placeholders(self) -> dict[str, str]:
        assert self._info is not None
        return {"chain_id": str(self._info.chain_id), "version": self._info.version}

    async def async_step_wallet(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        return self.async_show_menu(
            step_id="wallet",
            menu_options=["wallet_key", "wallet_keystore", "wallet_generate"],
            description_placeholders=self._ledger_placeholders,
        )

    async def async_step_wallet_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                address_of(user_input[CONF_WALLET_KEY])
            except InvalidKeyError:
                errors[CONF_WALLET_KEY] = "invalid_key"
            else:
                self._wallet_key = user_input[CONF_WALLET_KEY]
                self._data |= {CONF_WALLET_TYPE: WALLET_KEY, CONF_WALLET_KEY: self._wallet_key}
                return await self.async_step_meter()
        return self.async_show_form(step_id="wallet_key", data_schema=KEY_SCHEMA, errors=errors)

    async def async_step_wallet_keystore(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                self._wallet_key = await self.hass.async_add_executor_job(
                    decrypt_keystore, user_input[CONF_KEYSTORE], user_input[CONF_PASSWORD]
                )
            except InvalidKeyError:
                errors[CONF_PASSWORD] = "invalid_keystore"
            else:
                self._data |= {
                    CONF_WALLET_TYPE: WALLET_KEYSTORE,
                    CONF_KEYSTORE: user_input[CONF_KEYSTORE],
                    CONF_PASSWORD: user_input[CONF_PASSWORD],
                }
                return await self.async_step_meter()
        return self.async_show_form(
            step_id="wallet_keystore", data_schema=KEYSTORE_SCHEMA, errors=errors
        )

    async def async_step_wallet_generate(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        if not self._wallet_key:
            self._wallet_key = generate_private_key()
        if user_input is not None:
            self._data |= {CONF_WALLET_TYPE: WALLET_GENERATED, CONF_WALLET_KEY: self._wallet_key}
            return await self.async_step_meter()
        return self.async_show_form(
            step_id="wallet_generate",
            description_placeholders={"address": address_of(self._wallet_key)},
        )

    async def async_step_meter(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        wallet = address_of(self._wallet_key)
        if user_input is not None:
            meter_id = int(user_input[CONF_METER_ID])
            errors = _source_errors(user_input) or await self._async_check_meter(
                meter_id, user_input[CONF_METER_KEY], wallet
            )
            if not errors:
                await self.async_set_unique_id(
                    f"{self._data[CONF_CHAIN_ID]}-{self._data[CONF_CONTRACT].lower()}-{meter_id}"
                )
                self._abort_if_unique_id_configured()
                self._data |= {
                    CONF_METER_ID: meter_id,
                    CONF_METER_KEY: user_input[CONF_METER_KEY],
                    CONF_RELAY_ENTITY: user_input[CONF_RELAY_ENTITY],
                }
                if CONF_EXPORT_ENTITY in user_input:  # else a serial meter's readout's 2.8.0
                    self._data[CONF_EXPORT_ENTITY] = user_input[CONF_EXPORT_ENTITY]
                return await self._async_source_step(user_input)
        return self.async_show_form(
            step_id="meter",
            data_schema=self.add_suggested_values_to_schema(
                METER_SCHEMA,
                {k: v for k, v in (user_input or {}).items() if k != CONF_METER_KEY},
            ),
            errors=errors,
            description_placeholders={"address": wallet},
        )

    async def async_step_meter_serial(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            port, baudrate = user_input[CONF_SERIAL_PORT], int(user_input[CONF_BAUDRATE])
            errors = await async_check_serial_meter(port, baudrate)
            if not errors:
                return self._async_create_meter_entry(
                    {CONF_SERIAL_PORT: port, CONF_BAUDRATE: baudrate}
                )
        return self.async_show_form(
            step_id="meter_serial",
            data_schema=self.add_suggested_values_to_schema(SERIAL_SCHEMA, user_input),
            errors=errors,
        )

    async def async_step_feeder_meter(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            feeder_id = int(user_input[CONF_FEEDER_ID])
            errors = _source_errors(user_input) or await self._async_check_feeder(
                feeder_id, user_input[CONF_FEEDER_KEY]
            )
            if not errors:
                await self.async_set_unique_id(
                    f"{self._data[CONF_CHAIN_ID]}-{self._data[CONF_CONTRACT].lower()}"
                    f"-feeder-{feeder_id}"
                )
                self._abort_if_unique_id_configured()
                self._data |= {
                    CONF_FEEDER_ID: feeder_id,
                    CONF_FEEDER_KEY: user_input[CONF_FEEDER_KEY],
                }
                return await self._async_source_step(user_input)
        return self.async_show_form(
            step_id="feeder_meter",
            data_schema=self.add_suggested_values_to_schema(
                FEEDER_SCHEMA,
                {k: v for k, v in (user_input or {}).items() if k != CONF_FEEDER_KEY},
            ),
            errors=errors,
            description_placeholders=self._ledger_placeholders,
        )

    async def _async_source_step(self, user_input: dict[str, Any]) -> ConfigFlowResult:
        """The entry with its energy sensor, or the serial meter's step first."""
        if user_input[CONF_ENERGY_SOURCE] == SOURCE_SERIAL:
            return await self.async_step_meter_serial()
        return self._async_create_meter_entry({CONF_ENERGY_ENTITY: user_input[CONF_ENERGY_ENTITY]})

    def _async_create_meter_entry(self, source: dict[str, Any]) -> ConfigFlowResult:
        """The entry of the meter chosen, with the keys of its one energy source."""
        if self._feeder:
            title = f"Feeder {self._data[CONF_FEEDER_ID]}"
        else:
            title = f"Meter {self._data[CONF_METER_ID]}"
        return self.async_create_entry(
            title=title,
            data=self._data | source,
            options={CONF_READING_INTERVAL: DEFAULT_READING_INTERVAL},
        )

    async def _async_read[T](
        self, read: Callable[[GridLedgerClient], Awaitable[T]], unknown: dict[str, str]
    ) -> tuple[T | None, dict[str, str]]:
        """One read of the contract chosen; a revert means the id is not registered (the
        `unknown` errors)."""
        client = GridLedgerClient(
            self._data[CONF_URL],
            self._data[CONF_CONTRACT],
            session=async_get_clientsession(self.hass),
        )
        try:
            return await read(client), {}
        except RevertedError:
            return None, unknown
        except CannotConnectError:
            return None, {"base": "cannot_connect"}
        finally:
            await client.close()

    async def _async_check_meter(
        self, meter_id: int, meter_key: str, wallet: str
    ) -> dict[str, str]:
        try:
            signer = address_of(meter_key)
        except InvalidKeyError:
            return {CONF_METER_KEY: "invalid_key"}
        meter, errors = await self._async_read(
            lambda client: client.meter(meter_id), {CONF_METER_ID: "unknown_meter"}
        )
        if meter is None:
            return errors
        if meter.payer.lower() != wallet.lower():
            return {CONF_METER_ID: "meter_not_bound"}
        if meter.signer.lower() != signer.lower():
            return {CONF_METER_KEY: "meter_key_mismatch"}
        return {}

    async def _async_check_feeder(self, feeder_id: int, feeder_key: str) -> dict[str, str]:
        try:
            signer = address_of(feeder_key)
        except InvalidKeyError:
            return {CONF_FEEDER_KEY: "invalid_key"}
        feeder, errors = await self._async_read(
            lambda client: client.feeder(feeder_id), {CONF_FEEDER_ID: "unknown_feeder"}
        )
        if feeder is None:
            return errors
        if feeder.signer.lower() != signer.lower():
            return {CONF_FEEDER_KEY: "feeder_key_mismatch"}
        return {}

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                await self.hass.async_add_executor_job(
                    decrypt_keystore, entry.data[CONF_KEYSTORE], user_input[CONF_PASSWORD]
                )
            except InvalidKeyError:
                errors[CONF_PASSWORD] = "invalid_keystore"
            else:
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_PASSWORD: user_input[CONF_PASSWORD]}
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_PASSWORD): SECRET}),
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            info, errors = await async_check_chain(
                self.hass,
                user_input[CONF_URL],
                entry.data[CONF_CONTRACT],
                entry.data[CONF_CHAIN_ID],
            )
            if info is not None:
                data = {**entry.data, CONF_URL: user_input[CONF_URL]}
                data.pop(CONF_EXPORT_ENTITY, None)  # cleared, or picked again below
                if CONF_EXPORT_ENTITY in user_input:
                    data[CONF_EXPORT_ENTITY] = user_input[CONF_EXPORT_ENTITY]
                return self.async_update_reload_and_abort(entry, data=data)
        schema = vol.Schema({vol.Required(CONF_URL): URL})
        if not is_feeder(entry):  # a feeder's readings carry one register
            schema = schema.extend({vol.Optional(CONF_EXPORT_ENTITY): ENERGY_SENSOR})
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or entry.data),
            errors=errors,
        )


PRICE_SELECTOR = selector.NumberSelector(  # per kWh, in the payment currency
    selector.NumberSelectorConfig(min=0, step="any", mode=selector.NumberSelectorMode.BOX)
)


class GridLedgerOptionsFlow(OptionsFlow):
    """Reading interval, payments and the permit's fail-safe and warnings; a feeder's reading
    interval."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        if user_input is not None:
            if CONF_WARNING_LEADS in user_input:
                leads = {int(minutes) for minutes in user_input[CONF_WARNING_LEADS]}
                user_input[CONF_WARNING_LEADS] = sorted(leads, reverse=True)
            return self.async_create_entry(
                data={**user_input, CONF_READING_INTERVAL: int(user_input[CONF_READING_INTERVAL])}
            )
        if is_feeder(self.config_entry):  # neither bills nor a relay: its readings, its share
            return self.async_show_form(
                step_id="init",
                data_schema=self.add_suggested_values_to_schema(
                    vol.Schema(
                        {
                            vol.Required(CONF_READING_INTERVAL): INTERVAL_SELECTOR,
                            vol.Optional(CONF_SETTLEMENT): selector.TextSelector(),
                        }
                    ),
                    {
                        CONF_READING_INTERVAL: DEFAULT_READING_INTERVAL,
                        CONF_SETTLEMENT: "",
                        **self.config_entry.options,
                    },
                ),
            )
        schema = vol.Schema(
            {
                vol.Required(CONF_READING_INTERVAL): INTERVAL_SELECTOR,
                vol.Optional(CONF_FAIL_SAFE): FAIL_SAFE_SELECTOR,
                vol.Optional(CONF_WARNING_LEADS): WARNING_LEADS_SELECTOR,
                vol.Optional(CONF_AUTO_PAY): selector.BooleanSelector(),
                vol.Optional(CONF_REDEEM_TOKENS): selector.BooleanSelector(),
                vol.Optional(CONF_SPENDING_CAP): selector.NumberSelector(
                    selector.NumberSelectorConfig(
                        min=0, step="any", mode=selector.NumberSelectorMode.BOX
                    )
                ),
                vol.Optional(CONF_AUCTION): selector.TextSelector(),
                vol.Optional(CONF_AUTO_SELL_FLOOR): PRICE_SELECTOR,
                vol.Optional(CONF_AUTO_BID_CEILING): PRICE_SELECTOR,
            }
        )
        suggested = {
            CONF_READING_INTERVAL: DEFAULT_READING_INTERVAL,
            CONF_FAIL_SAFE: DEFAULT_FAIL_SAFE,
            CONF_AUTO_PAY: False,
            CONF_REDEEM_TOKENS: False,
            CONF_SPENDING_CAP: DEFAULT_SPENDING_CAP,
            CONF_AUCTION: "",
            CONF_AUTO_SELL_FLOOR: 0.0,
            CONF_AUTO_BID_CEILING: 0.0,
            CONF_WARNING_LEADS: [str(minutes) for minutes in DEFAULT_WARNING_LEADS],
            **self.config_entry.options,
        }
        if CONF_WARNING_LEADS in self.config_entry.options:
            suggested[CONF_WARNING_LEADS] = [
                str(minutes) for minutes in self.config_entry.options[CONF_WARNING_LEADS]
            ]
        return self.async_show_form(
            step_id="init", data_schema=self.add_suggested_values_to_schema(schema, suggested)
        )
