"""One SMPP bind: our own socket loop; hot-path PDUs by mcn_smpp.pdu, the bind by smpplib.

smpplib's Client reads with blocking calls and loses bytes when a socket timeout hits in
the middle of a PDU, so it cannot overlap a window of requests safely. Here each bind has
one reader thread that owns all receiving (select + a byte buffer, frames cut by
command_length) and does housekeeping on every tick: response deadlines, enquire_link on
idle. A submit is registered by sequence number before its bytes go out, so even an
immediate response finds it.

Writes are batched: PDUs go to an outbox, flushed with one sendall. A submit is flushed at
once when nothing else is awaiting a response on the bind; otherwise it waits for the next
flush, which comes when a response arrives (the reader flushes after each read), when the
sender is about to wait for a window slot, when the caller waits for results, or on the
reader's next tick (50 ms at most). Under load that is one sendall per window, not per PDU.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smpplib import smpp as smpp_codec

from mcn_smpp import pdu as wire
from mcn_smpp.gsm0338 import WirePart
from mcn_smpp.outcomes import (
    ESME_RBINDFAIL,
    ESME_RINVPASWD,
    ESME_RINVSYSID,
    Outcome,
    PartResult,
    classify_status,
    status_name,
)
from mcn_smpp.receipts import DeliveryReceipt, InboundMessage, from_deliver_sm

logger = logging.getLogger("mcn_smpp.connection")

MAX_PDU_LENGTH = 64 * 1024
TICK_S = 0.05

ESME_RINVCMDID = 0x03
ESME_RX_T_APPN = 0x64  # temporary app error: the SMSC redelivers the deliver_sm later
ESME_RX_P_APPN = 0x65  # permanent app error: a deliver_sm we cannot decode is refused, not retried

BIND_REFUSAL_STATUSES = frozenset({ESME_RBINDFAIL, ESME_RINVPASWD, ESME_RINVSYSID})

InboundHandler = Callable[[DeliveryReceipt | InboundMessage], None]


class ConnectionLost(Exception):
    """The TCP connection or the bind is gone."""


class BindRefused(Exception):
    """The SMSC answered the bind with an error status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"bind refused by SMSC: {status_name(status)} (0x{status:02X})")
        self.status = status


class _CodecClient:
    """What smpplib's PDU classes want from a 'client': sequence numbers (we set our own)."""

    sequence = 0

    def next_sequence(self) -> int:
        return 0


_CODEC = _CodecClient()


def make_pdu(command: str, sequence: int, **fields: Any) -> Any:
    pdu = smpp_codec.make_pdu(command, client=_CODEC, **fields)
    # smpplib ignores a `sequence=` keyword (its property already reads 0), so set it after.
    pdu.sequence = sequence
    return pdu


def parse_pdu(frame: bytes) -> Any:
    return smpp_codec.parse_pdu(frame, client=_CODEC, allow_unknown_opt_params=True)


@dataclass
class PendingSubmit:
    """A submit_sm waiting for its response. Completed exactly once (first outcome wins)."""

    part: WirePart
    sequence: int
    deadline: float
    bind_id: int
    on_complete: Callable[[PendingSubmit], None]
    submitted: bool = False
    result: PartResult | None = None
    #: a response lost after the bytes went out ends permanent instead of retryable
    give_up_lost_response: bool = False
    #: pushes the bind's outbox to the socket (the waiter calls it before waiting)
    flush: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self._done = threading.Event()
        self._lock = threading.Lock()

    def complete(
        self,
        outcome: Outcome,
        *,
        message_id: str | None = None,
        command_status: int | None = None,
        reason: str = "",
    ) -> bool:
        with self._lock:
            if self.result is not None:
                return False
            # Sent, then no response at all (timeout, connection lost): the SMSC may have it.
            lost = self.submitted and command_status is None and outcome is Outcome.RETRYABLE
            if lost and self.give_up_lost_response:
                outcome = Outcome.PERMANENT
                reason = f"{reason}; response lost, not resubmitted (lost_response_policy=give_up)"
            self.result = PartResult(
                part_number=self.part.part_number,
                part_total=self.part.part_total,
                outcome=outcome,
                message_id=message_id,
                command_status=command_status,
                reason=reason,
                submitted=self.submitted,
                bind_id=self.bind_id,
                lost_response=lost,
            )
        self._done.set()
        self.on_complete(self)
        return True

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()


