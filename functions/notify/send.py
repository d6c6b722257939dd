"""Send task: the composed SMS through the pooled SMPP layer; progress carried between attempts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcn_core.logic.send import send_notice
from mcn_core.models.notice import Notice, SendProgress
from mcn_core.observability import count, logger, metrics, traced
from mcn_core.wiring import sms_sender
from mcn_smpp.outcomes import ESME_RMSGQFUL, ESME_RTHROTTLED

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# The SMSC's "slow down" answers (licence exceeded, queue full), counted apart from other retryable outcomes.
SMSC_THROTTLING = frozenset({ESME_RTHROTTLED, ESME_RMSGQFUL})


@traced
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict:
    notice = Notice.model_validate(event)
    previous = SendProgress.model_validate(event["send"]) if event.get("send") else None
    logger.append_keys(notification_id=notice.notification_id)
    progress = send_notice(notice, previous, sms_sender())
    for message in progress.messages:
        count(f"Sms{message.outcome.title()}")
        if message.outcome == "retryable" and message.command_status in SMSC_THROTTLING:
            count("SmsThrottled")
    logger.info(
        "send attempt",
        attempt=progress.attempt,
        status=progress.status,
        outcomes=[m.outcome for m in progress.messages],
        reasons=[m.reason for m in progress.messages if m.reason],
    )
    return progress.model_dump(mode="json")
