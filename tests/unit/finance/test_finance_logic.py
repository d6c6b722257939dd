"""Fee report logic: what is charged, totals per group, reconciliation, integer money only."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcn_core.logic.finance import (
    Aggregator,
    FeeRow,
    FinanceError,
    GrandTotals,
    GroupBy,
    ReconciliationError,
    Totals,
    aggregate,
    charged_minor,
    days_of_period,
    format_minor,
    per_day,
    reconcile,
    stream_notices,
    validate_period,
)

PERIOD = "2026-11"


def row(
    n: int,
    *,
    status: str = "delivered",
    charge_on: str = "submit",
    fee: object = 150,
    currency: str = "GBP",
    day: int = 1,
    tariff: str = "std",
    promotion: str | None = None,
    calls: int = 2,
    segments: int = 1,
    period: str = PERIOD,
) -> FeeRow:
    return FeeRow(
        notification_id=f"n{n:05d}",
        subscriber="+447700900123",
        period=period,
        created_at=f"2026-11-{day:02d}T10:00:{n % 60:02d}.000+00:00",
        calls_listed=calls,
        callers_listed=1,
        messages=1,
        segments=segments,
        fee_minor=fee,  # type: ignore[arg-type]
        currency=currency,
        tariff_id=tariff,
        charge_on=charge_on,
        status=status,
        promotion_id=promotion,
    )


@pytest.mark.parametrize(
    ("charge_on", "status", "charged"),
    [
        ("submit", "submitted", 150),
        ("submit", "delivered", 150),
        ("submit", "failed", 0),
        ("submit", "expired", 0),
        ("delivery", "submitted", 0),
        ("delivery", "delivered", 150),
        ("delivery", "failed", 0),
        ("delivery", "expired", 0),
    ],
)
def test_charged_amount_follows_the_tariff_rule(charge_on: str, status: str, charged: int) -> None:
    assert charged_minor(row(1, charge_on=charge_on, status=status)) == charged


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (12345, "GBP", "123.45"),
        (5, "EUR", "0.05"),
        (0, "GBP", "0.00"),
        (-250, "GBP", "-2.50"),
        (1500, "JPY", "1500"),
        (1234, "KWD", "1.234"),
    ],
)
def test_amounts_are_formatted_with_integer_arithmetic(amount: int, currency: str, text: str) -> None:
    assert format_minor(amount, currency) == text


def test_stored_numbers_must_be_whole_minor_units() -> None:
    assert row(1, fee=Decimal("150")).fee_minor == 150
    assert isinstance(row(1, fee=150.0).fee_minor, int)
    with pytest.raises(FinanceError, match="not a whole number"):
        row(1, fee=1.5)
    with pytest.raises(FinanceError, match="not a number"):
        row(1, fee="abc")


def test_unknown_charge_rule_is_refused() -> None:
    with pytest.raises(FinanceError, match="charge_on"):
        row(1, charge_on="sometimes")


def test_totals_by_status_against_hand_computed_sums() -> None:
    rows = [
        row(1, status="delivered", fee=150),  # charged 150
        row(2, status="submitted", fee=150),  # charged 150 (submit)
        row(3, status="failed", fee=150),  # 0
        row(4, status="expired", fee=200, charge_on="delivery"),  # 0
        row(5, status="submitted", fee=200, charge_on="delivery"),  # 0 until delivered
        row(6, status="delivered", fee=200, charge_on="delivery"),  # 200
    ]
    report = aggregate(rows, PERIOD, GroupBy.STATUS)
    by_key = {key: totals for key, totals in report.rows()}
    assert by_key["delivered"].charged_minor == 350
    assert by_key["submitted"].charged_minor == 150
    assert by_key["failed"].charged_minor == 0
    assert by_key["expired"].charged_minor == 0
    grand = report.totals.per_currency["GBP"]
    assert (grand.notices, grand.charged_notices, grand.charged_minor, grand.fee_minor) == (6, 3, 500, 1050)
    assert grand.charged == "5.00"
    assert grand.by_status == {"delivered": 2, "submitted": 2, "failed": 1, "expired": 1}


def test_groups_by_day_tariff_and_promotion() -> None:
    rows = [
        row(1, day=1, tariff="std", promotion="xmas"),
        row(2, day=1, tariff="gold", fee=300),
        row(3, day=3, tariff="std", status="failed"),
    ]
    by_day = {k: t.charged_minor for k, t in aggregate(rows, PERIOD, GroupBy.DAY).rows()}
    assert by_day == {"2026-11-01": 450, "2026-11-03": 0}
    by_tariff = {k: t.charged_minor for k, t in aggregate(rows, PERIOD, GroupBy.TARIFF).rows()}
    assert by_tariff == {"gold": 300, "std": 150}
    by_promotion = {k: t.notices for k, t in aggregate(rows, PERIOD, GroupBy.PROMOTION).rows()}
    assert by_promotion == {"(none)": 2, "xmas": 1}


def test_currencies_are_never_added_together() -> None:
    report = aggregate([row(1, fee=150), row(2, fee=99, currency="EUR")], PERIOD, GroupBy.DAY)
    assert {(k, t.currency): t.charged_minor for k, t in report.rows()} == {
        ("2026-11-01", "EUR"): 99,
        ("2026-11-01", "GBP"): 150,
    }
    assert {t.currency: t.charged_minor for t in report.totals.sorted()} == {"EUR": 99, "GBP": 150}


def test_records_of_another_period_are_counted() -> None:
    aggregator = Aggregator(PERIOD, GroupBy.DAY)
    aggregator.add(row(1))
    aggregator.add(row(2, period="2026-10"))
    assert aggregator.report().totals.wrong_period == 1


def test_reconciliation_catches_groups_that_do_not_add_up() -> None:
    totals = GrandTotals()
    for r in (row(1), row(2)):
        totals.add(r)
    short = Totals("GBP")
    short.add(row(1))
    with pytest.raises(ReconciliationError, match="GBP charged_minor: groups 150 != rows 300"):
        reconcile([short], totals)


def test_notice_stream_is_lazy_and_totals_follow_it() -> None:
    endless = (row(n) for n in itertools.count())
    totals = GrandTotals()
    first = list(itertools.islice(stream_notices(endless, totals, PERIOD), 3))
    assert [r.notification_id for r in first] == ["n00000", "n00001", "n00002"]
    assert totals.per_currency["GBP"].charged_minor == 450


def test_per_day_has_every_day_of_the_period() -> None:
    days = per_day(aggregate([row(1, day=5)], PERIOD, GroupBy.DAY))
    assert len(days) == 30
    assert days["2026-11-05"]["GBP"].notices == 1
    assert days["2026-11-06"] == {}
    assert len(days_of_period("2028-02")) == 29


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-11", "2026-11-01", ""])
def test_period_must_be_a_month(bad: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        validate_period(bad)


_rows = st.builds(
    lambda n, status, charge_on, fee, currency, day, tariff: row(
        n, status=status, charge_on=charge_on, fee=fee, currency=currency, day=day, tariff=tariff
    ),
    st.integers(0, 10**5),
    st.sampled_from(["submitted", "delivered", "failed", "expired"]),
    st.sampled_from(["submit", "delivery"]),
    st.integers(0, 10**6),
    st.sampled_from(["GBP", "EUR"]),
    st.integers(1, 30),
    st.sampled_from(["std", "gold"]),
)


@given(st.lists(_rows, max_size=60), st.sampled_from(list(GroupBy)))
def test_any_grouping_adds_up_to_the_rows(rows: list[FeeRow], by: GroupBy) -> None:
    report = aggregate(rows, PERIOD, by)  # reconcile() inside raises if not
    for currency in ("GBP", "EUR"):
        expected = sum(charged_minor(r) for r in rows if r.currency == currency)
        grouped = sum(t.charged_minor for _, t in report.rows() if t.currency == currency)
        assert grouped == expected
        if expected or any(r.currency == currency for r in rows):
            assert report.totals.per_currency[currency].charged_minor == expected
