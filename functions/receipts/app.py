"""receipts: delivery receipts (fee status) and SMS keywords (subscriber preferences), from mcn-receiver.

Input: one event or `{"events": [...]}` (mcn_core.models.inbound). Output: per-event outcomes
in input order and counts. Outcome "retry": a receipt whose message id is not known yet (it
can overtake its fee record); mcn-receiver sends just that event again a little later, without
holding up the others. The invocation fails (the receiver keeps the batch spooled and resends
it) only when the store is unavailable or the operator config invalid. Everything here is
idempotent, so a resent batch changes nothing twice.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from mcn_core.handler_support import unpack_or_reject
from mcn_core.logic.keywords import handle_mo
from mcn_core.logic.receipts import apply_receipt
from mcn_core.models.errors import describe_validation_error, unprocessable_reason
from mcn_core.models.inbound import INBOUND_EVENT, MoEvent, ReceiptEvent
from mcn_core.numbers import mask
from mcn_core.observability import count, logger, metrics
from mcn_core.settings import NotifySettings, SettingsError, notify_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from mcn_core.dal.receipts import DynamoReceiptStore

#: how long a receipt for an unknown message id is retried before it is counted as unknown
UNKNOWN_RECEIPT_GRACE = timedelta(minutes=5)


class RetryBatchError(RuntimeError):
    """Some events could not be handled yet; the others were. The receiver resends the batch."""


@lru_cache(maxsize=4)
def _store(fees: str, message_ids: str, subscribers: str) -> DynamoReceiptStore:
    from mcn_core.dal.receipts import DynamoReceiptStore

    return DynamoReceiptStore(fees, message_ids, subscribers)


def _settings() -> NotifySettings:
    settings = notify_settings()
    if not settings.message_ids_table:
        raise SettingsError("invalid function environment: MESSAGE_IDS_TABLE is required")
    return settings


def _validation_reason(exc: ValidationError) -> str:
    return describe_validation_error(exc)[:500]


def _receipt(event: ReceiptEvent, store: DynamoReceiptStore, now: datetime) -> dict[str, Any]:
    result = apply_receipt(event, store, now=now, unknown_grace=UNKNOWN_RECEIPT_GRACE)
    count(f"Receipt{event.state}")
    count(f"Receipts{result.outcome.capitalize()}")
    if result.status_changed:
        count(f"FeeStatus{str(result.status).capitalize()}")
    logger.info(
        "receipt",
        message_id=event.message_id,
        state=event.state,
        error_code=event.error_code,
        outcome=result.outcome,
        notification_id=result.notification_id,
        status=result.status,
        status_changed=result.status_changed,
    )
    return {
        "kind": "receipt",
        "message_id": event.message_id,
        "outcome": result.outcome,
        "reason": result.reason,
        "notification_id": result.notification_id,
        "status": result.status,
    }


def _mo(event: MoEvent, store: DynamoReceiptStore, settings: NotifySettings, now: datetime) -> dict[str, Any]:
    from mcn_core.sms import PooledSmsSender
    from mcn_core.wiring import notify_config

    result = handle_mo(
        event,
        config=notify_config(settings),
        store=store,
        sender=PooledSmsSender(),
        default_region=settings.default_region,
        now=now,
    )
    if result.outcome == "applied":
        count(f"Keyword{result.keyword}")
        if result.reply != "accepted":
            count("KeywordReplyFailed")
    else:
        count(f"Mo{result.outcome.capitalize()}")
    logger.info(
        "keyword",
        source=mask(event.source),
        destination=event.destination,
        message_ref=event.message_ref,
        keyword=result.keyword,
        outcome=result.outcome,
        reply=result.reply,
        reply_language=result.reply_language,
        reason=result.reason,
    )
    return {
        "kind": "mo",
        "message_ref": event.message_ref,
        "outcome": result.outcome,
        "reason": result.reason,
        "keyword": result.keyword,
        "reply": result.reply,
    }


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: Any, context: LambdaContext) -> dict:
    raw_events, rejected = unpack_or_reject(event, metric="InboundRejected", outcomes=["rejected"])
    if rejected is not None:
        return rejected

    settings = _settings()
    assert settings.message_ids_table is not None
    store = _store(settings.fees_table, settings.message_ids_table, settings.subscribers_table)
    now = datetime.now(UTC)
    results: list[dict[str, Any]] = []
    failures: list[str] = []  # at most one: handling stops at the first event that could not be handled
    for index, raw in enumerate(raw_events):
        try:
            parsed = INBOUND_EVENT.validate_python(raw)
        except Exception as exc:  # ValidationError, or any other failure of this event's parsing: its own
            reason = _validation_reason(exc) if isinstance(exc, ValidationError) else unprocessable_reason(exc)
            kind = raw.get("kind") if isinstance(raw, dict) else None
            count("InboundRejected")
            logger.warning("event rejected", index=index, kind=kind, reason=reason)
            results.append({"index": index, "kind": kind, "outcome": "rejected", "reason": reason})
            continue
        try:
            if isinstance(parsed, ReceiptEvent):
                result = _receipt(parsed, store, now)
            else:
                result = _mo(parsed, store, settings, now)
        except Exception as exc:  # store / config unavailable: the whole batch is resent later
            # Stop here: later MOs of a subscriber must not be applied before an earlier one
            # (an MO older than the last applied one counts as a re-delivery).
            logger.exception("event not handled; the batch will be resent", index=index, kind=parsed.kind)
            count("InboundErrors")
            failures.append(f"event {index}: {type(exc).__name__}: {exc}")
            break
        results.append({"index": index, **result})

    counts = dict(Counter(r["outcome"] for r in results))
    logger.info("batch handled", counts=counts)
    if failures:
        raise RetryBatchError(
            f"{failures[0]}; events from {len(results)} on not handled, the batch must be resent"[:1000]
        )
    return {"results": results, "counts": counts}
