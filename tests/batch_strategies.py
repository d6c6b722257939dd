"""Hypothesis strategies for what a producer could put in a batch: any JSON, and any field value.

Shared by the unit and the embedded-AWS property tests of the batch handlers (issue 11: one bad
event never sinks a batch).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

# JSON as a Lambda payload can carry it (no NaN or infinities: they are not JSON).
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)

offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
extreme_times = st.one_of(
    st.sampled_from(
        [
            "9999-12-31T23:59:59+14:00",
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00+14:00",
            "0001-01-01T00:00:00-14:00",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999Z",
            "2026-02-30T10:00:00Z",
            "2026-11-29T25:00:00Z",
            "2026-11-29T10:00:00",
            "2026-11-29T10:00:00+24:00",
            "1970-01-01T00:00:00Z",
            "",
            "now",
        ]
    ),
    st.datetimes(timezones=offsets).map(datetime.isoformat),
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)).map(
        datetime.isoformat
    ),
)
numbers = st.one_of(
    st.from_regex(r"\+?[0-9]{1,40}", fullmatch=True),
    st.sampled_from(["+447911123456", "07911123456", "447911123456", "+4915112345678", "+", "00", "+0"]),
    st.text(alphabet="0123456789+-() #*abc\u0660\u0661\uff11", max_size=30),
)
field_values = st.one_of(json_values, extreme_times, numbers, st.text(max_size=200))


def mutated(base: dict[str, Any], fields: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A valid-looking event with some fields replaced by anything, dropped, or extra ones added."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        event = dict(base)
        for name in draw(st.lists(st.sampled_from(sorted(base)), unique=True, max_size=len(base))):
            if draw(st.booleans()):
                event[name] = draw(fields.get(name, field_values))
            else:
                event.pop(name)
        if draw(st.integers(min_value=0, max_value=9)) == 0:
            event[draw(st.text(max_size=8))] = draw(json_values)
        return event

    return build()


def batches(event: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    """A batch: mostly events shaped like the real ones, some arbitrary JSON values."""
    return st.lists(st.one_of(event, event, event, json_values), min_size=1, max_size=8)


def missed_call(now: datetime) -> st.SearchStrategy[Any]:
    base = {
        "call_ref": "ref-1",
        "subscriber": "07911123456",
        "caller": "+447912000111",
        "presentation": "allowed",
        "call_time": (now - timedelta(minutes=5)).isoformat(),
        "reason": "not_reachable",
        "msc": "447953000001",
    }
    refs = st.one_of(st.from_regex(r"[A-Za-z0-9-]{1,20}", fullmatch=True), field_values)
    return mutated(
        base,
        {
            "call_ref": refs,
            "subscriber": numbers | field_values,
            "caller": numbers | field_values,
            "call_time": extreme_times | field_values,
            "presentation": st.sampled_from(["allowed", "restricted", "unavailable"]) | field_values,
            "reason": st.sampled_from(["not_reachable", "busy", "no_reply", "unconditional"]) | field_values,
        },
    )


def attach(now: datetime) -> st.SearchStrategy[Any]:
    base = {
        "subscriber": "07911123456",
        "attach_time": now.isoformat(),
        "source": "alertServiceCentre",
        "hlr": "447953000100",
        "event_ref": "otid-1@447953000100",
    }
    return mutated(
        base,
        {"subscriber": numbers | field_values, "attach_time": extreme_times | field_values},
    )


def inbound(now: datetime) -> st.SearchStrategy[Any]:
    receipt = {
        "kind": "receipt",
        "message_id": "m-unknown-1",
        "state": "DELIVRD",
        "error_code": "000",
        "message_state": 2,
        "done_at": now.isoformat(),
        "received_at": now.isoformat(),
    }
    mo = {
        "kind": "mo",
        "source": "447911123456",
        "destination": "62000",
        "text": "HELP",
        "received_at": now.isoformat(),
        "message_ref": "mo-1",
        "data_coding": 0,
    }
    fields = {
        "received_at": extreme_times | field_values,
        "done_at": extreme_times | field_values,
        "source": numbers | field_values,
        "message_state": st.integers() | field_values,
        "data_coding": st.integers() | field_values,
        "text": st.sampled_from(["STOP", "START", "YES", "LANG de", "QUIET 22-7", "NOTIFYME"]) | field_values,
    }
    return st.one_of(mutated(receipt, fields), mutated(mo, fields))


def flash_call_outcome(now: datetime) -> st.SearchStrategy[Any]:
    """The gateway's report of a flash call (mcn_core.models.origination), for a notice with no fee record."""
    base = {
        "kind": "flash_call_outcome",
        "request_id": "n-prop#1",
        "notification_id": "n-prop",
        "tenant": "default",
        "outcome": "alerted_released",
        "cause": 16,
        "cic": 7,
        "placed_at": (now - timedelta(seconds=8)).isoformat(),
        "alerted_at": (now - timedelta(seconds=5)).isoformat(),
        "released_at": now.isoformat(),
    }
    outcomes = st.sampled_from(
        ["alerted_released", "answered_released", "busy", "absent", "no_answer", "failed", "expired"]
    )
    return mutated(
        base,
        {
            "outcome": outcomes | field_values,
            "cause": st.integers(min_value=-5, max_value=300) | field_values,
            "cic": st.integers(min_value=-5, max_value=5000) | field_values,
            "placed_at": extreme_times | field_values,
            "alerted_at": extreme_times | field_values,
            "released_at": extreme_times | field_values,
        },
    )


def waiting_call(subscriber: str, now: datetime) -> Any:
    """A stored call no notice cleared yet (what an attach store lists for a subscriber with pending calls)."""
    from mcn_core.models.calls import StoredCall
    from mcn_core.models.events import ForwardingReason, Presentation

    return StoredCall(
        subscriber=subscriber,
        call_ref="c-1",
        caller="+447912000111",
        presentation=Presentation.ALLOWED,
        call_time=now,
        reason=ForwardingReason.NOT_REACHABLE,
        msc="447953000001",
        expires_at=now + timedelta(hours=1),
        received_at=now,
    )
