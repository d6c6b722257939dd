"""A notice that found the fleet at its SMSC budget waits outside Express, for longer the longer it waited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from mcn_core.logic.notices import new_notification_id, notification_time
from mcn_core.logic.send import CAPACITY_WAIT_MAX_S, CAPACITY_WAIT_MIN_S, capacity_resume_at

NOW = datetime(2026, 12, 1, 7, 30, tzinfo=UTC)


def test_first_wait_is_the_minimum_and_grows_with_the_time_waited() -> None:
    first = capacity_resume_at(NOW, NOW, 30, jitter=0.0)
    assert first - NOW == timedelta(seconds=max(30, CAPACITY_WAIT_MIN_S))
    later = capacity_resume_at(NOW, NOW - timedelta(minutes=20), 30, jitter=0.0)
    assert later - NOW == timedelta(minutes=5)  # a quarter of the 20 minutes waited
    assert capacity_resume_at(NOW, NOW - timedelta(days=1), 30, jitter=0.0) - NOW == timedelta(
        seconds=CAPACITY_WAIT_MAX_S
    )


@given(waited=st.floats(min_value=0, max_value=86_400), jitter=st.floats(min_value=0, max_value=0.999))
def test_waits_stay_bounded_and_spread(waited: float, jitter: float) -> None:
    resume = capacity_resume_at(NOW, NOW - timedelta(seconds=waited), 30, jitter)
    assert timedelta(seconds=CAPACITY_WAIT_MIN_S) <= resume - NOW < timedelta(seconds=2 * CAPACITY_WAIT_MAX_S)


def test_the_notification_id_tells_when_the_notice_began() -> None:
    assert notification_time(new_notification_id(NOW), default=NOW - timedelta(days=1)) == NOW
    assert notification_time("made-elsewhere", default=NOW) == NOW
