"""Operator configuration changed at run time (SSM Parameter Store): texts, caps, tariff, promotions.

Validated here, with safe defaults, so a bad edit is refused with a clear message
instead of producing a wrong SMS or a wrong fee.

`NotifyConfig.from_data` stops at the first problem (msgspec); `configuration_problems` lists
every problem of a document, each with its tenant and field, for `mcn config validate|set`.
"""

from __future__ import annotations

import re
import string
from datetime import datetime, time
from functools import lru_cache, partial
from typing import Annotated, Any, ClassVar, Literal, NamedTuple, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from msgspec import Meta

from mcn_core.models.base import (
    UNKNOWN_FIELD,
    FieldCheck,
    FieldProblems,
    Model,
    ValidationError,
    aware,
    join_path,
    problems,
)
from mcn_core.models.base import every_problem as base_every_problem
from mcn_core.models.types import AwareDatetime

# HH:MM-HH:MM; seconds are accepted too (HH:MM:SS) for tests and tight operator windows.
_QUIET = re.compile(r"^(?P<start>[0-2]\d:[0-5]\d(?::[0-5]\d)?)-(?P<end>[0-2]\d:[0-5]\d(?::[0-5]\d)?)$")

# Placeholders each template may use; anything else is refused when the config is validated.
TEMPLATE_FIELDS: dict[str, frozenset[str]] = {
    "header": frozenset({"total_calls", "total_callers"}),
    "header_continued": frozenset({"part", "parts"}),
    "line_single": frozenset({"caller", "time"}),
    "line_multi": frozenset({"caller", "count", "first_time", "last_time"}),
    "more": frozenset({"more"}),
    "private_caller": frozenset(),
    "on_behalf": frozenset({"count", "time", "first_time", "last_time"}),
    "notify_me": frozenset({"subscriber"}),
}


def template_fields(text: str) -> set[str]:
    fields = set()
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"placeholder {{{name}}} must be a plain name, without format spec or attribute")
        fields.add(name)
    return fields


_TURKISH: Literal["turkish"] = "turkish"

#: what a problem says about a setting the model does not have
UNKNOWN_SETTING = "unknown setting (misspelt?)"


