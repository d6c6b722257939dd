"""Ingest: validate, normalise, apply subscriber policy, store each call attempt once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from mcn_core.logic.tenants import resolve_tenant
from mcn_core.models.base import ValidationError
from mcn_core.models.calls import StoredCall, SubscriberPolicy
from mcn_core.models.config import NotifyConfig
from mcn_core.models.errors import UnstorableEventError, describe_validation_error, unprocessable_reason
from mcn_core.models.events import MissedCallEvent, Presentation
from mcn_core.models.outcomes import BatchResult, EventResult, Outcome
from mcn_core.numbers import InvalidNumberError, to_e164
from mcn_core.settings import IngestSettings

# Clocks of MSCs drift; a call "from the future" beyond this is a producer bug, not a call.
MAX_CLOCK_SKEW = timedelta(minutes=5)


class CallStore(Protocol):
    def subscriber_policies(self, msisdns: Iterable[str]) -> dict[str, SubscriberPolicy]: ...

    def put_calls_once(self, calls: list[StoredCall]) -> list[bool | Exception]:
        """Store each call unless it exists: True stored, False a re-delivery, or that call's error."""
        ...


class StoreUnavailableError(RuntimeError):
    """Some events could not be stored for a transient reason; the producer must resend the batch.

    Raised only after every other event was processed, so a resend finds those as duplicates.
    """

    def __init__(self, message: str, partial: BatchResult) -> None:
        super().__init__(message)
        self.partial = partial


@dataclass(frozen=True)
class _Rejection(Exception):
    reason: str


def _validate(raw: Any) -> MissedCallEvent:
    if not isinstance(raw, dict):
        raise _Rejection(f"invalid event: expected a JSON object, got {type(raw).__name__}")
    try:
        return MissedCallEvent.from_data(raw)
    except ValidationError as exc:
        problems = describe_validation_error(exc)
        raise _Rejection(f"invalid event: {problems}") from None


def _normalise(event: MissedCallEvent, settings: IngestSettings, now: datetime) -> StoredCall:
    try:
        subscriber = to_e164(event.subscriber, settings.default_region)
    except InvalidNumberError as exc:
        raise _Rejection(f"invalid subscriber number: {exc}") from None

    caller: str | None = None
    withheld_number: str | None = None
    presentation = event.presentation
    if presentation is Presentation.ALLOWED:
        if event.caller is None:
            presentation = Presentation.UNAVAILABLE  # nothing to show: treat as a private number
        else:
            try:
                caller = to_e164(event.caller, settings.default_region)
            except InvalidNumberError as exc:
                raise _Rejection(f"invalid caller number: {exc}") from None
    elif settings.store_withheld_number and event.caller:
        withheld_number = event.caller

    call_time = event.call_time
    # Compared before any arithmetic: a date near the calendar's end must not overflow (year 9999).
    if call_time > now + MAX_CLOCK_SKEW:
        raise _Rejection("call_time is in the future")
    expires_at = call_time + timedelta(hours=settings.retention_hours)
    if expires_at <= now:
        raise _Rejection(f"call older than the retention period ({settings.retention_hours} h)")

    return StoredCall(
        subscriber=subscriber,
        call_ref=event.call_ref,
        caller=caller,
        presentation=presentation,
        call_time=call_time,
        reason=event.reason,
        msc=event.msc,
        expires_at=expires_at,
        received_at=now,
        withheld_number=withheld_number,
    )


def _policy_reason(call: StoredCall, policy: SubscriberPolicy | None) -> str | None:
    if policy is None:
        return None
    if policy.opted_out:
        return "subscriber opted out"
    if call.caller is not None and call.caller in policy.blocked_callers:
        return "caller blocked by subscriber"
    return None


def _with_tenant(call: StoredCall, policy: SubscriberPolicy | None, tenants: NotifyConfig | None) -> StoredCall:
    override = policy.tenant if policy is not None else None
    tenant = resolve_tenant(tenants, call.subscriber, override).tenant if tenants is not None else override
    return call.replace(tenant=tenant) if tenant else call


def ingest_batch(
    raw_events: list[Any],
    *,
    settings: IngestSettings,
    store: CallStore,
    now: datetime,
    tenants: NotifyConfig | None = None,
) -> BatchResult:
    """Process every event independently; one bad event never affects the others.

    `tenants`: the operator's configuration, to store each call's tenant (None: only a subscriber's
    own override is stored; compose resolves the tenant again in any case).
    """
    results: dict[int, EventResult] = {}
    valid: list[tuple[int, StoredCall]] = []
    for index, raw in enumerate(raw_events):
        call_ref = raw.get("call_ref") if isinstance(raw, dict) else None
        call_ref = call_ref if isinstance(call_ref, str) else None
        try:
            event = _validate(raw)
            valid.append((index, _normalise(event, settings, now)))
        except _Rejection as rejection:
            results[index] = EventResult(
                index=index, call_ref=call_ref, outcome=Outcome.REJECTED, reason=rejection.reason
            )
        except Exception as exc:  # any other failure of a per-event step is this event's alone
            results[index] = EventResult(
                index=index, call_ref=call_ref, outcome=Outcome.REJECTED, reason=unprocessable_reason(exc)
            )

    policies = store.subscriber_policies(call.subscriber for _, call in valid) if valid else {}

    to_store: list[tuple[int, StoredCall]] = []
    for index, call in valid:
        reason = _policy_reason(call, policies.get(call.subscriber))
        if reason is not None:
            results[index] = EventResult(index=index, call_ref=call.call_ref, outcome=Outcome.SUPPRESSED, reason=reason)
            continue
        to_store.append((index, _with_tenant(call, policies.get(call.subscriber), tenants)))

    transient_failures: list[int] = []
    # the batch's writes go together (in flight at once), each one conditional: idempotent per call attempt
    stored_flags = store.put_calls_once([call for _, call in to_store]) if to_store else []
    for (index, call), stored in zip(to_store, stored_flags, strict=True):
        if isinstance(stored, UnstorableEventError):  # the store refuses this item itself: resending cannot help
            results[index] = EventResult(
                index=index, call_ref=call.call_ref, outcome=Outcome.REJECTED, reason=f"invalid event: {stored}"
            )
            continue
        if isinstance(stored, Exception):
            transient_failures.append(index)
            continue
        outcome = Outcome.ACCEPTED if stored else Outcome.DUPLICATE
        results[index] = EventResult(index=index, call_ref=call.call_ref, outcome=outcome)

    batch = BatchResult(results=[results[i] for i in sorted(results)])
    if transient_failures:
        raise StoreUnavailableError(
            f"{len(transient_failures)} of {len(raw_events)} events could not be stored; resend the batch",
            partial=batch,
        )
    return batch
