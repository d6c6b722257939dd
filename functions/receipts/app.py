"""receipts: delivery receipts (fee status) and SMS keywords (subscriber preferences), from mcn-receiver.

Input: one event or `{"events": [...]}` (mcn_core.models.inbound). Output: per-event outcomes
in input order and counts (mcn_core.logic.inbound). The invocation fails (the receiver keeps the
batch spooled and resends it) only when the store is unavailable or the operator config invalid.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mcn_core.handler_support import unpack_or_reject
from mcn_core.logic.inbound import (
    UNKNOWN_RECEIPT_GRACE,
    HandledMo,
    HandledReceipt,
    InboundBatch,
    RetryBatchError,
    handle_inbound_batch,
)
from mcn_core.numbers import mask
from mcn_core.observability import count, logger, metrics, traced
from mcn_core.settings import receipts_settings
from mcn_core.wiring import notify_config, receipt_store, reply_sender

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["UNKNOWN_RECEIPT_GRACE", "RetryBatchError", "lambda_handler"]


def _report(batch: InboundBatch) -> None:
    """Metrics and logs from what the batch did (the logic itself neither counts nor logs)."""
    for item in batch.items:
        if isinstance(item, HandledReceipt):
            event, receipt = item.event, item.result
            count(f"Receipt{event.state}")
            count(f"Receipts{receipt.outcome.capitalize()}")
            if receipt.status_changed:
                count(f"FeeStatus{str(receipt.status).capitalize()}")
            # An applied receipt is on its fee record (parts, status, time): its line is DEBUG.
            # The unusual ones (duplicate, unknown, retry, interim) stay at INFO.
            log = logger.debug if receipt.outcome == "applied" else logger.info
            log(
                "receipt",
                message_id=event.message_id,
                state=event.state,
                error_code=event.error_code,
                outcome=receipt.outcome,
                notification_id=receipt.notification_id,
                status=receipt.status,
                status_changed=receipt.status_changed,
                from_text=event.from_text,
                handset=mask(event.handset),
                reason=receipt.reason,
            )
        elif isinstance(item, HandledMo):
            mo, result = item.event, item.result
            if result.outcome == "applied":
                count(f"Keyword{result.keyword}")
                if result.reply not in ("accepted", "queued"):
                    count("KeywordReplyFailed")
            else:
                count(f"Mo{result.outcome.capitalize()}")
            logger.info(
                "keyword",
                source=mask(mo.source),
                destination=mo.destination,  # the service's short code, not a subscriber's number
                message_ref=mo.message_ref,
                keyword=result.keyword,
                outcome=result.outcome,
                reply=result.reply,
                reply_language=result.reply_language,
                reason=result.reason,
            )
        else:
            count("InboundRejected")
            logger.warning("event rejected", index=item.index, kind=item.kind, reason=item.reason)
    if batch.failure is not None:
        failure = batch.failure
        logger.exception(
            "event not handled; the batch will be resent",
            index=failure.index,
            kind=failure.kind,
            exc_info=failure.error,
        )
        count("InboundErrors")
    logger.info("batch handled", counts=batch.counts)


@traced
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    raw_events, rejected = unpack_or_reject(event, metric="InboundRejected", outcomes=["rejected"])
    if rejected is not None:
        return rejected

    settings = receipts_settings()
    batch = handle_inbound_batch(
        raw_events,
        store=receipt_store(settings),
        config=lambda: notify_config(settings),
        sender=reply_sender(settings),
        default_region=settings.default_region,
        now=datetime.now(UTC),
    )
    _report(batch)
    return batch.response()
