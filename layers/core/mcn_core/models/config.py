"""Operator configuration changed at run time (SSM Parameter Store): texts, caps, tariff, promotions.

Validated here, with safe defaults, so a bad edit is refused with a clear message
instead of producing a wrong SMS or a wrong fee.
"""

from __future__ import annotations

import re
import string
from datetime import datetime, time
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

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


class QuietHours(BaseModel):
    """A daily window in the subscriber's time zone, e.g. 22:00-07:00 (may cross midnight)."""

    model_config = ConfigDict(frozen=True)

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


class MessageTemplates(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

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

    @model_validator(mode="after")
    def _known_placeholders(self) -> MessageTemplates:
        for name, allowed in TEMPLATE_FIELDS.items():
            unknown = template_fields(getattr(self, name)) - allowed
            if unknown:
                raise ValueError(
                    f"template {name!r} uses unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
                )
        return self


class Tariff(BaseModel):
    """Money in integer minor units only: totals must reconcile to the cent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    fee_minor_per_notice: int = Field(ge=0)
    fee_minor_per_extra_message: int = Field(default=0, ge=0)
    #: per missed call placed on behalf that reached the handset (it alerted), on top of the notice's fee
    fee_minor_per_call: int = Field(default=0, ge=0)
    charge_on: Literal["submit", "delivery"] = "submit"


class Promotion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    texts: dict[str, str] = Field(min_length=1, description="language -> text")
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None

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


class KeywordWords(BaseModel):
    """The words of one language; matched after normalise_keyword (case and accents do not matter)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stop: list[str] = Field(min_length=1)
    start: list[str] = Field(min_length=1)
    yes: list[str] = Field(min_length=1)
    lang: list[str] = Field(min_length=1)
    quiet: list[str] = Field(min_length=1)
    notify_me: list[str] = Field(min_length=1)
    help: list[str] = Field(min_length=1)
    on: list[str] = Field(min_length=1)
    off: list[str] = Field(min_length=1)

    @field_validator("*")
    @classmethod
    def _single_words(cls, words: list[str]) -> list[str]:
        for word in words:
            if not normalise_keyword(word) or " " in normalise_keyword(word):
                raise ValueError(f"keyword {word!r} must be one word")
        return words


class KeywordReplies(BaseModel):
    """Reply texts of one language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    help: str = Field(min_length=1)
    stop_confirm: str = Field(min_length=1)
    stopped: str = Field(min_length=1)
    started: str = Field(min_length=1)
    nothing_to_confirm: str = Field(min_length=1)
    language_set: str = Field(min_length=1)
    language_unknown: str = Field(min_length=1)
    quiet_set: str = Field(min_length=1)
    quiet_off: str = Field(min_length=1)
    quiet_invalid: str = Field(min_length=1)
    notify_me_on: str = Field(min_length=1)
    notify_me_off: str = Field(min_length=1)

    @model_validator(mode="after")
    def _known_placeholders(self) -> KeywordReplies:
        for name, allowed in KEYWORD_REPLY_FIELDS.items():
            unknown = template_fields(getattr(self, name)) - allowed - {"short_code"}
            if unknown:
                raise ValueError(
                    f"keyword reply {name!r} uses unknown placeholder(s) {sorted(unknown)}; "
                    f"allowed: {sorted(allowed | {'short_code'})}"
                )
        return self


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


class KeywordsConfig(BaseModel):
    """SMS keywords to the service short code (STOP, START, LANG, QUIET, NOTIFYME, HELP) and their replies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    #: the number subscribers text; MO messages to any other destination are ignored (counted)
    short_code: str = Field(default="62226", min_length=1, max_length=20)
    #: STOP only takes effect after a YES within confirmation_minutes
    stop_requires_confirmation: bool = False
    confirmation_minutes: int = Field(default=10, ge=1, le=24 * 60)
    words: dict[str, KeywordWords] = Field(
        default_factory=lambda: {k: KeywordWords.model_validate(v) for k, v in DEFAULT_KEYWORD_WORDS.items()},
        min_length=1,
        description="language -> keyword words",
    )
    replies: dict[str, KeywordReplies] = Field(
        default_factory=lambda: {k: KeywordReplies.model_validate(v) for k, v in DEFAULT_KEYWORD_REPLIES.items()},
        min_length=1,
        description="language -> reply texts",
    )

    @model_validator(mode="after")
    def _unambiguous(self) -> KeywordsConfig:
        owner: dict[str, str] = {}
        for language, words in self.words.items():
            for command in KEYWORD_COMMANDS:
                for word in getattr(words, command):
                    key = normalise_keyword(word)
                    if owner.setdefault(key, command) != command:
                        raise ValueError(f"keyword {word!r} ({language}) means both {owner[key]!r} and {command!r}")
        return self

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


class TenantConfig(BaseModel):
    """A brand hosted by the operator (an MVNO): its number ranges and what it overrides.

    `overrides` is any part of the operator's notify configuration (texts, sender, tariff,
    promotions, keywords, time zone, quiet hours, caps, later settings too), deep-merged over it;
    the result is validated as a whole configuration.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the brand as people know it (shown by `mcn preview` and reports)
    name: str | None = Field(default=None, max_length=64)
    #: E.164 prefixes ("+447700900"): the longest prefix matching a subscriber's number wins
    ranges: list[str] = Field(default_factory=list)
    overrides: dict[str, Any] = Field(default_factory=dict)

    @field_validator("ranges")
    @classmethod
    def _ranges(cls, ranges: list[str]) -> list[str]:
        for prefix in ranges:
            if not _RANGE.fullmatch(prefix):
                raise ValueError(f"range {prefix!r} must be '+' and 1-15 digits (an E.164 prefix, e.g. +447700900)")
        if len(set(ranges)) != len(ranges):
            raise ValueError("a range is listed twice")
        return ranges

    @field_validator("overrides")
    @classmethod
    def _no_nested_tenants(cls, overrides: dict[str, Any]) -> dict[str, Any]:
        if "tenants" in overrides:
            raise ValueError("a tenant cannot define tenants")
        return overrides


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


def validation_problems(exc: ValidationError, tenant: str | None = None, prefix: str = "") -> list[ConfigProblem]:
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting (misspelt?)"
        problems.append(ConfigProblem(tenant, prefix + field, message))
    return problems


#: How each caller is told on the subscriber's behalf (callers not covered go in the service SMS):
#: off: the service SMS lists everyone; sms: one SMS per caller from the caller's number;
#: call: a missed call placed from the caller's number (ISUP flash call by the gateway), no SMS for
#: them; call_and_sms: both.
OnBehalf = Literal["off", "sms", "call", "call_and_sms"]
#: The former `sender_mode` setting, still accepted: caller = on_behalf sms, service = off.
_SENDER_MODE_TO_ON_BEHALF = {"caller": "sms", "service": "off"}
#: One SQS SendMessageBatch holds 10 messages: the calls of one notice go in one request.
MAX_CALLS_PER_NOTICE = 10


class NotifyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default_language: str = "en"
    templates: dict[str, MessageTemplates] = Field(min_length=1)
    # GSM 03.38 national language single shift table per language (keeps Turkish in GSM-7).
    national_shift: dict[str, Literal["turkish"]] = Field(default_factory=lambda: {"tr": _TURKISH})
    max_callers_per_message: int = Field(default=5, ge=1, le=50)
    max_messages_per_notice: int = Field(default=3, ge=1, le=10)
    max_segments_per_message: int = Field(default=2, ge=1, le=10)
    withheld_callers: Literal["show", "omit"] = "show"
    on_behalf: OnBehalf = "off"
    #: which callers get a call or SMS on behalf: all, or only those who called more than once
    on_behalf_callers: Literal["all", "repeated"] = "all"
    max_calls_per_notice: int = Field(default=3, ge=1, le=MAX_CALLS_PER_NOTICE)
    #: a flash call not placed within this many seconds of its request is dropped (stale: worse than none)
    flash_call_window_s: int = Field(default=120, ge=30, le=300)
    service_sender: str = Field(default="MissedCall", min_length=1, max_length=20)
    default_time_zone: str = "Europe/London"
    default_quiet_hours: str | None = None
    tariff: Tariff
    promotions: list[Promotion] = Field(default_factory=list)
    notify_me_enabled: bool = True
    keep_calls_on_failure: bool = True
    send_max_attempts: int = Field(default=5, ge=1, le=10)
    keywords: KeywordsConfig = Field(default_factory=KeywordsConfig)
    #: at most this many notices per subscriber per local day (None: no cap); later calls wait for the next day
    daily_cap: int | None = Field(default=None, ge=1, le=100)
    #: hosted brands (name -> ranges and overrides); subscribers no range claims are the operator's ("default")
    tenants: dict[str, TenantConfig] = Field(default_factory=dict)

    # Derived once per validated configuration: each tenant's merged configuration, and range -> tenant.
    _tenant_configs: dict[str, NotifyConfig] = PrivateAttr(default_factory=dict)
    _tenant_ranges: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("service_sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return validate_sender(value)

    @field_validator("tenants")
    @classmethod
    def _tenant_names(cls, tenants: dict[str, TenantConfig]) -> dict[str, TenantConfig]:
        for name in tenants:
            check_tenant_name(name)
        return tenants

    @model_validator(mode="after")
    def _merge_tenants(self) -> NotifyConfig:
        problems = self.tenant_problems()
        if problems:
            raise ValueError("; ".join(str(problem) for problem in problems))
        return self

    def tenant_problems(self) -> list[ConfigProblem]:
        """Each tenant's overrides merged over these settings and validated as a whole (fills the caches)."""
        problems: list[ConfigProblem] = []
        owner: dict[str, str] = {}
        for name, tenant in self.tenants.items():
            for prefix in tenant.ranges:
                if owner.setdefault(prefix, name) != name:
                    problems.append(
                        ConfigProblem(name, "ranges", f"{prefix} is also a range of tenant {owner[prefix]!r}")
                    )
        if not self.tenants:
            return problems
        base = self.model_dump(exclude={"tenants"})
        merged: dict[str, NotifyConfig] = {}
        for name, tenant in self.tenants.items():
            try:
                # A tenant still written with the former `sender_mode` overrides the operator's on_behalf.
                own_base = base
                if "sender_mode" in tenant.overrides:
                    own_base = {key: value for key, value in base.items() if key != "on_behalf"}
                merged[name] = NotifyConfig.model_validate(deep_merge(own_base, tenant.overrides))
            except ValidationError as exc:
                problems.extend(validation_problems(exc, name, "overrides."))
        self._tenant_configs, self._tenant_ranges = merged, owner
        return problems

    def for_tenant(self, tenant: str | None) -> NotifyConfig:
        """The settings of `tenant`: the operator's with the tenant's overrides (the operator's for any other)."""
        return self._tenant_configs.get(tenant or "", self)

    @property
    def tenant_ranges(self) -> dict[str, str]:
        """E.164 prefix -> tenant name."""
        return self._tenant_ranges

    @model_validator(mode="before")
    @classmethod
    def _sender_mode_is_on_behalf(cls, data: object) -> object:
        """Configs written before `on_behalf` keep working: `sender_mode` maps onto it."""
        if not isinstance(data, dict) or "sender_mode" not in data:
            return data
        data = dict(data)
        mode = data.pop("sender_mode")
        if mode not in _SENDER_MODE_TO_ON_BEHALF:
            raise ValueError(f"sender_mode must be 'service' or 'caller' (now on_behalf: off | sms), got {mode!r}")
        mapped = _SENDER_MODE_TO_ON_BEHALF[mode]
        if "on_behalf" in data and data["on_behalf"] != mapped:
            raise ValueError(
                f"sender_mode {mode!r} (= on_behalf {mapped!r}) contradicts on_behalf {data['on_behalf']!r}:"
                " remove sender_mode, on_behalf replaces it"
            )
        data["on_behalf"] = mapped
        return data

    @property
    def on_behalf_sms(self) -> bool:
        return self.on_behalf in ("sms", "call_and_sms")

    @property
    def on_behalf_calls(self) -> bool:
        return self.on_behalf in ("call", "call_and_sms")

    @field_validator("default_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("default_quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value:
            QuietHours.parse(value)
        return value or None

    @model_validator(mode="after")
    def _default_language_present(self) -> NotifyConfig:
        if self.default_language not in self.templates:
            raise ValueError(f"templates must include the default language {self.default_language!r}")
        return self

    def templates_for(self, language: str | None) -> tuple[str, MessageTemplates]:
        chosen = language if language in self.templates else self.default_language
        return chosen, self.templates[chosen]


def configuration_problems(document: dict[str, Any]) -> list[ConfigProblem]:
    """Every problem of a configuration document, each with its tenant (None: the operator's settings)
    and field: the operator's settings first; then each tenant's shape, then its merged settings."""
    try:
        NotifyConfig.model_validate(document)
        return []
    except ValidationError:
        pass
    raw_tenants = document.get("tenants") or {}
    try:
        base = NotifyConfig.model_validate({key: value for key, value in document.items() if key != "tenants"})
    except ValidationError as exc:
        return validation_problems(exc)
    if not isinstance(raw_tenants, dict):
        return [ConfigProblem(None, "tenants", "must be an object: tenant name -> settings")]
    problems: list[ConfigProblem] = []
    tenants: dict[str, TenantConfig] = {}
    for name, raw in raw_tenants.items():
        try:
            check_tenant_name(name)
            tenants[name] = TenantConfig.model_validate(raw)
        except ValidationError as exc:
            problems.extend(validation_problems(exc, name))
        except ValueError as exc:
            problems.append(ConfigProblem(name, "(name)", str(exc)))
    return problems or base.model_copy(update={"tenants": tenants}).tenant_problems()
