"""Compose task: the subscriber's pending calls -> the exact SMS text(s), segments and fee."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mcn_core.logic.clearing import clearing_plan
from mcn_core.logic.compose import compose_notice
from mcn_core.models.notice import NotifyRequest
from mcn_core.numbers import mask
from mcn_core.observability import count, logger, metrics, traced
from mcn_core.wiring import notify_config, notify_store

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# A deferred notice keeps its subscriber's lock until a little after it resumes.
DEFER_LOCK_MARGIN = timedelta(hours=1)


@traced
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict:
    request = NotifyRequest.model_validate(event)
    logger.append_keys(notification_id=request.notification_id, subscriber=mask(request.subscriber))
    store = notify_store()
    config = notify_config()
    now = datetime.now(UTC)
    profile = store.profile(request.subscriber)
    calls = store.pending_calls(request.subscriber, profile.clear_mark)
    notice = compose_notice(
        notification_id=request.notification_id, profile=profile, calls=calls, config=config, now=now
    )
    if notice.action == "send":
        notice = notice.model_copy(update={"clearing": clearing_plan(notice, profile.clear_mark, calls, now)})
    if notice.notify_me_candidates:
        # Only callers who asked stay candidates: the NotifyMe step then runs only when it has work
        # (one Lambda invocation less for most notices; NotifyMe checks again before it sends).
        wanted = store.notify_me_subscribers(notice.notify_me_candidates)
        notice = notice.model_copy(update={"notify_me_candidates": sorted(wanted)})
    if notice.action == "defer" and notice.send_at is not None:
        store.extend_lock(request.subscriber, request.notification_id, notice.send_at + DEFER_LOCK_MARGIN)
    count(f"Notice{notice.action.title()}")
    logger.info(
        "notice composed",
        action=notice.action,
        send_at=notice.send_at.isoformat() if notice.send_at else None,
        calls=notice.calls_listed,
        messages=len(notice.messages),
        segments=notice.segments,
        encodings=[m.encoding for m in notice.messages],
    )
    return notice.model_dump(mode="json")
