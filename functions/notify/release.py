"""Release task: a notice that ends without recording (nothing to send, or an error) frees its lock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcn_core.models.notice import NotifyRequest
from mcn_core.observability import logger, metrics, traced
from mcn_core.wiring import notify_store

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@traced
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict:
    request = NotifyRequest.from_data(event)
    released = notify_store().release_lock(request.subscriber, request.notification_id)
    logger.info("lock released", notification_id=request.notification_id, released=released)
    return {"released": released}
