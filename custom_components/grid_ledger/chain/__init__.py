"""Grid Ledger client library: contract reads, EIP-712 readings, transactions and events.

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
    TransactionTimeoutError,
    UnsupportedVersionError,
    WrongChainError,
)
from .events import EventFollower
from .models import (
    Bill,
    LedgerEvent,
    LedgerInfo,
    Meter,
    MeterState,
    Mode,
    Reading,
    Receipt,
    SignedReading,
)
from .sender import TransactionSender
from .signing import (
    ReadingSigner,
    address_of,
    decrypt_keystore,
    generate_private_key,
    parse_private_key,
)

__all__ = [
    "Bill",
    "CannotConnectError",
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
    "Reading",
    "ReadingSigner",
    "Receipt",
    "RevertedError",
    "SignedReading",
    "TransactionSender",
    "TransactionTimeoutError",
    "UnsupportedVersionError",
    "WrongChainError",
    "address_of",
    "decode_revert",
    "decrypt_keystore",
    "generate_private_key",
    "is_websocket_url",
    "parse_private_key",
]
