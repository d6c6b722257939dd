"""NotifyMe: callers who asked for it learn the subscriber is reachable again (once per notice)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from mcn_core.logic.send import SmsSender
from mcn_core.models.config import NotifyConfig
from mcn_core.models.notice import Notice, OutgoingSms


class NotifyMeStore(Protocol):
    def notify_me_subscribers(self, msisdns: Iterable[str]) -> set[str]: ...

    def mark_notified_once(self, notice: Notice, caller: str) -> bool: ...


@dataclass(frozen=True)
class NotifyMeSent:
    caller: str
    accepted: bool


@dataclass(frozen=True)
class NotifyMeResult:
    sent: list[NotifyMeSent] = field(default_factory=list)
    #: callers marked by an earlier attempt of this notice (a retried task): not sent again
    already_notified: int = 0


def notify_me_sms(config: NotifyConfig, notice: Notice, caller: str) -> OutgoingSms:
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


def notify_callers(
    notice: Notice,
    *,
    config: NotifyConfig,
    store: NotifyMeStore,
    sender: SmsSender,
    on_sent: Callable[[NotifyMeSent], None] = lambda sent: None,
) -> NotifyMeResult:
    """Each caller who wants it, once: the mark is taken before the SMS is sent (at most once).

    `on_sent` hears of each SMS as it goes (the caller counts and logs it even if a later one fails).
    """
    # Withheld callers never appear here: compose lists only known numbers as candidates.
    wanted = store.notify_me_subscribers(notice.notify_me_candidates)
    sent: list[NotifyMeSent] = []
    skipped = 0
    for caller in sorted(wanted):
        if not store.mark_notified_once(notice, caller):
            skipped += 1
            continue
        outcome = sender.send(notify_me_sms(config, notice, caller), reference=None, part_numbers=None)
        sent.append(NotifyMeSent(caller, all(p.outcome == "accepted" for p in outcome.parts)))
        on_sent(sent[-1])
    return NotifyMeResult(sent, skipped)
