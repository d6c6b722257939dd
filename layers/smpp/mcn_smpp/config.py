"""Validated SMPP configuration, from code or from ``SMPP_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from mcn_smpp.credentials import (
    CredentialsProvider,
    EnvCredentials,
    SecretsManagerCredentials,
    StaticCredentials,
)


class ConfigError(ValueError):
    """Configuration is invalid; the message lists every problem, one per line."""


class SmppConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1)
    port: int = Field(default=2775, ge=1, le=65535)
    system_id: str = Field(min_length=1, max_length=15)
    #: one of password / password_env / password_secret_id gives the bind password
    password: SecretStr | None = None
    password_env: str | None = None
    password_secret_id: str | None = None
    password_secret_key: str = "password"
    system_type: str = Field(default="", max_length=12)
    source_addr: str = Field(default="", max_length=20)
    source_addr_ton: int = Field(default=5, ge=0, le=6)
    source_addr_npi: int = Field(default=0, ge=0, le=18)
    dest_addr_ton: int = Field(default=1, ge=0, le=6)
    dest_addr_npi: int = Field(default=1, ge=0, le=18)
    bind_mode: Literal["transceiver", "transmitter"] = "transceiver"
    binds: int = Field(default=1, ge=1, le=64)
    window: int = Field(default=10, ge=1, le=1000)
    #: the SMSC licence, messages per second across the pool; None = unlimited
    tps: float | None = Field(default=None, gt=0)
    tps_burst: float = Field(default=1.0, ge=1)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    response_timeout_s: float = Field(default=10.0, gt=0)
    #: how long a part may wait for a window slot / TPS token / bind before it is given up
    #: as retryable without being sent; None = response_timeout_s
    acquire_timeout_s: float | None = Field(default=None, gt=0)
    #: probe a bind with enquire_link after this much silence (below the SMSC's inactivity timer)
    enquire_link_interval_s: float = Field(default=30.0, gt=0)
    reconnect_backoff_initial_s: float = Field(default=0.2, gt=0)
    reconnect_backoff_max_s: float = Field(default=30.0, gt=0)
    concat: Literal["udh8", "udh16", "payload"] = "udh8"
    national_shift: Literal["turkish"] | None = None
    registered_delivery: bool = True
    #: a submit sent whose response never came (timeout, connection lost) may have been
    #: accepted: "resubmit" reports it retryable (the caller may send it again, at the risk
    #: of a duplicate SMS), "give_up" reports it permanent (never a duplicate, maybe no SMS)
    lost_response_policy: Literal["resubmit", "give_up"] = "resubmit"
    #: also take an unflagged deliver_sm whose text is "id:... stat:<state>" for a receipt
    #: (SMSCs that send receipts with esm_class 0 and no TLVs); off for an SMSC that always
    #: flags them, so that no subscriber text can pass for a receipt
    receipts_from_text: bool = True

    @model_validator(mode="after")
    def _one_password_source(self) -> SmppConfig:
        sources = [
            name for name in ("password", "password_env", "password_secret_id") if getattr(self, name) not in (None, "")
        ]
        if len(sources) > 1:
            raise ValueError(f"give only one of password, password_env, password_secret_id (got {sources})")
        if self.reconnect_backoff_max_s < self.reconnect_backoff_initial_s:
            raise ValueError("reconnect_backoff_max_s must be >= reconnect_backoff_initial_s")
        return self

    @classmethod
    def build(cls, **values: object) -> SmppConfig:
        """Like the constructor, but raises ConfigError with readable messages."""
        try:
            return cls(**values)  # type: ignore[arg-type]
        except ValidationError as error:
            raise ConfigError(_readable(error)) from None

    @property
    def effective_acquire_timeout_s(self) -> float:
        return self.acquire_timeout_s if self.acquire_timeout_s is not None else self.response_timeout_s

    def credentials(self) -> CredentialsProvider:
        if self.password is not None:
            return StaticCredentials(self.password.get_secret_value())
        if self.password_secret_id:
            return SecretsManagerCredentials(self.password_secret_id, json_key=self.password_secret_key)
        return EnvCredentials(self.password_env or "SMPP_PASSWORD")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str = "SMPP_") -> SmppConfig:
        """Config from ``SMPP_<FIELD>`` variables (e.g. SMPP_HOST, SMPP_BINDS, SMPP_TPS).

        ``SMPP_PASSWORD`` itself is not read into the config (it stays in the environment and
        is read at bind time by EnvCredentials); use SMPP_PASSWORD_SECRET_ID in AWS.
        """
        source = os.environ if env is None else env
        values: dict[str, object] = {}
        for name in cls.model_fields:
            if name == "password":
                continue
            raw = source.get(prefix + name.upper())
            if raw is None or raw == "":
                continue
            values[name] = raw
        if "password_secret_id" not in values and "password_env" not in values:
            values["password_env"] = prefix + "PASSWORD"
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            raise ConfigError(_readable(error, prefix=prefix)) from None


def _readable(error: ValidationError, prefix: str | None = None) -> str:
    lines = []
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"]) or "config"
        if prefix and problem["loc"]:
            location = f"{prefix}{location.upper()}"
        lines.append(f"{location}: {problem['msg']}")
    return "invalid SMPP configuration:\n  " + "\n  ".join(lines)
