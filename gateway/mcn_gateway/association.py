"""M3UA associations (RFC 4666) over SCTP or TCP, as ASP client (toward an SG/STP) or as the SG/IPSP
side accepting MSCs and HLRs. One `M3uaSession` per connection; the state machine is per ASP.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import logging
import os
import random
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from .config import AssociationConfig
from .metrics import ASSOCIATION_STATES, Metrics
from .protocol import DecodeError, m3ua
from .protocol.m3ua import M3uaMessage, ProtocolData

log = logging.getLogger("mcn_gateway.m3ua")

TAG_ROUTING_CONTEXT = 0x0006
TAG_TRAFFIC_MODE = 0x000B
TAG_ASP_ID = 0x0011
TAG_HEARTBEAT_DATA = 0x0009
TAG_ERROR_CODE = 0x000C
TAG_STATUS = 0x000D
TAG_AFFECTED_POINT_CODE = 0x0012

_TRAFFIC_MODES = {"override": 1, "loadshare": 2, "broadcast": 3}

# DATA handler: the DATA of one read, [(protocol data, receive timestamp)] -> a future of the answers to
# send back for each. Submission is synchronous so that all DATA of one read is handled (and committed)
# as a group; the session goes on reading while the group is committed (answers leave in order).
DataHandler = Callable[[list[tuple[ProtocolData, float]]], "asyncio.Future[list[list[ProtocolData]]]"]

# reads whose answers may be outstanding before a session stops reading (backpressure on the peer
# when the spool stalls): each read is one group of messages
_MAX_UNANSWERED_READS = 64


def sctp_available() -> bool:
    if not hasattr(socket, "IPPROTO_SCTP"):
        return False
    try:
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
    except OSError:
        return False
    probe.close()
    return True


def choose_transport(config: AssociationConfig) -> str:
    if config.transport == "tcp":
        return "tcp"
    if sctp_available():
        return "sctp"
    if config.transport == "sctp":
        raise OSError(errno.EPROTONOSUPPORT, "SCTP requested but the kernel has no SCTP support")
    return "tcp"


# Linux SCTP socket options (linux/sctp.h) behind lksctp's sctp_bindx()/sctp_connectx(): the standard
# library has no wrapper, but the kernel takes a packed array of sockaddr_in through setsockopt.
SOL_SCTP = 132
SCTP_SOCKOPT_BINDX_ADD = 100
SCTP_SOCKOPT_CONNECTX = 110


def pack_sockaddrs(addresses: list[str], port: int) -> bytes:
    """sockaddr_in structures back to back (family in host order, port and address in network order)."""
    return b"".join(
        struct.pack("=H", socket.AF_INET) + struct.pack("!H", port) + socket.inet_aton(a) + bytes(8) for a in addresses
    )


def _socket(transport: str) -> socket.socket:
    protocol = socket.IPPROTO_SCTP if transport == "sctp" else socket.IPPROTO_TCP
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, protocol)
    if transport == "tcp":
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _bind_local(sock: socket.socket, transport: str, host: str, port: int, extra: list[str]) -> None:
    """Bind the local end (a fixed port must be reusable at once after a reconnect) and, on SCTP,
    the further local addresses of a multi-homed association."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    if extra and transport == "sctp":
        sock.setsockopt(SOL_SCTP, SCTP_SOCKOPT_BINDX_ADD, pack_sockaddrs(extra, sock.getsockname()[1]))


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close without TIME_WAIT (RST): the local port of a provisioned ASP must be free for the reconnect."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


# ASP state as the peer sees it (RFC 4666 4.3.1), and AS state per routing context (from NTFY, 3.8.2)
ASP_DOWN, ASP_INACTIVE, ASP_ACTIVE = "down", "inactive", "active"
AS_INACTIVE, AS_ACTIVE, AS_PENDING = "inactive", "active", "pending"
_AS_FROM_NTFY = {m3ua.NTFY_AS_INACTIVE: AS_INACTIVE, m3ua.NTFY_AS_ACTIVE: AS_ACTIVE, m3ua.NTFY_AS_PENDING: AS_PENDING}
NTFY_OTHER = 2
NTFY_INSUFFICIENT_ASP_RESOURCES, NTFY_ALTERNATE_ASP_ACTIVE, NTFY_ASP_FAILURE = 1, 2, 3
TAG_CONCERNED_DESTINATION = 0x0206
TAG_CONGESTION_INDICATIONS = 0x0205
TAG_USER_CAUSE = 0x0204
CONGESTION_HOLD_S = 30.0  # ITU SCON carries no abatement: a congestion mark expires unless repeated


