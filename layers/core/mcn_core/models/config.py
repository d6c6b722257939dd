"""Operator configuration changed at run time (SSM Parameter Store): texts, caps, tariff, promotions.

Validated here, with safe defaults, so a bad edit is refused with a clear message
instead of producing a wrong SMS or a wrong fee.
"""

from __future__ import annotations

import re
import string
from datetime import datetime, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mcn_core.models.events import AwareDatetime

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
    charge_on: Literal["submit", "delivery"] = "submit"


class Promotion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    texts: dict[str, str] = Field(min_length=1, description="language -> text")
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None

    def active(self, now: datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= now) and (self.ends_at is None or now < self.ends_at)


class NotifyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default_language: str = "en"
    templates: dict[str, MessageTemplates] = Field(min_length=1)
    # GSM 03.38 national language single shift table per language (keeps Turkish in GSM-7).
    national_shift: dict[str, Literal["turkish"]] = Field(default_factory=lambda: {"tr": "turkish"})
    max_callers_per_message: int = Field(default=5, ge=1, le=50)
    max_messages_per_notice: int = Field(default=3, ge=1, le=10)
    max_segments_per_message: int = Field(default=2, ge=1, le=10)
    withheld_callers: Literal["show", "omit"] = "show"
    sender_mode: Literal["service", "caller"] = "service"
    service_sender: str = Field(default="MissedCall", min_length=1, max_length=20)
    default_time_zone: str = "Europe/London"
    default_quiet_hours: str | None = None
    tariff: Tariff
    promotions: list[Promotion] = Field(default_factory=list)
    notify_me_enabled: bool = True
    keep_calls_on_failure: bool = True
    send_max_attempts: int = Field(default=5, ge=1, le=10)

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
