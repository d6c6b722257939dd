"""Compose: pending calls -> the SMS text(s) the subscriber receives, exactly, with segments and fee.

`compose_notice` is pure: takes the calls, the subscriber's profile, the operator's config and
the time, and returns a Notice. Segment counts come from the SMPP layer's exact GSM 03.38
`segments()`. `prepare_notice` reads those through a store (Compose task, attach) and composes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mcn_core.logic.clearing import clearing_plan
from mcn_core.logic.tenants import resolve_tenant
from mcn_core.models.calls import StoredCall
from mcn_core.models.clearing import ClearMark
from mcn_core.models.config import MessageTemplates, NotifyConfig, QuietHours
from mcn_core.models.notice import Notice, OutgoingSms, SubscriberProfile
from mcn_core.models.types import Presentation
from mcn_smpp.gsm0338 import segments


@dataclass(frozen=True)
class CallerGroup:
    caller: str | None  # None: withheld (private number)
    calls: tuple[StoredCall, ...]

    @property
    def count(self) -> int:
        return len(self.calls)

    @property
    def first(self) -> datetime:
        return min(call.call_time for call in self.calls)

    @property
    def last(self) -> datetime:
        return max(call.call_time for call in self.calls)


def subscriber_zone(profile: SubscriberProfile, config: NotifyConfig) -> ZoneInfo:
    try:
        return ZoneInfo(profile.time_zone or config.default_time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(config.default_time_zone)


def quiet_until(now: datetime, zone: ZoneInfo, quiet: QuietHours | None) -> datetime | None:
    """End of the quiet window (UTC) if `now` falls inside it, else None."""
    if quiet is None or quiet.start == quiet.end:
        return None
    local = now.astimezone(zone)
    start = local.replace(hour=quiet.start.hour, minute=quiet.start.minute, second=quiet.start.second, microsecond=0)
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=quiet.end.second, microsecond=0)
    if quiet.start < quiet.end:  # same-day window, e.g. 13:00-15:00
        inside = start <= local < end
    else:  # crosses midnight, e.g. 22:00-07:00
        inside = local >= start or local < end
        if local >= start:
            end = end + timedelta(days=1)
    if not inside:
        return None
    # Wall-clock arithmetic across a DST change: normalise through UTC.
    return end.replace(tzinfo=zone).astimezone(UTC)


def next_local_day(now: datetime, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) of the day after `now`'s local day: local midnight, or the first
    time that exists when a DST change skips midnight (e.g. America/Santiago: 01:00)."""
    tomorrow: date = now.astimezone(zone).date() + timedelta(days=1)
    # fold=0 reads a skipped midnight with the offset before the change: the instant the day begins.
    return datetime.combine(tomorrow, time(0), tzinfo=zone).astimezone(UTC)


def notices_sent_on(profile: SubscriberProfile, day: date) -> int:
    """The subscriber's notices on their local `day` (the count Record stores names its day)."""
    return profile.notices_on_day if profile.notices_day == day.isoformat() else 0


def group_by_caller(calls: Iterable[StoredCall]) -> list[CallerGroup]:
    """One group per caller (withheld callers together), most recent caller first."""
    buckets: dict[str | None, list[StoredCall]] = {}
    for call in calls:
        buckets.setdefault(call.caller, []).append(call)
    groups = [CallerGroup(caller, tuple(sorted(items, key=lambda c: c.call_time))) for caller, items in buckets.items()]
    return sorted(groups, key=lambda g: (g.last, g.caller or ""), reverse=True)


def _on_behalf_eligible(group: CallerGroup, config: NotifyConfig) -> bool:
    """May this caller be presented to the subscriber (SMS from their number, or a call)?

    Never a withheld caller: their number is presented only when every call allowed presentation.
    """
    if group.caller is None or any(call.presentation is not Presentation.ALLOWED for call in group.calls):
        return False
    return config.on_behalf_callers == "all" or group.count > 1


class _Renderer:
    def __init__(self, templates: MessageTemplates, zone: ZoneInfo, now: datetime) -> None:
        self.templates = templates
        self.zone = zone
        self.today = now.astimezone(zone).date()

    def when(self, moment: datetime) -> str:
        local = moment.astimezone(self.zone)
        pattern = self.templates.time_format if local.date() == self.today else self.templates.date_time_format
        return local.strftime(pattern)

    def caller(self, group: CallerGroup) -> str:
        return group.caller if group.caller is not None else self.templates.private_caller

    def line(self, group: CallerGroup) -> str:
        if group.count == 1:
            return self.templates.line_single.format(caller=self.caller(group), time=self.when(group.last))
        return self.templates.line_multi.format(
            caller=self.caller(group),
            count=group.count,
            first_time=self.when(group.first),
            last_time=self.when(group.last),
        )


