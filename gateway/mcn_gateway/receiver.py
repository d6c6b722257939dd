"""`mcn-receiver`: the long-lived SMPP bind that takes delivery receipts and subscribers' keywords.

SMSC --deliver_sm--> [pooled SMPP layer, on_inbound] --> durable spool --> receipts Lambda (batched)

Nothing is lost: each receipt / MO is committed to the SQLite spool (synchronous=FULL) inside
the layer's on_inbound callback, and the layer answers deliver_sm_resp only after the callback
returned; if the spool write fails, the callback raises and the layer answers an error, so the
SMSC redelivers. A spooled event leaves the spool only once the receipts function answered
its batch (mcn_gateway.forwarder); receipts and MOs are forwarded by separate workers, so a
batch that must be retried (e.g. a receipt that overtook its fee record) never holds up
keywords. The function is idempotent, so a resent batch changes nothing twice.

Configuration: SMPP_* variables (mcn_smpp.SmppConfig: SMPP_HOST, SMPP_PORT, SMPP_SYSTEM_ID,
SMPP_PASSWORD or SMPP_PASSWORD_SECRET_ID, SMPP_SYSTEM_TYPE, SMPP_BINDS, ...) and MCN_RECEIVER_*
variables, each overridable by a command-line option (see --help).
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mcn_core.numbers import mask

from .forwarder import Forwarder, Target, TransientForwardError, make_target
from .metrics import Metrics
from .spool import Spool

log = logging.getLogger("mcn_gateway.receiver")

ENV_PREFIX = "MCN_RECEIVER_"
#: spool kinds, each forwarded by its own worker: a slow lane never holds up another
RETRY_KIND = "receipt_retry"
KINDS = ("receipt", "mo", RETRY_KIND)


class ReceiverConfigError(ValueError):
    """Invalid configuration; the message lists every problem, one per line."""


class ReceiverConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field(description="lambda:<receipts function name or ARN> or file:<path> (JSON lines)")
    endpoint_url: str | None = Field(default=None, description="Lambda endpoint (embedded AWS, VPC endpoint)")
    region: str = "eu-west-1"
    spool_path: str = "mcn-receiver-spool.sqlite3"
    batch_size: int = Field(default=50, ge=1, le=500)
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


_OPTIONS: dict[str, tuple[str, str]] = {
    # field: (environment variable, help)
    "target": ("TARGET", "where events go: lambda:<receipts function> or file:<path>"),
    "endpoint_url": ("ENDPOINT_URL", "Lambda endpoint URL (default: AWS's)"),
    "region": ("REGION", "AWS region (default: AWS_REGION, else eu-west-1)"),
    "spool_path": ("SPOOL", "SQLite spool file (default mcn-receiver-spool.sqlite3)"),
    "batch_size": ("BATCH_SIZE", "events per invocation (default 50)"),
    "batch_max_wait_s": ("BATCH_WAIT_S", "how long a batch may wait to fill (default 0.5)"),
    "forward_timeout_s": ("FORWARD_TIMEOUT_S", "Lambda invoke timeout (default 30)"),
    "drain_timeout_s": ("DRAIN_TIMEOUT_S", "on shutdown, how long to keep forwarding (default 5)"),
    "retry_receipt_after_s": ("RETRY_RECEIPT_AFTER_S", "delay before a receipt answered 'retry' is resent (10)"),
    "stats_interval_s": ("STATS_INTERVAL_S", "seconds between status log lines (default 60)"),
    "log_level": ("LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR"),
}


def _readable(error: ValidationError, names: Mapping[str, str]) -> str:
    lines = []
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else "config"
        lines.append(f"{names.get(field, field)}: {problem['msg']}")
    return "\n  ".join(lines)


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
    for field, (suffix, _) in _OPTIONS.items():
        names[field] = f"{ENV_PREFIX}{suffix} / --{field.replace('_', '-')}"
        raw = getattr(args, field, None) if args is not None else None
        if raw is None:
            raw = source.get(ENV_PREFIX + suffix) or None
        if raw is None and field == "region":
            raw = source.get("AWS_REGION") or source.get("AWS_DEFAULT_REGION")
        if raw is not None:
            values[field] = raw
    problems = []
    config = None
    try:
        config = ReceiverConfig.model_validate(values)
    except ValidationError as error:
        problems.append(_readable(error, names))
    smpp = None
    try:
        smpp = SmppConfig.from_env(source)
    except SmppConfigError as error:
        problems.append(str(error).replace("invalid SMPP configuration:\n  ", ""))
    if problems:
        raise ReceiverConfigError("invalid mcn-receiver configuration:\n  " + "\n  ".join(problems))
    assert config is not None and smpp is not None
    return config, smpp


# ---------------------------------------------------------------------------------- events
def _smpp_time(value: str | None) -> str | None:
    """YYMMDDhhmm[ss] (receipt text dates, SMSC time taken as UTC) -> ISO 8601; None if unreadable."""
    if not value or not value.isdigit() or len(value) not in (10, 12):
        return None
    try:
        parsed = datetime.strptime(value, "%y%m%d%H%M%S" if len(value) == 12 else "%y%m%d%H%M")
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC).isoformat()


class _RefClock:
    """MO references that sort in arrival order (the function applies only newer ones)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._last = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()
        self._suffix = secrets.token_hex(3)  # tells receivers apart

    def next(self) -> tuple[datetime, str]:
        with self._lock:
            now = max(self._clock(), self._last + timedelta(microseconds=1))
            self._last = now
        return now, f"{now:%Y%m%dT%H%M%S.%fZ}-{self._suffix}"


