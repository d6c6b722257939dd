"""Attach: a subscriber is reachable again. Start at most one notice per subscriber at a time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from mcn_core.logic.notices import LOCK_LIFETIME, new_notification_id
from mcn_core.models.base import Model, ValidationError
from mcn_core.models.calls import StoredCall
from mcn_core.models.errors import describe_validation_error, unprocessable_reason
from mcn_core.models.events import AttachEvent
from mcn_core.models.notice import SubscriberProfile
from mcn_core.numbers import InvalidNumberError, to_e164


class AttachOutcome(StrEnum):
    STARTED = "started"
    NO_PENDING = "no_pending"  # nothing waiting: one read, nothing else
    IN_FLIGHT = "in_flight"  # a notice is already running for this subscriber (repeated alert, race)
    REJECTED = "rejected"


class AttachResult(Model):
    index: int
    event_ref: str | None = None
    outcome: AttachOutcome
    notification_id: str | None = None
    reason: str | None = None


class AttachStore(Protocol):
    def unnotified_calls(self, subscriber: str, now: datetime) -> list[StoredCall]:
        """The subscriber's unexpired calls no notice cleared yet (consistent listing)."""
        ...

    def acquire_lock(
        self, subscriber: str, notification_id: str, until: datetime, now: datetime
    ) -> SubscriberProfile | None:
        """The subscriber's profile as the lock left it, or None: a notice is in flight."""
        ...

    def release_lock(self, subscriber: str, notification_id: str) -> bool: ...


class NoticeStarter(Protocol):
    def start(self, notification_id: str, request: dict[str, Any]) -> None: ...


#: Turns the execution's request into its input, given the profile the lock returned, the calls
#: listed before it and when they were listed (read before the listing): attach composes the notice
#: ahead (the machine skips its Compose task when the input has an `action`), or hands the request
#: on unchanged.
Prepare = Callable[[dict[str, Any], SubscriberProfile, list[StoredCall], datetime], dict[str, Any]]


def _unchanged(
    request: dict[str, Any], profile: SubscriberProfile, calls: list[StoredCall], listed_at: datetime
) -> dict[str, Any]:
    return request


def handle_attach(
    raw: Any,
    index: int,
    *,
    default_region: str,
    store: AttachStore,
    starter: NoticeStarter,
    now: datetime,
    prepare: Prepare = _unchanged,
) -> AttachResult:
    event_ref = raw.get("event_ref") if isinstance(raw, dict) and isinstance(raw.get("event_ref"), str) else None
    if not isinstance(raw, dict):
        return AttachResult(index=index, outcome=AttachOutcome.REJECTED, reason="invalid event: expected a JSON object")
    try:
        event = AttachEvent.from_data(raw)
        subscriber = to_e164(event.subscriber, default_region)
    except ValidationError as exc:
        problems = describe_validation_error(exc)
        return AttachResult(
            index=index, event_ref=event_ref, outcome=AttachOutcome.REJECTED, reason=f"invalid event: {problems}"
        )
    except InvalidNumberError as exc:
        return AttachResult(
            index=index, event_ref=event_ref, outcome=AttachOutcome.REJECTED, reason=f"invalid subscriber number: {exc}"
        )
    except Exception as exc:  # any other failure of a per-event step is this event's alone
        return AttachResult(
            index=index, event_ref=event_ref, outcome=AttachOutcome.REJECTED, reason=unprocessable_reason(exc)
        )

    listed_at = datetime.now(UTC)  # before the listing: the clearing plan's listing time
    calls = store.unnotified_calls(subscriber, now)
    if not calls:
        return AttachResult(index=index, event_ref=event_ref, outcome=AttachOutcome.NO_PENDING)
    notification_id = new_notification_id(now)
    profile = store.acquire_lock(subscriber, notification_id, now + LOCK_LIFETIME, now)
    if profile is None:
        return AttachResult(index=index, event_ref=event_ref, outcome=AttachOutcome.IN_FLIGHT)
    request = {
        "notification_id": notification_id,
        "subscriber": subscriber,
        "attach_time": event.attach_time.isoformat(),
        "attach_source": event.source.value,
    }
    try:
        starter.start(notification_id, prepare(request, profile, calls, listed_at))
    except Exception:
        store.release_lock(subscriber, notification_id)  # let the producer's retry start it
        raise
    return AttachResult(
        index=index, event_ref=event_ref, outcome=AttachOutcome.STARTED, notification_id=notification_id
    )


def attach_batch(
    raw_events: Sequence[Any],
    *,
    default_region: str,
    store: AttachStore,
    starter: NoticeStarter,
    now: datetime,
    on_result: Callable[[Any, AttachResult], None] = lambda raw, result: None,
    prepare: Prepare = _unchanged,
) -> list[AttachResult]:
    """Each event in order (results in input order); a store or starter error ends the batch.

    `on_result` hears of each event as it is handled (the caller logs it even if a later one fails).
    """
    results = []
    for index, raw in enumerate(raw_events):
        results.append(
            handle_attach(
                raw, index, default_region=default_region, store=store, starter=starter, now=now, prepare=prepare
            )
        )
        on_result(raw, results[-1])
    return results


def tally(results: list[AttachResult]) -> dict[str, int]:
    return {outcome.value: sum(1 for r in results if r.outcome is outcome) for outcome in AttachOutcome}