def _fits(text: str, budget: int, shift: str | None) -> bool:
    return segments(text, national_shift=shift).count <= budget


def _pack_lines(
    lines: list[str], header: str, config: NotifyConfig, max_messages: int, shift: str | None
) -> tuple[list[list[str]], int]:
    """Lines into messages: at most N callers and the segment budget each, at most `max_messages`;
    returns (messages, lines left out)."""
    messages: list[list[str]] = []
    current: list[str] = []
    for position, line in enumerate(lines):
        candidate = [*current, line]
        full = len(current) >= config.max_callers_per_message
        if current and (full or not _fits("\n".join([header, *candidate]), config.max_segments_per_message, shift)):
            messages.append(current)
            if len(messages) == max_messages:
                return messages, len(lines) - position
            current = [line]
        else:
            current = candidate
    if current:
        messages.append(current)
    return messages, 0


def compose_notice(
    *,
    notification_id: str,
    profile: SubscriberProfile,
    calls: Iterable[StoredCall],
    config: NotifyConfig,
    now: datetime,
    ignore_quiet_hours: bool = False,
) -> Notice:
    # The subscriber's tenant now decides texts, sender, tariff and caps (a range changed while the
    # calls waited applies: compose's resolution wins over the one stored on the calls at ingest).
    tenant = resolve_tenant(config, profile.msisdn, profile.tenant).tenant
    config = config.for_tenant(tenant)
    base: dict[str, Any] = {"notification_id": notification_id, "subscriber": profile.msisdn, "tenant": tenant}
    if profile.notify_lock is not None and profile.notify_lock != notification_id:
        # Another notice holds the subscriber's lock: it lists these calls, this one must not.
        return Notice(**base, action="nothing")
    pending = [call for call in calls if call.expires_at > now]
    if config.withheld_callers == "omit":
        pending = [call for call in pending if call.caller is not None]
    if not pending or profile.opted_out:
        return Notice(**base, action="nothing")

    zone = subscriber_zone(profile, config)
    quiet_text = profile.quiet_hours or config.default_quiet_hours
    quiet = QuietHours.parse(quiet_text) if quiet_text else None
    today = now.astimezone(zone).date()
    sent_today = notices_sent_on(profile, today)
    if config.daily_cap is not None and sent_today >= config.daily_cap:
        # Capped: the calls stay pending and go out, merged, in the first notice of the next local day
        # (or when that day's quiet hours end).
        next_day = next_local_day(now, zone)
        next_send = quiet_until(next_day, zone, quiet) or next_day
        return Notice(**base, action="defer", send_at=next_send, defer_reason="daily_cap")
    if not ignore_quiet_hours:
        resume_at = quiet_until(now, zone, quiet)
        if resume_at is not None:
            return Notice(**base, action="defer", send_at=resume_at, defer_reason="quiet_hours")

    language, templates = config.templates_for(profile.language)
    shift = config.national_shift.get(language)
    render = _Renderer(templates, zone, now)
    groups = group_by_caller(pending)

    texts: list[tuple[str, str, bool]] = []  # (text, source, source_is_number)
    selected = [group for group in groups if _on_behalf_eligible(group, config)]
    flash_calls = selected[: config.max_calls_per_notice] if config.on_behalf_calls else []
    sms_from_caller = []
    if config.on_behalf_sms:
        # The first max_messages_per_notice callers (withheld ones count but get none: as before on_behalf).
        first = {id(group) for group in groups[: config.max_messages_per_notice]}
        sms_from_caller = [group for group in selected if id(group) in first]
    for group in sms_from_caller:
        text = templates.on_behalf.format(
            count=group.count,
            time=render.when(group.last),
            first_time=render.when(group.first),
            last_time=render.when(group.last),
        )
        texts.append((text, group.caller or "", True))  # eligible: never withheld, so never empty
    if config.on_behalf != "off":
        # Callers told on behalf (an SMS from their number or a missed call) are not listed again.
        covered = {id(group) for group in (*sms_from_caller, *flash_calls)}
        groups = [g for g in groups if g.caller is None] + [
            g for g in groups if g.caller is not None and id(g) not in covered
        ]

    if groups:
        header = templates.header.format(total_calls=sum(g.count for g in groups), total_callers=len(groups))
        budget_messages = max(1, config.max_messages_per_notice - len(texts))
        packed, left_out = _pack_lines(
            [render.line(g) for g in groups],
            header,
            config,
            budget_messages,
            shift,
        )
        if left_out:
            # Never truncate silently: the last message says how many callers are not shown.
            last = packed[-1]
            while True:
                more = templates.more.format(more=left_out)
                candidate = "\n".join([header, *last, more])
                if _fits(candidate, config.max_segments_per_message, shift) or len(last) == 1:
                    break
                last.pop()
                left_out += 1
            packed[-1] = [*last, more]
        for number, lines in enumerate(packed, start=1):
            head = header if number == 1 else templates.header_continued.format(part=number, parts=len(packed))
            texts.append(("\n".join([head, *lines]), config.service_sender, False))

    promotion_id = None
    promotion = next((p for p in config.promotions if p.active(now) and language in p.texts), None)
    if promotion is not None and texts:
        text, source, is_number = texts[-1]
        with_promo = f"{text}\n{promotion.texts[language]}"
        # Only while it fits: a promotion never costs the operator an extra segment.
        if segments(with_promo, national_shift=shift).count == segments(text, national_shift=shift).count:
            texts[-1] = (with_promo, source, is_number)
            promotion_id = promotion.id

    messages = []
    for index, (text, source, is_number) in enumerate(texts):
        plan = segments(text, national_shift=shift)
        messages.append(
            OutgoingSms(
                index=index,
                destination=profile.msisdn,
                source=source,
                source_is_number=is_number,
                text=text,
                encoding=plan.encoding,
                segments=plan.count,
                national_shift=shift if plan.encoding != "ucs2" else None,
            )
        )
    tariff = config.tariff
    callers = {call.caller for call in pending}
    return Notice(
        **base,
        action="send",
        language=language,
        messages=messages,
        call_refs=sorted(call.call_ref for call in pending),
        calls_listed=len(pending),
        callers_listed=len(callers),
        segments=sum(m.segments for m in messages),
        fee_minor=tariff.fee_minor_per_notice + tariff.fee_minor_per_extra_message * max(0, len(messages) - 1),
        currency=tariff.currency,
        tariff_id=tariff.id,
        charge_on=tariff.charge_on,
        promotion_id=promotion_id,
        period=now.astimezone(UTC).strftime("%Y-%m"),
        period_day=now.astimezone(UTC).strftime("%Y-%m-%d"),
        notify_me_candidates=sorted(c for c in callers if c is not None) if config.notify_me_enabled else [],
        notice_day=today.isoformat(),
        notices_on_day=sent_today + 1,
        flash_calls=[group.caller for group in flash_calls if group.caller is not None],
        flash_call_window_s=config.flash_call_window_s,
        fee_minor_per_call=tariff.fee_minor_per_call,
        keep_calls_on_failure=config.keep_calls_on_failure,
        send_max_attempts=config.send_max_attempts,
    )


