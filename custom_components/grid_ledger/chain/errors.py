"""Errors of the Grid Ledger client: one base class, one subclass per thing a caller can act on."""

from __future__ import annotations

from typing import Any


class GridLedgerError(Exception):
    """Base of every error the client raises."""


class CannotConnectError(GridLedgerError):
    """The node did not answer (refused, timed out, or returned garbage)."""


class WrongChainError(GridLedgerError):
    """The node serves another chain than the one the contract was configured on."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"node serves chain {actual}, expected {expected}")
        self.expected = expected
        self.actual = actual


class NotGridLedgerError(GridLedgerError):
    """The address holds no Grid Ledger contract."""


class UnsupportedVersionError(NotGridLedgerError):
    """The address holds a Grid Ledger of a version this client does not speak."""

    def __init__(self, version: str) -> None:
        super().__init__(f"unsupported Grid Ledger version {version}")
        self.version = version


class InvalidKeyError(GridLedgerError):
    """A private key or keystore could not be used (malformed, or wrong password)."""


class InsufficientFundsError(GridLedgerError):
    """The sending wallet cannot pay the gas of a transaction."""


class TransactionTimeoutError(GridLedgerError):
    """A sent transaction was not mined in time; it may still be mined later."""

    def __init__(self, tx_hash: str) -> None:
        super().__init__(f"transaction {tx_hash} not mined in time")
        self.tx_hash = tx_hash


class RevertedError(GridLedgerError):
    """The contract reverted; `name` is its custom error (or `Error`/`Panic`), `args` its fields."""

    def __init__(self, name: str, args: dict[str, Any] | None = None) -> None:
        self.name = name
        self.args_by_name: dict[str, Any] = args or {}
        fields = ", ".join(f"{key}={value}" for key, value in self.args_by_name.items())
        super().__init__(f"{name}({fields})")
