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

from mcn_core.logic.notify_me import NotifyMeSent, notify_callers
from mcn_core.logic.send import send_notice
from mcn_core.models.notice import Notice, OutgoingSms, SendProgress
from mcn_core.numbers import mask
from mcn_core.observability import count, logger, metrics, traced
from mcn_core.wiring import notify_config, notify_store, sms_sender
from mcn_smpp.outcomes import ESME_RMSGQFUL, ESME_RTHROTTLED

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# The SMSC's "slow down" answers (licence exceeded, queue full), counted apart from other retryable outcomes.
SMSC_THROTTLING = frozenset({ESME_RTHROTTLED, ESME_RMSGQFUL})


def _send_notice(event: dict[str, Any]) -> dict[str, Any]:
    notice = Notice.from_data(event)
    previous = SendProgress.from_data(event["send"]) if event.get("send") else None
    logger.append_keys(notification_id=notice.notification_id)
    progress = send_notice(notice, previous, sms_sender())
    for message in progress.messages:
        count(f"Sms{message.outcome.title()}")
        if message.outcome == "retryable" and message.command_status in SMSC_THROTTLING:
            count("SmsThrottled")
    # A notice sent whole at its first attempt shows in Record's line (status, fee) and SmsAccepted:
    # its own line is DEBUG. Retries, partial and failed sends stay at INFO.
    routine = progress.attempt == 1 and all(m.outcome == "accepted" for m in progress.messages)
    (logger.debug if routine else logger.info)(
        "send attempt",
        attempt=progress.attempt,
        status=progress.status,
        outcomes=[m.outcome for m in progress.messages],
        reasons=[m.reason for m in progress.messages if m.reason],
    )
    return progress.to_data()


def _report_notify_me(sent: NotifyMeSent) -> None:
    count("NotifyMeSent" if sent.accepted else "NotifyMeFailed")
    logger.info("notify-me", caller=mask(sent.caller), accepted=sent.accepted)


def _notify_me(event: dict[str, Any]) -> dict[str, Any]:
    """Callers who asked learn the subscriber is reachable again (once per caller per notice)."""
    notice = Notice.from_data(event)
    result = notify_callers(
        notice, config=notify_config(), store=notify_store(), sender=sms_sender(), on_sent=_report_notify_me
    )
    return {
        "sent": [{"caller": mask(sent.caller), "accepted": sent.accepted} for sent in result.sent],
        "already_notified": result.already_notified,
    }


def _send_reply(event: dict[str, Any]) -> dict[str, Any]:
    sms = OutgoingSms.from_data(event["sms"])
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


@traced
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = event.get("task")
    if task == "notify_me":
        return _notify_me(event["notice"])
    if task == "reply":
        return _send_reply(event)
    return _send_notice(event)
