"""ingest: missed-call events (one, or a batch from the gateway) -> one DynamoDB item per call attempt."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mcn_core.handler_support import unpack_or_reject
from mcn_core.logic.ingest import StoreUnavailableError, ingest_batch
from mcn_core.models.outcomes import BatchResult, Outcome
from mcn_core.observability import count, logger, metrics, traced
from mcn_core.settings import ingest_settings
from mcn_core.wiring import call_store, ingest_tenants

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


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
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    raw_events, rejected = unpack_or_reject(event, metric="MissedCallsRejected", outcomes=[o.value for o in Outcome])
    if rejected is not None:
        return rejected

    settings = ingest_settings()
    try:
        tenants = ingest_tenants(settings)
    except Exception:  # unreadable or invalid: the calls are stored all the same (compose resolves again)
        tenants = None
        count("TenantUnresolved")
        logger.warning("operator configuration unavailable: calls stored without their tenant", exc_info=True)
    try:
        batch = ingest_batch(
            raw_events, settings=settings, store=call_store(settings), now=datetime.now(UTC), tenants=tenants
        )
    except StoreUnavailableError as exc:
        _report(exc.partial)
        count("MissedCallsStoreErrors")
        logger.exception("store unavailable; the batch must be resent")
        raise
    _report(batch)
    return batch.response()
