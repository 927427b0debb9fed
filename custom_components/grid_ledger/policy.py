"""Decisions on supply, warnings, auto-pay and gas, free of Home Assistant.

Everything here is a pure function of its arguments, so the integration's glue only gathers the
facts, calls one function and carries out the answer. Times are Unix epoch seconds and durations
are seconds, as the contract counts them; amounts are integers in base units (wei, token units).

The contract permits supply while `now < permit_until`: at `permit_until` exactly the supply ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

PERMIT_FOREVER: Final = 2**64 - 1
"""The contract's `permitUntil` when no expiry is scheduled (a protected household, say)."""

DEFAULT_WARNING_LEADS: Final = (24 * 3600, 3600)
"""Warn a day and an hour before a trip."""

DEFAULT_RESERVE_TRANSACTIONS: Final = 24
"""Transactions the wallet's coin must cover: six hours of readings at the default interval."""


class FailSafe(StrEnum):
    """What to do when the permit cannot be read from the chain (node unreachable)."""

    OPEN = "fail_open"
    """Never trip on an unknown permit: an outage of the node must not cut a household off."""

    CLOSED = "fail_closed"
    """Trust the last known permit until it ends, then trip; trip at once if none is known."""


class Action(StrEnum):
    """What the glue does with the relay."""

    KEEP_ON = "keep_on"
    """Supply is permitted; leave the relay as the household set it."""

    KEEP_OFF = "keep_off"
    """Supply is not permitted and the relay is already off (or its state is not known yet)."""

    TRIP = "trip"
    """Turn the relay off and announce the trip."""

    RETRIP = "retrip"
    """The relay was switched on after a trip while supply is still not permitted: turn it off
    again and announce it."""

    RESTORE = "restore"
    """Supply is permitted again and the relay is off because it was tripped: turn it on."""

    LEAVE_ALONE = "leave_alone"
    """The permit is unknown and the policy is fail-open: neither trip nor restore."""

    @property
    def relay_on(self) -> bool | None:
        """The relay state to command, or None when the relay is not to be touched."""
        if self in (Action.TRIP, Action.RETRIP):
            return False
        if self is Action.RESTORE:
            return True
        return None


class Reason(StrEnum):
    """Why an enforcement decision was taken; the values are used in event data."""

    PROTECTED = "protected"
    PERMIT_VALID = "permit_valid"
    PERMIT_EXPIRED = "permit_expired"
    SWITCHED_ON_WHILE_EXPIRED = "switched_on_while_expired"
    STATE_UNKNOWN_FAIL_OPEN = "state_unknown_fail_open"
    STATE_UNKNOWN_FAIL_CLOSED = "state_unknown_fail_closed"


@dataclass(frozen=True, slots=True)
class Decision:
    """An enforcement decision and why it was taken."""

    action: Action
    reason: Reason


def never_expires(permit_until: int) -> bool:
    """Whether a known `permit_until` means the supply has no scheduled end."""
    return permit_until >= PERMIT_FOREVER


def permit_expired(now: float, permit_until: int) -> bool:
    """Whether supply has ended at `now`, exactly as the contract decides it."""
    return not never_expires(permit_until) and now >= permit_until


def decide_enforcement(
    *,
    now: float,
    permit_until: int | None,
    state_known: bool,
    protected: bool,
    relay_on: bool | None,
    tripped_by_policy: bool,
    fail_safe: FailSafe = FailSafe.OPEN,
) -> Decision:
    """Decide what to do with the household's relay.

    Call it at `permit_until`, whenever contract state is refreshed and whenever the relay
    changes state. `permit_until` is the last value read from the contract (None if it was
    never read); `state_known` says whether it is current (the node answered). `relay_on` is
    None while the relay's state is unknown. `tripped_by_policy` says whether the relay is off
    because this policy turned it off: only such a relay is restored, so a household that
    switched its supply off itself is never switched on behind its back. The caller keeps that
    flag across restarts.
    """
    if protected:
        return _permitted(Reason.PROTECTED, relay_on=relay_on, tripped=tripped_by_policy)
    if not state_known or permit_until is None:
        if fail_safe is FailSafe.OPEN:
            return Decision(Action.LEAVE_ALONE, Reason.STATE_UNKNOWN_FAIL_OPEN)
        if permit_until is not None and not permit_expired(now, permit_until):
            return _permitted(Reason.PERMIT_VALID, relay_on=relay_on, tripped=tripped_by_policy)
        return _not_permitted(
            Reason.STATE_UNKNOWN_FAIL_CLOSED, relay_on=relay_on, tripped=tripped_by_policy
        )
    if permit_expired(now, permit_until):
        return _not_permitted(Reason.PERMIT_EXPIRED, relay_on=relay_on, tripped=tripped_by_policy)
    return _permitted(Reason.PERMIT_VALID, relay_on=relay_on, tripped=tripped_by_policy)


def _permitted(reason: Reason, *, relay_on: bool | None, tripped: bool) -> Decision:
    if tripped and relay_on is not True:
        return Decision(Action.RESTORE, reason)
    return Decision(Action.KEEP_ON, reason)


