"""mcn-receiver configuration: MCN_RECEIVER_* variables and command-line options (options win), plus
the SMPP_* variables of the pooled SMPP layer (mcn_smpp.SmppConfig). Every problem is reported at once."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mcn_edge.config import FUNCTION_EVENT_CAP, ConfigError, readable_errors
from mcn_edge.forwarder import DEFAULT_MAX_BATCH_BYTES

ENV_PREFIX = "MCN_RECEIVER_"
#: /healthz and /metrics of the command (the gateway's is 9102)
DEFAULT_HTTP_PORT = 9103


class ReceiverConfigError(ConfigError):
    """Invalid configuration; the message lists every problem, one per line."""


class ReceiverConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field(description="lambda:<receipts function name or ARN> or file:<path> (JSON lines)")
    endpoint_url: str | None = Field(default=None, description="Lambda endpoint (embedded AWS, VPC endpoint)")
    region: str = "eu-west-1"
    spool_path: str = "mcn-receiver-spool.sqlite3"
    batch_size: int = Field(default=50, ge=1, le=FUNCTION_EVENT_CAP)
    #: receipt batches in flight at once (MOs go one batch at a time, to keep a subscriber's keywords in order)
    in_flight: int = Field(default=4, ge=1, le=64)
    max_batch_bytes: int = Field(default=DEFAULT_MAX_BATCH_BYTES, ge=1024, le=6_000_000)
    #: a batch failing in the function is bisected; an event failing alone this often is parked
    poison_attempts: int = Field(default=3, ge=1, le=100)
    #: a deliver_sm resent within this window (lost deliver_sm_resp) is recognised; 0 turns that off
    dedup_window_s: float = Field(default=600.0, ge=0, le=7 * 86400)
    batch_max_wait_s: float = Field(default=0.5, gt=0, le=60)
    forward_timeout_s: float = Field(default=30.0, gt=0, le=900)
    retry_initial_s: float = Field(default=0.5, gt=0)
    retry_max_s: float = Field(default=30.0, gt=0)
    #: a receipt the function answered "retry" (its fee record not written yet) is sent again after this
    retry_receipt_after_s: float = Field(default=10.0, gt=0, le=3600)
    rebind_initial_s: float = Field(default=0.5, gt=0)
    rebind_max_s: float = Field(default=30.0, gt=0)
    drain_timeout_s: float = Field(default=5.0, ge=0)
    stats_interval_s: float = Field(default=60.0, gt=0)
    log_level: str = "INFO"
    http_host: str = "0.0.0.0"
    #: /healthz and /metrics; None: no HTTP server (a receiver run in-process); 0: any free port
    http_port: int | None = Field(default=None, ge=0, le=65535)

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        scheme, _, rest = value.partition(":")
        if scheme not in ("lambda", "file") or not rest:
            raise ValueError("must be lambda:<function name or ARN> or file:<path>")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level


OPTIONS: dict[str, tuple[str, str]] = {
    # field: (environment variable, help)
    "target": ("TARGET", "where events go: lambda:<receipts function> or file:<path>"),
    "endpoint_url": ("ENDPOINT_URL", "Lambda endpoint URL (default: AWS's)"),
    "region": ("REGION", "AWS region (default: AWS_REGION, else eu-west-1)"),
    "spool_path": ("SPOOL", "SQLite spool file (default mcn-receiver-spool.sqlite3)"),
    "batch_size": ("BATCH_SIZE", f"events per invocation (default 50, at most {FUNCTION_EVENT_CAP})"),
    "in_flight": ("IN_FLIGHT", "receipt batches in flight at once (default 4)"),
    "max_batch_bytes": ("MAX_BATCH_BYTES", "largest batch payload in bytes (default 5000000, Lambda's is 6 MB)"),
    "poison_attempts": ("POISON_ATTEMPTS", "failures of an event alone before it is parked (default 3)"),
    "dedup_window_s": ("DEDUP_WINDOW_S", "seconds a resent deliver_sm is recognised (default 600; 0 off)"),
    "batch_max_wait_s": ("BATCH_WAIT_S", "how long a batch may wait to fill (default 0.5)"),
    "forward_timeout_s": ("FORWARD_TIMEOUT_S", "Lambda invoke timeout (default 30)"),
    "drain_timeout_s": ("DRAIN_TIMEOUT_S", "on shutdown, how long to keep forwarding (default 5)"),
    "retry_receipt_after_s": ("RETRY_RECEIPT_AFTER_S", "delay before a receipt answered 'retry' is resent (10)"),
    "stats_interval_s": ("STATS_INTERVAL_S", "seconds between status log lines (default 60)"),
    "log_level": ("LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR"),
    "http_host": ("HTTP_HOST", "address of /healthz and /metrics (default 0.0.0.0)"),
    "http_port": ("HTTP_PORT", f"port of /healthz and /metrics (default {DEFAULT_HTTP_PORT}; 0 = any free port)"),
}


def load_config(
    args: argparse.Namespace | None = None, env: Mapping[str, str] | None = None
) -> tuple[ReceiverConfig, Any]:
    """(receiver config, SmppConfig) from the environment, then command-line options; all problems at once."""
    from mcn_smpp import ConfigError as SmppConfigError
    from mcn_smpp import SmppConfig

    source = dict(os.environ if env is None else env)
    if args is not None:
        if args.smpp_host:
            source["SMPP_HOST"] = args.smpp_host
        if args.smpp_port:
            source["SMPP_PORT"] = str(args.smpp_port)
    values: dict[str, Any] = {}
    names: dict[str, str] = {}
    for field, (suffix, _) in OPTIONS.items():
        names[field] = f"{ENV_PREFIX}{suffix} / --{field.replace('_', '-')}"
        raw = getattr(args, field, None) if args is not None else None
        if raw is None:
            raw = source.get(ENV_PREFIX + suffix) or None
        if raw is None and field == "region":
            raw = source.get("AWS_REGION") or source.get("AWS_DEFAULT_REGION")
        if raw is not None:
            values[field] = raw
    values.setdefault("http_port", DEFAULT_HTTP_PORT)
    problems: list[str] = []
    config = None
    try:
        config = ReceiverConfig.model_validate(values)
    except ValidationError as error:
        problems.extend(readable_errors(error, names))
    smpp = None
    try:
        smpp = SmppConfig.from_env(source)
    except SmppConfigError as error:
        problems.append(str(error).replace("invalid SMPP configuration:\n  ", ""))
    if problems:
        raise ReceiverConfigError("invalid mcn-receiver configuration:\n  " + "\n  ".join(problems))
    assert config is not None and smpp is not None
    return config, smpp
