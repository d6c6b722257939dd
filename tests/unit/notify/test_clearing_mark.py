"""The clearing mark (mcn_core.models.clearing): calls are cleared without deleting them, and a call
whose ingest was in flight while Compose listed is never hidden, never listed twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from mcn_core.models.clearing import IN_FLIGHT_MARGIN, RECENT_CLEARS, ClearingPlan, ClearMark, ref_entry

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_listed_call_is_covered_and_a_call_in_flight_is_not() -> None:
    listed_at = T0
    old = ("c-old", T0 - timedelta(hours=2))
    recent = ("c-recent", T0 - timedelta(minutes=1))
    # received one second before Compose listed, stored after it: not listed
    in_flight = ("c-in-flight", T0 - timedelta(seconds=1))
    mark = ClearMark().after([ref_entry(*old), ref_entry(*recent)], listed_at, "n1", charged=True)
    assert mark.covers(*old) and mark.covers(*recent)
    assert not mark.covers(*in_flight)
    assert mark.before == T0 - IN_FLIGHT_MARGIN and mark.seq == 1
    # only the calls received after `before` are kept by reference
    assert mark.refs == {ref_entry(*recent)}
    assert mark.cleared_by("n1") is True and mark.cleared_by("n2") is None


def test_refs_are_dropped_once_a_later_watermark_passes_them() -> None:
    first = ClearMark().after([ref_entry("a", T0 - timedelta(minutes=1))], T0, "n1", charged=True)
    later = first.after([ref_entry("b", T0 + timedelta(hours=1))], T0 + timedelta(hours=1, minutes=1), "n2", True)
    assert later.refs == {ref_entry("b", T0 + timedelta(hours=1))}
    assert later.covers("a", T0 - timedelta(minutes=1))  # now under the watermark


def test_the_mark_remembers_recent_clears_with_their_charge_decision() -> None:
    mark = ClearMark()
    for n in range(RECENT_CLEARS + 1):
        mark = mark.after([], T0 + timedelta(hours=n), f"n{n}", charged=n != RECENT_CLEARS)
    assert mark.cleared_by("n0") is None  # forgotten: only the last few are kept
    assert mark.cleared_by("n1") is True
    assert mark.cleared_by(f"n{RECENT_CLEARS}") is False  # cleared without charging


def test_a_plan_sees_which_listed_calls_a_newer_mark_covers() -> None:
    plan = ClearingPlan(
        mark=ClearMark(), listed=[ref_entry("a", T0), ref_entry("b", T0 + timedelta(seconds=1))], listed_at=T0
    )
    other = ClearMark().after([ref_entry("a", T0)], T0 + timedelta(seconds=2), "other", charged=True)
    assert plan.covered_by(other) == [ref_entry("a", T0)]
    assert plan.covered_by(ClearMark()) == []


# Calls arrive (ingest reads its clock: received_at) and are stored up to 15 minutes later (Lambda's
# maximum); notices list, at random moments, what is stored and not covered, then clear it.
_events = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=6 * 3600),  # received, seconds after T0
        st.integers(min_value=0, max_value=15 * 60),  # how long its ingest took to store it
    ),
    min_size=1,
    max_size=40,
)
_notices = st.lists(st.integers(min_value=0, max_value=7 * 3600), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(calls=_events, listings=_notices)
def test_no_call_is_lost_or_listed_twice_whatever_the_interleaving(
    calls: list[tuple[int, int]], listings: list[int]
) -> None:
    received = {f"c{i}": T0 + timedelta(seconds=r) for i, (r, _) in enumerate(calls)}
    stored_at = {f"c{i}": T0 + timedelta(seconds=r + d) for i, (r, d) in enumerate(calls)}
    mark = ClearMark()
    listed_by: dict[str, str] = {}
    for n, at in enumerate(sorted(listings)):
        listed_at = T0 + timedelta(seconds=at)
        visible = [ref for ref, when in stored_at.items() if when < listed_at]
        pending = [ref for ref in visible if not mark.covers(ref, received[ref])]
        for ref in pending:
            assert ref not in listed_by, f"{ref} listed twice"
            listed_by[ref] = f"n{n}"
        mark = mark.after([ref_entry(ref, received[ref]) for ref in pending], listed_at, f"n{n}", charged=True)
    # every call is either listed by exactly one notice or still pending for the next one
    end = T0 + timedelta(days=1)
    for ref in received:
        if ref not in listed_by:
            assert stored_at[ref] < end and not mark.covers(ref, received[ref]), f"{ref} lost"
