"""The one function that submits SMS: the notice (Send task), NotifyMe, and keyword replies.

Every submit of the deployment goes through here, so this function's reserved concurrency
(template: SmscMaxBinds) and each instance's share of the licence (mcn_smpp.budget) keep the
whole fleet inside the SMSC's licence and bind limit however Lambda scales.
  - the Send task: the composed notice, with its progress carried between attempts;
  - `{"task": "notify_me", "notice": ...}`: the NotifyMe task of the same machine;
  - `{"task": "reply", "sms": ...}`: a keyword reply handed over by the receipts function
    (asynchronous invoke: sent at most once, a failure is logged and counted, never retried).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import notify_me
from mcn_core.logic.send import send_notice
from mcn_core.models.notice import Notice, OutgoingSms, SendProgress
from mcn_core.numbers import mask
from mcn_core.observability import count, logger, metrics
from mcn_core.wiring import sms_sender

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


def _send_notice(event: dict[str, Any]) -> dict[str, Any]:
    notice = Notice.model_validate(event)
    previous = SendProgress.model_validate(event["send"]) if event.get("send") else None
    logger.append_keys(notification_id=notice.notification_id)
    progress = send_notice(notice, previous, sms_sender())
    for message in progress.messages:
        count(f"Sms{message.outcome.title()}")
    logger.info(
        "send attempt",
        attempt=progress.attempt,
        status=progress.status,
        outcomes=[m.outcome for m in progress.messages],
        reasons=[m.reason for m in progress.messages if m.reason],
    )
    return progress.model_dump(mode="json")


def _send_reply(event: dict[str, Any]) -> dict[str, Any]:
    sms = OutgoingSms.model_validate(event["sms"])
    try:
        outcome = sms_sender().send(sms, reference=None, part_numbers=None)
        outcomes = sorted({part.outcome for part in outcome.parts})
    except Exception as exc:  # at most once: a reply that may have gone out is not sent again
        outcomes = ["error"]
        logger.warning("keyword reply not sent", destination=mask(sms.destination), reason=repr(exc))
    sent = outcomes == ["accepted"]
    count("KeywordReplySent" if sent else "KeywordReplyFailed")
    logger.info("keyword reply", destination=mask(sms.destination), outcomes=outcomes)
    return {"sent": sent, "outcomes": outcomes}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = event.get("task")
    if task == "notify_me":
        return notify_me.notify(event["notice"])
    if task == "reply":
        return _send_reply(event)
    return _send_notice(event)
