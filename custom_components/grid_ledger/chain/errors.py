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


class TransactionRejectedError(GridLedgerError):
    """The node refused every signed variant of a transaction and holds none: it can never be
    mined. `error` is the node's answer."""

    def __init__(self, error: GridLedgerError) -> None:
        super().__init__(str(error))
        self.error = error


class NothingDueError(GridLedgerError):
    """The meter owes nothing: there is no bill to pay."""

    def __init__(self, meter_id: int) -> None:
        super().__init__(f"meter {meter_id} owes nothing")
        self.meter_id = meter_id


class AmountAboveLimitError(GridLedgerError):
    """The amount due is above the amount the payment was approved for."""

    def __init__(self, meter_id: int, amount_due: int, limit: int) -> None:
        super().__init__(f"meter {meter_id} owes {amount_due}, above the approved {limit}")
        self.meter_id = meter_id
        self.amount_due = amount_due
        self.limit = limit


class InsufficientGasError(InsufficientFundsError):
    """The wallet's coin cannot pay the gas of the payment."""

    def __init__(self, address: str, balance: int, needed: int | None) -> None:
        super().__init__(f"{address} holds {balance} wei, too little for the gas ({needed})")
        self.balance = balance
        self.needed = needed


class InsufficientBalanceError(GridLedgerError):
    """The wallet holds less of the payment currency than the payment."""

    def __init__(self, address: str, currency: str, balance: int, needed: int) -> None:
        super().__init__(f"{address} holds {balance} {currency} base units, needs {needed}")
        self.currency = currency
        self.balance = balance
        self.needed = needed


class InsufficientTokenBalanceError(InsufficientBalanceError):
    """The wallet holds less of the ledger's ERC-20 than the payment."""


class PaymentRevertedError(RevertedError):
    """The payment was refused by the contract (or the token); `name` is the decoded error."""

    def __init__(
        self, name: str, args: dict[str, Any] | None = None, tx_hash: str | None = None
    ) -> None:
        super().__init__(name, args)
        self.tx_hash = tx_hash


class PaymentPendingError(TransactionTimeoutError):
    """The payment is broadcast and recorded but not mined yet; retrying is safe."""


class NothingToRedeemError(GridLedgerError):
    """No unpaid bill energy for tokens to pay, or no tokens to pay it with."""

    def __init__(self, meter_id: int) -> None:
        super().__init__(f"meter {meter_id} has nothing to redeem")
        self.meter_id = meter_id


class InsufficientTokensError(GridLedgerError):
    """The household holds fewer energy tokens (pending and minted, Wh) than asked for."""

    def __init__(self, wh: int, available: int) -> None:
        super().__init__(f"{wh} Wh of tokens asked for, {available} Wh held")
        self.wh = wh
        self.available = available


class NoEnergyTokenError(GridLedgerError):
    """The ledger this meter is on mints no energy tokens."""


class OverSpendingCapError(GridLedgerError):
    """A bid would take the period's spending (payments and standing bids) over the cap."""

    def __init__(self, payment: int, spent: int, cap: int) -> None:
        super().__init__(f"a bid of {payment} with {spent} spent is over the cap of {cap}")
        self.payment = payment
        self.spent = spent
        self.cap = cap


class NoMarketError(GridLedgerError):
    """The household has not chosen an energy market (the auction's address)."""


class NothingToWithdrawError(GridLedgerError):
    """The wallet has neither refunds nor proceeds in the market."""


class NothingOwedError(GridLedgerError):
    """The settlement owes the account nothing to withdraw."""

    def __init__(self, account: str) -> None:
        super().__init__(f"the settlement owes {account} nothing")
        self.account = account
