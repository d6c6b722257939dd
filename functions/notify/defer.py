"""Quiet hours: hand a notice to the Standard "quiet hours" machine, and resume it afterwards.

Two small tasks instead of the states:startExecution integration: the notify machine runs as
Express (cheap, but at most 5 minutes), so a wait of hours lives in a Standard machine that
only deferred notices use.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mcn_core.logic.notices import LOCK_LIFETIME, notification_time
from mcn_core.models.notice import DeferredNotice
from mcn_core.numbers import mask
from mcn_core.observability import count, logger, metrics, traced
from mcn_core.settings import defer_settings
from mcn_core.wiring import notify_store, workflow_starter

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@traced
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def defer_handler(event: dict[str, Any], context: LambdaContext) -> dict:
    notice = DeferredNotice.from_data(event)
    arn = defer_settings().quiet_hours_state_machine_arn
    if notice.send_at is None and notice.delay_s is not None:
        # Imported here: the notice models it brings are built only by this path, which uses the store anyway.
        from mcn_core.logic.send import capacity_resume_at

        now = datetime.now(UTC)
        since = notification_time(notice.notification_id, default=now)
        resume_at = capacity_resume_at(now, since, notice.delay_s, random.random())
        notice = notice.replace(send_at=resume_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
        # The notice keeps its subscriber's lock through the wait (a repeated alert starts nothing).
        notify_store().extend_lock(notice.subscriber, notice.notification_id, resume_at + LOCK_LIFETIME)
        count("NoticeWaitingForSmsc")
    # Named by the deferring execution: a retried Defer task cannot start a second wait, while a
    # notice resumed a little early (clocks) and deferred again gets its own, short, wait.
    origin = hashlib.sha256((notice.deferring_execution or notice.send_at).encode()).hexdigest()[:12]
    name = f"{notice.notification_id}-q{origin}"
    if workflow_starter(arn).start_once(name, notice.to_json()) is None:
        logger.info("already deferred", notification_id=notice.notification_id)
    count("NoticeDeferred")
    logger.info(
        "deferred", notification_id=notice.notification_id, subscriber=mask(notice.subscriber), send_at=notice.send_at
    )
    return {"deferred_until": notice.send_at}


@traced
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def resume_handler(event: dict[str, Any], context: LambdaContext) -> dict:
    notice = DeferredNotice.from_data(event)
    request = {"notification_id": notice.notification_id, "subscriber": notice.subscriber, "resumed": True}
    # Named after this wait's own execution: a retried Resume does not start the notice twice.
    name = f"{notice.deferring_execution or notice.notification_id}-resume"[-80:]
    execution_arn = workflow_starter(notice.resume_state_machine_arn).start_once(name, json.dumps(request))
    if execution_arn is None:
        logger.info("already resumed", notification_id=notice.notification_id)
        return {"execution_name": name, "already_resumed": True}
    count("NoticeResumed")
    logger.info("resumed after quiet hours", notification_id=notice.notification_id)
    return {"execution_arn": execution_arn}
