"""Constants of the Grid Ledger integration."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

DOMAIN: Final = "grid_ledger"
LOGGER = logging.getLogger(__package__)

CONF_CONTRACT: Final = "contract_address"
CONF_CHAIN_ID: Final = "chain_id"
CONF_WALLET_TYPE: Final = "wallet_type"
CONF_WALLET_KEY: Final = "wallet_key"
CONF_KEYSTORE: Final = "keystore"
CONF_METER_ID: Final = "meter_id"
CONF_METER_KEY: Final = "meter_key"
CONF_ENERGY_ENTITY: Final = "energy_entity"
CONF_RELAY_ENTITY: Final = "relay_entity"
CONF_EXPORT_ENTITY: Final = "export_entity"  # optional: the meter's export register (OBIS 2.8.0)
CONF_ENERGY_SOURCE: Final = "energy_source"  # a flow choice only: entries hold one source's keys
CONF_SERIAL_PORT: Final = "serial_port"
CONF_BAUDRATE: Final = "baudrate"
CONF_READING_INTERVAL: Final = "reading_interval"
CONF_AUTO_PAY: Final = "auto_pay"
CONF_SPENDING_CAP: Final = "spending_cap"
CONF_FAIL_SAFE: Final = "fail_safe"
CONF_WARNING_LEADS: Final = "warning_leads"  # minutes before a trip
CONF_REDEEM_TOKENS: Final = "redeem_tokens"  # the meter's energy tokens pay its bills first
CONF_WALLET_BACKED_UP: Final = "wallet_backed_up"  # a generated key's keystore was shown
CONF_FEEDER_ID: Final = "feeder_id"  # present in a feeder meter's entry only
CONF_FEEDER_KEY: Final = "feeder_key"  # the feeder's registered signer; it pays the gas too

WALLET_KEY: Final = "key"
WALLET_KEYSTORE: Final = "keystore"
WALLET_GENERATED: Final = "generated"

SOURCE_ENTITY: Final = "entity"
SOURCE_SERIAL: Final = "serial"
DEFAULT_BAUDRATE: Final = 9600
SERIAL_READ_TIMEOUT: Final = 15.0  # seconds for a whole IEC 62056-21 readout

DEFAULT_READING_INTERVAL: Final = 15  # minutes
REFRESH_INTERVAL: Final = timedelta(minutes=5)
UNREACHABLE_REPAIR_AFTER: Final = timedelta(minutes=30)
RECEIPT_TIMEOUT: Final = 120.0  # seconds a transaction is awaited before it is reported pending
NATIVE_COIN_UNIT: Final = "ETH"
DEFAULT_SPENDING_CAP: Final = 0.0  # per billing period, in the payment currency's units

EVENT_BILL_ISSUED: Final = "grid_ledger_bill_issued"
EVENT_PAYMENT_APPROVAL_REQUESTED: Final = "grid_ledger_payment_approval_requested"
EVENT_PAYMENT_CONFIRMED: Final = "grid_ledger_payment_confirmed"
EVENT_LOW_CREDIT: Final = "grid_ledger_low_credit"
EVENT_TOKENS_MINTED: Final = "grid_ledger_tokens_minted"
EVENT_TOKENS_REDEEMED: Final = "grid_ledger_tokens_redeemed"
EVENT_LOSS_DETECTED: Final = "grid_ledger_loss_detected"

ISSUE_NODE_UNREACHABLE: Final = "node_unreachable"
ISSUE_WALLET_NO_GAS: Final = "wallet_no_gas"
ISSUE_WALLET_GAS_LOW: Final = "wallet_gas_low"
ISSUE_ENTITY_MISSING: Final = "entity_missing"
ISSUE_REGISTER_BACKWARDS: Final = "register_backwards"
ISSUE_REGISTER_IMPLAUSIBLE: Final = "register_implausible"
ISSUE_REGISTER_UNAVAILABLE: Final = "register_unavailable"
ISSUE_REGISTER_UNIT: Final = "register_unit"
ISSUE_REGISTER_OUT_OF_RANGE: Final = "register_out_of_range"
ISSUE_EXPORT_REGISTER_BACKWARDS: Final = "export_register_backwards"
ISSUE_EXPORT_REGISTER_IMPLAUSIBLE: Final = "export_register_implausible"
ISSUE_EXPORT_SOURCE_MISSING: Final = "export_source_missing"
ISSUE_EXPORT_NOT_ENABLED: Final = "export_not_enabled"
ISSUE_LOSS_DETECTED: Final = "loss_detected"
REGISTER_REPAIR_AFTER: Final = timedelta(hours=1)  # an unusable register this long is a repair
ISSUE_WALLET_BACKUP: Final = "wallet_backup"
MIN_BACKUP_PASSWORD: Final = 8  # characters of the password a key backup is encrypted with

DEFAULT_FAIL_SAFE: Final = "fail_open"
DEFAULT_WARNING_LEADS: Final = (24 * 60, 60)  # minutes: a day and an hour

EVENT_TRIP_WARNING: Final = "grid_ledger_trip_warning"
EVENT_TRIPPED: Final = "grid_ledger_tripped"
EVENT_RESTORED: Final = "grid_ledger_restored"

SECRET_KEYS: Final = {CONF_WALLET_KEY, CONF_METER_KEY, CONF_FEEDER_KEY, CONF_KEYSTORE, "password"}

CONF_AUCTION: Final = "auction_address"  # the energy market's contract (`EnergyAuction`)
EVENT_OUTBID: Final = "grid_ledger_outbid"
EVENT_LOT_WON: Final = "grid_ledger_lot_won"
EVENT_LOT_SOLD: Final = "grid_ledger_lot_sold"
EVENT_LOT_EXPIRED: Final = "grid_ledger_lot_expired"
CONF_AUTO_SELL_FLOOR: Final = "auto_sell_floor"  # per kWh; 0: no automatic offers
CONF_AUTO_BID_CEILING: Final = "auto_bid_ceiling"  # per kWh; 0: no automatic bids
AUTO_OFFER_DURATION: Final = 7_200  # seconds an automatic offer takes bids
CONF_SETTLEMENT: Final = "settlement_address"  # a feeder's settlement contract (`Settlement`)
