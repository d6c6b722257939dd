"""`mcn fees report`: a period's fees per notice, day, tariff, promotion, status or tenant (CSV, JSON,
table, chart); `mcn fees export`: one tenant's fees, one row per notice, for the brand's finance team;
`mcn fees migrate`: copy fee records from the fee table before it was keyed by tenant.

Totals are integer minor units and reconcile exactly with the fee records; the report refuses to
print a result whose groups do not add up to its rows. Rows are streamed from DynamoDB page by
page, so a period of millions of notices never sits in memory.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO

from mcn_cli.progress import track
from mcn_cli.target import TargetError, add_target_arguments, aws_errors, resolve_target
from mcn_core.logic.finance import SUMMED_FIELDS

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_RECONCILED = 3

NOTICE_COLUMNS = [
    "notification_id",
    "tenant",
    "created_at",
    "subscriber",
    "tariff_id",
    "charge_on",
    "promotion_id",
    "status",
    "failure_reason",
    "calls_listed",
    "callers_listed",
    "messages",
    "segments",
    "calls_placed",
    "calls_alerted",
    "currency",
    "fee_minor",
    "call_fee_minor",
    "charged_minor",
    "charged",
]
TOTAL_COLUMNS = [
    "currency",
    *SUMMED_FIELDS,
    "charged",
    "status_submitted",
    "status_delivered",
    "status_failed",
    "status_expired",
]
TOTAL_KEY = "TOTAL"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from mcn_core.logic.finance import GroupBy

    fees = subparsers.add_parser("fees", help="finance: fee reports")
    fees_commands = fees.add_subparsers(dest="fees_command", required=True, metavar="COMMAND")
    report = fees_commands.add_parser(
        "report",
        help="a period's fees, one row per notice or aggregated; totals in minor units",
        description="Fees of one period (YYYY-MM, UTC), of every tenant or of one (--tenant), read from the "
        "fees table by tenant. "
        "charged_minor is what is billed: charge-on-submit notices when submitted or delivered, "
        "charge-on-delivery notices only when delivered; failed and expired notices are not charged. "
        "Totals are per currency, in integer minor units; a report whose groups do not add up to its rows "
        f"is refused (exit {EXIT_NOT_RECONCILED}). Subscriber numbers are masked unless --show-numbers.",
    )
    report.add_argument("--period", required=True, help="billing period, e.g. 2026-11")
    report.add_argument("--tenant", help="only this tenant's fees (default: every tenant with fees in the period)")
    report.add_argument(
        "--by", choices=[g.value for g in GroupBy], default=GroupBy.DAY.value, help="one row per ... (default day)"
    )
    report.add_argument("--format", choices=["table", "csv", "json"], default="table", help="default table")
    report.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    report.add_argument("--chart", metavar="PATH.png", help="also plot notices and revenue per day (PNG)")
    report.add_argument("--show-numbers", action="store_true", help="show subscriber numbers in full (--by notice)")
    report.add_argument("--page-size", type=int, default=500, help=argparse.SUPPRESS)
    add_target_arguments(report)
    report.set_defaults(func=run_report)

    export = fees_commands.add_parser(
        "export",
        help="one tenant's fees of a period, one row per notice (CSV or JSON), for the brand's finance team",
        description="The per-notice fee report of one tenant (every read is keyed by the tenant, so a finance "
        "role limited to that tenant can run it), with totals per currency, reconciled "
        f"(exit {EXIT_NOT_RECONCILED} if not). Subscriber numbers are masked unless --show-numbers.",
    )
    export.add_argument("--tenant", required=True, help="the tenant (brand) whose fees to export")
    export.add_argument("--period", required=True, help="billing period, e.g. 2026-11")
    export.add_argument("--format", choices=["csv", "json"], default="csv", help="default csv")
    export.add_argument("--output", metavar="FILE", help="write the export to FILE instead of stdout")
    export.add_argument("--show-numbers", action="store_true", help="show subscriber numbers in full")
    export.add_argument("--page-size", type=int, default=500, help=argparse.SUPPRESS)
    add_target_arguments(export)
    export.set_defaults(func=run_report, by="notice", chart=None)

    migrate = fees_commands.add_parser(
        "migrate",
        help="copy fee records from the fee table before it was keyed by tenant (after the upgrade's deploy)",
        description="Copies every fee record of FROM_TABLE (the fee table as it was before the upgrade, kept "
        "by its Retain policy) into the stack's fee table under its tenant-first key (records without a "
        "tenant are the default tenant's), registers each period's tenants, and points the SMSC message-id "
        "index at the copies so receipts still find them. Idempotent: records already copied are left "
        "as they are (a receipt may have changed them since). Prints what it copied; --dry-run copies nothing.",
    )
    migrate.add_argument(
        "--from-table", required=True, help="the old fee table's name (FeesTableName before the upgrade)"
    )
    migrate.add_argument("--dry-run", action="store_true", help="count what would be copied, write nothing")
    add_target_arguments(migrate)
    migrate.set_defaults(func=run_migrate)


# ---------------------------------------------------------------- the command
def run_report(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    from mcn_core.dal.fee_keys import validate_tenant
    from mcn_core.logic.finance import FinanceError, GroupBy, ReconciliationError, validate_period

    try:
        period = validate_period(args.period)
        tenants = [validate_tenant(args.tenant)] if args.tenant else None
    except ValueError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE
    if args.chart and Path(args.chart).suffix.lower() != ".png":
        print(f"error: --chart must name a .png file, got {args.chart!r}", file=err)
        return EXIT_USAGE
    try:
        target = resolve_target(args)
        fees_table = target.output("FeesTableName")
    except TargetError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_ERROR

    from mcn_core.dal.fees_reader import FeesReader

    reader = FeesReader(fees_table, page_size=args.page_size)
    by = GroupBy(args.by)
    # A file report is written aside and moved into place only when complete and reconciled.
    partial = Path(f"{args.output}.partial") if args.output else None
    try:
        with ExitStack() as files:
            sink = files.enter_context(partial.open("w", newline="")) if partial else out
            if by is GroupBy.NOTICE:
                summary = _notice_report(reader, period, tenants, args, sink, err)
            else:
                summary = _grouped_report(reader, period, tenants, by, args, sink, err)
        if partial:
            partial.replace(args.output)
    except (FinanceError, ReconciliationError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_NOT_RECONCILED
    except BrokenPipeError:
        raise  # the reader left (`| head`): main() ends quietly
    except OSError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_ERROR
    except aws_errors() as exc:
        print(f"error: cannot read fees from {target.describe()}: {exc}", file=err)
        return EXIT_ERROR
    finally:
        if partial:
            partial.unlink(missing_ok=True)
    if summary.wrong_period:
        print(f"warning: {summary.wrong_period} record(s) under {period} carry another period", file=err)
    if args.output:
        print(f"report written to {args.output}", file=err)
    if args.chart:
        print(f"chart written to {args.chart}", file=err)
    return EXIT_OK


class _Summary:
    def __init__(self, wrong_period: int) -> None:
        self.wrong_period = wrong_period


def _grouped_report(
    reader: Any, period: str, tenants: list[str] | None, by: Any, args: argparse.Namespace, sink: TextIO, err: TextIO
) -> _Summary:
    from mcn_core.logic.finance import Aggregator, GroupBy

    aggregator = Aggregator(period, by)
    per_day = Aggregator(period, GroupBy.DAY) if args.chart and by is not GroupBy.DAY else None
    for row in track(reader.period_rows(period, tenants), err, f"reading fees of {_scope(period, tenants)}"):
        aggregator.add(row)
        if per_day:
            per_day.add(row)
    report = aggregator.report()  # raises ReconciliationError before anything is printed
    rows = [{by.value: key, **totals.to_dict()} for key, totals in report.rows()]
    totals = [{by.value: TOTAL_KEY, **totals.to_dict()} for totals in report.totals.sorted()]
    columns = [by.value, *TOTAL_COLUMNS]
    if args.format == "csv":
        _write_csv(sink, columns, [*rows, *totals])
    elif args.format == "json":
        document = {
            "period": period,
            **({"tenant": tenants[0]} if tenants else {}),
            "by": by.value,
            "rows": rows,
            "totals": [t.to_dict() for t in report.totals.sorted()],
            "reconciled": True,
        }
        sink.write(json.dumps(document, indent=2) + "\n")
    else:
        _write_table(sink, columns, rows, totals, title=f"fees {_scope(period, tenants)} by {by.value}")
    if args.chart:
        write_chart(Path(args.chart), (per_day or aggregator).report())
    return _Summary(report.totals.wrong_period)


def _scope(period: str, tenants: list[str] | None) -> str:
    return f"{period}, tenant {tenants[0]}" if tenants else period


def _notice_report(
    reader: Any, period: str, tenants: list[str] | None, args: argparse.Namespace, sink: TextIO, err: TextIO
) -> _Summary:
    """One row per notice, streamed in time order; totals from the rows are checked against the lines written."""
    from mcn_core.logic.finance import Aggregator, GrandTotals, GroupBy, reconcile, stream_notices
    from mcn_core.numbers import mask

    totals = GrandTotals()
    written = GrandTotals()  # rebuilt from what was actually written: the reconciliation's other side
    per_day = Aggregator(period, GroupBy.DAY) if args.chart else None

    def lines() -> Iterator[dict[str, Any]]:
        rows = track(
            reader.period_rows_in_time_order(period, tenants), err, f"reading fees of {_scope(period, tenants)}"
        )
        for row in stream_notices(rows, totals, period):
            written.add(row)
            if per_day:
                per_day.add(row)
            yield {
                "notification_id": row.notification_id,
                "tenant": row.tenant,
                "created_at": row.created_at,
                "subscriber": row.subscriber if args.show_numbers else mask(row.subscriber),
                "tariff_id": row.tariff_id,
                "charge_on": row.charge_on,
                "promotion_id": row.promotion_id or "",
                "status": row.status,
                "failure_reason": row.failure_reason or "",
                "calls_listed": row.calls_listed,
                "callers_listed": row.callers_listed,
                "messages": row.messages,
                "segments": row.segments,
                "calls_placed": row.calls_placed,
                "calls_alerted": row.calls_alerted,
                "currency": row.currency,
                "fee_minor": row.fee_minor,
                "call_fee_minor": row.call_fee_minor,
                "charged_minor": row.charged_minor,
                "charged": _charged_text(row),
            }

    def total_lines() -> list[dict[str, Any]]:
        reconcile(written.per_currency.values(), totals)
        return [{"notification_id": TOTAL_KEY, **t.to_dict()} for t in totals.sorted()]

    if args.format == "csv":
        writer = csv.DictWriter(sink, fieldnames=_union(NOTICE_COLUMNS, TOTAL_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(lines())
        writer.writerows(total_lines())
    elif args.format == "json":
        # Written incrementally: the document is valid JSON, but never built in memory.
        scope = f', "tenant": {json.dumps(tenants[0])}' if tenants else ""
        sink.write(f'{{"period": {json.dumps(period)}{scope}, "by": "notice", "rows": [')
        for index, line in enumerate(lines()):
            sink.write(("," if index else "") + "\n  " + json.dumps(line))
        total_rows = [{k: v for k, v in t.items() if k != "notification_id"} for t in total_lines()]
        sink.write(f'\n], "totals": {json.dumps(total_rows)}, "reconciled": true}}\n')
    else:
        columns = [c for c in NOTICE_COLUMNS if c not in ("failure_reason", "callers_listed", "calls_alerted")]
        _stream_table(sink, columns, lines(), total_lines, title=f"fees {_scope(period, tenants)}, one row per notice")
    if per_day:
        write_chart(Path(args.chart), per_day.report())
    return _Summary(totals.wrong_period)


def _charged_text(row: Any) -> str:
    from mcn_core.logic.finance import format_minor

    return format_minor(row.charged_minor, row.currency)


def _union(*lists: list[str]) -> list[str]:
    return list(dict.fromkeys(name for names in lists for name in names))


# ---------------------------------------------------------------- writers
def _write_csv(sink: TextIO, columns: list[str], rows: Iterable[dict[str, Any]]) -> None:
    writer = csv.DictWriter(sink, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)


_TABLE_COLUMNS = {
    "notices": "notices",
    "charged_notices": "charged",
    "calls_listed": "calls",
    "segments": "segments",
    "status_failed": "failed",
    "status_expired": "expired",
    "currency": "cur",
    "charged_minor": "charged_minor",
    "charged": "amount",
}


def _write_table(
    sink: TextIO, columns: list[str], rows: list[dict[str, Any]], totals: list[dict[str, Any]], title: str
) -> None:
    shown = [columns[0], *_TABLE_COLUMNS]
    headers = [columns[0], *_TABLE_COLUMNS.values()]
    cells = [[str(row.get(c, "")) for c in shown] for row in [*rows, *totals]]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))
        )

    sink.write((title + "\n" if title else "") + line(headers) + "\n" + "  ".join("-" * w for w in widths) + "\n")
    for values in cells[: len(rows)]:
        sink.write(line(values) + "\n")
    sink.write("  ".join("=" * w for w in widths) + "\n")
    for values in cells[len(rows) :]:
        sink.write(line(values) + "\n")
    if not totals:
        sink.write("(no fee records in this period)\n")
    sink.write("reconciled: the rows add up to the fee records\n")


def _stream_table(sink: TextIO, columns: list[str], lines: Iterable[dict[str, Any]], totals: Any, title: str) -> None:
    """Fixed-width rows written as they come (widths cannot be measured without holding the period)."""
    widths = {c: max(len(c), 10) for c in columns} | {"notification_id": 36, "created_at": 29, "subscriber": 16}
    sink.write(title + "\n" + "  ".join(c.ljust(widths[c]) for c in columns) + "\n")
    for line in lines:
        sink.write("  ".join(str(line[c]).ljust(widths[c]) for c in columns) + "\n")
    total_rows = [{"total": TOTAL_KEY, **{k: v for k, v in t.items() if k != "notification_id"}} for t in totals()]
    _write_table(sink, ["total"], [], total_rows, title="")


# ---------------------------------------------------------------- chart
def write_chart(path: Path, per_day_report: Any) -> None:
    """Notices (bars) and charged revenue (line, per currency) for every day of the period."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    from mcn_core.logic.finance import format_minor, per_day

    days = per_day(per_day_report)
    labels = sorted(days)
    currencies = sorted({currency for totals in days.values() for currency in totals})
    notices = [sum(t.notices for t in days[day].values()) for day in labels]
    figure, notices_axis = plt.subplots(figsize=(11, 5))
    try:
        positions = range(len(labels))
        notices_axis.bar(positions, notices, color="#9bbbd4", label="notices")
        notices_axis.set_ylabel("notices")
        notices_axis.yaxis.set_major_locator(MaxNLocator(integer=True))
        notices_axis.set_xticks(list(positions), [day[-2:] for day in labels])
        notices_axis.set_xlabel(f"day of {per_day_report.period} (UTC)")
        revenue_axis = notices_axis.twinx()
        for currency in currencies:
            # Plotted in minor units (integers); the axis labels them in major units.
            revenue = [days[day][currency].charged_minor if currency in days[day] else 0 for day in labels]
            revenue_axis.plot(positions, revenue, marker="o", label=f"revenue {currency}")
        if currencies:
            only = currencies[0] if len(currencies) == 1 else None
            revenue_axis.yaxis.set_major_formatter(
                FuncFormatter(lambda value, _: format_minor(round(value), only) if only else f"{round(value)}")
            )
            revenue_axis.set_ylabel(f"charged ({only})" if only else "charged (minor units)")
        handles = notices_axis.get_legend_handles_labels()
        more = revenue_axis.get_legend_handles_labels()
        notices_axis.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left")
        notices_axis.set_title(f"Missed Call Notice: notices and revenue per day, {per_day_report.period}")
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)