def receipt_event(receipt: Any, received_at: datetime) -> dict[str, Any]:
    return {
        "kind": "receipt",
        "message_id": receipt.message_id,
        "state": receipt.state,
        "final": receipt.is_final,
        "error_code": receipt.error_code,
        "message_state": receipt.message_state,
        "submit_date": receipt.submit_date,
        "done_date": receipt.done_date,
        "done_at": _smpp_time(receipt.done_date),
        "received_at": received_at.isoformat(),
    }


def mo_event(message: Any, received_at: datetime, message_ref: str) -> dict[str, Any]:
    return {
        "kind": "mo",
        "source": message.source_addr,
        "destination": message.destination_addr,
        "text": message.text,
        "received_at": received_at.isoformat(),
        "message_ref": message_ref,
        "data_coding": message.data_coding,
    }


# ---------------------------------------------------------------------------------- service
class DeferringTarget:
    """Wraps the real target: events answered "retry" go back to the spool in a retry lane.

    A receipt can overtake its fee record (the function does not know its message id yet);
    rather than failing the whole batch (which would hold up every receipt behind it), the
    function answers "retry" for that event alone, and it is re-spooled under RETRY_KIND with
    a due time, before the original batch leaves the spool (so it is never lost). The retry
    lane waits for the due time; the function gives up on it (outcome "unknown") after its
    own grace period.
    """

    def __init__(self, inner: Target, receiver: Receiver) -> None:
        self.inner = inner
        self.name = inner.name
        self._receiver = receiver

    def send(self, events: list[dict]) -> list[dict]:
        due = max((float(event.get("retry_at", 0)) for event in events), default=0.0)
        wait = due - time.time()
        if wait > 0 and self._receiver._stopping.wait(wait):
            raise TransientForwardError("receiver stopping: retry kept in the spool")
        results = self.inner.send(events)
        deferred = []
        for result in results:
            index = result.get("index")
            if result.get("outcome") == "retry" and isinstance(index, int) and 0 <= index < len(events):
                event = events[index]
                deferred.append(
                    (
                        RETRY_KIND,
                        {
                            **event,
                            "retry_at": time.time() + self._receiver.config.retry_receipt_after_s,
                            "attempt": int(event.get("attempt", 0)) + 1,
                        },
                    )
                )
        if deferred:
            assert self._receiver.spool is not None and self._receiver.forwarder is not None
            self._receiver.spool.append(deferred)
            self._receiver.counts["deferred"] += len(deferred)
            self._receiver.forwarder.notify(RETRY_KIND)
        return results


