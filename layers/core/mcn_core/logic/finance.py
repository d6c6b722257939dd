"""Fee reports: what each notice is charged, totals per group, and the reconciliation check.

Plain Python over an iterator of fee rows (no AWS). Money is integer minor units from end to
end: amounts are summed as `int`, never as floats, and are only turned into a decimal string
("12.34") for people to read. Amounts in different currencies are never added together.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from mcn_core.models.fees import PERIOD
from mcn_core.models.fees import validate_period as validate_period  # re-exported: the fee reports use it from here
from mcn_core.models.types import DEFAULT_TENANT

CHARGEABLE_ON_SUBMIT = frozenset({"submitted", "delivered"})
STATUSES = ("submitted", "delivered", "failed", "expired")
NO_PROMOTION = "(none)"

# ISO 4217 minor-unit exponents that are not 2 (the common case).
_EXPONENTS = {
    "BHD": 3,
    "CLP": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "PYG": 0,
    "TND": 3,
    "UGX": 0,
    "VND": 0,
    "XAF": 0,
    "XOF": 0,
}


class FinanceError(ValueError):
    """A fee record that cannot be billed as stored (e.g. a fractional minor amount)."""


class ReconciliationError(RuntimeError):
    """The groups of a report do not add up to its rows: the report must not be used."""


class GroupBy(StrEnum):
    NOTICE = "notice"
    DAY = "day"
    TARIFF = "tariff"
    PROMOTION = "promotion"
    STATUS = "status"
    TENANT = "tenant"


def days_of_period(period: str) -> list[str]:
    """Every calendar day of a YYYY-MM period, as YYYY-MM-DD (for charts with no gaps)."""
    import calendar

    match = PERIOD.match(validate_period(period))
    assert match is not None
    year, month = int(match["year"]), int(match["month"])
    return [f"{period}-{day:02d}" for day in range(1, calendar.monthrange(year, month)[1] + 1)]


def format_minor(amount_minor: int, currency: str) -> str:
    """12345 GBP -> "123.45": integer arithmetic only."""
    exponent = _EXPONENTS.get(currency, 2)
    sign = "-" if amount_minor < 0 else ""
    major, minor = divmod(abs(amount_minor), 10**exponent)
    return f"{sign}{major}.{minor:0{exponent}d}" if exponent else f"{sign}{major}"


def _whole(value: object, what: str, notification_id: str) -> int:
    """DynamoDB numbers come back as int, float or Decimal: only whole numbers are valid here."""
    if isinstance(value, bool):
        raise FinanceError(f"fee record {notification_id}: {what} is not a number")
    if isinstance(value, int):
        return value
    try:
        whole: int = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise FinanceError(f"fee record {notification_id}: {what}={value!r} is not a number") from None
    if whole != value:
        raise FinanceError(f"fee record {notification_id}: {what}={value!r} is not a whole number of minor units")
    return whole


@dataclass(frozen=True)
class FeeRow:
    """One fee record as finance sees it (the fees table's attributes, without AWS types)."""

    notification_id: str
    subscriber: str
    period: str
    created_at: str  # ISO 8601 UTC
    calls_listed: int
    callers_listed: int
    messages: int
    segments: int
    fee_minor: int
    currency: str
    tariff_id: str
    charge_on: str  # submit | delivery
    status: str  # submitted | delivered | failed | expired
    promotion_id: str | None = None
    failure_reason: str | None = None
    period_day: str | None = None  # the day Compose took the period from (older records have none)
    tenant: str = DEFAULT_TENANT  # the brand (operator or MVNO) the notice was sent for
    # Missed calls placed on behalf (on_behalf call / call_and_sms): from the gateway's outcomes.
    calls_placed: int = 0
    calls_alerted: int = 0
    call_fee_minor: int = 0  # fee_minor_per_call for each call that alerted

    def __post_init__(self) -> None:
        for name in (
            "calls_listed",
            "callers_listed",
            "messages",
            "segments",
            "fee_minor",
            "calls_placed",
            "calls_alerted",
            "call_fee_minor",
        ):
            object.__setattr__(self, name, _whole(getattr(self, name), name, self.notification_id))
        if self.charge_on not in ("submit", "delivery"):
            raise FinanceError(f"fee record {self.notification_id}: unknown charge_on {self.charge_on!r}")

    @property
    def day(self) -> str:
        """The report day: from the same clock reading as the period, so it always lies within it."""
        if self.period_day and self.period_day.startswith(self.period):
            return self.period_day
        recorded = self.created_at[:10]
        if recorded.startswith(self.period) or not PERIOD.match(self.period):
            return recorded
        # An older record (no period_day) recorded after its period ended: the period's last day.
        return days_of_period(self.period)[-1] if recorded > self.period else days_of_period(self.period)[0]

    @property
    def charged_minor(self) -> int:
        return charged_minor(self)


def charged_minor(row: FeeRow) -> int:
    """What the operator bills for this notice.

    Charge on submit: the fee once the SMSC accepted the notice (submitted or delivered).
    Charge on delivery: only when a receipt said delivered. Failed and expired notices are
    never charged. A missed call placed on behalf is billed when it alerted (the handset logged
    it), whatever `charge_on` says of the SMS: `call_fee_minor` holds exactly those calls' fees.
    """
    notice = row.fee_minor
    if not (row.status == "delivered" or (row.charge_on == "submit" and row.status in CHARGEABLE_ON_SUBMIT)):
        notice = 0
    return notice + row.call_fee_minor


# The integer fields of Totals that add up across rows and groups (in report column order).
SUMMED_FIELDS = (
    "notices",
    "charged_notices",
    "calls_listed",
    "callers_listed",
    "messages",
    "segments",
    "calls_placed",
    "calls_alerted",
    "fee_minor",
    "call_fee_minor",
    "charged_minor",
)


@dataclass
class Totals:
    """Sums for one group (or the whole report) in one currency; all integers."""

    currency: str
    notices: int = 0
    charged_notices: int = 0
    calls_listed: int = 0
    callers_listed: int = 0
    messages: int = 0
    segments: int = 0
    calls_placed: int = 0
    calls_alerted: int = 0
    fee_minor: int = 0  # the fee recorded on the notices, charged or not
    call_fee_minor: int = 0  # the fees of missed calls placed on behalf that alerted (always charged)
    charged_minor: int = 0  # what is billed
    by_status: dict[str, int] = field(default_factory=dict)

    def add(self, row: FeeRow) -> None:
        charged = charged_minor(row)
        self.notices += 1
        self.charged_notices += 1 if charged else 0
        self.calls_listed += row.calls_listed
        self.callers_listed += row.callers_listed
        self.messages += row.messages
        self.segments += row.segments
        self.calls_placed += row.calls_placed
        self.calls_alerted += row.calls_alerted
        self.fee_minor += row.fee_minor
        self.call_fee_minor += row.call_fee_minor
        self.charged_minor += charged
        self.by_status[row.status] = self.by_status.get(row.status, 0) + 1

    def merge(self, other: Totals) -> None:
        assert other.currency == self.currency
        for name in SUMMED_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for status, count in other.by_status.items():
            self.by_status[status] = self.by_status.get(status, 0) + count

    @property
    def charged(self) -> str:
        return format_minor(self.charged_minor, self.currency)

    def to_dict(self) -> dict[str, object]:
        return {
            "currency": self.currency,
            "notices": self.notices,
            "charged_notices": self.charged_notices,
            "calls_listed": self.calls_listed,
            "callers_listed": self.callers_listed,
            "messages": self.messages,
            "segments": self.segments,
            "calls_placed": self.calls_placed,
            "calls_alerted": self.calls_alerted,
            "fee_minor": self.fee_minor,
            "call_fee_minor": self.call_fee_minor,
            "charged_minor": self.charged_minor,
            "charged": self.charged,
            **{f"status_{status}": self.by_status.get(status, 0) for status in STATUSES},
        }


def group_key(row: FeeRow, by: GroupBy) -> str:
    match by:
        case GroupBy.NOTICE:
            return row.notification_id
        case GroupBy.DAY:
            return row.day
        case GroupBy.TARIFF:
            return row.tariff_id
        case GroupBy.PROMOTION:
            return row.promotion_id or NO_PROMOTION
        case GroupBy.STATUS:
            return row.status
        case GroupBy.TENANT:
            return row.tenant


class GrandTotals:
    """Running totals per currency, straight from the rows (the reconciliation's reference)."""

    def __init__(self) -> None:
        self.per_currency: dict[str, Totals] = {}
        self.wrong_period: int = 0

    def add(self, row: FeeRow) -> None:
        self.per_currency.setdefault(row.currency, Totals(row.currency)).add(row)

    def sorted(self) -> list[Totals]:
        return [self.per_currency[currency] for currency in sorted(self.per_currency)]


@dataclass
class Report:
    period: str
    by: GroupBy
    groups: dict[tuple[str, str], Totals]  # (group key, currency) -> totals
    totals: GrandTotals

    def rows(self) -> list[tuple[str, Totals]]:
        return [(key, self.groups[(key, currency)]) for key, currency in sorted(self.groups)]


class Aggregator:
    """Totals per group and overall, fed one row at a time (several can share one pass over the rows).

    Memory grows with the number of groups, not of rows; for one row per notice use
    `stream_notices`, which holds nothing.
    """

    def __init__(self, period: str, by: GroupBy) -> None:
        self.period, self.by = period, by
        self.groups: dict[tuple[str, str], Totals] = {}
        self.totals = GrandTotals()

    def add(self, row: FeeRow) -> None:
        if row.period != self.period:
            self.totals.wrong_period += 1
        self.totals.add(row)
        key = (group_key(row, self.by), row.currency)
        self.groups.setdefault(key, Totals(row.currency)).add(row)

    def report(self) -> Report:
        reconcile(self.groups.values(), self.totals)
        return Report(period=self.period, by=self.by, groups=self.groups, totals=self.totals)


def aggregate(rows: Iterable[FeeRow], period: str, by: GroupBy) -> Report:
    aggregator = Aggregator(period, by)
    for row in rows:
        aggregator.add(row)
    return aggregator.report()


def stream_notices(rows: Iterable[FeeRow], totals: GrandTotals, period: str) -> Iterator[FeeRow]:
    """One row per notice, passed through while `totals` accumulates (nothing is held)."""
    for row in rows:
        if row.period != period:
            totals.wrong_period += 1
        totals.add(row)
        yield row


def reconcile(groups: Iterable[Totals], totals: GrandTotals) -> None:
    """The sum of the groups must equal the sum of the rows, field by field, per currency."""
    summed: dict[str, Totals] = {}
    for group in groups:
        summed.setdefault(group.currency, Totals(group.currency)).merge(group)
    problems = []
    for currency in sorted(set(summed) | set(totals.per_currency)):
        left = summed.get(currency, Totals(currency)).to_dict()
        right = totals.per_currency.get(currency, Totals(currency)).to_dict()
        problems += [
            f"{currency} {name}: groups {left[name]} != rows {right[name]}"
            for name in left
            if left[name] != right[name]
        ]
    if problems:
        raise ReconciliationError("report does not reconcile: " + "; ".join(problems))


def per_day(report: Report) -> dict[str, dict[str, Totals]]:
    """Day -> currency -> totals, with every day of the period present (charts without gaps)."""
    assert report.by is GroupBy.DAY
    days: dict[str, dict[str, Totals]] = {day: {} for day in days_of_period(report.period)}
    for (day, currency), totals in report.groups.items():
        days.setdefault(day, {})[currency] = totals
    return days
