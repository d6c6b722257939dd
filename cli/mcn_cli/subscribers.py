"""`mcn subscriber show|set NUMBER` and `mcn calls NUMBER`: operator self-care on a subscriber's behalf.

Numbers are normalised to E.164 (national formats read in `--region`, default GB) and masked in
the output unless `--show-numbers`. Every setting is validated before anything is written.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from mcn_cli.target import Target, TargetError, add_target_arguments, aws_errors, resolve_target

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
DEFAULT_NUMBER_REGION = "GB"
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


class InputError(ValueError):
    """A flag value that cannot be stored; the message says what is expected."""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    subscriber = subparsers.add_parser("subscriber", help="a subscriber's preferences and policy")
    commands = subscriber.add_subparsers(dest="subscriber_command", required=True, metavar="COMMAND")

    show = commands.add_parser(
        "show",
        help="show a subscriber's stored preferences",
        description="Show language, time zone, quiet hours, opt-out, blocked callers, NotifyMe and whether a "
        "notice is in flight. Exit 1 when the number has no stored record.",
    )
    _number_arguments(show)
    show.add_argument("--json", action="store_true", help="print JSON")
    add_target_arguments(show, region_flag=False)
    show.set_defaults(func=run_show)

    set_ = commands.add_parser(
        "set",
        help="change a subscriber's preferences (creates the record if needed)",
        description="Change only what is given; everything is validated before anything is written.",
    )
    _number_arguments(set_)
    set_.add_argument("--language", metavar="xx", help="notice language, one of the configured templates (e.g. en)")
    set_.add_argument("--time-zone", metavar="Area/City", help="IANA time zone, e.g. Europe/London")
    set_.add_argument("--quiet-hours", metavar="HH:MM-HH:MM|off", help="no notices in this window (local time)")
    opt = set_.add_mutually_exclusive_group()
    opt.add_argument("--opt-out", action="store_true", help="stop missed call notices")
    opt.add_argument("--opt-in", action="store_true", help="resume missed call notices")
    set_.add_argument("--block", action="append", default=[], metavar="NUMBER", help="block a caller (repeatable)")
    set_.add_argument("--unblock", action="append", default=[], metavar="NUMBER", help="unblock a caller (repeatable)")
    set_.add_argument("--notify-me", choices=["on", "off"], help="tell callers when this subscriber is back")
    add_target_arguments(set_, region_flag=False)
    set_.set_defaults(func=run_set)

    calls = subparsers.add_parser(
        "calls",
        help="a subscriber's pending missed calls (callers masked unless --show-numbers)",
        description="List the missed calls waiting for the subscriber's next attach, oldest first.",
    )
    _number_arguments(calls)
    calls.add_argument("--json", action="store_true", help="print JSON")
    add_target_arguments(calls, region_flag=False)
    calls.set_defaults(func=run_calls)


def _number_arguments(parser: argparse.ArgumentParser) -> None:
    # nargs="+": a number as people write it, with spaces, needs no quotes (`07912 000123`)
    parser.add_argument(
        "number", metavar="NUMBER", nargs="+", help="subscriber number, national or international (+44..)"
    )
    parser.add_argument(
        "--region",
        default=DEFAULT_NUMBER_REGION,
        help=f"country of national-format numbers (default {DEFAULT_NUMBER_REGION}); the AWS region is --aws-region",
    )
    parser.add_argument("--show-numbers", action="store_true", help="show numbers in full (personal data)")


# ---------------------------------------------------------------- validation (no AWS)
def normalise(number: str, region: str, what: str = "number") -> str:
    from mcn_core.numbers import InvalidNumberError, to_e164

    try:
        return to_e164(number, region.upper())
    except InvalidNumberError as exc:
        raise InputError(f"invalid {what} {number!r} (region {region.upper()}): {exc}") from None


def validate_time_zone(text: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"unknown time zone {text!r}: use an IANA name such as Europe/London") from None
    return text


def validate_quiet_hours(text: str) -> str | None:
    """None for "off"; otherwise the canonical HH:MM-HH:MM."""
    from mcn_core.models.config import QuietHours

    if text.strip().lower() == "off":
        return None
    try:
        window = QuietHours.parse(text)
    except ValueError:
        raise InputError(f"quiet hours must look like 22:00-07:00 (24-hour clock) or off, got {text!r}") from None
    if window.start == window.end:
        raise InputError(f"quiet hours {text!r} are an empty window: start and end must differ")
    return str(window)


def validate_language(text: str, configured: set[str] | None) -> str:
    language = text.strip().lower()
    if not _LANGUAGE.match(language):
        raise InputError(f"language must be an ISO 639 code such as en, got {text!r}")
    if configured is not None and language not in configured:
        raise InputError(f"language {language!r} has no templates; configured: {', '.join(sorted(configured))}")
    return language


@dataclass(frozen=True)
class Changes:
    language: str | None = None
    time_zone: str | None = None
    quiet_hours: str | None = None
    quiet_hours_off: bool = False
    opted_out: bool | None = None
    notify_me: bool | None = None
    block: frozenset[str] = frozenset()
    unblock: frozenset[str] = frozenset()

    def empty(self) -> bool:
        return self == Changes()


def changes_from(args: argparse.Namespace, configured_languages: set[str] | None) -> Changes:
    """Every setting checked; one InputError listing every invalid one (one line each)."""
    problems: list[str] = []

    def checked(check: Any, *arguments: Any) -> Any:
        try:
            return check(*arguments)
        except InputError as exc:
            problems.append(str(exc))
            return None

    block = frozenset(checked(normalise, n, args.region, "number to block") for n in args.block)
    unblock = frozenset(checked(normalise, n, args.region, "number to unblock") for n in args.unblock)
    if (block & unblock) - {None}:
        problems.append("the same number cannot be blocked and unblocked at once")
    quiet = checked(validate_quiet_hours, args.quiet_hours) if args.quiet_hours is not None else None
    language = checked(validate_language, args.language, configured_languages) if args.language is not None else None
    time_zone = checked(validate_time_zone, args.time_zone) if args.time_zone is not None else None
    if problems:
        raise InputError("\n".join(problems))
    return Changes(
        language=language,
        time_zone=time_zone,
        quiet_hours=quiet,
        quiet_hours_off=args.quiet_hours is not None and quiet is None,
        opted_out=True if args.opt_out else False if args.opt_in else None,
        notify_me=None if args.notify_me is None else args.notify_me == "on",
        block=block,
        unblock=unblock,
    )


# ---------------------------------------------------------------- data access (the template's tables)
class SubscriberAdmin:
    """Reads and writes for these commands, through the DAL's PynamoDB models."""

    def __init__(self, target: Target) -> None:
        from mcn_core.dal.tables import MissedCallRecord, SubscriberRecord, bind

        self._subscribers = bind(SubscriberRecord, target.output("SubscribersTableName"))
        self._calls = bind(MissedCallRecord, target.output("MissedCallsTableName"))

    def get(self, msisdn: str) -> Any | None:
        try:
            return self._subscribers.get(msisdn, consistent_read=True)
        except self._subscribers.DoesNotExist:
            return None

    def apply(self, msisdn: str, changes: Changes) -> None:
        model = self._subscribers
        actions: list[Any] = []
        if changes.language is not None:
            actions.append(model.language.set(changes.language))
        if changes.time_zone is not None:
            actions.append(model.time_zone.set(changes.time_zone))
        if changes.quiet_hours is not None:
            actions.append(model.quiet_hours.set(changes.quiet_hours))
        if changes.quiet_hours_off:
            actions.append(model.quiet_hours.remove())
        if changes.opted_out is not None:
            actions.append(model.opted_out.set(changes.opted_out))
        if changes.notify_me is not None:
            actions.append(model.notify_me.set(changes.notify_me))
        if changes.block:
            actions.append(model.blocked_callers.add(set(changes.block)))
        if actions:
            model(msisdn).update(actions=actions)  # UpdateItem creates the record when absent
        if changes.unblock:
            # A second update: DynamoDB refuses ADD and DELETE on one attribute in one expression.
            model(msisdn).update(actions=[model.blocked_callers.delete(set(changes.unblock))])

    def calls(self, msisdn: str) -> tuple[list[Any], int]:
        """The calls no notice cleared yet, oldest first, and how many cleared ones await TTL deletion."""
        from mcn_core.dal.notify import clear_mark_of

        record = self.get(msisdn)
        mark = clear_mark_of(record) if record is not None else None
        stored = sorted(self._calls.query(msisdn, consistent_read=True), key=lambda call: call.call_time)
        uncleared = [c for c in stored if mark is None or not mark.covers(c.call_ref, c.received_at)]
        return uncleared, len(stored) - len(uncleared)