# ---------------------------------------------------------------- migration
def run_migrate(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        target = resolve_target(args)
        fees_table, message_ids = target.output("FeesTableName"), target.output("MessageIdsTableName")
    except TargetError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_ERROR
    if args.from_table == fees_table:
        print(
            "error: --from-table names the stack's current fee table; give the table from before the upgrade", file=err
        )
        return EXIT_USAGE
    from mcn_core.dal.fee_migration import migrate_fees

    try:
        result = migrate_fees(target.client("dynamodb"), args.from_table, fees_table, message_ids, dry_run=args.dry_run)
    except ValueError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_ERROR
    except aws_errors() as exc:
        print(f"error: cannot migrate fees from {args.from_table} on {target.describe()}: {exc}", file=err)
        return EXIT_ERROR
    for (tenant, period), count in sorted(result.per_tenant_period.items()):
        print(f"{period}  tenant {tenant}: {count} fee record(s)", file=out)
    if args.dry_run:
        print(f"{result.read} fee record(s) in {args.from_table} would be copied (dry run: nothing written)", file=out)
        return EXIT_OK
    print(
        f"{result.read} fee record(s) read from {args.from_table}: {result.copied} copied, "
        f"{result.already_there} already there; {result.message_ids_pointed} message id(s) pointed at the copies, "
        f"{result.message_ids_expired} already expired",
        file=out,
    )
    return EXIT_OK
