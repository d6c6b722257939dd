"""A pool of SMPP binds with a per-bind window, a pool-wide TPS token bucket and outcomes.

    pool = get_pool()                      # module scope: reused by warm Lambda invocations
    result = pool.send("+447700900123", "You have 2 missed calls")
    result.outcome, result.message_ids     # accepted / retryable / permanent, per part too

Binds are opened lazily (on first need, up to ``config.binds``), a dead one is dropped and
replaced with exponential backoff, and a bind idle past ``enquire_link_interval_s`` (e.g.
after a Lambda freeze) is probed with enquire_link before it carries a submit.
The layer never retries a submit by itself: a retry can duplicate an SMS, so the caller
(the state machine) decides, with ``PartResult.submitted`` telling whether it may have gone.
A part sent whose response never came (``lost_response``) is retryable or permanent as
``config.lost_response_policy`` says (resubmit / give_up).
"""

from __future__ import annotations

import itertools
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mcn_smpp.config import SmppConfig
from mcn_smpp.connection import BindRefused, ConnectionLost, InboundHandler, PendingSubmit, SmppBind
from mcn_smpp.credentials import CredentialsError, CredentialsProvider, SecretsManagerCredentials
from mcn_smpp.gsm0338 import WirePart, encode_message
from mcn_smpp.outcomes import ESME_RINVPASWD, Outcome, PartResult, SendResult, status_name
from mcn_smpp.ratelimit import TokenBucket
from mcn_smpp.receipts import DeliveryReceipt, InboundMessage

logger = logging.getLogger("mcn_smpp.pool")

#: extra time a waiter allows beyond the response timeout before completing a part itself
WAIT_SLACK_S = 2.0


class _UseConfig:
    """Marker: take the pool's configured value."""


USE_CONFIG = _UseConfig()