def affected_point_codes(value: bytes | None) -> list[tuple[int, int]]:
    """Affected Point Code parameter (RFC 4666 3.4.1): (mask, point code) per 4 bytes; the mask is
    the number of low-order bits that are wildcards (a whole cluster)."""
    value = value or b""
    return [(value[i], int.from_bytes(value[i + 1 : i + 4], "big")) for i in range(0, len(value) - len(value) % 4, 4)]


def _covers(entry: tuple[int, int], point_code: int) -> bool:
    mask, code = entry
    wildcard = (1 << min(mask, 24)) - 1
    return (code & ~wildcard) == (point_code & ~wildcard)


class ConnectionRefusedByPeer(ConnectionError):
    pass


class M3uaSession:
    """One M3UA connection. `client=True`: we are the ASP and bring the association up.

    `state` says what an operator needs to know: "down" (no ASP), "up" (ASP inactive), "asp-active"
    (ASPAC acknowledged but the SG reported no active AS for our routing contexts: traffic does not
    reach us), "active" (traffic flows). A server session (we are the SG) is active on ASPAC.
    """

    def __init__(
        self,
        name: str,
        config: AssociationConfig,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_data: DataHandler,
        metrics: Metrics,
        client: bool,
        decoder: m3ua.M3uaDecoder | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.reader = reader
        self.writer = writer
        self.on_data = on_data
        self.metrics = metrics
        self.client = client
        self.asp_state = ASP_DOWN
        self.as_states: dict[int | None, str] = {}
        self.unavailable: set[tuple[int, int]] = set()
        self.congested: dict[int, float] = {}  # point code -> congestion mark expiry (monotonic)
        self.active_since: float | None = None  # monotonic time traffic could first flow
        self.longest_stable_s = 0.0
        self.closed_reason: str | None = None
        self.connected_at = time.monotonic()
        self._decoder = decoder or m3ua.M3uaDecoder()
        self._framer = m3ua.FrameReader()
        self._routing_contexts = list(config.routing_contexts)
        # this read's DATA, then the reads handed to `on_data` whose answers are not sent yet (in order)
        self._gathered: list[tuple[ProtocolData, float]] = []
        self._gathered_contexts: list[int | None] = []
        self._unanswered: collections.deque[tuple[asyncio.Future, list[int | None]]] = collections.deque()
        self._message_counters: dict[str, Any] = {}  # metric children by message name, bound once
        self._data_received = 0  # DATA taken by the fast path, not counted yet
        self._acks: dict[tuple[int, int], asyncio.Event] = {}
        self._beat_token = 0
        self._on_change = on_change
        self._publish()

    # --- state ------------------------------------------------------------------------------------------

    @property
    def routing_contexts(self) -> list[int]:
        return self._routing_contexts

    @property
    def carries_traffic(self) -> bool:
        if self.asp_state != ASP_ACTIVE:
            return False
        if not self.client or not self.config.traffic_requires_ntfy:
            return True
        return any(state == AS_ACTIVE for state in self.as_states.values())

    @property
    def state(self) -> str:
        if self.asp_state == ASP_DOWN:
            return "down"
        if self.asp_state == ASP_INACTIVE:
            return "up"
        return "active" if self.carries_traffic else "asp-active"

    def stable_for(self) -> float:
        """The longest stretch this connection carried traffic (seconds)."""
        current = time.monotonic() - self.active_since if self.active_since is not None else 0.0
        return max(self.longest_stable_s, current)

    def forget_metrics(self) -> None:
        """Drop this connection's labelled series (server sessions are named per connection)."""
        for gauge, labels in (
            (self.metrics.association_state, (self.name,)),
            (self.metrics.destinations_unavailable, (self.name,)),
            *((self.metrics.as_state, (self.name, "any" if rc is None else str(rc))) for rc in self.as_states),
        ):
            with contextlib.suppress(KeyError):
                gauge.remove(*labels)

    def destination_available(self, point_code: int) -> bool:
        if any(_covers(entry, point_code) for entry in self.unavailable):
            return False
        expiry = self.congested.get(point_code)
        if expiry is not None:
            if expiry > time.monotonic():
                return False
            del self.congested[point_code]
        return True

    def describe(self) -> dict:
        """What /healthz shows for this association."""
        return {
            "state": self.state,
            "traffic": self.carries_traffic,
            "asp": self.asp_state,
            "as": {("any" if rc is None else str(rc)): state for rc, state in sorted(self.as_states.items(), key=str)},
            "unavailable_destinations": sorted(f"{pc}/{mask}" if mask else str(pc) for mask, pc in self.unavailable),
            "congested_destinations": sorted(pc for pc, until in self.congested.items() if until > time.monotonic()),
        }

    def _publish(self) -> None:
        self.metrics.association_state.labels(self.name).set(ASSOCIATION_STATES[self.state])
        for rc, state in self.as_states.items():
            label = "any" if rc is None else str(rc)
            self.metrics.as_state.labels(self.name, label).set({AS_INACTIVE: 0, AS_PENDING: 1, AS_ACTIVE: 2}[state])
        self.metrics.destinations_unavailable.labels(self.name).set(len(self.unavailable))
        if self.carries_traffic and self.active_since is None:
            self.active_since = time.monotonic()
        elif not self.carries_traffic and self.active_since is not None:
            self.longest_stable_s = max(self.longest_stable_s, time.monotonic() - self.active_since)
            self.active_since = None
        if self._on_change is not None:
            self._on_change()

    def _set_asp(self, state: str) -> None:
        if state != self.asp_state:
            log.info("%s: ASP %s -> %s", self.name, self.asp_state, state)
        self.asp_state = state
        if state == ASP_DOWN:
            self.as_states = {rc: AS_INACTIVE for rc in self.as_states}
        self._publish()

    def _contexts_of(self, message: M3uaMessage) -> list[int | None]:
        listed = message.uint32_list(TAG_ROUTING_CONTEXT)
        if listed:
            return list(listed)
        known = set(self._routing_contexts) | {rc for rc in self.as_states if rc is not None}
        return sorted(known) if known else [None]

    # --- I/O --------------------------------------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def _send_err(self, code: int, diagnostic: bytes | None = None) -> None:
        self.metrics.association_errors.labels(self.config.name, "sent", str(code)).inc()
        await self.send(m3ua.encode_err(code, diagnostic))

    def fail(self, reason: str) -> None:
        """Declare the association dead (heartbeat, handshake): close at once so the peer and we start over."""
        if self.closed_reason is None:
            self.closed_reason = reason
            self.metrics.association_failures.labels(self.config.name, reason).inc()
            log.warning("%s: %s: closing the association", self.name, reason.replace("_", " "))
        _abort(self.writer)

    async def run(self) -> None:
        """Serve until the connection ends. Bad input never ends the session."""
        tasks: list[asyncio.Task] = [asyncio.create_task(self._handshake_watchdog())]
        try:
            if self.client:
                self._set_asp(ASP_DOWN)
                await self.send(m3ua.encode_aspup(self.config.asp_id))
            if self.config.heartbeat_interval_s:
                tasks.append(asyncio.create_task(self._heartbeat()))
            while True:
                chunk = await self.reader.read(65536)
                if not chunk:
                    break
                errors_before = self._framer.framing_errors
                frames = self._framer.feed(chunk)
                if self._framer.framing_errors != errors_before:
                    self.metrics.decode_errors.labels("m3ua-framing").inc(self._framer.framing_errors - errors_before)
                    log.warning("%s: bytes that are not M3UA skipped; resynchronised", self.name)
                for frame in frames:
                    await self._handle_frame(frame)
                if self._data_received:
                    self._counter("DATA").inc(self._data_received)
                    self._data_received = 0
                self._submit_gathered()
                if len(self._unanswered) > _MAX_UNANSWERED_READS:
                    await self._flush_answers()
                elif self.writer.transport.get_write_buffer_size() > 65536:
                    await self.writer.drain()
        finally:
            for task in tasks:
                task.cancel()
            self.asp_state = ASP_DOWN
            self.as_states = {rc: AS_INACTIVE for rc in self.as_states}
            self._publish()
            with contextlib.suppress(Exception):
                self.writer.close()

    async def _handshake_watchdog(self) -> None:
        await asyncio.sleep(self.config.handshake_timeout_s)
        if self.asp_state != ASP_ACTIVE:
            self.fail("handshake_timeout")

    async def _heartbeat(self) -> None:
        """BEAT every interval; a BEAT without BEAT_ACK within the timeout means the peer is gone (a frozen
        STP keeps the TCP connection open for minutes)."""
        assert self.config.heartbeat_interval_s is not None
        while True:
            await asyncio.sleep(self.config.heartbeat_interval_s)
            self._beat_token += 1
            acked = self._acks[m3ua.ASPSM_BEAT_ACK] = asyncio.Event()
            try:
                await asyncio.wait_for(
                    self._beat_and_wait(self._beat_token, acked), timeout=self.config.heartbeat_timeout_s
                )
            except TimeoutError:
                self.fail("heartbeat_timeout")
                return

    async def _beat_and_wait(self, token: int, acked: asyncio.Event) -> None:
        await self.send(m3ua.encode_beat(token.to_bytes(8, "big")))
        await acked.wait()

    def _acked(self, kind: tuple[int, int]) -> None:
        event = self._acks.get(kind)
        if event is not None:
            event.set()

    async def deactivate(self, timeout_s: float) -> None:
        """Graceful end of a client ASP (SIGTERM): ASPIA, then ASPDN, each waiting for its ACK."""
        if not self.client or self.writer.is_closing():
            return
        await self._flush_answers()
        steps = []
        if self.asp_state == ASP_ACTIVE:
            steps.append((m3ua.encode_aspia(self._routing_contexts), m3ua.ASPTM_INACTIVE_ACK))
        if self.asp_state != ASP_DOWN:
            steps.append((m3ua.encode_aspdn(), m3ua.ASPSM_DOWN_ACK))
        for message, ack in steps:
            acked = self._acks[ack] = asyncio.Event()
            try:
                await self.send(message)
                await asyncio.wait_for(acked.wait(), timeout=timeout_s)
            except (TimeoutError, ConnectionError, OSError):
                log.warning("%s: no %s from the peer within %.1fs", self.name, m3ua.MESSAGE_NAMES[ack], timeout_s)
        self.closed_reason = self.closed_reason or "shutdown"
        _abort(self.writer)

    # --- messages ---------------------------------------------------------------------------------------

    async def _handle_frame(self, frame: bytes) -> None:
        if frame[2] == 1 and frame[3] == 1 and self.asp_state == ASP_ACTIVE:
            # DATA, nearly all traffic: its two fields read without an M3uaMessage; anything odd about
            # it takes the general path below, which reports it
            try:
                data, routing_context = self._decoder.decode_data(frame)
            except DecodeError:
                pass
            else:
                self._data_received += 1  # counted once per read (run)
                self._gathered.append((data, time.time()))
                self._gathered_contexts.append(routing_context)
                return
        try:
            message = self._decoder.decode(frame)
        except DecodeError as exc:
            self.metrics.decode_errors.labels(exc.layer).inc()
            self.metrics.messages.labels("m3ua", "invalid").inc()
            log.warning("%s: undecodable M3UA message: %s", self.name, exc)
            await self._send_err(m3ua.ERR_PARAMETER_FIELD_ERROR, frame[:40])
            return
        self._counter(message.name).inc()
        kind = message.kind
        if kind == m3ua.TRANSFER_DATA:
            await self._data(message)
            return
        await self._flush_answers()  # keep answers in order with management traffic
        if kind == m3ua.ASPSM_BEAT:
            await self.send(m3ua.encode_beat_ack(message.first(TAG_HEARTBEAT_DATA)))
        elif kind == m3ua.ASPSM_BEAT_ACK:
            self._acked(kind)
        elif kind == m3ua.ASPSM_UP and not self.client:
            self._set_asp(ASP_INACTIVE)
            await self.send(m3ua.encode_aspup_ack(message.uint32(TAG_ASP_ID)))
            await self.send(m3ua.encode_ntfy(m3ua.NTFY_AS_STATE_CHANGE, m3ua.NTFY_AS_INACTIVE))
        elif kind == m3ua.ASPSM_UP_ACK and self.client:
            self._set_asp(ASP_INACTIVE)
            mode = _TRAFFIC_MODES[self.config.traffic_mode]
            await self.send(
                m3ua.encode_aspac(mode, self._routing_contexts, network_appearance=self.config.network_appearance)
            )
        elif kind == m3ua.ASPTM_ACTIVE and not self.client:
            await self._aspac(message)
        elif kind == m3ua.ASPTM_ACTIVE_ACK and self.client:
            acked = message.uint32_list(TAG_ROUTING_CONTEXT)
            if acked and not self._routing_contexts:
                self._routing_contexts = list(acked)
            if not self.config.traffic_requires_ntfy:
                for rc in self._contexts_of(message):
                    self.as_states[rc] = AS_ACTIVE
            self._set_asp(ASP_ACTIVE)
            log.info("%s: ASPAC acknowledged (routing contexts %s); AS state %s", self.name, acked, self.as_states)
        elif kind == m3ua.ASPTM_INACTIVE and not self.client:
            self._set_asp(ASP_INACTIVE)
            await self.send(m3ua.encode_aspia_ack(message.uint32_list(TAG_ROUTING_CONTEXT)))
        elif kind == m3ua.ASPTM_INACTIVE_ACK and self.client:
            # also sent unsolicited by an SG that takes the ASP out of service (RFC 4666 4.3.4.4)
            self._set_asp(ASP_INACTIVE)
            self._acked(kind)
        elif kind == m3ua.ASPSM_DOWN and not self.client:
            self._set_asp(ASP_DOWN)
            await self.send(m3ua.encode_aspdn_ack())
        elif kind == m3ua.ASPSM_DOWN_ACK and self.client:
            self._set_asp(ASP_DOWN)
            if m3ua.ASPSM_DOWN_ACK in self._acks:
                self._acked(kind)
            else:  # unsolicited: the SG took the ASP down; start over after the backoff
                self.fail("peer_took_asp_down")
        elif kind == m3ua.MGMT_NTFY:
            self._notify(message)
        elif kind == m3ua.MGMT_ERR:
            code = message.uint32(TAG_ERROR_CODE)
            # counters are per configured association, codes bounded: a peer cannot grow the series at will
            label = str(code) if code is not None and code <= 0x1A else "other"
            self.metrics.association_errors.labels(self.config.name, "received", label).inc()
            log.warning("%s: peer reported M3UA error %s", self.name, code)
        elif kind == m3ua.SSNM_DAUD and not self.client:
            # an ASP audits the destinations behind us: the gateway itself is always available
            affected = message.first(TAG_AFFECTED_POINT_CODE)
            if affected:
                await self.send(m3ua.encode_dava(affected, message.uint32_list(TAG_ROUTING_CONTEXT)))
        elif kind in (m3ua.SSNM_DUNA, m3ua.SSNM_DAVA, m3ua.SSNM_SCON, m3ua.SSNM_DUPU) and self.client:
            self._destination_state(message)
        elif message.message_class in (0, 1, 2, 3, 4, 9):
            await self._send_err(
                m3ua.ERR_UNEXPECTED_MESSAGE if kind in m3ua.MESSAGE_NAMES else m3ua.ERR_UNSUPPORTED_MESSAGE_TYPE
            )
        else:
            await self._send_err(m3ua.ERR_UNSUPPORTED_MESSAGE_CLASS)

    def _notify(self, message: M3uaMessage) -> None:
        status = message.first(TAG_STATUS) or b""
        if len(status) < 4:
            log.warning("%s: NTFY without a status", self.name)
            return
        status_type, info = struct.unpack("!HH", status[:4])
        if status_type == m3ua.NTFY_AS_STATE_CHANGE and info in _AS_FROM_NTFY:
            state = _AS_FROM_NTFY[info]
            for rc in self._contexts_of(message):
                self.as_states[rc] = state
            log.info("%s: NTFY AS-%s (routing contexts %s)", self.name, state.upper(), self._contexts_of(message))
            self._publish()
        elif status_type == NTFY_OTHER and info == NTFY_ALTERNATE_ASP_ACTIVE:
            # override mode: another ASP took the traffic; ours is inactive for the SG (RFC 4666 4.3.4.3)
            log.warning("%s: NTFY alternate ASP active: this ASP no longer carries traffic", self.name)
            self._set_asp(ASP_INACTIVE)
        elif status_type == NTFY_OTHER:
            log.warning("%s: NTFY %s", self.name, {1: "insufficient ASP resources", 3: "ASP failure"}.get(info, info))
        else:
            log.info("%s: NTFY status %s", self.name, status.hex())

    def _destination_state(self, message: M3uaMessage) -> None:
        """DUNA/DAVA/SCON/DUPU from the SG: which point codes behind it can be reached (RFC 4666 3.4)."""
        entries = affected_point_codes(message.first(TAG_AFFECTED_POINT_CODE))
        names = ", ".join(f"{pc}" + (f"/{mask}" if mask else "") for mask, pc in entries)
        if message.kind == m3ua.SSNM_DUNA:
            self.unavailable.update(entries)
            log.warning("%s: DUNA: destinations unavailable: %s", self.name, names)
        elif message.kind == m3ua.SSNM_DAVA:
            for mask, pc in entries:
                self.unavailable = {e for e in self.unavailable if not _covers((mask, pc), e[1])}
                for congested in [c for c in self.congested if _covers((mask, pc), c)]:
                    del self.congested[congested]
            log.info("%s: DAVA: destinations available: %s", self.name, names)
        elif message.kind == m3ua.SSNM_SCON:
            level = message.uint32(TAG_CONGESTION_INDICATIONS)
            for _mask, pc in entries:
                if level == 0:
                    self.congested.pop(pc, None)
                else:
                    self.congested[pc] = time.monotonic() + CONGESTION_HOLD_S
            log.warning("%s: SCON: destinations congested (level %s): %s", self.name, level, names)
        else:
            log.warning("%s: DUPU: user part unavailable at %s", self.name, names)
        self._publish()

    async def _aspac(self, message: M3uaMessage) -> None:
        requested = message.uint32_list(TAG_ROUTING_CONTEXT)
        configured = set(self.config.routing_contexts)
        if configured and requested and not set(requested) <= configured:
            await self._send_err(m3ua.ERR_INVALID_ROUTING_CONTEXT)
            return
        if self.asp_state == ASP_DOWN:
            await self._send_err(m3ua.ERR_UNEXPECTED_MESSAGE)
            return
        self._routing_contexts = requested or list(self.config.routing_contexts)
        self._set_asp(ASP_ACTIVE)
        await self.send(m3ua.encode_aspac_ack(message.uint32(TAG_TRAFFIC_MODE), requested))
        await self.send(m3ua.encode_ntfy(m3ua.NTFY_AS_STATE_CHANGE, m3ua.NTFY_AS_ACTIVE, requested))
        log.info("%s: ASP active (routing contexts %s)", self.name, requested)

    async def _data(self, message: M3uaMessage) -> None:
        if self.asp_state != ASP_ACTIVE:
            await self._send_err(m3ua.ERR_UNEXPECTED_MESSAGE)
            return
        assert message.protocol_data is not None
        self._gathered.append((message.protocol_data, time.time()))
        self._gathered_contexts.append(message.uint32(TAG_ROUTING_CONTEXT))

    def _counter(self, name: str) -> Any:
        counter = self._message_counters.get(name)
        if counter is None:
            counter = self._message_counters[name] = self.metrics.messages.labels("m3ua", name)
        return counter

    def _submit_gathered(self) -> None:
        """Hand this read's DATA over as one group; its answers are written when it is committed."""
        if not self._gathered:
            return
        future = self.on_data(self._gathered)
        self._unanswered.append((future, self._gathered_contexts))
        self._gathered, self._gathered_contexts = [], []
        future.add_done_callback(self._write_answers)

    def _write_answers(self, _done: object = None) -> None:
        """Write the answers of every leading group already committed, in the order the groups came."""
        encoded: list[bytes] = []
        appearance = self.config.network_appearance
        while self._unanswered and self._unanswered[0][0].done():
            future, routing_contexts = self._unanswered.popleft()
            if future.cancelled():
                continue
            error = future.exception()
            if error is not None:  # the spool failed: send nothing, the peer's timers retransmit
                log.error("%s: messages not accepted: %s", self.name, error)
                continue
            for answers, routing_context in zip(future.result(), routing_contexts, strict=True):
                encoded.extend(
                    m3ua.encode_data(answer, routing_context=routing_context, network_appearance=appearance)
                    for answer in answers
                )
        if encoded and not self.writer.is_closing():
            self.writer.write(b"".join(encoded))  # one send for the group, not one per answer

    async def _flush_answers(self) -> None:
        """Send every answer still owed (before management traffic, on shutdown)."""
        self._submit_gathered()
        if not self._unanswered:
            return
        while self._unanswered:
            await asyncio.wait([self._unanswered[0][0]])  # the oldest: answers leave in order
            self._write_answers()
        await self.writer.drain()


class AssociationManager:
    """Runs the configured associations: servers accept peers (up to max_connections each), clients
    reconnect with backoff."""

    def __init__(self, configs: list[AssociationConfig], on_data: DataHandler, metrics: Metrics) -> None:
        self.configs = configs
        self.on_data = on_data
        self.metrics = metrics
        self.sessions: list[M3uaSession] = []
        self.bound_ports: dict[str, int] = {}
        self.connects: dict[str, int] = {}  # client: connections opened, per association
        self._servers: list[asyncio.base_events.Server] = []
        self._tasks: list[asyncio.Task] = []
        self._next_session = -1
        self._stopping = False
        self._decoder = m3ua.M3uaDecoder()  # shared: building pycrate prototypes per connection costs memory

    async def start(self) -> None:
        for config in self.configs:
            if config.role == "server":
                await self._serve(config)
            else:
                self._tasks.append(asyncio.create_task(self._client_loop(config), name=f"m3ua-{config.name}"))

    async def shutdown(self, timeout_s: float | None = None) -> None:
        """Graceful stop (SIGTERM): accept nothing more, take every client ASP inactive and down, close."""
        self._stopping = True
        for server in self._servers:
            server.close()
        clients = [s for s in self.sessions if s.client]
        await asyncio.gather(
            *(s.deactivate(timeout_s or s.config.shutdown_timeout_s) for s in clients), return_exceptions=True
        )
        for session in list(self.sessions):
            if not session.client:
                with contextlib.suppress(Exception):
                    await session._flush_answers()
                    session.writer.close()

    async def stop(self) -> None:
        self._stopping = True
        for server in self._servers:
            server.close()
        for task in self._tasks:
            task.cancel()
        for session in list(self.sessions):
            with contextlib.suppress(Exception):
                session.writer.close()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def send_data(self, data: ProtocolData, names: list[str] | None = None) -> bool:
        """Send one MTP3 user message the gateway originates (MAP client side) on an association that
        carries traffic and reports the destination available: one of `names` (association config names)
        when given, else any, client associations (toward an SG/STP) first; load-shared round robin.
        False when there is none."""
        candidates = self._carriers(data.dpc, names)
        if not candidates:
            return False
        self._next_session = (self._next_session + 1) % len(candidates)
        session = candidates[self._next_session]
        routing_context = session.routing_contexts[0] if session.routing_contexts else None
        await session.send(
            m3ua.encode_data(
                data, routing_context=routing_context, network_appearance=session.config.network_appearance
            )
        )
        return True

    def _carriers(self, dpc: int, names: list[str] | None) -> list[M3uaSession]:
        candidates = [
            s
            for s in self.sessions
            if s.carries_traffic
            and (not names or s.config.name in names)
            and (not s.client or s.destination_available(dpc))
        ]
        if not names and any(s.client for s in candidates):
            candidates = [s for s in candidates if s.client]
        return candidates

    def can_send_to(self, dpc: int, names: list[str] | None = None) -> bool:
        """Whether `send_data` toward `dpc` would find an association now."""
        return bool(self._carriers(dpc, names))

    def states(self) -> dict[str, str]:
        states: dict[str, str] = {c.name: "down" for c in self.configs if c.role == "client"}
        for session in self.sessions:
            states[session.name] = session.state
        return states

    def details(self) -> dict[str, dict]:
        details: dict[str, dict] = {
            c.name: {"state": "down", "traffic": False} for c in self.configs if c.role == "client"
        }
        for session in self.sessions:
            details[session.name] = session.describe()
        return details

    def can_carry_traffic(self) -> bool | None:
        """Whether a client association (toward an STP) carries traffic; None when there are none."""
        clients = [c.name for c in self.configs if c.role == "client"]
        if not clients:
            return None
        return any(s.carries_traffic for s in self.sessions if s.client)

    async def _serve(self, config: AssociationConfig) -> None:
        transport = choose_transport(config)
        sock = _socket(transport)
        _bind_local(sock, transport, config.host, config.port, config.local_addresses)
        sock.listen(64)
        sock.setblocking(False)
        counter = 0
        open_sessions: list[M3uaSession] = []

        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal counter
            peer = writer.get_extra_info("peername")
            if len(open_sessions) >= config.max_connections or self._stopping:
                reason = "shutting_down" if self._stopping else "max_connections"
                self.metrics.connections_refused.labels(config.name, reason).inc()
                log.warning("%s: connection from %s refused (%s)", config.name, peer, reason.replace("_", " "))
                _abort(writer)
                return
            counter += 1
            name = f"{config.name}#{counter}"
            log.info("%s: %s connection from %s", name, transport.upper(), peer)
            session = M3uaSession(
                name, config, reader, writer, self.on_data, self.metrics, client=False, decoder=self._decoder
            )
            self.sessions.append(session)
            open_sessions.append(session)
            try:
                await session.run()
            except (ConnectionError, OSError) as exc:
                log.info("%s: connection lost: %s", name, exc)
            finally:
                self.sessions.remove(session)
                open_sessions.remove(session)
                session.forget_metrics()  # a server session's series go with its connection

        # a bounded reader buffer: a peer that sends faster than we handle is paused by TCP
        server = await asyncio.start_server(accepted, sock=sock, limit=m3ua.MAX_MESSAGE_LENGTH + 1)
        self._servers.append(server)
        self.bound_ports[config.name] = sock.getsockname()[1]
        log.info("%s: listening on %s:%s (%s)", config.name, config.host, self.bound_ports[config.name], transport)

    async def _connect(self, config: AssociationConfig) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str]:
        transport = choose_transport(config)
        sock = _socket(transport)
        try:
            if config.local_host or config.local_port or config.local_addresses:
                _bind_local(
                    sock, transport, config.local_host or "0.0.0.0", config.local_port or 0, config.local_addresses
                )
            if transport == "sctp" and config.remote_addresses:
                # sctp_connectx: every address of the peer, blocking (in a thread), then hand over to asyncio
                addresses = pack_sockaddrs([config.host, *config.remote_addresses], config.port)
                sock.settimeout(config.handshake_timeout_s)
                await asyncio.to_thread(sock.setsockopt, SOL_SCTP, SCTP_SOCKOPT_CONNECTX, addresses)
                sock.setblocking(False)
            else:
                sock.setblocking(False)
                await asyncio.wait_for(
                    asyncio.get_running_loop().sock_connect(sock, (config.host, config.port)),
                    timeout=config.handshake_timeout_s,
                )
        except BaseException:
            sock.close()
            raise
        reader, writer = await asyncio.open_connection(sock=sock, limit=m3ua.MAX_MESSAGE_LENGTH + 1)
        return reader, writer, transport

    async def _client_loop(self, config: AssociationConfig) -> None:
        delay = config.reconnect_initial_s
        while not self._stopping:
            session: M3uaSession | None = None
            try:
                reader, writer, transport = await self._connect(config)
                self.connects[config.name] = self.connects.get(config.name, 0) + 1
                local = writer.get_extra_info("sockname")
                log.info(
                    "%s: connected to %s:%s from %s:%s (%s)",
                    config.name,
                    config.host,
                    config.port,
                    local[0],
                    local[1],
                    transport,
                )
                session = M3uaSession(
                    config.name, config, reader, writer, self.on_data, self.metrics, client=True, decoder=self._decoder
                )
                self.sessions.append(session)
                try:
                    await session.run()
                finally:
                    self.sessions.remove(session)
                if session.closed_reason is None:
                    log.warning("%s: association closed by the peer", config.name)
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError) as exc:
                errno_text = os.strerror(exc.errno) if getattr(exc, "errno", None) else str(exc) or "timed out"
                log.warning("%s: connect failed: %s (retry in %.1fs)", config.name, errno_text, delay)
            if self._stopping:
                return
            # the backoff starts over only after the association carried traffic long enough: an STP that
            # accepts and then closes (ASP not provisioned, AS down) must not be hammered
            if session is not None and session.stable_for() >= config.reconnect_reset_after_s:
                delay = config.reconnect_initial_s
            await asyncio.sleep(delay * random.uniform(0.9, 1.1))
            delay = min(delay * 2, config.reconnect_max_s)
