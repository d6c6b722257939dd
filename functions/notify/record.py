"""Record task: exactly the listed calls cleared (lock released), then the fee record, once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mcn_core.logic.origination import flash_call_requests
from mcn_core.logic.record import calls_to_clear, day_count, fee_period, fee_values
from mcn_core.models.fees import RecordOutcome
from mcn_core.models.notice import Notice, SendProgress
from mcn_core.observability import count, logger, metrics, traced
from mcn_core.wiring import notify_store, origination_queue

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@traced
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict:
    notice = Notice.from_data(event)
    progress = SendProgress.from_data(event.get("send") or {"status": "done"})
    logger.append_keys(notification_id=notice.notification_id)
    store = notify_store()
    now = datetime.now(UTC)
    values = fee_values(
        notice, progress, now, store.fee_partition(notice.tenant, fee_period(notice, now), notice.notification_id)
    )
    clear = calls_to_clear(notice, values["status"])
    outcome = store.record_notice(
        store.new_fee(**values),
        clearing=notice.clearing if clear else None,
        legacy_call_refs=clear if notice.clearing is None else None,
        day_count=day_count(notice, values["status"]),
    )
    recorded = outcome is not RecordOutcome.ALREADY_RECORDED
    if outcome is RecordOutcome.RECORDED:
        count("FeeRecorded")
        count("FeeMinorUnits", values["fee_minor"])
    elif outcome is RecordOutcome.ALREADY_RECORDED:
        count("FeeAlreadyRecorded")  # a retried or re-driven Record: nothing charged twice
    else:
        count("NoticeDuplicateNotCharged")  # another notice charged for these calls: a design slip
        logger.error("listed calls were already cleared by another notice: recorded with fee 0")
    # The stored record when it is not the one computed here (recorded before, or without charge).
    existing = (
        store.fee(values["fee_partition"], notice.notification_id) if outcome is not RecordOutcome.RECORDED else None
    )
    logger.info("notice recorded", status=values["status"], fee_minor=values["fee_minor"], outcome=outcome.value)
    calls = _request_flash_calls(notice, existing.status if existing else values["status"], outcome, now)
    return {
        "notification_id": notice.notification_id,
        "status": existing.status if existing else values["status"],
        "fee_minor": int(existing.fee_minor) if existing else values["fee_minor"],
        "currency": values["currency"],
        "smsc_message_ids": values["smsc_message_ids"],
        "recorded_now": recorded,
        "outcome": outcome.value,
        "calls_requested": calls,
    }


def _request_flash_calls(notice: Notice, status: str, outcome: RecordOutcome, now: datetime) -> int:
    """The notice's missed calls placed on behalf go to the gateway once its fee record is durable
    (their outcomes land on it). A retried Record requests the same ids again: the gateway places
    each once. A notice not charged (another one listed its calls) places none."""
    if not notice.flash_calls or outcome is RecordOutcome.NOT_CHARGED:
        return 0
    requests = flash_call_requests(notice, status=status, now=now)
    queue = origination_queue()
    if requests and queue is None:
        count("FlashCallsNotConfigured")
        logger.error("on_behalf places calls but the function has no ORIGINATION_QUEUE_URL: none requested")
        return 0
    if requests and queue is not None:
        queue.request(requests)  # raises: the step is retried with the same request ids
        count("FlashCallsRequested", len(requests))
        logger.info("flash calls requested", requests=[r.request_id for r in requests], status=status)
    return len(requests)
