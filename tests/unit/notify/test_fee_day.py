"""A notice composed before midnight and recorded just after: its fee's day comes from Compose's clock,
the same reading as its period, so the fee chart puts it in the right month (and on the right day)."""

from __future__ import annotations

from datetime import UTC, datetime

from notify_factories import call

from mcn_core.logic.compose import compose_notice
from mcn_core.logic.finance import Aggregator, FeeRow, GroupBy, per_day
from mcn_core.logic.record import fee_values
from mcn_core.models.config import NotifyConfig
from mcn_core.models.notice import SendProgress, SubscriberProfile

SUBSCRIBER = "+447911123456"
COMPOSED = datetime(2026, 11, 30, 23, 59, 58, tzinfo=UTC)
RECORDED = datetime(2026, 12, 1, 0, 0, 30, tzinfo=UTC)  # 00:00:30 on the 1st
ACCEPTED = SendProgress.from_data(
    {"status": "done", "messages": [{"index": 0, "outcome": "accepted", "accepted_parts": {"1": "0000000001"}}]}
)


def fee_row(values: dict) -> FeeRow:
    fields = FeeRow.__dataclass_fields__
    return FeeRow(**{key: value for key, value in values.items() if key in fields})


def test_a_notice_recorded_just_after_midnight_counts_on_composes_day(default_config: NotifyConfig) -> None:
    notice = compose_notice(
        notification_id="n-midnight",
        profile=SubscriberProfile(msisdn=SUBSCRIBER),
        calls=[call("a", "+447912000111", 30)],
        config=default_config,
        now=COMPOSED,
    )
    assert (notice.period, notice.period_day) == ("2026-11", "2026-11-30")

    values = fee_values(notice, ACCEPTED, RECORDED, "2026-11#00")
    assert values["created_at"].startswith("2026-12-01T00:00:30")  # when Record ran: the index's sort key
    assert (values["period"], values["period_day"]) == ("2026-11", "2026-11-30")

    row = fee_row(values)
    assert row.day == "2026-11-30"
    aggregator = Aggregator("2026-11", GroupBy.DAY)
    aggregator.add(row)
    days = per_day(aggregator.report())
    assert list(days) == [f"2026-11-{day:02d}" for day in range(1, 31)]  # no 1 December in November's chart
    assert days["2026-11-30"]["GBP"].notices == 1


def test_older_records_without_compose_day_stay_within_their_period(default_config: NotifyConfig) -> None:
    notice = compose_notice(
        notification_id="n-old",
        profile=SubscriberProfile(msisdn=SUBSCRIBER),
        calls=[call("a", "+447912000111", 30)],
        config=default_config,
        now=COMPOSED,
    ).replace(period_day=None)
    row = fee_row(fee_values(notice, ACCEPTED, RECORDED, "2026-11#00"))
    assert (row.period, row.period_day, row.day) == ("2026-11", None, "2026-11-30")
    recorded_in_period = fee_row(fee_values(notice, ACCEPTED, datetime(2026, 11, 12, 9, tzinfo=UTC), "2026-11#00"))
    assert recorded_in_period.day == "2026-11-12"
