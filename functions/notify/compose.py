"""Compose task: the subscriber's pending calls -> the exact SMS text(s), segments and fee.

Attach composes ahead and starts most executions with the notice (the machine then skips this
task); this task composes a resumed notice, or one attach could not compose.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mcn_core.handler_support import report_composed
from mcn_core.logic.compose import prepare_notice
from mcn_core.models.notice import NotifyRequest
from mcn_core.numbers import mask
from mcn_core.observability import logger, metrics, traced
from mcn_core.wiring import notify_config, notify_store

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@traced
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict:
    request = NotifyRequest.from_data(event)
    logger.append_keys(subscriber=mask(request.subscriber))
    now = datetime.now(UTC)  # before the store is read: the clearing plan's listing time
    notice = prepare_notice(
        notification_id=request.notification_id,
        subscriber=request.subscriber,
        store=notify_store(),
        config=notify_config(),
        now=now,
    )
    report_composed(notice)
    return notice.to_data()
