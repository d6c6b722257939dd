"""Record: the notice's fee record, and which calls it clears. Exactly one per notice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mcn_core.models.notice import Notice, SendProgress


def notice_status(progress: SendProgress, *, calls_only: bool = False) -> tuple[str, str | None]:
    """submitted when the SMSC accepted the notice (every message), else failed with the first reason.

    `calls_only`: the notice is missed calls placed on behalf and no SMS (on_behalf: call); it goes
    out as its calls are requested, right after this record.
    """
    if calls_only and not progress.messages:
        return "submitted", None
    if progress.messages and all(m.outcome == "accepted" for m in progress.messages):
        return "submitted", None
    failed = next((m for m in progress.messages if m.outcome != "accepted"), None)
    if failed is not None and any(m.outcome == "accepted" for m in progress.messages):
        # Part of the list reached the subscriber: it counts as sent, the rest is noted.
        return "submitted", f"message {failed.index}: {failed.reason}"
    return "failed", failed.reason if failed else "nothing sent"


def fee_period(notice: Notice, now: datetime) -> str:
    """The fee's billing month: Compose's (always set for a notice that was sent), else Record's clock."""
    return notice.period or now.astimezone(UTC).strftime("%Y-%m")


def fee_values(notice: Notice, progress: SendProgress, now: datetime, fee_partition: str) -> dict[str, Any]:
    status, reason = notice_status(progress, calls_only=bool(notice.flash_calls) and not notice.messages)
    return {
        "fee_partition": fee_partition,
        "notification_id": notice.notification_id,
        "tenant": notice.tenant,
        "subscriber": notice.subscriber,
        "period": fee_period(notice, now),
        # Reports place the fee on this day: a notice composed at 23:59 and recorded at 00:00:30
        # on the 1st belongs to the month (and day) Compose saw.
        "period_day": notice.period_day if notice.period else now.astimezone(UTC).strftime("%Y-%m-%d"),
        "created_at": now.astimezone(UTC).isoformat(timespec="milliseconds"),
        "calls_listed": notice.calls_listed,
        "callers_listed": notice.callers_listed,
        "messages": len(notice.messages),
        "segments": notice.segments,
        # A failed notice is recorded (finance sees it) but charges nothing.
        "fee_minor": notice.fee_minor if status == "submitted" else 0,
        "currency": notice.currency or "XXX",
        "tariff_id": notice.tariff_id or "none",
        "charge_on": notice.charge_on,
        "promotion_id": notice.promotion_id,
        "smsc_message_ids": progress.message_ids,
        "status": status,
        "failure_reason": reason,
        # Missed calls placed on behalf (None when there are none: the record is as before).
        "calls_requested": len(notice.flash_calls) or None,
        "fee_minor_per_call": notice.fee_minor_per_call if notice.flash_calls else None,
    }


def calls_to_clear(notice: Notice, status: str) -> list[str]:
    if status == "failed" and notice.keep_calls_on_failure:
        return []  # they wait for the next attach
    return list(notice.call_refs)


def day_count(notice: Notice, status: str) -> tuple[str, int] | None:
    """The daily cap's new count (local day, notices that day) when the notice reached the subscriber."""
    if status == "failed" or notice.notice_day is None or notice.notices_on_day is None:
        return None
    return notice.notice_day, notice.notices_on_day