class SmppBind:
    """A bound SMPP session with a window of outstanding submit_sm."""

    def __init__(
        self,
        bind_id: int,
        *,
        host: str,
        port: int,
        system_id: str,
        password: str,
        system_type: str = "",
        bind_mode: str = "transceiver",
        connect_timeout_s: float = 5.0,
        response_timeout_s: float = 10.0,
        enquire_link_interval_s: float = 30.0,
        on_inbound: InboundHandler | None = None,
        on_dead: Callable[[SmppBind], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        give_up_lost_response: bool = False,
        text_receipts: bool = True,
    ) -> None:
        self.bind_id = bind_id
        self.host = host
        self.port = port
        self._system_id = system_id
        self._password = password
        self._system_type = system_type
        self.bind_mode = bind_mode
        self.connect_timeout_s = connect_timeout_s
        self.response_timeout_s = response_timeout_s
        self.enquire_link_interval_s = enquire_link_interval_s
        self._on_inbound = on_inbound
        self._on_dead = on_dead
        self._clock = clock
        self.give_up_lost_response = give_up_lost_response
        self.text_receipts = text_receipts

        self._socket: socket.socket | None = None
        self._buffer = bytearray()
        self._write_lock = threading.Lock()  # held while writing: PDUs leave in outbox order
        self._outbox_lock = threading.Lock()
        self._outbox: list[bytes] = []
        self._outbox_submits: list[PendingSubmit] = []
        self._state_lock = threading.Lock()
        self._pending: dict[int, PendingSubmit] = {}
        self._probes: dict[int, threading.Event] = {}
        self._sequence = 0
        self._reader: threading.Thread | None = None
        self.alive = False
        self.dead_reason: str | None = None
        self.last_received = clock()
        self._enquire_sent_at: float | None = None
        self._closing = False
        #: window accounting, guarded by the pool's lock
        self.outstanding = 0
        #: sendall calls and PDUs written (batching shows as pdus_written / writes > 1)
        self.writes = 0
        self.pdus_written = 0
        #: deliver_sm PDUs that could not be decoded (refused with ESME_RX_P_APPN)
        self.malformed_inbound = 0

    def __repr__(self) -> str:
        return f"SmppBind(id={self.bind_id}, alive={self.alive}, outstanding={self.outstanding})"

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        """Connect and bind synchronously; raises ConnectionLost or BindRefused."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout_s)
        except OSError as error:
            raise ConnectionLost(f"cannot connect to {self.host}:{self.port}: {error}") from error
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Timeout bounds blocking sendall; reads only happen after select says readable.
        sock.settimeout(self.response_timeout_s)
        self._socket = sock
        command = "bind_transceiver" if self.bind_mode == "transceiver" else "bind_transmitter"
        sequence = self._next_sequence()
        bind = make_pdu(
            command,
            sequence,
            system_id=self._system_id,
            password=self._password,
            system_type=self._system_type,
            addr_ton=0,
            addr_npi=0,
            address_range="",
        )
        try:
            self._write(bind.generate())
            deadline = self._clock() + self.connect_timeout_s
            while True:
                frame = self._read_frame(deadline)
                if frame is None:
                    raise ConnectionLost("no bind response from SMSC")
                response = parse_pdu(frame)
                if response.command == f"{command}_resp" and response.sequence == sequence:
                    break
                if response.command == "generic_nack":
                    raise BindRefused(int(response.status))
        except (ConnectionLost, BindRefused):
            self._close_socket()
            raise
        except Exception as error:  # socket errors, or a reply smpplib cannot parse
            self._close_socket()
            raise ConnectionLost(f"bind failed: {error!r}") from error
        if response.status != 0:
            self._close_socket()
            raise BindRefused(int(response.status))
        self.alive = True
        self.last_received = self._clock()
        self._reader = threading.Thread(target=self._reader_loop, name=f"smpp-bind-{self.bind_id}", daemon=True)
        self._reader.start()
        logger.info("bind %d up (%s to %s:%d)", self.bind_id, command, self.host, self.port)

    def close(self, timeout: float = 1.0) -> None:
        """Polite unbind, then close; pending submits end as retryable."""
        self._closing = True
        if self.alive and self._socket is not None:
            probe = threading.Event()
            sequence = self._next_sequence()
            with self._state_lock:
                self._probes[sequence] = probe
            try:
                self._write(wire.header(wire.UNBIND, 0, sequence))
                probe.wait(timeout)
            except (OSError, ConnectionLost):
                pass
        self.mark_dead("closed by client")

    def mark_dead(self, reason: str) -> None:
        """Idempotent: stop using this bind, fail what is in flight, tell the pool."""
        with self._state_lock:
            if self.dead_reason is not None:
                return
            self.dead_reason = reason
            self.alive = False
            pending = list(self._pending.values())
            self._pending.clear()
            probes = list(self._probes.values())
            self._probes.clear()
        with self._outbox_lock:
            self._outbox.clear()
            self._outbox_submits.clear()
        level = logging.INFO if self._closing and not pending else logging.WARNING
        logger.log(level, "bind %d down: %s (%d submits in flight)", self.bind_id, reason, len(pending))
        self._close_socket()
        for probe in probes:
            probe.set()
        for item in pending:
            if item.submitted:
                item.complete(Outcome.RETRYABLE, reason=f"connection lost before response: {reason}")
            else:
                item.complete(Outcome.RETRYABLE, reason=f"not sent, bind lost: {reason}")
        if self._on_dead is not None:
            self._on_dead(self)

    def _close_socket(self) -> None:
        sock, self._socket = self._socket, None
        if sock is None:
            return
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes the reader's select
        sock.close()

    # -- sending -----------------------------------------------------------------------------
    def _next_sequence(self) -> int:
        with self._state_lock:
            self._sequence = self._sequence % 0x7FFFFFFF + 1
            return self._sequence

    def _write(self, data: bytes) -> None:
        """Queue one PDU behind whatever is in the outbox and flush now (control PDUs, replies)."""
        with self._outbox_lock:
            self._outbox.append(data)
        self.flush()

    def flush(self, *, wait: bool = True) -> None:
        """Write everything in the outbox with one sendall; ``wait=False`` skips if another thread is writing."""
        if not self._write_lock.acquire(blocking=wait):
            return  # the writer holding it flushes what we queued as well, or the next flush does
        try:
            with self._outbox_lock:
                if not self._outbox:
                    return
                chunks, self._outbox = self._outbox, []
                submits, self._outbox_submits = self._outbox_submits, []
            sock = self._socket
            if sock is None:
                raise ConnectionLost("socket closed")
            for item in submits:
                item.submitted = True  # from here on the SMSC may have it
            sock.sendall(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            self.writes += 1
            self.pdus_written += len(chunks)
        finally:
            self._write_lock.release()

    def flush_or_die(self, *, wait: bool = True) -> None:
        """flush(); a failed write ends the bind (what is in flight fails at once, not at its timeout)."""
        try:
            self.flush(wait=wait)
        except (OSError, ConnectionLost) as error:
            self.mark_dead(f"send failed: {error}")

    def submit(
        self,
        part: WirePart,
        *,
        source_addr: str,
        source_addr_ton: int,
        source_addr_npi: int,
        destination_addr: str,
        dest_addr_ton: int,
        dest_addr_npi: int,
        registered_delivery: int,
        on_complete: Callable[[PendingSubmit], None],
    ) -> PendingSubmit:
        """Queue one part (flushed at once if the bind is otherwise idle); the caller holds a window slot."""
        sequence = self._next_sequence()
        pending = PendingSubmit(
            part=part,
            sequence=sequence,
            deadline=self._clock() + self.response_timeout_s,
            bind_id=self.bind_id,
            on_complete=on_complete,
            give_up_lost_response=self.give_up_lost_response,
            flush=self.flush_or_die,
        )
        data = wire.encode_submit_sm(
            sequence,
            source_addr=source_addr,
            source_addr_ton=source_addr_ton,
            source_addr_npi=source_addr_npi,
            destination_addr=destination_addr,
            dest_addr_ton=dest_addr_ton,
            dest_addr_npi=dest_addr_npi,
            esm_class=part.esm_class,
            registered_delivery=registered_delivery,
            data_coding=part.data_coding,
            short_message=part.short_message,
            message_payload=part.message_payload,
        )
        awaiting = 0
        with self._state_lock:
            alive = self.alive
            if alive:
                self._pending[sequence] = pending
                awaiting = len(self._pending)
        if not alive:
            pending.complete(Outcome.RETRYABLE, reason=f"bind not available: {self.dead_reason}")
            return pending
        with self._outbox_lock:
            self._outbox.append(data)
            self._outbox_submits.append(pending)
            awaiting -= len(self._outbox_submits)
        if awaiting <= 0:
            self.flush_or_die()  # nothing else in flight: no response is coming to trigger a flush
        logger.debug(
            "bind %d submit seq=%d part %d/%d",  # no number: this layer never logs one (see SendResult)
            self.bind_id,
            sequence,
            part.part_number,
            part.part_total,
        )
        return pending

    def probe(self, timeout: float) -> bool:
        """enquire_link and wait for its response: is this bind really alive?"""
        if not self.alive:
            return False
        event = threading.Event()
        sequence = self._next_sequence()
        with self._state_lock:
            self._probes[sequence] = event
        try:
            self._write(wire.header(wire.ENQUIRE_LINK, 0, sequence))
        except (OSError, ConnectionLost) as error:
            self.mark_dead(f"enquire_link send failed: {error}")
            return False
        if not event.wait(timeout) or not self.alive:
            self.mark_dead("no enquire_link_resp")
            return False
        return True

    def idle_for(self) -> float:
        return self._clock() - self.last_received

    # -- receiving ---------------------------------------------------------------------------
    def _read_frame(self, deadline: float | None) -> bytes | None:
        """Next complete PDU, or None at the deadline. Used for the bind before the reader starts."""
        while True:
            frame = self._cut_frame()
            if frame is not None:
                return frame
            remaining = None if deadline is None else deadline - self._clock()
            if remaining is not None and remaining <= 0:
                return None
            if not self._receive(min(remaining, TICK_S) if remaining is not None else TICK_S):
                continue

    def _receive(self, wait: float) -> bool:
        sock = self._socket
        if sock is None:
            raise ConnectionLost("socket closed")
        readable, _, _ = select.select([sock], [], [], wait)
        if not readable:
            return False
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionLost("connection closed by SMSC")
        self._buffer += chunk
        return True

    def _cut_frame(self) -> bytes | None:
        if len(self._buffer) < 4:
            return None
        (length,) = struct.unpack_from(">L", self._buffer)
        if length < 16 or length > MAX_PDU_LENGTH:
            raise ConnectionLost(f"framing error: command_length {length}")
        if len(self._buffer) < length:
            return None
        frame = bytes(self._buffer[:length])
        del self._buffer[:length]
        return frame

    def _reader_loop(self) -> None:
        try:
            while self.alive:
                if self._receive(TICK_S):
                    self.last_received = self._clock()
                    self._enquire_sent_at = None
                    while (frame := self._cut_frame()) is not None:
                        self._dispatch(frame)
                self._housekeeping()
                # Responses freed window slots: what senders queued meanwhile leaves in one write.
                self.flush(wait=False)
        except (ConnectionLost, OSError, ValueError) as error:
            self.mark_dead(str(error) or type(error).__name__)
        except Exception as error:  # never let a reader die silently with submits in flight
            logger.exception("bind %d reader crashed", self.bind_id)
            self.mark_dead(f"reader crashed: {error!r}")

    def _housekeeping(self) -> None:
        now = self._clock()
        with self._state_lock:
            expired = [p for p in self._pending.values() if p.deadline <= now]
            for item in expired:
                del self._pending[item.sequence]
        for item in expired:
            item.complete(
                Outcome.RETRYABLE,
                reason=f"no submit_sm_resp within {self.response_timeout_s:g}s (timeout)",
            )
        if self._enquire_sent_at is not None:
            if now - self._enquire_sent_at > self.response_timeout_s:
                self.mark_dead("enquire_link unanswered")
        elif now - self.last_received > self.enquire_link_interval_s:
            self._enquire_sent_at = now
            self._write(wire.header(wire.ENQUIRE_LINK, 0, self._next_sequence()))

    def _dispatch(self, frame: bytes) -> None:
        _, command_id, status, sequence = wire.decode_header(frame)
        if command_id == wire.SUBMIT_SM_RESP:
            try:
                message_id = wire.decode_submit_sm_resp(frame) if status == 0 else None
            except wire.PduError as error:
                logger.warning("bind %d: malformed submit_sm_resp seq=%d: %s", self.bind_id, sequence, error)
                message_id = None
            self._finish_submit(sequence, status, message_id, nack=False)
        elif command_id == wire.GENERIC_NACK:
            if sequence == 0:
                # The SMSC could not even read a header of ours: the byte stream is out of step,
                # so no response for what is in flight will come. Fail it now, rebind.
                self.mark_dead(f"generic_nack with sequence 0 ({status_name(status)}): session broken")
                return
            self._finish_submit(sequence, status, None, nack=True)
        elif command_id == wire.DELIVER_SM:
            self._handle_deliver_sm(frame, sequence)
        elif command_id == wire.ENQUIRE_LINK:
            self._write(wire.header(wire.ENQUIRE_LINK_RESP, 0, sequence))
        elif command_id in (wire.ENQUIRE_LINK_RESP, wire.UNBIND_RESP):
            with self._state_lock:
                probe = self._probes.pop(sequence, None)
            if probe is not None:
                probe.set()
        elif command_id == wire.UNBIND:
            # SMSC-initiated unbind: answer it, then this bind is finished.
            self._write(wire.header(wire.UNBIND_RESP, 0, sequence))
            self.mark_dead("unbound by SMSC")
        elif not command_id & wire.RESPONSE_BIT:
            logger.warning("bind %d: unsupported command 0x%08X seq=%d", self.bind_id, command_id, sequence)
            self._write(wire.header(wire.GENERIC_NACK, ESME_RINVCMDID, sequence))

    def _finish_submit(self, sequence: int, status: int, message_id: str | None, *, nack: bool) -> None:
        with self._state_lock:
            pending = self._pending.pop(sequence, None)
        if pending is None:
            # Already timed out (the outcome was reported as retryable): keep a trace.
            logger.warning(
                "bind %d: late or unknown response seq=%d status=%s message_id=%s",
                self.bind_id,
                sequence,
                status_name(status),
                message_id,
            )
            return
        outcome = classify_status(status)
        if nack and outcome is Outcome.ACCEPTED:
            outcome = Outcome.PERMANENT  # a generic_nack never accepts a message
        reason = "generic_nack" if nack else ("" if outcome is Outcome.ACCEPTED else "submit_sm_resp error")
        if outcome is not Outcome.ACCEPTED:
            reason = f"{reason}: {status_name(status)}"
        pending.complete(outcome, message_id=message_id, command_status=status, reason=reason)

    def _handle_deliver_sm(self, frame: bytes, sequence: int) -> None:
        try:
            decoded = wire.decode_short_message_pdu(frame)
        except wire.PduError as error:
            self.malformed_inbound += 1
            logger.warning("bind %d: malformed deliver_sm seq=%d refused: %s", self.bind_id, sequence, error)
            self._write(wire.header(wire.DELIVER_SM_RESP, ESME_RX_P_APPN, sequence, b"\x00"))
            return
        status = 0
        try:
            event = from_deliver_sm(decoded, bind_id=self.bind_id, text_receipts=self.text_receipts)
            if self._on_inbound is not None:
                self._on_inbound(event)
        except Exception:
            # Not acknowledged as OK, so the SMSC redelivers it: nothing is dropped here.
            logger.exception("bind %d: deliver_sm handler failed", self.bind_id)
            status = ESME_RX_T_APPN
        self._write(wire.header(wire.DELIVER_SM_RESP, status, sequence, b"\x00"))
