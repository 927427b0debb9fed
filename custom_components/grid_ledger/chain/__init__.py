"""Grid Ledger client library: contract reads, EIP-712 readings, one wallet engine, events.

Nothing here depends on Home Assistant.
"""

from .client import GridLedgerClient, decode_revert, is_websocket_url
from .errors import (
    CannotConnectError,
    GridLedgerError,
    InsufficientFundsError,
    InvalidKeyError,
    NotGridLedgerError,
    RevertedError,
    TransactionRejectedError,
    TransactionTimeoutError,
    UnsupportedVersionError,
    WrongChainError,
)
from .events import EventFollower
from .models import (
    Bill,
    ContractCall,
    LedgerEvent,
    LedgerInfo,
    Meter,
    MeterState,
    Mode,
    ProducerInfo,
    ProducerState,
    Reading,
    Receipt,
    SignedReading,
    SignedTx,
    Tariff,
    TariffBand,
    WalletTx,
)
from .signing import (
    ReadingSigner,
    address_of,
    decrypt_keystore,
    generate_private_key,
    parse_private_key,
)
from .wallet import Settled, Wallet

__all__ = [
    "Bill",
    "CannotConnectError",
    "ContractCall",
    "EventFollower",
    "GridLedgerClient",
    "GridLedgerError",
    "InsufficientFundsError",
    "InvalidKeyError",
    "LedgerEvent",
    "LedgerInfo",
    "Meter",
    "MeterState",
    "Mode",
    "NotGridLedgerError",
    "ProducerInfo",
    "ProducerState",
    "Reading",
    "ReadingSigner",
    "Receipt",
    "RevertedError",
    "Settled",
    "SignedReading",
    "SignedTx",
    "Tariff",
    "TariffBand",
    "TransactionRejectedError",
    "TransactionTimeoutError",
    "UnsupportedVersionError",
    "Wallet",
    "WalletTx",
    "WrongChainError",
    "address_of",
    "decode_revert",
    "decrypt_keystore",
    "generate_private_key",
    "is_websocket_url",
    "parse_private_key",
]