class Receiver:
    """Bind(s) kept up, inbound spooled, spool forwarded. `start()` / `stop()`; usable in-process."""

    def __init__(
        self,
        config: ReceiverConfig,
        smpp: Any,
        *,
        target: Target | None = None,
        pool_factory: Callable[..., Any] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.smpp = smpp
        self.metrics = Metrics()
        self.counts: Counter[str] = Counter()
        self._target = target
        self._pool_factory = pool_factory
        self._refs = _RefClock(clock)
        self._clock = clock
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.spool: Spool | None = None
        self.forwarder: Forwarder | None = None
        self.pool: Any = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Receiver:
        config = self.config
        self.spool = Spool(config.spool_path)
        inner = self._target or make_target(config.target, config.region, config.endpoint_url, config.forward_timeout_s)
        target = DeferringTarget(inner, self)
        self.forwarder = Forwarder(
            self.spool,
            dict.fromkeys(KINDS, target),
            self.metrics,
            batch_size=config.batch_size,
            batch_max_wait_s=config.batch_max_wait_s,
            retry_initial_s=config.retry_initial_s,
            retry_max_s=config.retry_max_s,
        )
        self.forwarder.start()
        if self.spool.depth():
            log.info("resuming: %d event(s) left in the spool", self.spool.depth())
        if self._pool_factory is None:
            from mcn_smpp import SmppPool

            self._pool_factory = SmppPool
        # Our own pool (not the process-wide get_pool()): a receiver may share a process with
        # senders (tests, the demo) and must never be rebuilt under them.
        self.pool = self._pool_factory(self.smpp, on_inbound=self.on_inbound)
        for name, loop in (("bind-keeper", self._keep_bound), ("receiver-stats", self._log_stats)):
            thread = threading.Thread(target=loop, name=f"mcn-receiver-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Unbind first (no new deliver_sm), then forward what is spooled for a while; the rest stays."""
        self._stopping.set()
        if self.pool is not None:
            self.pool.close()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.forwarder is not None:
            self.forwarder.stop()
            if self.config.drain_timeout_s > 0 and self.spool is not None and self.spool.depth():
                self.forwarder.drain(self.config.drain_timeout_s)
        if self.spool is not None:
            left = self.spool.depth()
            if left:
                log.warning("%d event(s) stay in the spool %s; forwarded on the next start", left, self.spool.path)
            self.spool.close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_bound(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pool is not None and self.pool.live_binds() >= self.smpp.binds:
                return True
            time.sleep(0.05)
        return False

    # -- inbound -----------------------------------------------------------------------------
    def on_inbound(self, event: Any) -> None:
        """The layer's callback: returns only once the event is durably spooled (then deliver_sm_resp OK)."""
        from mcn_smpp import DeliveryReceipt

        received_at, message_ref = self._refs.next()
        if isinstance(event, DeliveryReceipt):
            kind, body = "receipt", receipt_event(event, received_at)
            log.info("receipt %s %s spooled", event.message_id or "-", event.state)
        else:
            kind, body = "mo", mo_event(event, received_at, message_ref)
            log.info("MO from %s to %s spooled", mask(event.source_addr), event.destination_addr)
        assert self.spool is not None and self.forwarder is not None
        try:
            self.spool.append([(kind, body)])
        except Exception:
            self.counts["spool_errors"] += 1
            log.exception("cannot spool a %s: refusing it so the SMSC redelivers", kind)
            raise
        self.counts[kind] += 1
        self.metrics.events.labels(kind).inc()
        self.forwarder.notify(kind)

    # -- background --------------------------------------------------------------------------
    def _keep_bound(self) -> None:
        backoff = self.config.rebind_initial_s
        while not self._stopping.is_set():
            if self.pool.live_binds() < self.smpp.binds:
                try:
                    self.pool.warm_up()
                    log.info("bound to %s:%d (%d bind(s))", self.smpp.host, self.smpp.port, self.pool.live_binds())
                    backoff = self.config.rebind_initial_s
                except Exception as error:
                    if self._stopping.is_set():
                        return
                    self.counts["bind_failures"] += 1
                    log.warning(
                        "bind to %s:%d failed: %s (retry in %.1fs)", self.smpp.host, self.smpp.port, error, backoff
                    )
                    self._stopping.wait(backoff)
                    backoff = min(backoff * 2, self.config.rebind_max_s)
                    continue
            self._stopping.wait(0.2)

    def _log_stats(self) -> None:
        while not self._stopping.wait(self.config.stats_interval_s):
            log.info("status: %s", self.status())

    def status(self) -> dict[str, Any]:
        depth: dict[str, int] = {}
        if self.spool is not None and not self._stopping.is_set():
            depth = {kind: self.spool.depth(kind) for kind in KINDS}
        return {
            "binds": self.pool.live_binds() if self.pool is not None else 0,
            "spooled": dict(self.counts),
            "spool_depth": depth,
        }


# ---------------------------------------------------------------------------------- command
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcn-receiver",
        description=(
            "Keep an SMPP bind to the SMSC, spool every delivery receipt and keyword SMS durably, "
            "and forward them in batches to the receipts function. SMPP settings come from SMPP_* "
            "variables (SMPP_HOST, SMPP_PORT, SMPP_SYSTEM_ID, SMPP_PASSWORD or SMPP_PASSWORD_SECRET_ID, "
            "SMPP_SYSTEM_TYPE, SMPP_BINDS, ...)."
        ),
    )
    for field, (suffix, text) in _OPTIONS.items():
        parser.add_argument(f"--{field.replace('_', '-')}", dest=field, help=f"{text} [env {ENV_PREFIX}{suffix}]")
    parser.add_argument("--smpp-host", help="SMSC host [env SMPP_HOST]")
    parser.add_argument("--smpp-port", type=int, help="SMSC port [env SMPP_PORT]")
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config, smpp = load_config(args)
    except ReceiverConfigError as error:
        print(f"mcn-receiver: {error}", file=sys.stderr)
        return 2
    if args.check:
        print(f"configuration OK: SMSC {smpp.host}:{smpp.port} as {smpp.system_id}, target {config.target}")
        return 0
    logging.basicConfig(
        level=getattr(logging, config.log_level),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    Path(config.spool_path).parent.mkdir(parents=True, exist_ok=True)
    receiver = Receiver(config, smpp).start()
    log.info("mcn-receiver up: SMSC %s:%d, target %s, spool %s", smpp.host, smpp.port, config.target, config.spool_path)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        log.info("mcn-receiver stopping")
        receiver.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
