"""The notify flow's shapes: subscriber profile in, composed notice and fee record out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from mcn_core.models.base import Model
from mcn_core.models.clearing import ClearingPlan, ClearMark
from mcn_core.models.types import DEFAULT_TENANT as DEFAULT_TENANT  # re-exported (defined there: no model built)


class SubscriberProfile(Model, forbid_unknown_fields=False):
    """What compose needs to know about the subscriber being notified."""

    msisdn: str
    language: str | None = None
    time_zone: str | None = None
    quiet_hours: str | None = None
    opted_out: bool = False
    notify_me: bool = False
    #: the notice holding the subscriber's in-flight lock, if any (another one must not list calls)
    notify_lock: str | None = None
    #: the subscriber's own tenant (`mcn subscriber set --tenant`), over the number ranges
    tenant: str | None = None
    #: the daily cap's count: the subscriber's local day of the last notice sent, and how many that day
    notices_day: str | None = None
    notices_on_day: int = 0
    #: which stored calls earlier notices cleared (mcn_core.models.clearing)
    clear_mark: ClearMark = msgspec.field(default_factory=ClearMark)


class OutgoingSms(Model, forbid_unknown_fields=False):
    index: int
    destination: str
    source: str
    # A caller's own number as sender ("missed call on behalf"): sent with TON/NPI international.
    source_is_number: bool = False
    text: str
    encoding: str
    segments: int
    national_shift: Literal["turkish"] | None = None


class Notice(Model, forbid_unknown_fields=False):
    """Compose's output: what to send, which calls it lists, what it costs."""

    notification_id: str
    subscriber: str
    #: the brand the subscriber belongs to (operator or MVNO): its texts, tariff and finance
    tenant: str = DEFAULT_TENANT
    action: Literal["send", "nothing", "defer"]
    send_at: datetime | None = None
    #: why a notice waits: the subscriber's quiet hours, or the tenant's daily cap (until the next local day)
    defer_reason: Literal["quiet_hours", "daily_cap"] | None = None
    language: str | None = None
    messages: list[OutgoingSms] = msgspec.field(default_factory=list)
    call_refs: list[str] = msgspec.field(default_factory=list)
    calls_listed: int = 0
    callers_listed: int = 0
    segments: int = 0
    fee_minor: int = 0
    currency: str | None = None
    tariff_id: str | None = None
    charge_on: Literal["submit", "delivery"] = "submit"
    promotion_id: str | None = None
    period: str | None = None
    # The UTC day Compose ran (YYYY-MM-DD): the fee's day, from the same clock reading as `period`.
    period_day: str | None = None
    notify_me_candidates: list[str] = msgspec.field(default_factory=list)
    #: the subscriber's local day (YYYY-MM-DD) and their notices that day counting this one (the daily cap's
    #: count, stored by Record with the lock release)
    notice_day: str | None = None
    notices_on_day: int | None = None
    #: callers (E.164) to place a missed call from, in order: request n is `<notification_id>#<n>`.
    #: Fixed here, in Compose's output, so a retried step always requests the same set.
    flash_calls: list[str] = msgspec.field(default_factory=list)
    flash_call_window_s: int = 120
    fee_minor_per_call: int = 0
    keep_calls_on_failure: bool = True
    send_max_attempts: int = 5
    #: what Record clears: the listed calls and the mark Compose read (set by the Compose task)
    clearing: ClearingPlan | None = None


class NotifyRequest(Model, forbid_unknown_fields=False):
    """What attach hands the state machine (and the quiet-hours wait hands back)."""

    notification_id: Annotated[str, msgspec.Meta(min_length=1)]
    subscriber: Annotated[str, msgspec.Meta(min_length=2)]
    attach_time: datetime | None = None
    attach_source: str | None = None
    resumed: bool = False


class DeferredNotice(Model, forbid_unknown_fields=False):
    """What the Defer and Resume tasks take: a notice waiting for its quiet hours to end, or for SMSC capacity."""

    notification_id: Annotated[str, msgspec.Meta(min_length=1)]
    subscriber: Annotated[str, msgspec.Meta(min_length=2)]
    #: quiet hours: when the window ends
    send_at: Annotated[str, msgspec.Meta(min_length=10)] | None = None
    #: every submitting instance busy (the fleet's SMSC budget): wait about this long
    delay_s: Annotated[int, msgspec.Meta(ge=1, le=3600)] | None = None
    resume_state_machine_arn: Annotated[str, msgspec.Meta(min_length=10)]
    deferring_execution: str | None = None

    def __post_init__(self) -> None:
        if self.send_at is None and self.delay_s is None:
            raise ValueError("give send_at (quiet hours) or delay_s (SMSC capacity)")


class MessageProgress(Model, forbid_unknown_fields=False):
    index: int
    outcome: Literal["pending", "accepted", "retryable", "permanent"] = "pending"
    reference: int | None = None
    part_total: int | None = None
    #: part number -> SMSC message id (the keys come back from the state machine's JSON as text)
    accepted_parts: dict[int, str] = msgspec.field(default_factory=dict)
    command_status: int | None = None
    reason: str | None = None


class SendProgress(Model, forbid_unknown_fields=False):
    """The Send step's state, carried by the state machine between attempts (no duplicate parts)."""

    status: Literal["done", "retry"] = "retry"
    attempt: int = 0
    retry_after_s: int = 0
    messages: list[MessageProgress] = msgspec.field(default_factory=list)

    @property
    def message_ids(self) -> list[str]:
        return [mid for m in self.messages for _, mid in sorted(m.accepted_parts.items())]