# A deferred notice keeps its subscriber's lock until a little after it resumes.
DEFER_LOCK_MARGIN = timedelta(hours=1)


class ComposeStore(Protocol):
    def profile(self, msisdn: str) -> SubscriberProfile: ...

    def pending_calls(self, subscriber: str, mark: ClearMark | None = None) -> list[StoredCall]: ...

    def notify_me_subscribers(self, msisdns: Iterable[str]) -> set[str]: ...

    def extend_lock(self, subscriber: str, notification_id: str, until: datetime) -> bool: ...


def prepare_notice(
    *,
    notification_id: str,
    subscriber: str,
    store: ComposeStore,
    config: NotifyConfig,
    now: datetime,
    profile: SubscriberProfile | None = None,
    listed: list[StoredCall] | None = None,
) -> Notice:
    """The notice for a subscriber whose lock this notification holds: what the Compose task does.

    Attach runs it too, right after taking the lock, and starts the execution with the notice
    (one Lambda hop less per notice); the Compose task runs it for a resumed notice or when
    attach could not. `now` must be read before the calls are (the clearing plan's listing time).
    `profile`: as read consistently after this notification took the lock (attach has it from the
    lock's own update), else read here. `listed`: the calls as attach listed them (consistent, after
    `now`, before the lock), else listed here; either way filtered by the profile's clearing mark.
    """
    profile = store.profile(subscriber) if profile is None else profile
    if listed is None:
        calls = store.pending_calls(subscriber, profile.clear_mark)
    else:
        calls = [call for call in listed if not profile.clear_mark.covers(call.call_ref, call.received_at)]
    notice = compose_notice(notification_id=notification_id, profile=profile, calls=calls, config=config, now=now)
    if notice.action == "send":
        notice = notice.replace(clearing=clearing_plan(notice, profile.clear_mark, calls, now))
    if notice.notify_me_candidates:
        # Only callers who asked stay candidates: the NotifyMe step then runs only when it has work
        # (one Lambda invocation less for most notices; NotifyMe checks again before it sends).
        wanted = store.notify_me_subscribers(notice.notify_me_candidates)
        notice = notice.replace(notify_me_candidates=sorted(wanted))
    if notice.action == "defer" and notice.send_at is not None:
        store.extend_lock(subscriber, notification_id, notice.send_at + DEFER_LOCK_MARGIN)
    return notice
