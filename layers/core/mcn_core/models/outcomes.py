"""Per-event outcomes of a batch, the response contract with the gateway."""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from typing import Any

from mcn_core.models.base import Model


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # already stored: a re-delivery, not an error
    SUPPRESSED = "suppressed"  # valid, but subscriber policy says not to store it
    REJECTED = "rejected"  # bad input: final, the producer must not resend it


class EventResult(Model, forbid_unknown_fields=False):
    index: int
    call_ref: str | None = None
    outcome: Outcome
    reason: str | None = None


class BatchResult(Model, forbid_unknown_fields=False):
    results: list[EventResult]

    @property
    def counts(self) -> dict[str, int]:
        tally = Counter(result.outcome.value for result in self.results)
        return {outcome.value: tally.get(outcome.value, 0) for outcome in Outcome}

    def response(self) -> dict[str, Any]:
        return {"results": [r.to_data() for r in self.results], "counts": self.counts}