def _configured_languages(target: Target, err: TextIO) -> set[str] | None:
    """The languages the deployed configuration has templates for; None (format check only) if unreadable."""
    from mcn_cli.config_cmd import PARAMETER_OUTPUT, ConfigFileError, parse_config

    try:
        value = target.client("ssm").get_parameter(Name=target.output(PARAMETER_OUTPUT))["Parameter"]["Value"]
        return set(parse_config(value, "deployed configuration").templates)
    except (ConfigFileError, TargetError, *aws_errors()) as exc:  # unreadable or invalid: do not block the change
        print(f"warning: cannot read the configured languages ({exc}); checking the code's format only", file=err)
        return None


# ---------------------------------------------------------------- output
def _shown(number: str | None, show_numbers: bool) -> str:
    from mcn_core.numbers import mask

    if not number:
        return "-"
    return number if show_numbers else mask(number)


def subscriber_document(msisdn: str, record: Any, show_numbers: bool, now: datetime) -> dict[str, Any]:
    lock_until = record.notify_lock_until
    return {
        "msisdn": _shown(msisdn, show_numbers),
        "opted_out": bool(record.opted_out),
        "language": record.language,
        "time_zone": record.time_zone,
        "quiet_hours": record.quiet_hours,
        "notify_me": bool(record.notify_me),
        "blocked_callers": sorted(_shown(n, show_numbers) for n in (record.blocked_callers or set())),
        "notice_in_flight": bool(record.notify_lock and lock_until and lock_until > now),
        "notice_in_flight_until": lock_until.isoformat() if record.notify_lock and lock_until else None,
    }


