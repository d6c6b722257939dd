"""Validated SMPP configuration, from code or from ``SMPP_*`` environment variables (a msgspec struct).

msgspec (the CoreLayer ships it; the gateway image and the dev venv install it) and not
pydantic: the struct's validator is built in C on first use, nothing at import (cold start).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from mcn_smpp.budget import BudgetError, FleetBudget
from mcn_smpp.credentials import (
    CredentialsProvider,
    EnvCredentials,
    SecretsManagerCredentials,
    StaticCredentials,
)


class ConfigError(ValueError):
    """Configuration is invalid; the message lists every problem, one per line."""


class Secret:
    """A password that stays out of repr(), str() and so of logs and tracebacks; get_secret_value() reads it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _to_secret(kind: type, value: Any) -> Any:
    """msgspec's hook for the one type it does not know: a password given as text becomes a Secret."""
    if kind is Secret and isinstance(value, (str, Secret)):
        return value if isinstance(value, Secret) else Secret(value)
    raise TypeError("Expected `str`")  # msgspec reports it as a ValidationError of the field


_Positive = Meta(gt=0)


class SmppConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Build it with `SmppConfig.build(...)` or `SmppConfig.from_env()`: those check every constraint
    below and report every problem at once (the constructor alone, as msgspec's, checks none)."""

    host: Annotated[str, Meta(min_length=1)]
    port: Annotated[int, Meta(ge=1, le=65535)] = 2775
    system_id: Annotated[str, Meta(min_length=1, max_length=15)]
    #: one of password / password_env / password_secret_id gives the bind password
    password: Secret | None = None
    password_env: str | None = None
    password_secret_id: str | None = None
    password_secret_key: str = "password"
    system_type: Annotated[str, Meta(max_length=12)] = ""
    source_addr: Annotated[str, Meta(max_length=20)] = ""
    source_addr_ton: Annotated[int, Meta(ge=0, le=6)] = 5
    source_addr_npi: Annotated[int, Meta(ge=0, le=18)] = 0
    dest_addr_ton: Annotated[int, Meta(ge=0, le=6)] = 1
    dest_addr_npi: Annotated[int, Meta(ge=0, le=18)] = 1
    bind_mode: Literal["transceiver", "transmitter"] = "transceiver"
    binds: Annotated[int, Meta(ge=1, le=64)] = 1
    window: Annotated[int, Meta(ge=1, le=1000)] = 10
    #: the SMSC licence, messages per second across the pool; None = unlimited
    tps: Annotated[float, _Positive] | None = None
    tps_burst: Annotated[float, Meta(ge=1)] = 1.0
    connect_timeout_s: Annotated[float, _Positive] = 5.0
    response_timeout_s: Annotated[float, _Positive] = 10.0
    #: how long a part may wait for a window slot / TPS token / bind before it is given up
    #: as retryable without being sent; None = response_timeout_s
    acquire_timeout_s: Annotated[float, _Positive] | None = None
    #: probe a bind with enquire_link after this much silence (below the SMSC's inactivity timer)
    enquire_link_interval_s: Annotated[float, _Positive] = 30.0
    reconnect_backoff_initial_s: Annotated[float, _Positive] = 0.2
    reconnect_backoff_max_s: Annotated[float, _Positive] = 30.0
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

    def __post_init__(self) -> None:
        if isinstance(self.password, str):  # text given to the constructor: kept out of repr all the same
            msgspec.structs.force_setattr(self, "password", Secret(self.password))
        sources = [
            name for name in ("password", "password_env", "password_secret_id") if getattr(self, name) not in (None, "")
        ]
        if len(sources) > 1:
            raise ValueError(f"give only one of password, password_env, password_secret_id (got {sources})")
        if self.reconnect_backoff_max_s < self.reconnect_backoff_initial_s:
            raise ValueError("reconnect_backoff_max_s must be >= reconnect_backoff_initial_s")

    @classmethod
    def build(cls, **values: object) -> SmppConfig:
        """Config from keyword values, every constraint checked; ConfigError lists every problem."""
        return _validated(values, label=str)

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

        With ``SMPP_FLEET_LICENCE_TPS`` and ``SMPP_FLEET_MAX_BINDS`` (the deployment's whole SMSC
        budget) the binds and rate are this instance's share (mcn_smpp.budget), not SMPP_BINDS/SMPP_TPS.

        ``SMPP_PASSWORD`` itself is not read into the config (it stays in the environment and
        is read at bind time by EnvCredentials); use SMPP_PASSWORD_SECRET_ID in AWS.
        """
        source = os.environ if env is None else env
        values: dict[str, object] = {}
        for name in cls.__struct_fields__:
            if name == "password":
                continue
            raw = source.get(prefix + name.upper())
            if raw is None or raw == "":
                continue
            values[name] = raw
        if "password_secret_id" not in values and "password_env" not in values:
            values["password_env"] = prefix + "PASSWORD"
        try:
            budget = FleetBudget.from_env(source)
        except BudgetError as error:
            raise ConfigError(f"invalid SMPP configuration:\n  {error}") from None
        if budget is not None:
            # The deployment's share of the SMSC for this instance wins over per-pool settings.
            values.update(binds=budget.binds_per_instance, tps=budget.instance_tps, tps_burst=budget.burst)
        return _validated(values, label=lambda name: prefix + name.upper())


def _validated(values: Mapping[str, object], label: Callable[[str], str]) -> SmppConfig:
    """`values` (text accepted for numbers and flags) as a SmppConfig, or ConfigError naming each problem
    by its `label` (the field, or its variable)."""
    try:
        return msgspec.convert(values, SmppConfig, strict=False, dec_hook=_to_secret)
    except msgspec.ValidationError as error:
        # msgspec stops at the first problem: each value is checked on its own to report them all.
        problems = _every_problem(values, label) or [f"config: {error}"]
        raise ConfigError("invalid SMPP configuration:\n  " + "\n  ".join(problems)) from None


def _every_problem(values: Mapping[str, object], label: Callable[[str], str]) -> list[str]:
    fields = msgspec.structs.fields(SmppConfig)
    problems = []
    for field in fields:
        if field.name not in values:
            if field.required:
                problems.append(f"{label(field.name)}: Field required")
            continue
        value = values[field.name]
        try:
            msgspec.convert(value, field.type, strict=False, dec_hook=_to_secret)
        except msgspec.ValidationError as exc:
            message = str(exc).replace(" | null`", "`")  # None is "not set", not a value to suggest
            if isinstance(value, str) and field.name != "password":  # the value says more than "got `str`"
                message = message.replace(", got `str`", f", got {value!r}")
            problems.append(f"{label(field.name)}: {message}")
    known = {field.name for field in fields}
    problems.extend(f"{label(name)}: unknown setting" for name in values if name not in known)
    return problems
