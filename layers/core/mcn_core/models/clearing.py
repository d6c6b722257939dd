"""Which of a subscriber's stored calls are cleared (notified), kept on the subscriber's own item.

Record does not delete the calls a notice listed: it moves a clearing mark on the subscriber's item
in the same conditional update that releases the notify lock, and TTL deletes the calls later at no
write cost. A call is cleared when the mark covers it:

- `before`: every call *received* (ingest's clock, `received_at`) at or before it. Compose sets the
  new `before` to the time it listed minus IN_FLIGHT_MARGIN: an ingest invocation writes its calls
  within Lambda's 15-minute maximum of reading its clock, so every call received that early was
  already stored when Compose listed, and so listed (or cleared before). A watermark at the listing
  time itself would hide a call whose ingest was in flight: received before, stored after.
- `refs`: the listed calls received after `before` (usually the last few minutes' calls), as
  "<received_at ms>|<call_ref>", dropped once a later `before` passes them (the set stays small).
- `seq`: how many clears there were; Record's update is conditional on it (two notices never both
  clear, and so charge for, the same calls).
- `recent`: the last notices that cleared, so a retried Record recognises its own clear; an entry
  ending in "!" cleared without charging (another notice had charged for some of its calls).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from mcn_core.models.base import Model

#: Lambda's maximum invocation time (15 minutes) plus a minute of clock difference between hosts
IN_FLIGHT_MARGIN = timedelta(minutes=16)
#: how many recent clearing notices the mark remembers (a retried Record finds itself among them)
RECENT_CLEARS = 3
NOT_CHARGED_SUFFIX = "!"


def _ms(moment: datetime) -> int:
    """Milliseconds since the epoch: the mark's precision (entries and `before` compare in it)."""
    return int(moment.timestamp() * 1000)


def ref_entry(call_ref: str, received_at: datetime) -> str:
    return f"{_ms(received_at)}|{call_ref}"


def _entry_ms(entry: str) -> int:
    return int(entry.split("|", 1)[0])


def _entry_ref(entry: str) -> str:
    return entry.split("|", 1)[1]


class ClearMark(Model, forbid_unknown_fields=False):
    seq: int = 0
    before: datetime | None = None
    refs: frozenset[str] = frozenset()
    recent: tuple[str, ...] = ()

    def covers(self, call_ref: str, received_at: datetime) -> bool:
        return self._covers(call_ref, _ms(received_at))

    def _covers(self, call_ref: str, received_ms: int) -> bool:
        if self.before is not None and received_ms <= _ms(self.before):
            return True
        return any(_entry_ref(entry) == call_ref for entry in self.refs)

    def cleared_by(self, notification_id: str) -> bool | None:
        """True: this notice cleared and charged; False: cleared without charging; None: not among the recent."""
        if notification_id in self.recent:
            return True
        if notification_id + NOT_CHARGED_SUFFIX in self.recent:
            return False
        return None

    def after(self, listed: list[str], listed_at: datetime, notification_id: str, charged: bool) -> ClearMark:
        """The mark once a notice that listed `listed` (ref entries) at `listed_at` has cleared them."""
        earlier = self.before or datetime(1970, 1, 1, tzinfo=UTC)
        cutoff = max(_ms(earlier), _ms(listed_at - IN_FLIGHT_MARGIN))
        before = datetime.fromtimestamp(cutoff / 1000, UTC)
        refs = frozenset(entry for entry in self.refs | set(listed) if _entry_ms(entry) > cutoff)
        marker = notification_id if charged else notification_id + NOT_CHARGED_SUFFIX
        return ClearMark(seq=self.seq + 1, before=before, refs=refs, recent=(*self.recent, marker)[-RECENT_CLEARS:])


class ClearingPlan(Model, forbid_unknown_fields=False):
    """What Compose listed, for Record to clear: the mark it read, the listed calls, when it listed."""

    mark: ClearMark = msgspec.field(default_factory=ClearMark)
    listed: list[str] = msgspec.field(default_factory=list)  # ref entries (ref_entry)
    listed_at: datetime

    def covered_by(self, mark: ClearMark) -> list[str]:
        """The listed calls a (newer) mark already clears: another notice listed and charged them."""
        return [entry for entry in self.listed if mark._covers(_entry_ref(entry), _entry_ms(entry))]
