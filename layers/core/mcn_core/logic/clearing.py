"""What Record will clear for a composed notice (the rules of the mark: mcn_core.models.clearing)."""

from __future__ import annotations

from datetime import datetime

from mcn_core.models.calls import StoredCall
from mcn_core.models.clearing import ClearingPlan, ClearMark, ref_entry
from mcn_core.models.notice import Notice


def clearing_plan(notice: Notice, mark: ClearMark, calls: list[StoredCall], listed_at: datetime) -> ClearingPlan:
    """The notice's listed calls with their arrival, the mark they were read under, and when.

    `listed_at` must be read before the calls were queried: every call received IN_FLIGHT_MARGIN
    before it was stored by then, so a mark up to there hides no call that was not listed.
    """
    listed = set(notice.call_refs)
    return ClearingPlan(
        mark=mark,
        listed=sorted(ref_entry(c.call_ref, c.received_at) for c in calls if c.call_ref in listed),
        listed_at=listed_at,
    )
