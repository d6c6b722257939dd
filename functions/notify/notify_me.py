"""NotifyMe task: callers who asked for it learn the subscriber is reachable again (once per notice)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcn_core.logic.notify_me import NotifyMeSent, notify_callers
from mcn_core.models.notice import Notice
from mcn_core.numbers import mask
from mcn_core.observability import count, logger, metrics, traced
from mcn_core.wiring import notify_config, notify_store, sms_sender

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


def _report(sent: NotifyMeSent) -> None:
    count("NotifyMeSent" if sent.accepted else "NotifyMeFailed")
    logger.info("notify-me", caller=mask(sent.caller), accepted=sent.accepted)


@traced
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    notice = Notice.model_validate(event)
    result = notify_callers(notice, config=notify_config(), store=notify_store(), sender=sms_sender(), on_sent=_report)
    return {
        "sent": [{"caller": mask(sent.caller), "accepted": sent.accepted} for sent in result.sent],
        "already_notified": result.already_notified,
    }
