"""Per-deployment settings, read once per cold start from the environment template.yaml sets."""

from __future__ import annotations

import os
from typing import TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator


class SettingsError(RuntimeError):
    """The function's environment is incomplete or invalid (a deployment error, not bad input)."""


class IngestSettings(BaseModel):
    missed_calls_table: str = Field(min_length=3)
    subscribers_table: str = Field(min_length=3)
    retention_hours: int = Field(default=72, ge=1, le=24 * 90)
    default_region: str = Field(default="GB", min_length=2, max_length=2)
    # Lawful-intercept style deployments may be required to keep the raw CLIR number.
    store_withheld_number: bool = False

    @field_validator("default_region")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class NotifySettings(BaseModel):
    missed_calls_table: str = Field(min_length=3)
    subscribers_table: str = Field(min_length=3)
    fees_table: str = Field(min_length=3)
    message_ids_table: str | None = None
    default_region: str = Field(default="GB", min_length=2, max_length=2)
    notify_config_parameter: str = Field(min_length=1)
    config_cache_seconds: int = Field(default=300, ge=0)
    state_machine_arn: str | None = None


_ENV_NAMES = {
    "fees_table": "FEES_TABLE",
    "message_ids_table": "MESSAGE_IDS_TABLE",
    "notify_config_parameter": "NOTIFY_CONFIG_PARAMETER",
    "config_cache_seconds": "CONFIG_CACHE_SECONDS",
    "state_machine_arn": "NOTIFY_STATE_MACHINE_ARN",
    "missed_calls_table": "MISSED_CALLS_TABLE",
    "subscribers_table": "SUBSCRIBERS_TABLE",
    "retention_hours": "RETENTION_HOURS",
    "default_region": "DEFAULT_REGION",
    "store_withheld_number": "STORE_WITHHELD_NUMBER",
}


_Settings = TypeVar("_Settings", bound=BaseModel)


def _from_env(model: type[_Settings]) -> _Settings:
    values = {
        field: os.environ[env] for field, env in _ENV_NAMES.items() if field in model.model_fields and env in os.environ
    }
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        missing = ", ".join(f"{_ENV_NAMES.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"invalid function environment: {missing}") from None


def ingest_settings() -> IngestSettings:
    return _from_env(IngestSettings)


def notify_settings() -> NotifySettings:
    return _from_env(NotifySettings)
