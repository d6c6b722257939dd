"""SMS keywords to the service short code: STOP, START (+ YES), LANG xx, QUIET, NOTIFYME, HELP.

Plain Python: parse the text, decide what changes in the subscriber's preferences and which
reply goes back, then (handle_mo) apply it through a store and answer through a sender.
Matching is case- and accent-insensitive, in every configured language; the reply is in
the subscriber's language (or the language the keyword was written in, for a subscriber
without one).

Exactly-once effect per MO: the store applies the change only if the MO's `message_ref`
is newer than the last one applied for that subscriber, in the same conditional write;
a re-delivered MO changes nothing and is not answered again. The reply is sent after the
change is stored, once (at most once: a failed reply is counted, not retried).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from mcn_core.logic.send import SmsSender
from mcn_core.logic.tenants import resolve_tenant
from mcn_core.models.config import KEYWORD_COMMANDS, KeywordsConfig, NotifyConfig, QuietHours, normalise_keyword
from mcn_core.models.inbound import MoEvent
from mcn_core.models.notice import DEFAULT_TENANT, OutgoingSms
from mcn_core.numbers import InvalidNumberError, smsc_number_to_e164

#: stored in quiet_hours for "QUIET OFF": an empty window, which also overrides the operator's default
QUIET_OFF = "00:00-00:00"
LANGUAGE_NAMES = {"en": "English", "de": "Deutsch", "tr": "Türkçe", "fr": "Français", "es": "Español"}

_QUIET_ARGUMENT = re.compile(r"^(\d{1,2})(?:[:.H]?(\d{2}))?-(\d{1,2})(?:[:.H]?(\d{2}))?$")
_PUNCTUATION = ".,!?;:'\"()"


@dataclass(frozen=True)
class Command:
    #: STOP, START, YES, LANG, QUIET, NOTIFYME, HELP, or UNKNOWN (answered with the help text)
    keyword: str
    #: the language whose word matched (None for UNKNOWN)
    language: str | None
    #: the rest of the text, normalised (upper case, no accents, single spaces)
    argument: str = ""


@dataclass(frozen=True)
class SubscriberState:
    exists: bool = False
    opted_out: bool = False
    language: str | None = None
    pending_action: str | None = None
    pending_until: datetime | None = None
    #: the subscriber's own tenant (override of the number ranges)
    tenant: str | None = None


@dataclass(frozen=True)
class KeywordDecision:
    keyword: str
    #: attribute -> new value (None removes it): opted_out, language, quiet_hours, notify_me,
    #: pending_action, pending_until
    changes: dict[str, Any]
    reply: str  # a KeywordReplies field
    reply_values: dict[str, Any] = field(default_factory=dict)
    reply_language: str | None = None


def parse_command(text: str, keywords: KeywordsConfig, default_language: str | None = None) -> Command:
    words = normalise_keyword(text).split(" ")
    first = words[0].strip(_PUNCTUATION) if words else ""
    argument = " ".join(words[1:]).strip()
    if not first:
        return Command("UNKNOWN", None)
    # The default language first, so a word shared by several languages ("STOP") answers in it.
    languages = sorted(keywords.words, key=lambda language: language != default_language)
    for language in languages:
        vocabulary = keywords.words[language]
        for command in KEYWORD_COMMANDS:
            if first in {normalise_keyword(word) for word in getattr(vocabulary, command)}:
                name = "NOTIFYME" if command == "notify_me" else command.upper()
                return Command(name, language, argument)
    return Command("UNKNOWN", None, argument)


def _switch(argument: str, keywords: KeywordsConfig) -> bool | None:
    first = argument.split(" ")[0].strip(_PUNCTUATION) if argument else ""
    for vocabulary in keywords.words.values():
        if first in {normalise_keyword(word) for word in vocabulary.on}:
            return True
        if first in {normalise_keyword(word) for word in vocabulary.off}:
            return False
    return None


def parse_quiet(argument: str) -> str | None:
    """'22:00-07:00', '22.00 - 7.00', '2200-0700', '22-7' -> '22:00-07:00'; None if not a window."""
    match = _QUIET_ARGUMENT.match(argument.replace(" ", ""))
    if not match:
        return None
    start_h, start_m, end_h, end_m = (int(part) if part else 0 for part in match.groups())
    if start_h > 23 or end_h > 23 or start_m > 59 or end_m > 59:
        return None
    text = f"{start_h:02d}:{start_m:02d}-{end_h:02d}:{end_m:02d}"
    QuietHours.parse(text)  # the same rule compose applies
    return text


def decide(command: Command, state: SubscriberState, config: NotifyConfig, now: datetime) -> KeywordDecision:
    keywords = config.keywords
    clear_pending = {"pending_action": None, "pending_until": None}
    language = state.language if state.language in keywords.replies else command.language

    def decision(reply: str, changes: dict[str, Any] | None = None, **values: Any) -> KeywordDecision:
        return KeywordDecision(command.keyword, changes or {}, reply, values, language)

    if command.keyword == "STOP":
        if keywords.stop_requires_confirmation and not state.opted_out:
            until = now + timedelta(minutes=keywords.confirmation_minutes)
            return decision(
                "stop_confirm",
                {"pending_action": "stop", "pending_until": until},
                minutes=keywords.confirmation_minutes,
            )
        return decision("stopped", {"opted_out": True, **clear_pending})
    if command.keyword == "YES":
        pending = state.pending_action == "stop" and state.pending_until is not None and now < state.pending_until
        if pending:
            return decision("stopped", {"opted_out": True, **clear_pending})
        return decision("nothing_to_confirm", clear_pending if state.pending_action else {})
    if command.keyword == "START":
        return decision("started", {"opted_out": False, **clear_pending})
    if command.keyword == "LANG":
        wanted = command.argument.split(" ")[0].strip(_PUNCTUATION).lower() if command.argument else ""
        available = sorted(config.templates)
        if wanted in config.templates:
            # Confirmed in the new language when there are replies in it.
            return KeywordDecision(
                "LANG",
                {"language": wanted},
                "language_set",
                {"language": LANGUAGE_NAMES.get(wanted, wanted)},
                wanted if wanted in keywords.replies else language,
            )
        return decision("language_unknown", languages=", ".join(available))
    if command.keyword == "QUIET":
        if _switch(command.argument, keywords) is False:
            return decision("quiet_off", {"quiet_hours": QUIET_OFF})
        window = parse_quiet(command.argument)
        if window is None:
            return decision("quiet_invalid")
        if window == QUIET_OFF or window[:5] == window[6:]:
            return decision("quiet_off", {"quiet_hours": QUIET_OFF})
        return decision("quiet_set", {"quiet_hours": window}, quiet=window)
    if command.keyword == "NOTIFYME":
        switch = _switch(command.argument, keywords)
        if switch is None:
            return decision("help")
        return decision("notify_me_on" if switch else "notify_me_off", {"notify_me": switch})
    return decision("help")


def render_reply(decision: KeywordDecision, config: NotifyConfig, subscriber_language: str | None) -> tuple[str, str]:
    """(language, text) of the reply."""
    language, replies = config.keywords.replies_for(
        decision.reply_language, subscriber_language, config.default_language
    )
    template = getattr(replies, decision.reply)
    return language, template.format(short_code=config.keywords.short_code, **decision.reply_values)


class KeywordStore(Protocol):
    def subscriber_state(self, msisdn: str) -> SubscriberState: ...

    def apply_keyword(self, msisdn: str, message_ref: str, changes: dict[str, Any], now: datetime) -> bool:
        """Apply `changes` and remember `message_ref`, only if it is newer than the last one applied.

        False: this MO (or a newer one) was applied already; nothing changed.
        """
        ...


@dataclass(frozen=True)
class MoResult:
    #: applied | duplicate | ignored | rejected
    outcome: str
    keyword: str | None = None
    reason: str | None = None
    reply: str | None = None  # accepted | queued | retryable | permanent | None (not sent)
    reply_language: str | None = None
    #: whose words and replies answered it
    tenant: str | None = None


def handle_mo(
    event: MoEvent,
    *,
    config: NotifyConfig,
    store: KeywordStore,
    sender: SmsSender,
    default_region: str,
    now: datetime,
) -> MoResult:
    candidates = short_code_tenants(config, event.destination)
    if not candidates:
        enabled = any(config.for_tenant(name).keywords.enabled for name in (DEFAULT_TENANT, *config.tenants))
        return MoResult("ignored", reason="not sent to the service short code" if enabled else "keywords are disabled")
    try:
        msisdn = smsc_number_to_e164(event.source, default_region)
    except InvalidNumberError as exc:
        return MoResult("rejected", reason=f"invalid source number: {exc}")

    state = store.subscriber_state(msisdn)
    # A short code several brands share answers in the sender's own brand; one of its own, in its brand.
    own = resolve_tenant(config, msisdn, state.tenant).tenant
    tenant = own if own in candidates else DEFAULT_TENANT if DEFAULT_TENANT in candidates else candidates[0]
    config = config.for_tenant(tenant)
    keywords = config.keywords
    command = parse_command(event.text, keywords, config.default_language)
    decision = decide(command, state, config, now)
    if not store.apply_keyword(msisdn, event.message_ref, decision.changes, now):
        return MoResult("duplicate", keyword=command.keyword, tenant=tenant)

    new_language = decision.changes.get("language", state.language)
    language, text = render_reply(decision, config, new_language)
    sms = reply_sms(msisdn, text, language, config)
    try:
        outcome = sender.send(sms, reference=None, part_numbers=None)
    except Exception as exc:  # the change is stored; a missing reply must not undo or repeat it
        return MoResult(
            "applied",
            keyword=command.keyword,
            reason=f"reply not sent: {exc!r}",
            reply="failed",
            reply_language=language,
            tenant=tenant,
        )
    outcomes = {part.outcome for part in outcome.parts} or {"permanent"}
    if outcomes in ({"accepted"}, {"queued"}):  # queued: handed to the function that holds the binds
        reply = outcomes.pop()
    else:
        reply = "permanent" if "permanent" in outcomes else "retryable"
    reason = (
        None if reply in ("accepted", "queued") else "; ".join(p.reason for p in outcome.parts if p.reason) or reply
    )
    return MoResult(
        "applied", keyword=command.keyword, reason=reason, reply=reply, reply_language=language, tenant=tenant
    )


def short_code_tenants(config: NotifyConfig, destination: str) -> list[str]:
    """The tenants (the operator first) whose keywords are on and whose short code is `destination`."""
    wanted = destination.lstrip("+")
    names = [DEFAULT_TENANT, *sorted(config.tenants)]
    return [
        name
        for name in names
        if (keywords := config.for_tenant(name).keywords).enabled and keywords.short_code.lstrip("+") == wanted
    ]


def reply_sms(msisdn: str, text: str, language: str, config: NotifyConfig) -> OutgoingSms:
    from mcn_smpp import segments

    shift = config.national_shift.get(language)
    plan = segments(text, national_shift=shift)
    return OutgoingSms(
        index=0,
        destination=msisdn,
        source=config.keywords.short_code,
        text=text,
        encoding=plan.encoding,
        segments=plan.count,
        national_shift=shift if plan.encoding != "ucs2" else None,
    )