class _NoSlot(Exception):
    def __init__(self, outcome: Outcome, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason
        self.status = status


@dataclass
class PendingMessage:
    """A message whose parts are in flight; ``result()`` waits for every part's outcome."""

    destination: str
    encoding: str
    segment_count: int
    reference: int | None
    items: list[PendingSubmit | PartResult]
    response_timeout_s: float

    def result(self, timeout: float | None = None) -> SendResult:
        deadline = time.monotonic() + (timeout if timeout is not None else self.response_timeout_s + WAIT_SLACK_S)
        parts: list[PartResult] = []
        for item in self.items:
            if isinstance(item, PendingSubmit) and item.flush is not None and not item.done:
                item.flush()  # a batched submit still in the outbox leaves now
        for item in self.items:
            if isinstance(item, PartResult):
                parts.append(item)
                continue
            item.wait(max(0.0, deadline - time.monotonic()))
            if item.result is None:
                # Belt and braces: the reader enforces deadlines, but a caller never hangs.
                item.complete(Outcome.RETRYABLE, reason="no outcome within the wait timeout (timeout)")
            assert item.result is not None
            parts.append(item.result)
        return SendResult(
            destination=self.destination,
            encoding=self.encoding,
            segment_count=self.segment_count,
            parts=tuple(parts),
            reference=self.reference,
        )


class SmppPool:
    """Thread-safe; share one per process."""

    def __init__(
        self,
        config: SmppConfig,
        *,
        credentials: CredentialsProvider | None = None,
        on_inbound: InboundHandler | None = None,
        inbound_queue_size: int = 10_000,
    ) -> None:
        self.config = config
        self._credentials = credentials or config.credentials()
        self._on_inbound = on_inbound
        #: receipts and MO messages when no ``on_inbound`` callback is given
        self.inbound: queue.Queue[DeliveryReceipt | InboundMessage] = queue.Queue(maxsize=inbound_queue_size)
        self._bucket = TokenBucket(config.tps, config.tps_burst) if config.tps else None
        self._lock = threading.Condition()
        self._binds: list[SmppBind] = []
        self._connecting = 0
        self._bind_ids = itertools.count(1)
        self._failures = 0
        self._next_connect_at = 0.0
        self._last_error = ""
        self._closed = False
        self.binds_opened = 0
        #: parts whose response was lost after sending (the lost_response_policy applied)
        self.lost_responses = 0
        #: bind attempts refused by the SMSC
        self.binds_refused = 0

    # -- public API --------------------------------------------------------------------------
    def send(
        self,
        destination: str,
        text: str,
        *,
        source: str | None = None,
        registered_delivery: bool | None = None,
        reference: int | None = None,
        part_numbers: Iterable[int] | None = None,
        national_shift: str | _UseConfig | None = USE_CONFIG,
    ) -> SendResult:
        """Send and wait: every part ends accepted, retryable or permanent."""
        return self.send_async(
            destination,
            text,
            source=source,
            registered_delivery=registered_delivery,
            reference=reference,
            part_numbers=part_numbers,
            national_shift=national_shift,
        ).result()

    def send_async(
        self,
        destination: str,
        text: str,
        *,
        source: str | None = None,
        registered_delivery: bool | None = None,
        reference: int | None = None,
        part_numbers: Iterable[int] | None = None,
        national_shift: str | _UseConfig | None = USE_CONFIG,
    ) -> PendingMessage:
        """Put the parts in flight and return; blocks only for a window slot and a TPS token.

        ``reference`` + ``part_numbers`` resend only some parts of an earlier multi-part
        message with the same UDH reference, so the handset still joins them.
        ``national_shift`` overrides the pool's table per message (e.g. Turkish texts only);
        a ``source`` starting with '+' (a caller's own number) goes out with TON/NPI 1/1.
        """
        config = self.config
        shift = config.national_shift if isinstance(national_shift, _UseConfig) else national_shift
        message = encode_message(text, national_shift=shift, concat=config.concat, reference=reference)
        wanted = set(part_numbers) if part_numbers is not None else None
        receipts = config.registered_delivery if registered_delivery is None else registered_delivery
        items: list[PendingSubmit | PartResult] = []
        not_sent: PartResult | None = None
        for part in message.parts:
            if wanted is not None and part.part_number not in wanted:
                continue
            if not_sent is not None:
                # One refusal per send call: no second bind attempt (or wait) for each later part.
                items.append(
                    PartResult(
                        part_number=part.part_number,
                        part_total=part.part_total,
                        outcome=not_sent.outcome,
                        command_status=not_sent.command_status,
                        reason=f"not attempted: part {not_sent.part_number} could not be sent: {not_sent.reason}",
                    )
                )
                continue
            item = self._submit_part(
                part,
                destination=destination,
                source=config.source_addr if source is None else source,
                registered_delivery=1 if receipts else 0,
            )
            if isinstance(item, PartResult):
                not_sent = item
            items.append(item)
        return PendingMessage(
            destination=destination,
            encoding=message.plan.encoding,
            segment_count=message.plan.count,
            reference=message.reference,
            items=items,
            response_timeout_s=config.response_timeout_s + config.effective_acquire_timeout_s,
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            binds = list(self._binds)
            self._lock.notify_all()
        for bind in binds:
            bind.close()

    def __enter__(self) -> SmppPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def live_binds(self) -> int:
        with self._lock:
            return sum(1 for bind in self._binds if bind.alive)

    def warm_up(self) -> int:
        """Open every bind now instead of on demand (e.g. the CLI, a long-running receiver)."""
        while self.live_binds() < self.config.binds:
            bind = self._open_bind()
            with self._lock:
                self._binds.append(bind)
                self._lock.notify_all()
        return self.live_binds()

    # -- internals ---------------------------------------------------------------------------
    def _submit_part(
        self, part: WirePart, *, destination: str, source: str, registered_delivery: int
    ) -> PendingSubmit | PartResult:
        config = self.config
        deadline = time.monotonic() + config.effective_acquire_timeout_s
        try:
            bind = self._acquire_slot(deadline)
        except _NoSlot as refusal:
            return PartResult(
                part_number=part.part_number,
                part_total=part.part_total,
                outcome=refusal.outcome,
                command_status=refusal.status,
                reason=refusal.reason,
            )
        if self._bucket is not None and not self._bucket.acquire(timeout=max(0.0, deadline - time.monotonic())):
            self._release_slot(bind)
            return PartResult(
                part_number=part.part_number,
                part_total=part.part_total,
                outcome=Outcome.RETRYABLE,
                reason=f"TPS licence ({config.tps:g}/s): no send slot before the timeout",
            )
        dest_ton, dest_npi = config.dest_addr_ton, config.dest_addr_npi
        if destination.startswith("+"):
            # E.164 with '+': SMSCs want the digits with TON international / NPI ISDN.
            destination, dest_ton, dest_npi = destination[1:], 1, 1
        source_ton, source_npi = config.source_addr_ton, config.source_addr_npi
        if source.startswith("+"):
            source, source_ton, source_npi = source[1:], 1, 1
        return bind.submit(
            part,
            source_addr=source,
            source_addr_ton=source_ton,
            source_addr_npi=source_npi,
            destination_addr=destination,
            dest_addr_ton=dest_ton,
            dest_addr_npi=dest_npi,
            registered_delivery=registered_delivery,
            on_complete=lambda pending: self._part_done(bind, pending),
        )

    def _part_done(self, bind: SmppBind, pending: PendingSubmit) -> None:
        if pending.result is not None and pending.result.lost_response:
            with self._lock:
                self.lost_responses += 1
        self._release_slot(bind)

    def _release_slot(self, bind: SmppBind) -> None:
        with self._lock:
            bind.outstanding -= 1
            self._lock.notify_all()

    def _acquire_slot(self, deadline: float) -> SmppBind:
        """A live bind with a free window slot (reserved for the caller), opening one if allowed."""
        config = self.config
        while True:
            open_new = False
            flushed = False
            with self._lock:
                while True:
                    if self._closed:
                        raise _NoSlot(Outcome.RETRYABLE, "pool closed")
                    live = [bind for bind in self._binds if bind.alive]
                    free = [bind for bind in live if bind.outstanding < config.window]
                    if free:
                        chosen = min(free, key=lambda bind: bind.outstanding)
                        chosen.outstanding += 1
                        break
                    now = time.monotonic()
                    if len(live) + self._connecting < config.binds and now >= self._next_connect_at:
                        self._connecting += 1
                        open_new = True
                        break
                    remaining = deadline - now
                    if live and remaining > 0 and not flushed:
                        flushed = True
                        # About to wait for a slot: what is batched in the outboxes must go now.
                        self._lock.release()
                        try:
                            for bind in live:
                                bind.flush_or_die(wait=False)
                        finally:
                            self._lock.acquire()
                        continue
                    if remaining <= 0:
                        if live:
                            raise _NoSlot(Outcome.RETRYABLE, "timeout waiting for a free window slot")
                        raise _NoSlot(Outcome.RETRYABLE, f"no SMSC bind available: {self._last_error}")
                    wake = remaining
                    if len(live) + self._connecting < config.binds:
                        wake = min(wake, max(0.01, self._next_connect_at - now))
                    self._lock.wait(wake)
                    flushed = False
            if open_new:
                opened = self._open_new_bind(deadline)
                if opened is None:
                    continue
                chosen = opened
            if chosen.idle_for() > config.enquire_link_interval_s:
                # Silent for long (a frozen Lambda): make sure it is alive before trusting it.
                timeout = min(config.connect_timeout_s, max(0.1, deadline - time.monotonic()))
                if not chosen.probe(timeout):
                    self._release_slot(chosen)
                    continue
            return chosen

    def _open_new_bind(self, deadline: float) -> SmppBind | None:
        try:
            bind = self._open_bind()
        except BindRefused as refusal:
            with self._lock:
                self.binds_refused += 1
            self._connect_failed(f"bind refused: {status_name(refusal.status)}")
            if refusal.status == ESME_RINVPASWD and isinstance(self._credentials, SecretsManagerCredentials):
                self._credentials.invalidate()  # it may have been rotated
            with self._lock:
                anyone_alive = any(bind.alive for bind in self._binds)
            if not anyone_alive:
                raise _NoSlot(Outcome.PERMANENT, str(refusal), refusal.status) from None
            return None
        except CredentialsError as error:
            self._connect_failed(str(error))
            raise _NoSlot(Outcome.PERMANENT, f"no SMPP credentials: {error}") from None
        except ConnectionLost as error:
            self._connect_failed(str(error))
            return None
        except Exception as error:  # never leak the _connecting reservation
            logger.exception("unexpected error opening an SMPP bind")
            self._connect_failed(f"unexpected error: {error!r}")
            return None
        with self._lock:
            self._connecting -= 1
            self._failures = 0
            self._binds.append(bind)
            bind.outstanding += 1
            self._lock.notify_all()
        return bind

    def _open_bind(self) -> SmppBind:
        config = self.config
        bind = SmppBind(
            next(self._bind_ids),
            host=config.host,
            port=config.port,
            system_id=config.system_id,
            password=self._credentials.password(),
            system_type=config.system_type,
            bind_mode=config.bind_mode,
            connect_timeout_s=config.connect_timeout_s,
            response_timeout_s=config.response_timeout_s,
            enquire_link_interval_s=config.enquire_link_interval_s,
            on_inbound=self._deliver_inbound,
            on_dead=self._bind_died,
            give_up_lost_response=config.lost_response_policy == "give_up",
            text_receipts=config.receipts_from_text,
        )
        bind.open()
        self.binds_opened += 1
        return bind

    def _connect_failed(self, reason: str) -> None:
        config = self.config
        with self._lock:
            self._connecting -= 1
            self._failures += 1
            backoff = min(
                config.reconnect_backoff_max_s,
                config.reconnect_backoff_initial_s * 2 ** (self._failures - 1),
            )
            self._next_connect_at = time.monotonic() + backoff * random.uniform(0.5, 1.0)
            self._last_error = reason
            self._lock.notify_all()
        logger.warning("SMSC bind attempt %d failed: %s (backoff %.2fs)", self._failures, reason, backoff)

    def _bind_died(self, bind: SmppBind) -> None:
        with self._lock:
            if bind in self._binds:
                self._binds.remove(bind)
            self._last_error = bind.dead_reason or "bind died"
            self._lock.notify_all()

    def _deliver_inbound(self, event: DeliveryReceipt | InboundMessage) -> None:
        if self._on_inbound is not None:
            self._on_inbound(event)
            return
        # Full queue raises queue.Full: the bind answers ESME_RX_T_APPN and the SMSC redelivers.
        self.inbound.put_nowait(event)


_pool: SmppPool | None = None
_pool_lock = threading.Lock()


def get_pool(
    config: SmppConfig | None = None,
    *,
    on_inbound: InboundHandler | None = None,
    factory: Callable[..., SmppPool] = SmppPool,
    credentials: CredentialsProvider | None = None,
) -> SmppPool:
    """The process-wide pool (built from ``SmppConfig.from_env()`` unless given a config).

    Kept at module scope so warm Lambda invocations reuse the open binds. ``credentials`` (default:
    the config's own source) is used when the pool is (re)built.
    """
    global _pool
    with _pool_lock:
        if _pool is None or (config is not None and config != _pool.config):
            if _pool is not None:
                _pool.close()
            extra = {"credentials": credentials} if credentials is not None else {}
            _pool = factory(config or SmppConfig.from_env(), on_inbound=on_inbound, **extra)
        return _pool


def close_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close()
            _pool = None