def _not_permitted(reason: Reason, *, relay_on: bool | None, tripped: bool) -> Decision:
    if tripped:
        if relay_on is True:
            return Decision(Action.RETRIP, Reason.SWITCHED_ON_WHILE_EXPIRED)
        return Decision(Action.KEEP_OFF, reason)
    if relay_on is False:
        return Decision(Action.KEEP_OFF, reason)
    return Decision(Action.TRIP, reason)


@dataclass(frozen=True, slots=True, order=True)
class TripWarning:
    """One warning before a trip: at `at`, `lead` seconds before `permit_until`.

    Equal warnings are the same warning, so a caller that remembers the ones it sent never
    sends one twice, however often the schedule is recomputed.
    """

    at: int
    lead: int
    permit_until: int


def warning_schedule(
    *,
    now: float,
    permit_until: int | None,
    protected: bool = False,
    leads: Iterable[int] = DEFAULT_WARNING_LEADS,
) -> tuple[TripWarning, ...]:
    """The warnings still to come before `permit_until`, earliest first.

    None when the permit is unknown, never expires or the household is protected; a lead whose
    instant is not after `now` is skipped (see `missed_warning`).
    """
    valid_leads = _validated(leads)
    if protected or permit_until is None or never_expires(permit_until):
        return ()
    warnings = (TripWarning(permit_until - lead, lead, permit_until) for lead in valid_leads)
    return tuple(sorted(w for w in warnings if w.at > now))


def missed_warning(
    *,
    now: float,
    permit_until: int | None,
    protected: bool = False,
    leads: Iterable[int] = DEFAULT_WARNING_LEADS,
) -> TripWarning | None:
    """The most urgent warning whose instant has passed while the permit still runs.

    A permit that ends sooner than a lead (a late bill, credit running out fast) would otherwise
    end without that warning: the caller sends this one at once, unless it already sent it.
    """
    valid_leads = _validated(leads)
    if protected or permit_until is None or never_expires(permit_until) or now >= permit_until:
        return None
    passed = [lead for lead in valid_leads if permit_until - lead <= now]
    if not passed:
        return None
    lead = min(passed)
    return TripWarning(permit_until - lead, lead, permit_until)


def trip_imminent(now: float, permit_until: int | None, lead: int) -> bool:
    """Whether the supply ends within `lead` seconds from `now` (and has not ended yet)."""
    if lead <= 0:
        raise ValueError(f"lead must be positive, got {lead}")
    if permit_until is None or never_expires(permit_until):
        return False
    return 0 < permit_until - now <= lead


def _validated(leads: Iterable[int]) -> frozenset[int]:
    unique = frozenset(leads)
    if any(lead <= 0 for lead in unique):
        raise ValueError(f"lead times must be positive, got {sorted(unique)}")
    return unique


class PaymentAction(StrEnum):
    """What to do about an amount due."""

    PAY = "pay"
    REQUEST_APPROVAL = "request_approval"
    NOTHING = "nothing"


class PaymentReason(StrEnum):
    """Why a payment decision was taken."""

    NOTHING_DUE = "nothing_due"
    AUTO_PAY_DISABLED = "auto_pay_disabled"
    WITHIN_CAP = "within_cap"
    OVER_CAP = "over_cap"


@dataclass(frozen=True, slots=True)
class PaymentDecision:
    """A payment decision for `amount` base units."""

    action: PaymentAction
    amount: int
    reason: PaymentReason


def decide_payment(
    *,
    amount_due: int,
    cap_per_period: int,
    paid_this_period: int,
    auto_pay: bool,
) -> PaymentDecision:
    """Decide whether to pay an amount due automatically or ask the household first.

    `paid_this_period` counts every automatic payment of the current cap period, including
    those sent and not yet confirmed. A bill is paid whole or not at all: one that does not fit
    in the rest of the cap is put to the household for approval.
    """
    for name, value in (
        ("amount_due", amount_due),
        ("cap_per_period", cap_per_period),
        ("paid_this_period", paid_this_period),
    ):
        if value < 0:
            raise ValueError(f"{name} must not be negative, got {value}")
    if amount_due == 0:
        return PaymentDecision(PaymentAction.NOTHING, 0, PaymentReason.NOTHING_DUE)
    if not auto_pay:
        return PaymentDecision(PaymentAction.NOTHING, 0, PaymentReason.AUTO_PAY_DISABLED)
    if paid_this_period + amount_due <= cap_per_period:
        return PaymentDecision(PaymentAction.PAY, amount_due, PaymentReason.WITHIN_CAP)
    return PaymentDecision(PaymentAction.REQUEST_APPROVAL, amount_due, PaymentReason.OVER_CAP)


def gas_reserve(*, gas_price: int, gas_per_transaction: int, transactions: int) -> int:
    """Coin (wei) the next `transactions` transactions cost at `gas_price` wei per gas."""
    if min(gas_price, gas_per_transaction, transactions) < 0:
        raise ValueError("gas price, gas per transaction and transactions must not be negative")
    return gas_price * gas_per_transaction * transactions


def gas_low(
    *,
    balance: int,
    gas_price: int,
    gas_per_transaction: int,
    transactions: int = DEFAULT_RESERVE_TRANSACTIONS,
) -> bool:
    """Whether the wallet's coin (wei) cannot pay for the next `transactions` transactions."""
    reserve = gas_reserve(
        gas_price=gas_price, gas_per_transaction=gas_per_transaction, transactions=transactions
    )
    return balance < reserve
