"""M3UA associations (RFC 4666) over SCTP or TCP, as ASP client (toward an SG/STP) or as the SG/IPSP
side accepting MSCs and HLRs. One `M3uaSession` per connection; the state machine is per ASP.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable

from .config import AssociationConfig
from .metrics import Metrics
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

# DATA handler: (protocol data, receive timestamp) -> a future of the answers to send back.
# Submission is synchronous so that all DATA of one read can be handled (and committed) as a group.
DataHandler = Callable[[ProtocolData, float], Awaitable[list[ProtocolData]]]


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


def _socket(transport: str) -> socket.socket:
    protocol = socket.IPPROTO_SCTP if transport == "sctp" else socket.IPPROTO_TCP
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, protocol)
    if transport == "tcp":
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class M3uaSession:
    """One M3UA connection. `client=True`: we are the ASP and bring the association up."""

    def __init__(
        self,
        name: str,
        config: AssociationConfig,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_data: DataHandler,
        metrics: Metrics,
        client: bool,
    ) -> None:
        self.name = name
        self.config = config
        self.reader = reader
        self.writer = writer
        self.on_data = on_data
        self.metrics = metrics
        self.client = client
        self.state = "down"
        self._decoder = m3ua.M3uaDecoder()
        self._framer = m3ua.FrameReader()
        self._routing_contexts = list(config.routing_contexts)
        self._pending: list[tuple[Awaitable[list[ProtocolData]], int | None]] = []
        self._set_state("down")

    @property
    def routing_contexts(self) -> list[int]:
        return self._routing_contexts

    def _set_state(self, state: str) -> None:
        self.state = state
        self.metrics.association_state.labels(self.name).set({"down": 0, "up": 1, "active": 2}[state])

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def _send_err(self, code: int, diagnostic: bytes | None = None) -> None:
        self.metrics.association_errors.labels(self.name, "sent", str(code)).inc()
        await self.send(m3ua.encode_err(code, diagnostic))

    async def run(self) -> None:
        """Serve until the peer closes the connection. Bad input never ends the session."""
        heartbeat: asyncio.Task | None = None
        try:
            if self.client:
                await self.send(m3ua.encode_aspup(self.config.asp_id))
            if self.config.heartbeat_interval_s:
                heartbeat = asyncio.create_task(self._heartbeat())
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
                await self._flush_answers()
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
            self._set_state("down")
            with contextlib.suppress(Exception):
                self.writer.close()

    async def _heartbeat(self) -> None:
        assert self.config.heartbeat_interval_s is not None
        while True:
            await asyncio.sleep(self.config.heartbeat_interval_s)
            await self.send(m3ua.encode_beat(int(time.time()).to_bytes(8, "big")))

    async def _handle_frame(self, frame: bytes) -> None:
        try:
            message = self._decoder.decode(frame)
        except DecodeError as exc:
            self.metrics.decode_errors.labels(exc.layer).inc()
            self.metrics.messages.labels("m3ua", "invalid").inc()
            log.warning("%s: undecodable M3UA message: %s", self.name, exc)
            await self._send_err(m3ua.ERR_PARAMETER_FIELD_ERROR, frame[:40])
            return
        self.metrics.messages.labels("m3ua", message.name).inc()
        kind = message.kind
        if kind == m3ua.TRANSFER_DATA:
            await self._data(message)
            return
        await self._flush_answers()  # keep answers in order with management traffic
        if kind == m3ua.ASPSM_BEAT:
            await self.send(m3ua.encode_beat_ack(message.first(TAG_HEARTBEAT_DATA)))
        elif kind == m3ua.ASPSM_BEAT_ACK:
            pass
        elif kind == m3ua.ASPSM_UP:
            self._set_state("up")
            await self.send(m3ua.encode_aspup_ack(message.uint32(TAG_ASP_ID)))
            await self.send(m3ua.encode_ntfy(m3ua.NTFY_AS_STATE_CHANGE, m3ua.NTFY_AS_INACTIVE))
        elif kind == m3ua.ASPSM_UP_ACK and self.client:
            self._set_state("up")
            mode = _TRAFFIC_MODES[self.config.traffic_mode]
            await self.send(m3ua.encode_aspac(mode, self._routing_contexts))
        elif kind == m3ua.ASPTM_ACTIVE:
            await self._aspac(message)
        elif kind == m3ua.ASPTM_ACTIVE_ACK and self.client:
            self._set_state("active")
            log.info("%s: ASP active (routing contexts %s)", self.name, message.uint32_list(TAG_ROUTING_CONTEXT))
        elif kind == m3ua.ASPTM_INACTIVE:
            self._set_state("up")
            await self.send(m3ua.encode_aspia_ack(message.uint32_list(TAG_ROUTING_CONTEXT)))
        elif kind == m3ua.ASPSM_DOWN:
            self._set_state("down")
            await self.send(m3ua.encode_aspdn_ack())
        elif kind == m3ua.MGMT_NTFY:
            status = message.first(TAG_STATUS) or b""
            log.info("%s: NTFY status %s", self.name, status.hex())
        elif kind == m3ua.MGMT_ERR:
            code = message.uint32(TAG_ERROR_CODE)
            self.metrics.association_errors.labels(self.name, "received", str(code)).inc()
            log.warning("%s: peer reported M3UA error %s", self.name, code)
        elif kind == m3ua.SSNM_DAUD and not self.client:
            # an ASP audits the destinations behind us: the gateway itself is always available
            affected = message.first(TAG_AFFECTED_POINT_CODE)
            if affected:
                await self.send(m3ua.encode_dava(affected, message.uint32_list(TAG_ROUTING_CONTEXT)))
        elif kind in (m3ua.SSNM_DUNA, m3ua.SSNM_DAVA, m3ua.ASPTM_INACTIVE_ACK, m3ua.ASPSM_DOWN_ACK):
            log.info("%s: %s", self.name, message.name)
        elif message.message_class in (0, 1, 2, 3, 4, 9):
            await self._send_err(m3ua.ERR_UNSUPPORTED_MESSAGE_TYPE)
        else:
            await self._send_err(m3ua.ERR_UNSUPPORTED_MESSAGE_CLASS)

    async def _aspac(self, message: M3uaMessage) -> None:
        requested = message.uint32_list(TAG_ROUTING_CONTEXT)
        configured = set(self.config.routing_contexts)
        if configured and requested and not set(requested) <= configured:
            await self._send_err(m3ua.ERR_INVALID_ROUTING_CONTEXT)
            return
        if self.state == "down":
            await self._send_err(m3ua.ERR_UNEXPECTED_MESSAGE)
            return
        self._routing_contexts = requested or list(self.config.routing_contexts)
        self._set_state("active")
        await self.send(m3ua.encode_aspac_ack(message.uint32(TAG_TRAFFIC_MODE), requested))
        await self.send(m3ua.encode_ntfy(m3ua.NTFY_AS_STATE_CHANGE, m3ua.NTFY_AS_ACTIVE, requested))
        log.info("%s: ASP active (routing contexts %s)", self.name, requested)

    async def _data(self, message: M3uaMessage) -> None:
        if self.state != "active":
            await self._send_err(m3ua.ERR_UNEXPECTED_MESSAGE)
            return
        assert message.protocol_data is not None
        routing_context = message.uint32(TAG_ROUTING_CONTEXT)
        self._pending.append((self.on_data(message.protocol_data, time.time()), routing_context))

    async def _flush_answers(self) -> None:
        pending, self._pending = self._pending, []
        encoded: list[bytes] = []
        for answers_future, routing_context in pending:
            try:
                answers = await answers_future
            except Exception as exc:  # the spool failed: send nothing, the peer's timers retransmit
                log.error("%s: message not accepted: %s", self.name, exc)
                continue
            encoded.extend(m3ua.encode_data(answer, routing_context=routing_context) for answer in answers)
        if encoded:
            self.writer.write(b"".join(encoded))  # one send for the group, not one per answer
        if pending:
            await self.writer.drain()


class AssociationManager:
    """Runs the configured associations: servers accept any number of peers, clients reconnect with backoff."""

    def __init__(self, configs: list[AssociationConfig], on_data: DataHandler, metrics: Metrics) -> None:
        self.configs = configs
        self.on_data = on_data
        self.metrics = metrics
        self.sessions: list[M3uaSession] = []
        self.bound_ports: dict[str, int] = {}
        self._servers: list[asyncio.base_events.Server] = []
        self._tasks: list[asyncio.Task] = []
        self._next_session = -1

    async def start(self) -> None:
        for config in self.configs:
            if config.role == "server":
                await self._serve(config)
            else:
                self._tasks.append(asyncio.create_task(self._client_loop(config), name=f"m3ua-{config.name}"))

    async def stop(self) -> None:
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
        """Send one MTP3 user message the gateway originates (MAP client side) on an active association:
        one of `names` (association config names) when given, else any, client associations (toward an
        SG/STP) first; load-shared round robin. False when none is active."""
        candidates = [s for s in self.sessions if s.state == "active" and (not names or s.config.name in names)]
        if not candidates:
            return False
        if not names and any(s.client for s in candidates):
            candidates = [s for s in candidates if s.client]
        self._next_session = (self._next_session + 1) % len(candidates)
        session = candidates[self._next_session]
        routing_context = session.routing_contexts[0] if session.routing_contexts else None
        await session.send(m3ua.encode_data(data, routing_context=routing_context))
        return True

    def states(self) -> dict[str, str]:
        states: dict[str, str] = {c.name: "down" for c in self.configs if c.role == "client"}
        for session in self.sessions:
            states[session.name] = session.state
        return states

    async def _serve(self, config: AssociationConfig) -> None:
        transport = choose_transport(config)
        sock = _socket(transport)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((config.host, config.port))
        sock.listen(16)
        sock.setblocking(False)
        counter = 0

        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal counter
            counter += 1
            peer = writer.get_extra_info("peername")
            name = f"{config.name}#{counter}"
            log.info("%s: %s connection from %s", name, transport.upper(), peer)
            session = M3uaSession(name, config, reader, writer, self.on_data, self.metrics, client=False)
            self.sessions.append(session)
            try:
                await session.run()
            except (ConnectionError, OSError) as exc:
                log.info("%s: connection lost: %s", name, exc)
            finally:
                self.sessions.remove(session)

        server = await asyncio.start_server(accepted, sock=sock)
        self._servers.append(server)
        self.bound_ports[config.name] = sock.getsockname()[1]
        log.info("%s: listening on %s:%s (%s)", config.name, config.host, self.bound_ports[config.name], transport)

    async def _client_loop(self, config: AssociationConfig) -> None:
        delay = config.reconnect_initial_s
        while True:
            try:
                transport = choose_transport(config)
                sock = _socket(transport)
                sock.setblocking(False)
                loop = asyncio.get_running_loop()
                try:
                    await loop.sock_connect(sock, (config.host, config.port))
                except BaseException:
                    sock.close()
                    raise
                reader, writer = await asyncio.open_connection(sock=sock)
                log.info("%s: connected to %s:%s (%s)", config.name, config.host, config.port, transport)
                delay = config.reconnect_initial_s
                session = M3uaSession(config.name, config, reader, writer, self.on_data, self.metrics, client=True)
                self.sessions.append(session)
                try:
                    await session.run()
                finally:
                    self.sessions.remove(session)
                log.warning("%s: association closed by the peer", config.name)
            except asyncio.CancelledError:
                raise
            except OSError as exc:
                log.warning(
                    "%s: connect failed: %s (retry in %.1fs)", config.name, os.strerror(exc.errno or 0) or exc, delay
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, config.reconnect_max_s)
