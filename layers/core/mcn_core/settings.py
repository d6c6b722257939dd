"""Per-handler settings, read from the environment template.yaml sets (msgspec structs).

One model per kind of handler, each requiring exactly what that handler needs: a missing or
invalid variable is a deployment error, reported once with the name of every such variable
(`SettingsError: invalid function environment: NOTIFY_STATE_MACHINE_ARN: Field required`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

import msgspec
from msgspec import Meta

from mcn_core.models.base import Model, ValidationError, every_problem


class SettingsError(RuntimeError):
    """The function's environment is incomplete or invalid (a deployment error, not bad input)."""


#: ingest's conditional puts of one batch in flight at once (WRITE_CONCURRENCY unset)
DEFAULT_WRITE_CONCURRENCY = 16

TableName = Annotated[str, Meta(min_length=3)]
Region = Annotated[str, Meta(min_length=2, max_length=2)]
Required = Annotated[str, Meta(min_length=1)]
CacheSeconds = Annotated[int, Meta(ge=0)]


class _FunctionSettings(Model, forbid_unknown_fields=False):
    """Field names are the variable names in lower case, unless `msgspec.field(name=...)` says otherwise.

    A struct over os.environ, not pydantic-settings: settings are read by every handler on its
    first call, and msgspec builds a struct's validator on first use, in C, for that struct only.
    Environment values are text: they are converted leniently ("72" for 72, "true" for True).
    """


def _upper_region(settings: IngestSettings | NotifySettings) -> None:
    msgspec.structs.force_setattr(settings, "default_region", settings.default_region.upper())


class IngestSettings(_FunctionSettings):
    missed_calls_table: TableName
    subscribers_table: TableName
    retention_hours: Annotated[int, Meta(ge=1, le=24 * 90)] = 72
    default_region: Region = "GB"
    # Lawful-intercept style deployments may be required to keep the raw CLIR number.
    store_withheld_number: bool = False
    # Conditional puts of one batch in flight at once (WRITE_CONCURRENCY; 1 = one after another).
    write_concurrency: Annotated[int, Meta(ge=1, le=64)] = DEFAULT_WRITE_CONCURRENCY
    # The operator's configuration, for each call's tenant (unset: tenants are resolved at compose only).
    notify_config_parameter: str | None = None
    config_cache_seconds: CacheSeconds = 300

    def __post_init__(self) -> None:
        _upper_region(self)


class NotifySettings(_FunctionSettings):
    """The notify machine's tasks (Compose, Send, Record, Release, NotifyMe)."""

    missed_calls_table: TableName
    subscribers_table: TableName
    fees_table: TableName
    message_ids_table: str | None = None
    default_region: Region = "GB"
    notify_config_parameter: Required
    config_cache_seconds: CacheSeconds = 300
    state_machine_arn: str | None = msgspec.field(default=None, name="notify_state_machine_arn")
    #: Record puts the notice's missed calls placed on behalf here (None: no queue, no calls placed)
    origination_queue_url: str | None = None

    def __post_init__(self) -> None:
        _upper_region(self)


class AttachSettings(NotifySettings):
    """attach starts notify executions: it needs the machine."""

    state_machine_arn: Required = msgspec.field(name="notify_state_machine_arn")


class ReceiptsSettings(NotifySettings):
    """receipts finds a notice by its SMSC message ids."""

    message_ids_table: TableName
    #: the function that holds the SMPP binds; keyword replies are handed to it (None: send here)
    sms_submit_function: str | None = None


class OutcomesSettings(_FunctionSettings):
    """FlashCallOutcomes lands the gateway's flash-call outcomes on the notices' fee records."""

    fees_table: TableName


class DeferSettings(_FunctionSettings):
    """The Defer task starts the quiet-hours machine (Resume is told its machine by the event)."""

    quiet_hours_state_machine_arn: Required


_Settings = TypeVar("_Settings", bound=_FunctionSettings)


def load_settings(model: type[_Settings], environ: Mapping[str, str] | None = None) -> _Settings:
    """The model read from os.environ now; SettingsError naming every missing or invalid variable."""
    source = os.environ if environ is None else environ
    data = {name: source[name.upper()] for name in model.__struct_encode_fields__ if name.upper() in source}
    try:
        return model.from_data(data)
    except ValidationError as exc:
        problems = _every_problem(model, data) or [f"environment: {exc}"]
        # "; " between problems: a message may hold a comma ("Expected `int`, got 'x'").
        raise SettingsError(f"invalid function environment: {'; '.join(problems)}") from None


def _every_problem(model: type[_FunctionSettings], data: Mapping[str, Any]) -> list[str]:
    """'VARIABLE: message' for each problem (mcn_core.models.base.every_problem: msgspec stops at the first)."""
    variables = {field.name: field.encode_name.upper() for field in msgspec.structs.fields(model)}
    problems = []
    for where, message in every_problem(model, dict(data)):
        name = where.split(".")[0]
        value = data.get(variables.get(name, name).lower())
        if isinstance(value, str):  # every variable is text: "Expected `int`, got `str`" says less than the value
            message = message.replace(", got `str`", f", got {value!r}")
        problems.append(f"{variables.get(name, name.upper()) if name else 'environment'}: {message}")
    return problems


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
