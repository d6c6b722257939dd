"""Per-handler settings, read from the environment template.yaml sets (pydantic models).

One model per kind of handler, each requiring exactly what that handler needs: a missing or
invalid variable is a deployment error, reported once with the variable's name
(`SettingsError: invalid function environment: NOTIFY_STATE_MACHINE_ARN: Field required`).
"""

from __future__ import annotations

import os
from typing import TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator


class SettingsError(RuntimeError):
    """The function's environment is incomplete or invalid (a deployment error, not bad input)."""


class _FunctionSettings(BaseModel):
    """Field names are the variable names in lower case, unless an alias says otherwise.

    A plain pydantic model over os.environ, not pydantic-settings: that package imports asyncio,
    argparse and dotenv, a third of a cold start, for a job of one dictionary comprehension.
    Schemas are built on first use (defer_build): every handler imports this module, and each
    validates one of its models, so it builds that one, not all of them at import.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


def _upper_region(value: str) -> str:
    return value.upper()


class IngestSettings(_FunctionSettings):
    missed_calls_table: str = Field(min_length=3)
    subscribers_table: str = Field(min_length=3)
    retention_hours: int = Field(default=72, ge=1, le=24 * 90)
    default_region: str = Field(default="GB", min_length=2, max_length=2)
    # Lawful-intercept style deployments may be required to keep the raw CLIR number.
    store_withheld_number: bool = False
    # Conditional puts of one batch in flight at once (WRITE_CONCURRENCY; 1 = one after another).
    write_concurrency: int = Field(default=16, ge=1, le=64)
    # The operator's configuration, for each call's tenant (unset: tenants are resolved at compose only).
    notify_config_parameter: str | None = None
    config_cache_seconds: int = Field(default=300, ge=0)

    upper_region = field_validator("default_region")(_upper_region)


class NotifySettings(_FunctionSettings):
    """The notify machine's tasks (Compose, Send, Record, Release, NotifyMe)."""

    missed_calls_table: str = Field(min_length=3)
    subscribers_table: str = Field(min_length=3)
    fees_table: str = Field(min_length=3)
    message_ids_table: str | None = None
    default_region: str = Field(default="GB", min_length=2, max_length=2)
    notify_config_parameter: str = Field(min_length=1)
    config_cache_seconds: int = Field(default=300, ge=0)
    state_machine_arn: str | None = Field(
        default=None, validation_alias=AliasChoices("NOTIFY_STATE_MACHINE_ARN", "notify_state_machine_arn")
    )
    #: Record puts the notice's missed calls placed on behalf here (None: no queue, no calls placed)
    origination_queue_url: str | None = None

    upper_region = field_validator("default_region")(_upper_region)


class AttachSettings(NotifySettings):
    """attach starts notify executions: it needs the machine."""

    state_machine_arn: str = Field(
        min_length=1, validation_alias=AliasChoices("NOTIFY_STATE_MACHINE_ARN", "notify_state_machine_arn")
    )


class ReceiptsSettings(NotifySettings):
    """receipts finds a notice by its SMSC message ids."""

    message_ids_table: str = Field(min_length=3)
    #: the function that holds the SMPP binds; keyword replies are handed to it (None: send here)
    sms_submit_function: str | None = None


class OutcomesSettings(_FunctionSettings):
    """FlashCallOutcomes lands the gateway's flash-call outcomes on the notices' fee records."""

    fees_table: str = Field(min_length=3)


class DeferSettings(_FunctionSettings):
    """The Defer task starts the quiet-hours machine (Resume is told its machine by the event)."""

    quiet_hours_state_machine_arn: str = Field(min_length=1)


_Settings = TypeVar("_Settings", bound=_FunctionSettings)


def _variable(model: type[_FunctionSettings], location: tuple[int | str, ...]) -> str:
    """The environment variable a validation error is about."""
    name = str(location[0]) if location else "?"
    field = model.model_fields.get(name)
    alias = field.validation_alias if field is not None else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0]).upper()
    return name.upper()


def load_settings(model: type[_Settings]) -> _Settings:
    """The model read from os.environ now; SettingsError naming every missing or invalid variable."""
    try:
        return model.model_validate({name.lower(): value for name, value in os.environ.items()})
    except ValidationError as exc:
        problems = ", ".join(f"{_variable(model, e['loc'])}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"invalid function environment: {problems}") from None


def ingest_settings() -> IngestSettings:
    return load_settings(IngestSettings)


def notify_settings() -> NotifySettings:
    return load_settings(NotifySettings)


def attach_settings() -> AttachSettings:
    return load_settings(AttachSettings)


def receipts_settings() -> ReceiptsSettings:
    return load_settings(ReceiptsSettings)


def defer_settings() -> DeferSettings:
    return load_settings(DeferSettings)


def outcomes_settings() -> OutcomesSettings:
    return load_settings(OutcomesSettings)
