"""FlashCallOutcomes: the gateway's reports of missed calls placed on behalf -> the notices' fee records.

Input: one event or `{"events": [...]}` of mcn_core.models.origination.FlashCallOutcomeEvent
(at most MAX_EVENTS_PER_INVOCATION). Output: per-event results in input order and counts
(applied, duplicate, unknown, rejected; mcn_core.logic.origination). Each outcome counts once per
request id however often it is delivered. The invocation fails (the gateway keeps the batch
spooled and resends it) only when the fee table is unavailable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mcn_core.handler_support import unpack_or_reject
from mcn_core.logic.origination import RESULT_OUTCOMES, OutcomeBatch, handle_outcome_batch
from mcn_core.observability import count, logger, metrics, traced
from mcn_core.settings import outcomes_settings
from mcn_core.wiring import flash_call_store

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


def _report(batch: OutcomeBatch) -> None:
    """Metrics and logs from what the batch did (the logic itself neither counts nor logs)."""
    for result in batch.results:
        count(f"FlashCallOutcomes{result.outcome.capitalize()}")
        if result.outcome == "applied":
            count(f"FlashCall{(result.call_outcome or '').title().replace('_', '')}")
            if result.fee_minor:
                count("FlashCallFeeMinorUnits", result.fee_minor)
        if result.outcome in ("rejected", "unknown"):
            logger.warning(
                "outcome not applied", index=result.index, request_id=result.request_id, reason=result.reason
            )
        else:
            logger.info(
                "flash call outcome",
                request_id=result.request_id,
                notification_id=result.notification_id,
                outcome=result.outcome,
                call_outcome=result.call_outcome,
            )
    logger.info("batch handled", counts=batch.counts)


@traced
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    raw_events, rejected = unpack_or_reject(event, metric="FlashCallOutcomesRejected", outcomes=RESULT_OUTCOMES)
    if rejected is not None:
        return rejected
    settings = outcomes_settings()
    batch = handle_outcome_batch(raw_events, store=flash_call_store(settings), now=datetime.now(UTC))
    _report(batch)
    return batch.response()
