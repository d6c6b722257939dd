"""`mcn fees report` on a generated month of fees in the embedded AWS, against hand-computed sums."""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mcn_core.dal import fee_keys
from mcn_core.dal.fees_reader import FeesReader
from mcn_devkit.embedded import EmbeddedStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PERIOD = "2026-11"
# moto answers each Query by scanning the whole table: a few thousand rows keeps the module near a minute.
NOTICES_IN_PERIOD = 1200
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# (tariff, currency, fee per notice, fee per extra message, charge on)
TARIFFS = [("std", "GBP", 150, 0, "submit"), ("premium", "GBP", 250, 40, "delivery"), ("eu", "EUR", 120, 0, "submit")]
STATUSES = ["delivered"] * 6 + ["submitted"] * 2 + ["failed", "expired"]
# Two brands: the operator's own (default) and an MVNO whose fees are all it may read.
TENANTS = ["default", "brand-b"]


@dataclass(frozen=True)
class Fee:
    notification_id: str
    subscriber: str
    period: str
    created_at: str
    tariff: str
    currency: str
    charge_on: str
    status: str
    promotion: str | None
    messages: int
    segments: int
    calls: int
    fee_minor: int
    tenant: str = "default"

    @property
    def charged(self) -> int:
        """The billing rule, restated: failed/expired never; delivery-charged only when delivered."""
        if self.status == "delivered":
            return self.fee_minor
        if self.status == "submitted" and self.charge_on == "submit":
            return self.fee_minor
        return 0

    def item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "fee_partition": {"S": fee_keys.fee_partition(self.tenant, self.period, self.notification_id)},
            "notification_id": {"S": self.notification_id},
            "tenant": {"S": self.tenant},
            "subscriber": {"S": self.subscriber},
            "period": {"S": self.period},
            "created_at": {"S": self.created_at},
            "calls_listed": {"N": str(self.calls)},
            "callers_listed": {"N": str(max(1, self.calls // 2))},
            "messages": {"N": str(self.messages)},
            "segments": {"N": str(self.segments)},
            "fee_minor": {"N": str(self.fee_minor)},
            "currency": {"S": self.currency},
            "tariff_id": {"S": self.tariff},
            "charge_on": {"S": self.charge_on},
            "smsc_message_ids": {"L": [{"S": f"{self.notification_id[:8]}-{i}"} for i in range(self.segments)]},
            "status": {"S": self.status},
        }
        if self.promotion:
            item["promotion_id"] = {"S": self.promotion}
        if self.status in ("failed", "expired"):
            item["failure_reason"] = {"S": "absent subscriber" if self.status == "expired" else "0x0B invalid dest"}
        return item


def _generate(rng: random.Random, count: int, period: str, first_id: int) -> list[Fee]:
    fees = []
    for n in range(first_id, first_id + count):
        tariff, currency, per_notice, per_extra, charge_on = rng.choice(TARIFFS)
        messages = rng.choice([1, 1, 1, 2, 3])
        day = rng.randint(1, 30)
        fees.append(
            Fee(
                notification_id=f"{n:08d}-{rng.getrandbits(64):016x}",
                subscriber=f"+4477009{rng.randint(0, 99999):05d}",
                period=period,
                created_at=f"{period}-{day:02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
                f"{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}+00:00",
                tariff=tariff,
                currency=currency,
                charge_on=charge_on,
                status=rng.choice(STATUSES),
                promotion=rng.choice([None, None, "xmas", "black-friday"]),
                messages=messages,
                segments=messages * rng.choice([1, 2]),
                calls=rng.randint(1, 9),
                fee_minor=per_notice + per_extra * (messages - 1),
                tenant=rng.choice(TENANTS),
            )
        )
    return fees


def registry_items(fees: list[Fee]) -> list[dict[str, Any]]:
    """The period's tenant list, as Record keeps it."""
    return [
        {"fee_partition": {"S": fee_keys.tenant_registry_partition(period)}, "notification_id": {"S": tenant}}
        for tenant, period in sorted({(f.tenant, f.period) for f in fees})
    ]


@pytest.fixture(scope="module")
def month(stack: EmbeddedStack) -> list[Fee]:
    """A month of fees in the period, plus neighbours that the report must leave out."""
    rng = random.Random(20261129)
    fees = _generate(rng, NOTICES_IN_PERIOD, PERIOD, 0)
    neighbours = _generate(rng, 40, "2026-10", 10**6) + _generate(rng, 40, "2026-12", 2 * 10**6)
    dynamodb, table = stack.client("dynamodb"), stack.resource_name("FeesTable")
    items = [fee.item() for fee in fees + neighbours] + registry_items(fees + neighbours)
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        unprocessed = dynamodb.batch_write_item(RequestItems={table: requests}).get("UnprocessedItems")
        assert not unprocessed
    return fees


def _sums(fees: list[Fee], key: Callable[[Fee], str]) -> dict[tuple[str, str], tuple[int, int]]:
    """(group, currency) -> (notices, charged minor units), by hand."""
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for fee in fees:
        entry = sums[(key(fee), fee.currency)]
        entry[0] += 1
        entry[1] += fee.charged
    return {k: (v[0], v[1]) for k, v in sums.items()}


def _grand(fees: list[Fee]) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for fee in fees:
        totals[fee.currency] += fee.charged
    return dict(totals)


@pytest.fixture(scope="module")
def report(mcn: Callable[..., Any], local_state: Path, month: list[Fee]) -> Callable[..., Any]:
    """`report("--by", "day", ...)`: runs `mcn fees report --period 2026-11 ...` once per distinct flags."""
    results: dict[tuple[str, ...], Any] = {}

    def run(*args: str) -> Any:
        if args not in results:
            result = mcn("fees", "report", "--period", PERIOD, "--local-state", str(local_state), *args)
            assert result.code == 0, result.err
            results[args] = result
        return results[args]

    return run


def test_generated_month_has_every_case(month: list[Fee]) -> None:
    """The data exercises what the report must handle (so the sums below mean something)."""
    cases = {(f.charge_on, f.status) for f in month}
    assert {("submit", "failed"), ("submit", "expired"), ("delivery", "submitted"), ("delivery", "delivered")} <= cases
    assert {f.currency for f in month} == {"GBP", "EUR"}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reports")


def test_csv_by_day_matches_hand_computed_sums(report: Callable[..., Any], month: list[Fee], files: Path) -> None:
    output, chart = files / "by-day.csv", files / "by-day.png"
    result = report("--by", "day", "--format", "csv", "--output", str(output), "--chart", str(chart))
    assert "report written" in result.err and result.out == ""
    rows = list(csv.DictReader(output.open()))
    groups = [r for r in rows if r["day"] != "TOTAL"]
    totals = {r["currency"]: r for r in rows if r["day"] == "TOTAL"}
    expected = _sums(month, lambda f: f.created_at[:10])
    assert {(r["day"], r["currency"]): (int(r["notices"]), int(r["charged_minor"])) for r in groups} == expected
    assert {c: int(t["charged_minor"]) for c, t in totals.items()} == _grand(month)
    assert sum(int(t["notices"]) for t in totals.values()) == NOTICES_IN_PERIOD
    gbp = _grand(month)["GBP"]
    assert totals["GBP"]["charged"] == f"{gbp // 100}.{gbp % 100:02d}"
    assert int(totals["GBP"]["status_failed"]) == sum(1 for f in month if f.currency == "GBP" and f.status == "failed")


@pytest.mark.parametrize(
    ("by", "key"),
    [("promotion", lambda f: f.promotion or "(none)"), ("status", lambda f: f.status)],
)
def test_json_groups_match_hand_computed_sums(
    report: Callable[..., Any], month: list[Fee], by: str, key: Callable[[Fee], str]
) -> None:
    document = json.loads(report("--by", by, "--format", "json").out)
    assert document["period"] == PERIOD and document["reconciled"] is True
    assert {(r[by], r["currency"]): (r["notices"], r["charged_minor"]) for r in document["rows"]} == _sums(month, key)
    assert {t["currency"]: t["charged_minor"] for t in document["totals"]} == _grand(month)


def test_status_report_charges_nothing_for_failed_or_expired(report: Callable[..., Any]) -> None:
    document = json.loads(report("--by", "status", "--format", "json").out)
    for row in document["rows"]:
        if row["status"] in ("failed", "expired"):
            assert row["charged_minor"] == 0 and row["fee_minor"] > 0


def test_csv_per_notice_lists_each_fee_once_in_time_order_masked(report: Callable[..., Any], month: list[Fee]) -> None:
    rows = list(csv.DictReader(io.StringIO(report("--by", "notice", "--format", "csv").out)))
    notices = [r for r in rows if r["notification_id"] != "TOTAL"]
    totals = {r["currency"]: int(r["charged_minor"]) for r in rows if r["notification_id"] == "TOTAL"}
    by_id = {f.notification_id: f for f in month}
    assert sorted(r["notification_id"] for r in notices) == sorted(by_id)
    # in notification-id order: ids begin with the UTC second the notice started
    assert [r["notification_id"] for r in notices] == sorted(by_id)
    assert all(r["tenant"] == by_id[r["notification_id"]].tenant for r in notices)
    assert all(int(r["charged_minor"]) == by_id[r["notification_id"]].charged for r in notices)
    assert totals == _grand(month)
    assert all(r["subscriber"].startswith("+44") and "*" in r["subscriber"] for r in notices)
    assert not any(r["subscriber"] == by_id[r["notification_id"]].subscriber for r in notices)


def test_json_per_notice_parses_and_can_show_numbers(report: Callable[..., Any], month: list[Fee], files: Path) -> None:
    chart = files / "per-notice.png"
    document = json.loads(report("--by", "notice", "--format", "json", "--show-numbers", "--chart", str(chart)).out)
    by_id = {f.notification_id: f for f in month}
    assert len(document["rows"]) == NOTICES_IN_PERIOD
    assert all(r["subscriber"] == by_id[r["notification_id"]].subscriber for r in document["rows"])
    assert {t["currency"]: t["charged_minor"] for t in document["totals"]} == _grand(month)


def test_table_by_tariff_against_hand_computed_sums(report: Callable[..., Any], month: list[Fee]) -> None:
    lines = report("--by", "tariff").out.splitlines()
    for (tariff, currency), (notices, charged) in _sums(month, lambda f: f.tariff).items():
        line = next(line.split() for line in lines if line.startswith(tariff + " "))
        assert line[1] == str(notices) and line[7] == currency and line[8] == str(charged)
    assert lines[-1] == "reconciled: the rows add up to the fee records"


def test_charts_are_pngs(report: Callable[..., Any], files: Path) -> None:
    report(
        "--by", "day", "--format", "csv", "--output", str(files / "by-day.csv"), "--chart", str(files / "by-day.png")
    )
    chart = files / "per-notice.png"
    report("--by", "notice", "--format", "json", "--show-numbers", "--chart", str(chart))
    assert (files / "by-day.png").read_bytes()[:8] == PNG_SIGNATURE
    assert chart.read_bytes()[:8] == PNG_SIGNATURE


def test_reader_is_a_generator_following_pages(
    stack: EmbeddedStack, month: list[Fee], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of 25: without LastEvaluatedKey paging the shard would stop after its first page."""
    # monkeypatch, not os.environ: the stack's endpoint leaked into later tests (a unit test's
    # mock_aws Secrets Manager client then called the stopped stack: EndpointConnectionError).
    for name, value in stack.env.items():
        monkeypatch.setenv(name, value)
    reader = FeesReader(stack.resource_name("FeesTable"), page_size=25)
    partition = fee_keys.tenant_partitions("brand-b", PERIOD)[0]
    rows = reader.partition_rows(partition)
    assert isinstance(rows, Iterator)  # a generator: the period is never held
    expected = sorted(
        f.notification_id for f in month if fee_keys.fee_partition(f.tenant, PERIOD, f.notification_id) == partition
    )
    assert len(expected) > 25  # more than one page
    assert [row.notification_id for row in rows] == expected


def test_empty_period_reports_zero(mcn: Callable[..., Any], local_state: Path, month: list[Fee]) -> None:
    result = mcn("fees", "report", "--period", "2025-01", "--format", "json", "--local-state", str(local_state))
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["rows"] == [] and document["totals"] == []


def test_neighbouring_periods_are_reported_on_their_own(
    mcn: Callable[..., Any], local_state: Path, month: list[Fee]
) -> None:
    result = mcn("fees", "report", "--period", "2026-12", "--format", "json", "--local-state", str(local_state))
    assert sum(t["notices"] for t in json.loads(result.out)["totals"]) == 40


def test_bad_period_is_a_clear_error(mcn: Callable[..., Any], local_state: Path) -> None:
    result = mcn("fees", "report", "--period", "2026-13", "--local-state", str(local_state))
    assert result.code == 2
    assert "period must look like 2026-11" in result.err


def test_chart_must_be_png(mcn: Callable[..., Any], local_state: Path) -> None:
    result = mcn("fees", "report", "--period", PERIOD, "--chart", "x.jpg", "--local-state", str(local_state))
    assert result.code == 2 and "--chart must name a .png" in result.err


def test_a_fractional_fee_is_refused_and_no_file_is_left(
    mcn: Callable[..., Any], local_state: Path, stack: EmbeddedStack, month: list[Fee], tmp_path: Path
) -> None:
    broken_fee = _generate(random.Random(7), 1, "2027-01", 9 * 10**6)[0]
    broken = broken_fee.item() | {"fee_minor": {"N": "1.5"}}
    for item in [broken, *registry_items([broken_fee])]:
        stack.client("dynamodb").put_item(TableName=stack.resource_name("FeesTable"), Item=item)
    output = tmp_path / "broken.csv"
    result = mcn(
        "fees", "report", "--period", "2027-01", "--format", "csv", "--output", str(output),
        "--local-state", str(local_state),
    )  # fmt: skip
    assert result.code == 3
    assert "fee_minor=1.5 is not a whole number of minor units" in result.err
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- per tenant
def test_tenant_report_has_only_that_tenants_fees(report: Callable[..., Any], month: list[Fee]) -> None:
    mine = [f for f in month if f.tenant == "brand-b"]
    document = json.loads(report("--tenant", "brand-b", "--by", "tariff", "--format", "json").out)
    assert document["tenant"] == "brand-b" and document["reconciled"] is True
    assert {(r["tariff"], r["currency"]): (r["notices"], r["charged_minor"]) for r in document["rows"]} == _sums(
        mine, lambda f: f.tariff
    )
    assert {t["currency"]: t["charged_minor"] for t in document["totals"]} == _grand(mine)


def test_by_tenant_totals_per_tenant_and_currency(report: Callable[..., Any], month: list[Fee]) -> None:
    """Never two currencies in one sum; the tenants' rows add up to the period's totals."""
    document = json.loads(report("--by", "tenant", "--format", "json").out)
    rows = {(r["tenant"], r["currency"]): (r["notices"], r["charged_minor"]) for r in document["rows"]}
    assert rows == _sums(month, lambda f: f.tenant)
    assert {t for t, _ in rows} == set(TENANTS) and {c for _, c in rows} == {"GBP", "EUR"}
    assert {t["currency"]: t["charged_minor"] for t in document["totals"]} == _grand(month)


def test_export_for_one_tenant_csv_and_json(
    mcn: Callable[..., Any], local_state: Path, month: list[Fee], files: Path
) -> None:
    mine = {f.notification_id: f for f in month if f.tenant == "brand-b"}
    output = files / "brand-b.csv"
    result = mcn(
        "fees", "export", "--tenant", "brand-b", "--period", PERIOD, "--output", str(output),
        "--local-state", str(local_state),
    )  # fmt: skip
    assert result.code == 0, result.err
    rows = list(csv.DictReader(output.open()))
    notices = [r for r in rows if r["notification_id"] != "TOTAL"]
    assert sorted(r["notification_id"] for r in notices) == sorted(mine)
    assert {r["tenant"] for r in notices} == {"brand-b"}
    assert {r["currency"]: int(r["charged_minor"]) for r in rows if r["notification_id"] == "TOTAL"} == _grand(
        list(mine.values())
    )
    result = mcn(
        "fees",
        "export",
        "--tenant",
        "brand-b",
        "--period",
        PERIOD,
        "--format",
        "json",
        "--local-state",
        str(local_state),
    )
    document = json.loads(result.out)
    assert document["tenant"] == "brand-b" and len(document["rows"]) == len(mine)


def test_bad_tenant_is_a_clear_error(mcn: Callable[..., Any], local_state: Path) -> None:
    result = mcn("fees", "report", "--period", PERIOD, "--tenant", "a#b", "--local-state", str(local_state))
    assert result.code == 2 and "tenant id must be" in result.err


# ---------------------------------------------------------------- a tenant's finance role
# moto does not evaluate IAM conditions for DynamoDB (its IAM checks actions only; no
# dynamodb:LeadingKeys in its request context), so the policy cannot be enforced here. What is
# proven instead: every DynamoDB request a tenant's finance commands make is allowed by the
# template's FinanceTenantReadPolicy, evaluated as IAM does for these requests (action in the
# statement; ForAllValues:StringLike over the request's partition keys with the principal's tag
# substituted), and the requests another tenant or the operator-wide report need are not.
def _finance_statement() -> dict[str, Any]:
    from mcn_devkit.template import load_template

    policy = load_template()["Resources"]["FinanceTenantReadPolicy"]["Properties"]["PolicyDocument"]
    (statement,) = [s for s in policy["Statement"] if s["Sid"] == "ReadOwnTenantFees"]
    return statement


def _leading_keys(operation: str, params: dict[str, Any]) -> list[str] | None:
    """The partition-key values a request reaches (dynamodb:LeadingKeys); None when it names none."""
    import re

    if operation == "Query":
        names = params.get("ExpressionAttributeNames", {})
        values = params.get("ExpressionAttributeValues", {})
        return [
            values[value]["S"]
            for name, value in re.findall(r"(#\w+) = (:\w+)", params["KeyConditionExpression"])
            if names.get(name, name) == "fee_partition"
        ]
    if operation == "GetItem":
        return [params["Key"]["fee_partition"]["S"]]
    if operation == "BatchGetItem":
        return [k["fee_partition"]["S"] for t in params["RequestItems"].values() for k in t["Keys"]]
    return None


def _allowed(statement: dict[str, Any], tenant_tag: str, operation: str, params: dict[str, Any]) -> bool:
    import fnmatch

    if f"dynamodb:{operation}" not in statement["Action"]:
        return False
    (pattern,) = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    pattern = pattern.replace("${aws:PrincipalTag/mcn-tenant}", tenant_tag)
    keys = _leading_keys(operation, params) or []  # ForAllValues over no key holds (DescribeTable)
    return all(fnmatch.fnmatchcase(key, pattern) for key in keys)


def _dynamodb_requests(run: Callable[[], Any]) -> list[tuple[str, dict[str, Any]]]:
    import botocore.client

    seen: list[tuple[str, dict[str, Any]]] = []
    original = botocore.client.BaseClient._make_api_call

    def recording(self, operation, params):  # type: ignore[no-untyped-def]
        if self.meta.service_model.service_name == "dynamodb":
            seen.append((operation, params))
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = recording  # type: ignore[method-assign]
    try:
        run()
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]
    return seen


def test_policy_shape_holds_a_role_to_its_tenants_keys() -> None:
    statement = _finance_statement()
    assert statement["Effect"] == "Allow"
    assert not {"dynamodb:Scan", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} & set(
        statement["Action"]
    )
    assert statement["Condition"]["ForAllValues:StringLike"] == {
        "dynamodb:LeadingKeys": ["${aws:PrincipalTag/mcn-tenant}#*"]
    }
    assert statement["Condition"]["Null"] == {"aws:PrincipalTag/mcn-tenant": "false"}


def test_every_request_of_a_tenants_export_and_report_is_allowed_for_that_tenant_only(
    mcn: Callable[..., Any], local_state: Path, month: list[Fee]
) -> None:
    statement = _finance_statement()
    for command in (
        ("fees", "export", "--tenant", "brand-b", "--period", PERIOD),
        ("fees", "report", "--tenant", "brand-b", "--period", PERIOD, "--by", "day"),
        ("fees", "report", "--tenant", "brand-b", "--period", PERIOD, "--by", "notice", "--format", "json"),
    ):
        requests = _dynamodb_requests(lambda c=command: mcn(*c, "--local-state", str(local_state)))  # type: ignore[misc]
        reads = [(op, p) for op, p in requests if op != "DescribeTable"]
        assert len(reads) >= fee_keys.PERIOD_SHARDS, command  # one Query per partition at least
        assert all(_allowed(statement, "brand-b", op, p) for op, p in requests), command
        # the condition bites: the same requests are refused to another tenant's role
        assert not any(_allowed(statement, "default", op, p) for op, p in reads), command
        assert not any(_allowed(statement, "brand", op, p) for op, p in reads), command  # a prefix of the id


def test_the_operator_wide_report_is_beyond_a_tenant_role(mcn: Callable[..., Any], local_state: Path) -> None:
    """It lists the period's tenants first: a key no tenant's prefix matches."""
    statement = _finance_statement()
    requests = _dynamodb_requests(
        lambda: mcn("fees", "report", "--period", PERIOD, "--by", "tenant", "--local-state", str(local_state))
    )
    assert requests and not all(_allowed(statement, "brand-b", op, p) for op, p in requests)
