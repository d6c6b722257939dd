"""`mcn preview --subscriber N`: exactly the SMS that would be sent now, with segments and encoding.

Runs the Compose step's own logic against the target's tables and configuration (the embedded
AWS of `mcn local up`, or a deployed stack), without sending, charging or locking anything.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from mcn_cli.target import TargetError, add_target_arguments, aws_errors, resolve_target
from mcn_core.numbers import InvalidNumberError, hide_numbers_in_text, mask, to_e164


def run_preview(args: argparse.Namespace) -> int:
    from mcn_core.dal.notify import NotifyStore
    from mcn_core.logic.compose import compose_notice
    from mcn_core.logic.tenants import resolve_tenant
    from mcn_core.models.base import ValidationError
    from mcn_core.models.config import NotifyConfig, validation_problems

    try:
        subscriber = to_e164(args.subscriber, args.region)
    except InvalidNumberError as exc:
        print(f"error: {args.subscriber!r}: {exc}", file=sys.stderr)
        return 2
    try:
        now = datetime.fromisoformat(args.at) if args.at else datetime.now(UTC)
    except ValueError:
        print(f"error: --at {args.at!r} is not an ISO 8601 time, e.g. 2026-11-29T21:30:00Z", file=sys.stderr)
        return 2
    if now.tzinfo is None:
        print("error: --at needs a UTC offset, e.g. 2026-11-29T21:30:00Z", file=sys.stderr)
        return 2
    try:
        target = resolve_target(args)
        store = NotifyStore(
            target.output("MissedCallsTableName"), target.output("SubscribersTableName"), target.output("FeesTableName")
        )
        raw = target.client("ssm").get_parameter(Name=target.output("NotifyConfigParameterName"))
        config_text = raw["Parameter"]["Value"]
        profile, calls = store.profile(subscriber), store.pending_calls(subscriber)
    except TargetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except aws_errors() as exc:
        print(f"error: cannot read from the target: {exc}", file=sys.stderr)
        return 1
    try:
        document = json.loads(config_text)
        config = NotifyConfig.from_data(document)
    except json.JSONDecodeError as exc:
        print(f"error: the operator configuration is not valid JSON: {exc}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        print(f"error: the operator configuration is invalid: {validation_problems(exc, document)[0]}", file=sys.stderr)
        return 1

    resolution = resolve_tenant(config, subscriber, profile.tenant)  # the one compose makes
    notice = compose_notice(notification_id="preview", profile=profile, calls=calls, config=config, now=now)
    deferred_until = notice.send_at if notice.action == "defer" else None
    defer_reason = notice.defer_reason
    if deferred_until is not None:  # show what will go out when the wait (quiet hours, daily cap) ends
        notice = compose_notice(
            notification_id="preview", profile=profile, calls=calls, config=config, now=deferred_until
        )
    flash_calls = [(f"{notice.notification_id}#{n}", caller) for n, caller in enumerate(notice.flash_calls, start=1)]
    shown = (lambda number: number) if args.show_numbers else mask
    # Numbers are personal data: the SMS texts too show them masked unless --show-numbers. Segments,
    # encoding and length are always those of the real text.
    shown_text = (lambda text: text) if args.show_numbers else hide_numbers_in_text
    if args.json:
        document = notice.to_data() | {
            "deferred_until": deferred_until and deferred_until.isoformat(),
            "defer_reason": defer_reason,
            "tenant_source": resolution.source,
            "tenant_range": resolution.prefix,
        }
        document["subscriber"] = shown(subscriber)
        document["flash_calls"] = [shown(caller) for _, caller in flash_calls]
        document["notify_me_candidates"] = [shown(number) for number in notice.notify_me_candidates]
        for sms in document["messages"]:
            sms["destination"] = shown(sms["destination"])
            sms["source"] = shown(sms["source"]) if sms["source_is_number"] else sms["source"]
            sms["text"] = shown_text(sms["text"])
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return 0
    print(f"subscriber {mask(subscriber)}: {len(calls)} pending call(s); language {notice.language or '-'}")
    brand = config.tenants[resolution.tenant].name if resolution.tenant in config.tenants else None
    print(resolution.describe() + (f": {brand}" if brand else ""))
    if deferred_until is not None and defer_reason == "daily_cap":
        cap = config.for_tenant(resolution.tenant).daily_cap
        print(
            f"daily cap: {cap} notice(s) a day reached; the calls stay pending and go out, merged, in the first "
            f"notice of the next local day, at {deferred_until.isoformat()}"
        )
    elif deferred_until is not None:
        print(f"quiet hours: the notice waits until {deferred_until.isoformat()}")
    if notice.action == "nothing":
        print("nothing would be sent (no pending calls, or the subscriber opted out)")
        return 0
    for sms in notice.messages:
        shift = f", national shift {sms.national_shift}" if sms.national_shift else ""
        source = shown(sms.source) if sms.source_is_number else sms.source
        print(
            f"\n--- SMS {sms.index + 1}/{len(notice.messages)} from {source}: {sms.segments} segment(s), "
            f"{sms.encoding}{shift}, {len(sms.text)} characters"
        )
        print(shown_text(sms.text))
    if flash_calls:
        print(
            f"\n--- missed calls placed on behalf ({config.on_behalf}): {len(flash_calls)}, each within "
            f"{notice.flash_call_window_s} s, released once the handset rings"
        )
        for request_id, caller in flash_calls:
            print(f"{request_id}: {shown(caller)} -> {mask(subscriber)} (in the subscriber's call log)")
    elif notice.action == "send" and config.on_behalf in ("call", "call_and_sms"):
        print("\nno missed call placed on behalf (withheld callers, or none repeated)")
    print(
        f"\nfee: {notice.fee_minor} minor units {notice.currency} (tariff {notice.tariff_id}); "
        f"promotion: {notice.promotion_id or 'none'}; calls listed: {notice.calls_listed}"
        + (f"; {notice.fee_minor_per_call} per call that rings" if flash_calls and notice.fee_minor_per_call else "")
    )
    return 0


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    preview = commands.add_parser(
        "preview",
        help="the exact SMS a subscriber would get now (segments, encoding, fee); sends nothing",
        description="Renders the notice with the Compose step's own code against the target's pending calls, "
        "subscriber preferences and operator configuration. Nothing is sent, charged or locked. "
        "The text shows callers' numbers as the subscriber would see them.",
    )
    preview.add_argument("--subscriber", required=True, metavar="NUMBER", help="national or international number")
    preview.add_argument("--region", default="GB", help="country of national-format numbers (default GB)")
    preview.add_argument("--at", metavar="ISO-TIME", help="render as at this time (default now), e.g. for quiet hours")
    preview.add_argument("--json", action="store_true", help="print the composed notice as JSON")
    preview.add_argument(
        "--show-numbers",
        action="store_true",
        help="show numbers in full (personal data): in the SMS texts and the missed calls placed on behalf",
    )
    add_target_arguments(preview, region_flag=False)
    preview.set_defaults(func=run_preview)
