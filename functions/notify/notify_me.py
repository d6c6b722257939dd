"""NotifyMe task: callers who asked for it learn the subscriber is reachable again (once per notice)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcn_core.models.config import NotifyConfig
from mcn_core.models.notice import Notice, OutgoingSms
from mcn_core.numbers import mask
from mcn_core.observability import count, logger, metrics, traced
from mcn_core.sms import PooledSmsSender
from mcn_core.wiring import notify_config, notify_store

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


def _sms(config: NotifyConfig, notice: Notice, caller: str) -> OutgoingSms:
    from mcn_smpp import segments

    _, templates = config.templates_for(notice.language)
    text = templates.notify_me.format(subscriber=notice.subscriber)
    shift = config.national_shift.get(notice.language or config.default_language)
    plan = segments(text, national_shift=shift)
    return OutgoingSms(
        index=0,
        destination=caller,
        source=config.service_sender,
        text=text,
        encoding=plan.encoding,
        segments=plan.count,
        national_shift=shift if plan.encoding != "ucs2" else None,
    )


@traced
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict:
    notice = Notice.model_validate(event)
    store = notify_store()
    config = notify_config()
    # Withheld callers never appear here: compose lists only known numbers as candidates.
    wanted = store.notify_me_subscribers(notice.notify_me_candidates)
    sender = PooledSmsSender()
    sent, skipped = [], 0
    for caller in sorted(wanted):
        if not store.mark_notified_once(notice.notification_id, caller):
            skipped += 1
            continue
        outcome = sender.send(_sms(config, notice, caller), reference=None, part_numbers=None)
        accepted = all(p.outcome == "accepted" for p in outcome.parts)
        count("NotifyMeSent" if accepted else "NotifyMeFailed")
        logger.info("notify-me", caller=mask(caller), accepted=accepted)
        sent.append({"caller": mask(caller), "accepted": accepted})
    return {"sent": sent, "already_notified": skipped}
