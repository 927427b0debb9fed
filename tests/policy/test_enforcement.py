"""Trip and restore decisions: a table of the cases that matter and properties over all inputs."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.grid_ledger.policy import (
    PERMIT_FOREVER,
    Action,
    Decision,
    FailSafe,
    Reason,
    decide_enforcement,
    permit_expired,
)

NOW = 1_800_000_000
HOUR = 3600

# Timing on a busy CI machine is not the property under test.
untimed = settings(deadline=None)


def _decide(
    *,
    permit_until: int | None = NOW + HOUR,
    state_known: bool = True,
    protected: bool = False,
    relay_on: bool | None = True,
    tripped_by_policy: bool = False,
    fail_safe: FailSafe = FailSafe.OPEN,
    now: float = NOW,
) -> Decision:
    return decide_enforcement(
        now=now,
        permit_until=permit_until,
        state_known=state_known,
        protected=protected,
        relay_on=relay_on,
        tripped_by_policy=tripped_by_policy,
        fail_safe=fail_safe,
    )


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        # Permit running: leave the household's relay alone, restore only what was tripped.
        ({}, (Action.KEEP_ON, Reason.PERMIT_VALID)),
        ({"relay_on": False}, (Action.KEEP_ON, Reason.PERMIT_VALID)),
        ({"relay_on": False, "tripped_by_policy": True}, (Action.RESTORE, Reason.PERMIT_VALID)),
        ({"relay_on": None, "tripped_by_policy": True}, (Action.RESTORE, Reason.PERMIT_VALID)),
        ({"permit_until": PERMIT_FOREVER}, (Action.KEEP_ON, Reason.PERMIT_VALID)),
        # The contract permits supply while now < permit_until: the boundary second trips.
        ({"permit_until": NOW + 1}, (Action.KEEP_ON, Reason.PERMIT_VALID)),
        ({"permit_until": NOW}, (Action.TRIP, Reason.PERMIT_EXPIRED)),
        ({"permit_until": NOW, "now": NOW - 0.001}, (Action.KEEP_ON, Reason.PERMIT_VALID)),
        # Expired.
        ({"permit_until": NOW - 1, "relay_on": None}, (Action.TRIP, Reason.PERMIT_EXPIRED)),
        ({"permit_until": NOW - 1, "relay_on": False}, (Action.KEEP_OFF, Reason.PERMIT_EXPIRED)),
        (
            {"permit_until": NOW - 1, "relay_on": False, "tripped_by_policy": True},
            (Action.KEEP_OFF, Reason.PERMIT_EXPIRED),
        ),
        (
            {"permit_until": NOW - 1, "relay_on": None, "tripped_by_policy": True},
            (Action.KEEP_OFF, Reason.PERMIT_EXPIRED),
        ),
        (
            {"permit_until": NOW - 1, "relay_on": True, "tripped_by_policy": True},
            (Action.RETRIP, Reason.SWITCHED_ON_WHILE_EXPIRED),
        ),
        # Protected households are never tripped, and a relay tripped before protection is restored.
        ({"permit_until": NOW - 1, "protected": True}, (Action.KEEP_ON, Reason.PROTECTED)),
        (
            {
                "permit_until": NOW - 1,
                "protected": True,
                "fail_safe": FailSafe.CLOSED,
                "state_known": False,
            },
            (Action.KEEP_ON, Reason.PROTECTED),
        ),
        (
            {"protected": True, "relay_on": False, "tripped_by_policy": True},
            (Action.RESTORE, Reason.PROTECTED),
        ),
        # Node unreachable, fail-open: hands off, whatever the last permit said.
        (
            {"state_known": False, "permit_until": NOW - 1},
            (Action.LEAVE_ALONE, Reason.STATE_UNKNOWN_FAIL_OPEN),
        ),
        ({"permit_until": None}, (Action.LEAVE_ALONE, Reason.STATE_UNKNOWN_FAIL_OPEN)),
        (
            {"state_known": False, "relay_on": False, "tripped_by_policy": True},
            (Action.LEAVE_ALONE, Reason.STATE_UNKNOWN_FAIL_OPEN),
        ),
        # Node unreachable, fail-closed: the last known permit holds until it ends.
        (
            {"state_known": False, "fail_safe": FailSafe.CLOSED},
            (Action.KEEP_ON, Reason.PERMIT_VALID),
        ),
        (
            {"state_known": False, "fail_safe": FailSafe.CLOSED, "permit_until": NOW},
            (Action.TRIP, Reason.STATE_UNKNOWN_FAIL_CLOSED),
        ),
        (
            {"permit_until": None, "fail_safe": FailSafe.CLOSED},
            (Action.TRIP, Reason.STATE_UNKNOWN_FAIL_CLOSED),
        ),
        (
            {"permit_until": None, "fail_safe": FailSafe.CLOSED, "relay_on": False},
            (Action.KEEP_OFF, Reason.STATE_UNKNOWN_FAIL_CLOSED),
        ),
        (
            {
                "state_known": False,
                "fail_safe": FailSafe.CLOSED,
                "permit_until": NOW - 1,
                "relay_on": True,
                "tripped_by_policy": True,
            },
            (Action.RETRIP, Reason.SWITCHED_ON_WHILE_EXPIRED),
        ),
    ],
)
def test_decision_table(case: dict[str, Any], expected: tuple[Action, Reason]) -> None:
    decision = _decide(**case)
    assert (decision.action, decision.reason) == expected


@pytest.mark.parametrize(
    ("action", "relay_on"),
    [
        (Action.TRIP, False),
        (Action.RETRIP, False),
        (Action.RESTORE, True),
        (Action.KEEP_ON, None),
        (Action.KEEP_OFF, None),
        (Action.LEAVE_ALONE, None),
    ],
)
def test_action_commands_the_relay(action: Action, relay_on: bool | None) -> None:
    assert action.relay_on is relay_on


def test_values_are_stable_event_data() -> None:
    """Reasons travel in event data: renaming one breaks automations."""
    assert [r.value for r in Reason] == [
        "protected",
        "permit_valid",
        "permit_expired",
        "switched_on_while_expired",
        "state_unknown_fail_open",
        "state_unknown_fail_closed",
    ]
    assert FailSafe("fail_open") is FailSafe.OPEN
    assert FailSafe("fail_closed") is FailSafe.CLOSED


times = st.integers(min_value=0, max_value=2**40)
permits = st.one_of(st.none(), times, st.just(PERMIT_FOREVER))
relays = st.sampled_from([True, False, None])
fail_safes = st.sampled_from(list(FailSafe))


@untimed
@given(now=times, permit_until=permits, relay_on=relays, tripped=st.booleans())
def test_never_trips_while_state_unknown_and_fail_open(
    now: int, permit_until: int | None, relay_on: bool | None, tripped: bool
) -> None:
    decision = _decide(
        now=now,
        permit_until=permit_until,
        state_known=False,
        relay_on=relay_on,
        tripped_by_policy=tripped,
        fail_safe=FailSafe.OPEN,
    )
    assert decision.action.relay_on is None


@untimed
@given(
    now=times,
    permit_until=permits,
    known=st.booleans(),
    relay_on=relays,
    tripped=st.booleans(),
    fail_safe=fail_safes,
)
def test_never_trips_a_protected_household(
    now: int,
    permit_until: int | None,
    known: bool,
    relay_on: bool | None,
    tripped: bool,
    fail_safe: FailSafe,
) -> None:
    decision = _decide(
        now=now,
        permit_until=permit_until,
        state_known=known,
        protected=True,
        relay_on=relay_on,
        tripped_by_policy=tripped,
        fail_safe=fail_safe,
    )
    assert decision.action.relay_on is not False
    assert decision.reason is Reason.PROTECTED


@untimed
@given(
    now=times,
    permit_until=permits,
    known=st.booleans(),
    relay_on=relays,
    fail_safe=fail_safes,
)
def test_never_switches_on_a_relay_it_did_not_trip(
    now: int, permit_until: int | None, known: bool, relay_on: bool | None, fail_safe: FailSafe
) -> None:
    decision = _decide(
        now=now,
        permit_until=permit_until,
        state_known=known,
        protected=False,
        relay_on=relay_on,
        tripped_by_policy=False,
        fail_safe=fail_safe,
    )
    assert decision.action.relay_on is not True


@untimed
@given(now=times, permit_until=times, relay_on=relays, tripped=st.booleans(), fail_safe=fail_safes)
def test_known_state_follows_the_contract(
    now: int, permit_until: int, relay_on: bool | None, tripped: bool, fail_safe: FailSafe
) -> None:
    """With current state, supply ends exactly when the contract says, whatever the policy."""
    decision = _decide(
        now=now,
        permit_until=permit_until,
        relay_on=relay_on,
        tripped_by_policy=tripped,
        fail_safe=fail_safe,
    )
    if now >= permit_until:
        assert decision.action in (Action.TRIP, Action.RETRIP, Action.KEEP_OFF)
        # An expired permit ends with the relay off: either it is commanded off or is off already.
        assert decision.action.relay_on is False or relay_on is not True
    else:
        assert decision.action in (Action.KEEP_ON, Action.RESTORE)
        assert (decision.action is Action.RESTORE) == (tripped and relay_on is not True)


@untimed
@given(permit_until=times, relay_on=relays, tripped=st.booleans())
def test_fail_closed_trips_at_the_last_known_expiry(
    permit_until: int, relay_on: bool | None, tripped: bool
) -> None:
    """Node down at expiry: fail-closed behaves exactly as if the last known permit were current."""
    for now in (permit_until - 1, permit_until, permit_until + 1):
        unknown = _decide(
            now=now,
            permit_until=permit_until,
            state_known=False,
            relay_on=relay_on,
            tripped_by_policy=tripped,
            fail_safe=FailSafe.CLOSED,
        )
        known = _decide(
            now=now, permit_until=permit_until, relay_on=relay_on, tripped_by_policy=tripped
        )
        assert unknown.action is known.action


def test_forever_never_expires() -> None:
    assert not permit_expired(2**63, PERMIT_FOREVER)
    assert permit_expired(NOW, NOW)
    assert not permit_expired(NOW - 1, NOW)
