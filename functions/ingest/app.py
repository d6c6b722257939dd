"""ingest: missed-call events (one, or a batch from the gateway) -> one DynamoDB item per call attempt."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from mcn_core.handler_support import unpack_or_reject
from mcn_core.logic.ingest import StoreUnavailableError, ingest_batch
from mcn_core.models.outcomes import BatchResult, Outcome
from mcn_core.observability import count, logger, metrics, traced
from mcn_core.settings import ingest_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from mcn_core.dal.calls import DynamoCallStore


@lru_cache(maxsize=1)
def _store() -> DynamoCallStore:
    # Imported on first use: the DynamoDB client stack is most of a cold start, and a
    # batch whose events are all rejected never needs it.
    from mcn_core.dal.calls import DynamoCallStore

    settings = ingest_settings()
    return DynamoCallStore(settings.missed_calls_table, settings.subscribers_table)


def _report(batch: BatchResult) -> None:
    for outcome, total in batch.counts.items():
        count(f"MissedCalls{outcome.capitalize()}", total)
    for result in batch.results:
        if result.outcome is Outcome.REJECTED:
            logger.warning("event rejected", index=result.index, call_ref=result.call_ref, reason=result.reason)
        elif result.outcome is Outcome.SUPPRESSED:
            logger.info("event suppressed by policy", call_ref=result.call_ref, reason=result.reason)
    logger.info("batch ingested", counts=batch.counts)


@traced
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: Any, context: LambdaContext) -> dict:
    raw_events, rejected = unpack_or_reject(event, metric="MissedCallsRejected", outcomes=[o.value for o in Outcome])
    if rejected is not None:
        return rejected

    try:
        batch = ingest_batch(raw_events, settings=ingest_settings(), store=_store(), now=datetime.now(UTC))
    except StoreUnavailableError as exc:
        _report(exc.partial)
        count("MissedCallsStoreErrors")
        logger.exception("store unavailable; the batch must be resent")
        raise
    _report(batch)
    return batch.response()