def _print_subscriber(document: dict[str, Any], out: TextIO) -> None:
    def value(v: Any, default: str) -> str:
        return default if v is None else "yes" if v is True else "no" if v is False else str(v)

    blocked = document["blocked_callers"]
    lines = [
        ("subscriber", document["msisdn"]),
        ("opted out", value(document["opted_out"], "no")),
        ("language", value(document["language"], "(configuration default)")),
        ("time zone", value(document["time_zone"], "(configuration default)")),
        ("quiet hours", value(document["quiet_hours"], "off")),
        ("notify me", "on" if document["notify_me"] else "off"),
        ("blocked callers", f"{len(blocked)}: {', '.join(blocked)}" if blocked else "none"),
        (
            "notice in flight",
            f"yes, until {document['notice_in_flight_until']}" if document["notice_in_flight"] else "no",
        ),
    ]
    for label, text in lines:
        print(f"{label:17} {text}", file=out)


# ---------------------------------------------------------------- commands
def _prepare(args: argparse.Namespace, err: TextIO) -> tuple[str, Target] | int:
    try:
        msisdn = normalise(" ".join(args.number), args.region, "subscriber number")
    except InputError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE
    try:
        return msisdn, resolve_target(args)
    except TargetError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_ERROR


def run_show(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    prepared = _prepare(args, err)
    if isinstance(prepared, int):
        return prepared
    msisdn, target = prepared
    try:
        record = SubscriberAdmin(target).get(msisdn)
    except TargetError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_ERROR
    except aws_errors() as exc:
        print(f"error: cannot read subscribers from {target.describe()}: {exc}", file=err)
        return EXIT_ERROR
    if record is None:
        print(f"error: unknown subscriber {_shown(msisdn, args.show_numbers)}: no preferences stored", file=err)
        return EXIT_ERROR
    document = subscriber_document(msisdn, record, args.show_numbers, datetime.now(UTC))
    if args.json:
        print(json.dumps(document, indent=2), file=out)
    else:
        _print_subscriber(document, out)
    return EXIT_OK


def run_set(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    prepared = _prepare(args, err)
    if isinstance(prepared, int):
        return prepared
    msisdn, target = prepared
    try:
        configured = _configured_languages(target, err) if args.language is not None else None
        changes = changes_from(args, configured)
    except InputError as exc:
        lines = str(exc).splitlines()
        print("\n".join(f"error: {line}" for line in lines) + "\nnothing was changed", file=err)
        return EXIT_USAGE
    if changes.empty():
        print("error: nothing to change: give at least one setting (see --help)", file=err)
        return EXIT_USAGE
    try:
        admin = SubscriberAdmin(target)
        admin.apply(msisdn, changes)
        record = admin.get(msisdn)
    except TargetError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_ERROR
    except aws_errors() as exc:
        print(f"error: cannot update {_shown(msisdn, args.show_numbers)} on {target.describe()}: {exc}", file=err)
        return EXIT_ERROR
    print(f"updated {_shown(msisdn, args.show_numbers)}", file=out)
    _print_subscriber(subscriber_document(msisdn, record, args.show_numbers, datetime.now(UTC)), out)
    return EXIT_OK


def run_calls(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    prepared = _prepare(args, err)
    if isinstance(prepared, int):
        return prepared
    msisdn, target = prepared
    now = datetime.now(UTC)
    try:
        records, cleared = SubscriberAdmin(target).calls(msisdn)
    except TargetError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_ERROR
    except aws_errors() as exc:
        print(f"error: cannot read missed calls from {target.describe()}: {exc}", file=err)
        return EXIT_ERROR
    # TTL deletes expired items some time after expiry: they are no longer pending.
    pending = [r for r in records if r.expires_at > now]
    expired = len(records) - len(pending)
    calls = [
        {
            "call_time": r.call_time.astimezone(UTC).isoformat(timespec="seconds"),
            "caller": _shown(r.caller, args.show_numbers) if r.caller else "private number",
            "presentation": r.presentation,
            "reason": r.reason,
            "msc": r.msc,
            "call_ref": r.call_ref,
            "expires_at": r.expires_at.astimezone(UTC).isoformat(timespec="seconds"),
        }
        for r in pending
    ]
    subscriber = _shown(msisdn, args.show_numbers)
    if args.json:
        document = {
            "subscriber": subscriber,
            "pending": calls,
            "expired_awaiting_deletion": expired,
            "notified_awaiting_deletion": cleared,
        }
        print(json.dumps(document, indent=2), file=out)
        return EXIT_OK
    callers = {c["caller"] for c in calls}
    print(f"{len(calls)} pending missed call(s) from {len(callers)} caller(s) for {subscriber}", file=out)
    if calls:
        print(f"{'call time (UTC)':25} {'caller':16} {'reason':14} {'expires (UTC)':25} call ref", file=out)
        for c in calls:
            print(
                f"{c['call_time']:25} {c['caller']:16} {c['reason']:14} {c['expires_at']:25} {c['call_ref']}", file=out
            )
    if expired:
        print(f"({expired} expired call(s) awaiting TTL deletion not shown)", file=out)
    if cleared:
        print(f"({cleared} notified call(s) awaiting TTL deletion not shown)", file=out)
    return EXIT_OK
