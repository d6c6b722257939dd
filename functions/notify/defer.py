"""Quiet hours: hand a notice to the Standard "quiet hours" machine, and resume it afterwards.

Two small tasks instead of the states:startExecution integration: the notify machine runs as
Express (cheap, but at most 5 minutes), so a wait of hours lives in a Standard machine that
only deferred notices use.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from mcn_core.numbers import mask
from mcn_core.observability import count, logger, metrics, traced
from mcn_core.settings import defer_settings
from mcn_core.wiring import workflow_starter

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


class DeferredNotice(BaseModel):
    notification_id: str = Field(min_length=1)
    subscriber: str = Field(min_length=2)
    send_at: str = Field(min_length=10)
    resume_state_machine_arn: str = Field(min_length=10)
    deferring_execution: str | None = None


@traced
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def defer_handler(event: dict[str, Any], context: LambdaContext) -> dict:
    notice = DeferredNotice.model_validate(event)
    arn = defer_settings().quiet_hours_state_machine_arn
    # Named by the deferring execution: a retried Defer task cannot start a second wait, while a
    # notice resumed a little early (clocks) and deferred again gets its own, short, wait.
    origin = hashlib.sha256((notice.deferring_execution or notice.send_at).encode()).hexdigest()[:12]
    name = f"{notice.notification_id}-q{origin}"
    if workflow_starter(arn).start_once(name, notice.model_dump_json()) is None:
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
    notice = DeferredNotice.model_validate(event)
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
