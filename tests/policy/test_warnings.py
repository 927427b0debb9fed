"""Warning schedule and the trip-imminent flag."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.grid_ledger.policy import (
    DEFAULT_WARNING_LEADS,
    PERMIT_FOREVER,
    TripWarning,
    missed_warning,
    trip_imminent,
    warning_schedule,
)

NOW = 1_800_000_000
HOUR = 3600
DAY = 24 * HOUR

# Timing on a busy CI machine is not the property under test.
untimed = settings(deadline=None)


def test_defaults_are_a_day_and_an_hour() -> None:
    assert sorted(DEFAULT_WARNING_LEADS) == [HOUR, DAY]


@pytest.mark.parametrize(
    ("permit_until", "kwargs", "expected"),
    [
        # Both defaults ahead, earliest first.
        (NOW + 2 * DAY, {}, [(NOW + DAY, DAY), (NOW + 2 * DAY - HOUR, HOUR)]),
        # The day-ahead instant has passed: only the hour remains.
        (NOW + 2 * HOUR, {}, [(NOW + HOUR, HOUR)]),
        # An instant exactly now is not in the future (missed_warning covers it).
        (NOW + HOUR, {}, []),
        (NOW + HOUR + 1, {}, [(NOW + 1, HOUR)]),
        (NOW - 1, {}, []),
        (None, {}, []),
        (PERMIT_FOREVER, {}, []),
        (NOW + 2 * DAY, {"protected": True}, []),
        # Configured leads, duplicates collapse.
        (
            NOW + DAY,
            {"leads": [600, 2 * HOUR, 600]},
            [(NOW + DAY - 2 * HOUR, 2 * HOUR), (NOW + DAY - 600, 600)],
        ),
        (NOW + DAY, {"leads": []}, []),
    ],
)
def test_schedule_table(
    permit_until: int | None, kwargs: dict[str, Any], expected: list[tuple[int, int]]
) -> None:
    warnings = warning_schedule(now=NOW, permit_until=permit_until, **kwargs)
    assert [(w.at, w.lead) for w in warnings] == expected
    assert all(w.permit_until == permit_until for w in warnings)


@pytest.mark.parametrize("leads", [[0], [HOUR, -1]])
def test_rejects_lead_times_that_are_not_positive(leads: list[int]) -> None:
    with pytest.raises(ValueError, match="positive"):
        warning_schedule(now=NOW, permit_until=NOW + DAY, leads=leads)
    with pytest.raises(ValueError, match="positive"):
        missed_warning(now=NOW, permit_until=NOW + DAY, leads=leads)


leads_st = st.lists(st.integers(min_value=1, max_value=30 * DAY), max_size=6)
times = st.integers(min_value=0, max_value=2**40)


@untimed
@given(now=times, permit_until=times, leads=leads_st)
def test_warnings_are_future_strictly_before_expiry_and_sorted(
    now: int, permit_until: int, leads: list[int]
) -> None:
    warnings = warning_schedule(now=now, permit_until=permit_until, leads=leads)
    assert [w.at for w in warnings] == sorted({w.at for w in warnings})
    for warning in warnings:
        assert now < warning.at < permit_until
        assert warning.at + warning.lead == permit_until
        assert warning.lead in leads
    # Every lead whose instant lies ahead is scheduled.
    assert {w.lead for w in warnings} == {lead for lead in leads if permit_until - lead > now}


@untimed
@given(now=times, leads=leads_st, protected=st.booleans())
def test_no_warnings_for_a_permit_that_never_ends(
    now: int, leads: list[int], protected: bool
) -> None:
    assert warning_schedule(now=now, permit_until=PERMIT_FOREVER, leads=leads) == ()
    assert missed_warning(now=now, permit_until=PERMIT_FOREVER, leads=leads) is None
    assert warning_schedule(now=now, permit_until=now + DAY, protected=True, leads=leads) == ()


@untimed
@given(start=times, length=st.integers(min_value=1, max_value=60 * DAY), leads=leads_st)
def test_recomputing_never_repeats_a_warning(start: int, length: int, leads: list[int]) -> None:
    """A caller that recomputes later gets a subset of what it already scheduled."""
    permit_until = start + length
    first = set(warning_schedule(now=start, permit_until=permit_until, leads=leads))
    later = set(warning_schedule(now=start + length // 2, permit_until=permit_until, leads=leads))
    assert later <= first


@pytest.mark.parametrize(
    ("permit_until", "kwargs", "expected"),
    [
        # A permit that ends in 30 minutes: the hour warning is overdue, send it now.
        (NOW + 1800, {}, TripWarning(NOW + 1800 - HOUR, HOUR, NOW + 1800)),
        # 5 hours left: the day warning was missed, the hour warning is still ahead.
        (NOW + 5 * HOUR, {}, TripWarning(NOW + 5 * HOUR - DAY, DAY, NOW + 5 * HOUR)),
        (NOW + 2 * DAY, {}, None),
        (NOW, {}, None),
        (NOW + 1800, {"protected": True}, None),
        (None, {}, None),
    ],
)
def test_missed_warning(
    permit_until: int | None, kwargs: dict[str, Any], expected: TripWarning | None
) -> None:
    assert missed_warning(now=NOW, permit_until=permit_until, **kwargs) == expected


@untimed
@given(now=times, permit_until=times, leads=leads_st)
def test_a_running_permit_always_gets_a_warning(
    now: int, permit_until: int, leads: list[int]
) -> None:
    """No household loses supply without warning: scheduled or overdue, one is always due."""
    scheduled = warning_schedule(now=now, permit_until=permit_until, leads=leads)
    missed = missed_warning(now=now, permit_until=permit_until, leads=leads)
    if leads and now < permit_until:
        assert scheduled or missed is not None
    if missed is not None:
        assert missed.at <= now < permit_until
        assert missed not in scheduled


@pytest.mark.parametrize(
    ("permit_until", "expected"),
    [
        (NOW + HOUR + 1, False),
        (NOW + HOUR, True),
        (NOW + 1, True),
        (NOW, False),
        (NOW - 1, False),
        (None, False),
        (PERMIT_FOREVER, False),
    ],
)
def test_trip_imminent(permit_until: int | None, expected: bool) -> None:
    assert trip_imminent(NOW, permit_until, HOUR) is expected


def test_trip_imminent_needs_a_positive_lead() -> None:
    with pytest.raises(ValueError, match="positive"):
        trip_imminent(NOW, NOW + 1, 0)


@untimed
@given(now=times, permit_until=times, lead=st.integers(min_value=1, max_value=30 * DAY))
def test_trip_imminent_agrees_with_the_schedule(now: int, permit_until: int, lead: int) -> None:
    """Imminent exactly from the warning instant for that lead until the trip."""
    imminent = trip_imminent(now, permit_until, lead)
    assert imminent == (permit_until - lead <= now < permit_until)
    if imminent:
        assert warning_schedule(now=now, permit_until=permit_until, leads=[lead]) == ()