def _check(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise FieldProblems(*problems)


def _field_problems(model: msgspec.Struct, checks: dict[str, FieldCheck]) -> list[tuple[str, str]]:
    """(field, message) of each of a model's `_checks` its values fail (run by its __post_init__)."""
    problems = []
    for name, check in checks.items():
        try:
            check(getattr(model, name))
        except ValueError as exc:
            problems.append((name, str(exc)))
    return problems


def _as_settings(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """An unknown field of the configuration is most likely a misspelt setting: say so."""
    return [(where, UNKNOWN_SETTING if message == UNKNOWN_FIELD else message) for where, message in found]


def located_problems(exc: ValidationError, model: Any, data: Any, path: str = "") -> list[tuple[str, str]]:
    """(field path, message) of a ValidationError from validating `data` as `model` (mcn_core.models.base.problems)."""
    return _as_settings(problems(exc, model, data, path))


def every_problem(model: Any, data: Any, path: str = "") -> list[tuple[str, str]]:
    """Every (field path, message) of `data` as `model` (mcn_core.models.base.every_problem)."""
    return _as_settings(base_every_problem(model, data, path))


class QuietHours(Model):
    """A daily window in the subscriber's time zone, e.g. 22:00-07:00 (may cross midnight)."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        match = _QUIET.match(text.strip())
        if not match:
            raise ValueError(f"quiet hours must look like 22:00-07:00, got {text!r}")
        try:
            return cls(start=time.fromisoformat(match["start"]), end=time.fromisoformat(match["end"]))
        except ValueError:
            raise ValueError(f"quiet hours must look like 22:00-07:00, got {text!r}") from None

    def __str__(self) -> str:
        return f"{self.start.isoformat(timespec='minutes')}-{self.end.isoformat(timespec='minutes')}"


def _known_placeholders(
    kind: str, name: str, allowed: frozenset[str], text: str, everywhere: frozenset[str] = frozenset()
) -> None:
    unknown = template_fields(text) - allowed - everywhere
    if unknown:
        raise ValueError(
            f"{kind} {name!r} uses unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(allowed | everywhere)}"
        )


class MessageTemplates(Model):
    header: str
    header_continued: str
    line_single: str
    line_multi: str
    more: str
    private_caller: str
    on_behalf: str
    notify_me: str
    time_format: str = "%H:%M"
    # Used when the call was not on the day the notice is sent.
    date_time_format: str = "%d/%m %H:%M"

    _checks: ClassVar[dict[str, FieldCheck]] = {
        name: partial(_known_placeholders, "template", name, allowed) for name, allowed in TEMPLATE_FIELDS.items()
    }

    def __post_init__(self) -> None:
        _check(_field_problems(self, self._checks))


#: a non-negative amount of money in minor units
_Minor = Annotated[int, Meta(ge=0)]
_Id = Annotated[str, Meta(min_length=1, max_length=64)]


class Tariff(Model):
    """Money in integer minor units only: totals must reconcile to the cent."""

    id: _Id
    currency: Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]
    fee_minor_per_notice: _Minor
    fee_minor_per_extra_message: _Minor = 0
    #: per missed call placed on behalf that reached the handset (it alerted), on top of the notice's fee
    fee_minor_per_call: _Minor = 0
    charge_on: Literal["submit", "delivery"] = "submit"


def _timestamp(value: datetime | None) -> None:
    aware(value, "")  # the field is named by the check's place (_field_problems)


class Promotion(Model):
    id: _Id
    #: language -> text
    texts: Annotated[dict[str, str], Meta(min_length=1)]
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None

    _checks: ClassVar[dict[str, FieldCheck]] = {"starts_at": _timestamp, "ends_at": _timestamp}

    def __post_init__(self) -> None:
        _check(_field_problems(self, self._checks))

    def active(self, now: datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= now) and (self.ends_at is None or now < self.ends_at)


# ---------------------------------------------------------------- SMS keywords (issue 6)
#: Commands a subscriber can text to the service short code; ON/OFF are arguments, not commands.
KEYWORD_COMMANDS = ("stop", "start", "yes", "lang", "quiet", "notify_me", "help")

#: Placeholders each keyword reply may use ({short_code} everywhere).
KEYWORD_REPLY_FIELDS: dict[str, frozenset[str]] = {
    "help": frozenset(),
    "stop_confirm": frozenset({"minutes"}),
    "stopped": frozenset(),
    "started": frozenset(),
    "nothing_to_confirm": frozenset(),
    "language_set": frozenset({"language"}),
    "language_unknown": frozenset({"languages"}),
    "quiet_set": frozenset({"quiet"}),
    "quiet_off": frozenset(),
    "quiet_invalid": frozenset(),
    "notify_me_on": frozenset(),
    "notify_me_off": frozenset(),
}


def normalise_keyword(text: str) -> str:
    """Case- and accent-insensitive form of a keyword or an SMS text: 'İptal' -> 'IPTAL', 'Başla' -> 'BASLA'."""
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text.replace("ı", "i"))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split()).upper()


_Words = Annotated[list[str], Meta(min_length=1)]
_Reply = Annotated[str, Meta(min_length=1)]


#: the configured words, normalised once per process: each configuration load validates them all again
_normalised_word = lru_cache(maxsize=2048)(normalise_keyword)


def _single_words(words: list[str]) -> None:
    for word in words:
        key = _normalised_word(word)
        if not key or " " in key:
            raise ValueError(f"keyword {word!r} must be one word")


class KeywordWords(Model):
    """The words of one language; matched after normalise_keyword (case and accents do not matter)."""

    stop: _Words
    start: _Words
    yes: _Words
    lang: _Words
    quiet: _Words
    notify_me: _Words
    help: _Words
    on: _Words
    off: _Words

    _checks: ClassVar[dict[str, FieldCheck]] = dict.fromkeys(
        ("stop", "start", "yes", "lang", "quiet", "notify_me", "help", "on", "off"), _single_words
    )

    def __post_init__(self) -> None:
        _check(_field_problems(self, self._checks))


class KeywordReplies(Model):
    """Reply texts of one language."""

    help: _Reply
    stop_confirm: _Reply
    stopped: _Reply
    started: _Reply
    nothing_to_confirm: _Reply
    language_set: _Reply
    language_unknown: _Reply
    quiet_set: _Reply
    quiet_off: _Reply
    quiet_invalid: _Reply
    notify_me_on: _Reply
    notify_me_off: _Reply

    _checks: ClassVar[dict[str, FieldCheck]] = {
        name: partial(_known_placeholders, "keyword reply", name, allowed, everywhere=frozenset({"short_code"}))
        for name, allowed in KEYWORD_REPLY_FIELDS.items()
    }

    def __post_init__(self) -> None:
        _check(_field_problems(self, self._checks))


DEFAULT_KEYWORD_WORDS: dict[str, dict[str, list[str]]] = {
    "en": {
        "stop": ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"],
        "start": ["START", "UNSTOP", "SUBSCRIBE"],
        "yes": ["YES", "Y"],
        "lang": ["LANG", "LANGUAGE"],
        "quiet": ["QUIET"],
        "notify_me": ["NOTIFYME"],
        "help": ["HELP", "INFO"],
        "on": ["ON"],
        "off": ["OFF"],
    },
    "de": {
        "stop": ["STOP", "STOPP", "ABMELDEN"],
        "start": ["START", "ANMELDEN"],
        "yes": ["JA"],
        "lang": ["SPRACHE", "LANG"],
        "quiet": ["RUHE", "QUIET"],
        "notify_me": ["NOTIFYME", "BENACHRICHTIGEN"],
        "help": ["HILFE", "HELP"],
        "on": ["EIN", "AN", "ON"],
        "off": ["AUS", "OFF"],
    },
    "tr": {
        "stop": ["DUR", "İPTAL", "STOP"],
        "start": ["BAŞLA", "START"],
        "yes": ["EVET"],
        "lang": ["DİL", "LANG"],
        "quiet": ["SESSİZ", "QUIET"],
        "notify_me": ["HABERVER", "NOTIFYME"],
        "help": ["YARDIM", "HELP"],
        "on": ["AÇ", "ON"],
        "off": ["KAPAT", "OFF"],
    },
}

DEFAULT_KEYWORD_REPLIES: dict[str, dict[str, str]] = {
    "en": {
        "help": (
            "Missed call alerts: STOP to opt out, START to opt in, LANG xx for the language, "
            "QUIET 22:00-07:00 or QUIET OFF, NOTIFYME ON/OFF. Texts to {short_code} are free."
        ),
        "stop_confirm": "Reply YES within {minutes} min to stop missed call alerts.",
        "stopped": "You will no longer get missed call alerts. Text START to {short_code} to get them again.",
        "started": "Missed call alerts are on again. Text STOP to {short_code} to stop them.",
        "nothing_to_confirm": "Nothing to confirm. Text HELP to {short_code} for the commands.",
        "language_set": "Missed call alerts will now be in {language}.",
        "language_unknown": "Unknown language. Available: {languages}, e.g. LANG en.",
        "quiet_set": "No missed call alerts between {quiet}; they will wait until it ends.",
        "quiet_off": "Quiet hours are off: missed call alerts arrive at any time.",
        "quiet_invalid": "Use QUIET 22:00-07:00, or QUIET OFF.",
        "notify_me_on": "Callers who asked will be told when you are reachable again.",
        "notify_me_off": "Callers will no longer be told when you are reachable again.",
    },
    "de": {
        "help": (
            "Anruf-Info: STOP zum Abmelden, START zum Anmelden, SPRACHE xx für die Sprache, "
            "RUHE 22:00-07:00 oder RUHE AUS, NOTIFYME EIN/AUS. SMS an {short_code} sind kostenlos."
        ),
        "stop_confirm": "Antworten Sie innerhalb von {minutes} Min. mit JA, um die Anruf-Info abzubestellen.",
        "stopped": "Sie erhalten keine Anruf-Info mehr. START an {short_code} meldet Sie wieder an.",
        "started": "Die Anruf-Info ist wieder aktiv. STOP an {short_code} meldet Sie ab.",
        "nothing_to_confirm": "Nichts zu bestätigen. HILFE an {short_code} zeigt die Befehle.",
        "language_set": "Die Anruf-Info kommt jetzt auf {language}.",
        "language_unknown": "Unbekannte Sprache. Verfügbar: {languages}, z.B. SPRACHE de.",
        "quiet_set": "Keine Anruf-Info zwischen {quiet}; sie kommt danach.",
        "quiet_off": "Ruhezeit aus: die Anruf-Info kommt jederzeit.",
        "quiet_invalid": "Bitte RUHE 22:00-07:00 oder RUHE AUS.",
        "notify_me_on": "Anrufer, die es wünschen, erfahren, wenn Sie wieder erreichbar sind.",
        "notify_me_off": "Anrufer erfahren nicht mehr, wenn Sie wieder erreichbar sind.",
    },
    "tr": {
        "help": (
            "Cevapsız çağrı bildirimi: iptal için DUR, açmak için BAŞLA, dil için DİL xx, "
            "SESSİZ 22:00-07:00 veya SESSİZ KAPAT, HABERVER AÇ/KAPAT. {short_code} numarasına SMS ücretsizdir."
        ),
        "stop_confirm": "Bildirimleri durdurmak için {minutes} dk içinde EVET yazın.",
        "stopped": "Artık cevapsız çağrı bildirimi almayacaksınız. Tekrar için {short_code} numarasına BAŞLA yazın.",
        "started": "Cevapsız çağrı bildirimleri yeniden açık. Durdurmak için {short_code} numarasına DUR yazın.",
        "nothing_to_confirm": "Onaylanacak bir şey yok. Komutlar için {short_code} numarasına YARDIM yazın.",
        "language_set": "Bildirimler artık {language} dilinde.",
        "language_unknown": "Bilinmeyen dil. Mevcut: {languages}, örn. DİL tr.",
        "quiet_set": "{quiet} arasında bildirim gönderilmez; sonrasında gelir.",
        "quiet_off": "Sessiz saatler kapalı: bildirimler her zaman gelir.",
        "quiet_invalid": "SESSİZ 22:00-07:00 veya SESSİZ KAPAT yazın.",
        "notify_me_on": "İsteyen arayanlara yeniden ulaşılabilir olduğunuz bildirilecek.",
        "notify_me_off": "Arayanlara artık ulaşılabilir olduğunuz bildirilmeyecek.",
    },
}


def _default_words() -> dict[str, KeywordWords]:
    return {language: KeywordWords.from_data(words) for language, words in DEFAULT_KEYWORD_WORDS.items()}


def _default_replies() -> dict[str, KeywordReplies]:
    return {language: KeywordReplies.from_data(texts) for language, texts in DEFAULT_KEYWORD_REPLIES.items()}


class KeywordsConfig(Model):
    """SMS keywords to the service short code (STOP, START, LANG, QUIET, NOTIFYME, HELP) and their replies."""

    enabled: bool = True
    #: the number subscribers text; MO messages to any other destination are ignored (counted)
    short_code: Annotated[str, Meta(min_length=1, max_length=20)] = "62226"
    #: STOP only takes effect after a YES within confirmation_minutes
    stop_requires_confirmation: bool = False
    confirmation_minutes: Annotated[int, Meta(ge=1, le=24 * 60)] = 10
    #: language -> keyword words
    words: Annotated[dict[str, KeywordWords], Meta(min_length=1)] = msgspec.field(default_factory=_default_words)
    #: language -> reply texts
    replies: Annotated[dict[str, KeywordReplies], Meta(min_length=1)] = msgspec.field(default_factory=_default_replies)

    def __post_init__(self) -> None:
        owner: dict[str, str] = {}
        for language, words in self.words.items():
            for command in KEYWORD_COMMANDS:
                for word in getattr(words, command):
                    key = _normalised_word(word)
                    if owner.setdefault(key, command) != command:
                        raise FieldProblems(
                            (
                                f"words.{language}.{command}",
                                f"keyword {word!r} ({language}) means both {owner[key]!r} and {command!r}",
                            )
                        )

    def replies_for(self, *languages: str | None) -> tuple[str, KeywordReplies]:
        """The first of `languages` that has replies, else English, else any."""
        for language in (*languages, "en"):
            if language and language in self.replies:
                return language, self.replies[language]
        language = next(iter(self.replies))
        return language, self.replies[language]


# ---------------------------------------------------------------- tenants (issue 16)
#: an E.164 number range: '+' and the leading digits every number of the range starts with
_RANGE = re.compile(r"^\+[1-9]\d{0,14}$")
_TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
#: an alphanumeric sender is sent as GSM 7-bit (TON 5): 11 characters at most
ALPHANUMERIC_SENDER_MAX = 11
_NUMERIC_SENDER = re.compile(r"^\+?\d{1,20}$")


#: what an alphanumeric sender may contain: GSM 7-bit default-alphabet characters every handset shows
_ALPHANUMERIC_SENDER = re.compile(r"^[A-Za-z0-9 \-_.&+!']+$")


def validate_sender(value: str) -> str:
    """A numeric sender (short code or number, up to 20 digits) or an alphanumeric one (TON 5, sent as
    GSM 7-bit): at most 11 letters, digits, spaces or - _ . & + ! ' characters."""
    if _NUMERIC_SENDER.fullmatch(value):
        return value
    if not _ALPHANUMERIC_SENDER.fullmatch(value):
        raise ValueError(
            f"sender {value!r} must be digits, or letters, digits, spaces and - _ . & + ! ' "
            "(GSM 7-bit default alphabet)"
        )
    if len(value) > ALPHANUMERIC_SENDER_MAX:
        raise ValueError(f"alphanumeric sender {value!r} is {len(value)} characters; at most {ALPHANUMERIC_SENDER_MAX}")
    return value


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`overrides` over `base`: mappings merged key by key, anything else (lists, text, null) replaced."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _ranges(ranges: list[str]) -> None:
    for prefix in ranges:
        if not _RANGE.fullmatch(prefix):
            raise ValueError(f"range {prefix!r} must be '+' and 1-15 digits (an E.164 prefix, e.g. +447700900)")
    if len(set(ranges)) != len(ranges):
        raise ValueError("a range is listed twice")


def _no_nested_tenants(overrides: dict[str, Any]) -> None:
    if "tenants" in overrides:
        raise ValueError("a tenant cannot define tenants")


class TenantConfig(Model):
    """A brand hosted by the operator (an MVNO): its number ranges and what it overrides.

    `overrides` is any part of the operator's notify configuration (texts, sender, tariff,
    promotions, keywords, time zone, quiet hours, caps, later settings too), deep-merged over it;
    the result is validated as a whole configuration.
    """

    #: the brand as people know it (shown by `mcn preview` and reports)
    name: Annotated[str, Meta(max_length=64)] | None = None
    #: E.164 prefixes ("+447700900"): the longest prefix matching a subscriber's number wins
    ranges: list[str] = msgspec.field(default_factory=list)
    overrides: dict[str, Any] = msgspec.field(default_factory=dict)

    _checks: ClassVar[dict[str, FieldCheck]] = {"ranges": _ranges, "overrides": _no_nested_tenants}

    def __post_init__(self) -> None:
        _check(_field_problems(self, self._checks))


#: names a tenant cannot have: the operator itself, and `mcn subscriber set --tenant off`
RESERVED_TENANT_NAMES = ("default", "off")


def check_tenant_name(name: str) -> str:
    if name in RESERVED_TENANT_NAMES:
        raise ValueError(
            f"tenant name {name!r} is reserved ('default' is the operator: its settings are the top level)"
        )
    if not _TENANT_NAME.fullmatch(name):
        raise ValueError(f"tenant name {name!r} must be 1-32 of a-z, 0-9, '_' or '-', starting alphanumeric")
    return name


class ConfigProblem(NamedTuple):
    """One problem found in a configuration: which tenant (None: the operator's own), which field, what."""

    tenant: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"tenant {self.tenant!r}: " if self.tenant else ""
        return f"{where}{self.field}: {self.message}"


def validation_problems(
    exc: ValidationError, data: Any = None, tenant: str | None = None, prefix: str = "", model: Any = None
) -> list[ConfigProblem]:
    """The problem(s) one ValidationError of `data` as `model` (a NotifyConfig by default) reports."""
    return [
        ConfigProblem(tenant, prefix + (field or "(top level)"), message)
        for field, message in located_problems(exc, model or NotifyConfig, data)
    ]


#: How each caller is told on the subscriber's behalf (callers not covered go in the service SMS):
#: off: the service SMS lists everyone; sms: one SMS per caller from the caller's number;
#: call: a missed call placed from the caller's number (ISUP flash call by the gateway), no SMS for
#: them; call_and_sms: both.
OnBehalf = Literal["off", "sms", "call", "call_and_sms"]
#: The former `sender_mode` setting, still accepted: caller = on_behalf sms, service = off.
_SENDER_MODE_TO_ON_BEHALF = {"caller": "sms", "service": "off"}
#: One SQS SendMessageBatch holds 10 messages: the calls of one notice go in one request.
MAX_CALLS_PER_NOTICE = 10


def _sender_mode_is_on_behalf(data: Any) -> Any:
    """Configs written before `on_behalf` keep working: `sender_mode` maps onto it (FieldProblems if it cannot)."""
    if not isinstance(data, dict) or "sender_mode" not in data:
        return data
    data = dict(data)
    mode = data.pop("sender_mode")
    if mode not in _SENDER_MODE_TO_ON_BEHALF:
        raise FieldProblems(
            ("sender_mode", f"sender_mode must be 'service' or 'caller' (now on_behalf: off | sms), got {mode!r}")
        )
    mapped = _SENDER_MODE_TO_ON_BEHALF[mode]
    if "on_behalf" in data and data["on_behalf"] != mapped:
        raise FieldProblems(
            (
                "sender_mode",
                f"sender_mode {mode!r} (= on_behalf {mapped!r}) contradicts on_behalf {data['on_behalf']!r}:"
                " remove sender_mode, on_behalf replaces it",
            )
        )
    data["on_behalf"] = mapped
    return data


def _time_zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _quiet_hours(text: str | None) -> None:
    if text:
        QuietHours.parse(text)


def _tenant_names(tenants: dict[str, TenantConfig]) -> None:
    for name in tenants:
        check_tenant_name(name)


class NotifyConfig(Model, dict=True):
    # dict=True: each tenant's merged configuration and the range -> tenant map are kept on the
    # instance (computed once per validated configuration, in __post_init__).

    default_language: str = "en"
    templates: Annotated[dict[str, MessageTemplates], Meta(min_length=1)]
    # GSM 03.38 national language single shift table per language (keeps Turkish in GSM-7).
    national_shift: dict[str, Literal["turkish"]] = msgspec.field(default_factory=lambda: {"tr": _TURKISH})
    max_callers_per_message: Annotated[int, Meta(ge=1, le=50)] = 5
    max_messages_per_notice: Annotated[int, Meta(ge=1, le=10)] = 3
    max_segments_per_message: Annotated[int, Meta(ge=1, le=10)] = 2
    withheld_callers: Literal["show", "omit"] = "show"
    on_behalf: OnBehalf = "off"
    #: which callers get a call or SMS on behalf: all, or only those who called more than once
    on_behalf_callers: Literal["all", "repeated"] = "all"
    max_calls_per_notice: Annotated[int, Meta(ge=1, le=MAX_CALLS_PER_NOTICE)] = 3
    #: a flash call not placed within this many seconds of its request is dropped (stale: worse than none)
    flash_call_window_s: Annotated[int, Meta(ge=30, le=300)] = 120
    service_sender: Annotated[str, Meta(min_length=1, max_length=20)] = "MissedCall"
    default_time_zone: str = "Europe/London"
    default_quiet_hours: str | None = None
    tariff: Tariff
    promotions: list[Promotion] = msgspec.field(default_factory=list)
    notify_me_enabled: bool = True
    keep_calls_on_failure: bool = True
    send_max_attempts: Annotated[int, Meta(ge=1, le=10)] = 5
    keywords: KeywordsConfig = msgspec.field(default_factory=KeywordsConfig)
    #: at most this many notices per subscriber per local day (None: no cap); later calls wait for the next day
    daily_cap: Annotated[int, Meta(ge=1, le=100)] | None = None
    #: hosted brands (name -> ranges and overrides); subscribers no range claims are the operator's ("default")
    tenants: dict[str, TenantConfig] = msgspec.field(default_factory=dict)

    _checks: ClassVar[dict[str, FieldCheck]] = {
        "service_sender": validate_sender,
        "default_time_zone": _time_zone,
        "default_quiet_hours": _quiet_hours,
        "tenants": _tenant_names,
    }

    @classmethod
    def from_data(cls, data: Any) -> Self:
        """Validated (ValidationError at the first problem); the former `sender_mode` is read as `on_behalf`."""
        try:
            data = _sender_mode_is_on_behalf(data)
        except FieldProblems as exc:
            raise ValidationError(str(exc)) from exc
        return super().from_data(data)

    def __post_init__(self) -> None:
        problems = _field_problems(self, self._checks)
        if not self.default_quiet_hours:
            msgspec.structs.force_setattr(self, "default_quiet_hours", None)
        if self.default_language not in self.templates:
            problems.append(
                ("default_language", f"templates must include the default language {self.default_language!r}")
            )
        _check(problems)
        tenant_problems, merged, ranges = _merge_tenants(self, self.tenants)
        _check([(f"tenants.{p.tenant}.{p.field}", p.message) for p in tenant_problems])
        object.__setattr__(self, "_tenant_configs", merged)
        object.__setattr__(self, "_tenant_ranges", ranges)

    def for_tenant(self, tenant: str | None) -> NotifyConfig:
        """The settings of `tenant`: the operator's with the tenant's overrides (the operator's for any other)."""
        configs: dict[str, NotifyConfig] = self.__dict__["_tenant_configs"]
        return configs.get(tenant or "", self)

    @property
    def tenant_ranges(self) -> dict[str, str]:
        """E.164 prefix -> tenant name."""
        ranges: dict[str, str] = self.__dict__["_tenant_ranges"]
        return ranges

    @property
    def on_behalf_sms(self) -> bool:
        return self.on_behalf in ("sms", "call_and_sms")

    @property
    def on_behalf_calls(self) -> bool:
        return self.on_behalf in ("call", "call_and_sms")

    def templates_for(self, language: str | None) -> tuple[str, MessageTemplates]:
        chosen = language if language in self.templates else self.default_language
        return chosen, self.templates[chosen]


def _merge_tenants(
    operator: NotifyConfig, tenants: dict[str, TenantConfig], *, every: bool = False
) -> tuple[list[ConfigProblem], dict[str, NotifyConfig], dict[str, str]]:
    """Each tenant's overrides merged over the `operator`'s settings and validated as a whole:
    (problems, tenant -> merged configuration, range -> tenant). `every`: all of each tenant's
    problems, not only its first."""
    problems: list[ConfigProblem] = []
    owner: dict[str, str] = {}
    for name, tenant in tenants.items():
        for prefix in tenant.ranges:
            if owner.setdefault(prefix, name) != name:
                problems.append(ConfigProblem(name, "ranges", f"{prefix} is also a range of tenant {owner[prefix]!r}"))
    merged: dict[str, NotifyConfig] = {}
    if not tenants:
        return problems, merged, owner
    base = operator.to_data()
    del base["tenants"]
    for name, tenant in tenants.items():
        # A tenant still written with the former `sender_mode` overrides the operator's on_behalf.
        own_base = base
        if "sender_mode" in tenant.overrides:
            own_base = {key: value for key, value in base.items() if key != "on_behalf"}
        document = deep_merge(own_base, tenant.overrides)
        try:
            merged[name] = NotifyConfig.from_data(document)
        except ValidationError as exc:
            found = _notify_problems(document) if every else located_problems(exc, NotifyConfig, document)
            problems += [ConfigProblem(name, join_path("overrides", field), message) for field, message in found]
    return problems, merged, owner


def _notify_problems(document: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (field, message) of a configuration without tenants."""
    try:
        document = _sender_mode_is_on_behalf(document)
    except FieldProblems as exc:
        return list(exc.problems)
    return every_problem(NotifyConfig, document)


def configuration_problems(document: dict[str, Any]) -> list[ConfigProblem]:
    """Every problem of a configuration document, each with its tenant (None: the operator's settings)
    and field: the operator's settings (if they have problems, nothing else is checked); then each tenant's
    own shape (name, ranges, overrides), and the merged settings of each tenant whose shape is valid."""
    try:
        NotifyConfig.from_data(document)
        return []
    except ValidationError:
        pass
    raw_tenants = document.get("tenants") or {}
    operator = {key: value for key, value in document.items() if key != "tenants"}
    problems = [ConfigProblem(None, field or "(top level)", message) for field, message in _notify_problems(operator)]
    if problems:
        return problems
    if not isinstance(raw_tenants, dict):
        return [ConfigProblem(None, "tenants", "must be an object: tenant name -> settings")]
    tenants: dict[str, TenantConfig] = {}
    for name, raw in raw_tenants.items():
        try:
            check_tenant_name(name)
        except ValueError as exc:
            problems.append(ConfigProblem(name, "(name)", str(exc)))
            continue
        found = every_problem(TenantConfig, raw)
        if found:
            problems += [ConfigProblem(name, field or "(top level)", message) for field, message in found]
        else:
            tenants[name] = TenantConfig.from_data(raw)
    # each tenant whose own shape is valid: its merged settings
    return problems + _merge_tenants(NotifyConfig.from_data(operator), tenants, every=True)[0]
