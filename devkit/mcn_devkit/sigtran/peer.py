"""A scripted SG / MSC / HLR peer speaking real M3UA over TCP (blocking sockets, one reader thread).

Used by the integration tests, the demo and the benchmark:

    peer = ScriptedPeer.connect("127.0.0.1", gateway_port)   # MSC/HLR as ASP/IPSP toward the gateway
    peer.bring_up(routing_context=100)                      # ASPUP -> ACK, ASPAC -> ACK
    peer.send(iam_data); rel = peer.expect(m3ua.TRANSFER_DATA)

or, as an SG the gateway (role "client") connects to:

    sg = ScriptedPeer.listen(); port = sg.port; ...; sg.accept(); sg.serve_asp_handshake()
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
from dataclasses import dataclass
from typing import Self

from mcn_gateway.protocol import m3ua

from .builders import ROUTING_CONTEXT, SUBSCRIBER, scenario_messages

DEFAULT_TIMEOUT_S = 10.0


class PeerTimeout(AssertionError):
    pass


class ScriptedPeer:
    def __init__(self, sock: socket.socket | None = None, listener: socket.socket | None = None) -> None:
        self._listener = listener
        self._sock: socket.socket | None = None
        self._inbox: queue.Queue[bytes | None] = queue.Queue()
        self._send_lock = threading.Lock()  # the reader thread answers BEATs: one writer at a time
        self._decoder = m3ua.M3uaDecoder()
        self._reader: threading.Thread | None = None
        self.received: list[m3ua.M3uaMessage] = []
        if sock is not None:
            self._attach(sock)

    # --- connection -------------------------------------------------------------------------------------

    @classmethod
    def connect(cls, host: str, port: int, timeout: float = DEFAULT_TIMEOUT_S) -> ScriptedPeer:
        return cls(socket.create_connection((host, port), timeout=timeout))

    @classmethod
    def listen(cls, host: str = "127.0.0.1", port: int = 0) -> ScriptedPeer:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(4)
        return cls(listener=listener)

    @property
    def port(self) -> int:
        assert self._listener is not None
        return self._listener.getsockname()[1]

    def accept(self, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        assert self._listener is not None
        self._listener.settimeout(timeout)
        sock, _ = self._listener.accept()
        if self._sock is not None:
            self._sock.close()
        self._inbox = queue.Queue()
        self._attach(sock)

    def _attach(self, sock: socket.socket) -> None:
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._reader = threading.Thread(target=self._read_loop, args=(sock, self._inbox), daemon=True)
        self._reader.start()

    def _read_loop(self, sock: socket.socket, inbox: queue.Queue) -> None:
        framer = m3ua.FrameReader()
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                for message in framer.feed(chunk):
                    if message[2:4] == b"\x03\x03":  # BEAT: answered at once, as every M3UA peer must
                        with self._send_lock:
                            sock.sendall(message[:3] + b"\x06" + message[4:])  # BEAT_ACK echoes the data
                    inbox.put(message)
        except OSError:
            pass
        inbox.put(None)

    def drop(self) -> None:
        """Drop the current connection (a FIN the other side sees), keep listening."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None

    def close(self) -> None:
        self.drop()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()

    def __enter__(self) -> ScriptedPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- traffic ----------------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        assert self._sock is not None, "not connected"
        with self._send_lock:
            self._sock.sendall(data)

    def recv(self, timeout: float = DEFAULT_TIMEOUT_S) -> m3ua.M3uaMessage:
        try:
            raw = self._inbox.get(timeout=timeout)
        except queue.Empty:
            raise PeerTimeout(f"nothing received within {timeout}s") from None
        if raw is None:
            self._inbox.put(None)
            raise ConnectionError("the gateway closed the association")
        message = self._decoder.decode(raw)
        self.received.append(message)
        return message

    def expect(self, kind: tuple[int, int], timeout: float = DEFAULT_TIMEOUT_S) -> m3ua.M3uaMessage:
        """Next message of that kind; NTFY and other management messages on the way are kept in `received`."""
        while True:
            message = self.recv(timeout)
            if message.kind == kind:
                return message
            if message.kind in (m3ua.TRANSFER_DATA, m3ua.MGMT_ERR):
                # an unexpected answer means the scenario went wrong: fail loudly rather than skip it
                raise AssertionError(f"expected {m3ua.MESSAGE_NAMES.get(kind)}, got {message.name}")

    def bring_up(self, routing_context: int | None = None, asp_id: int = 1) -> None:
        """Act as the ASP: ASPUP -> ASPUP_ACK, ASPAC -> ASPAC_ACK."""
        contexts = [routing_context] if routing_context is not None else []
        self.send(m3ua.encode_aspup(asp_id))
        self.expect(m3ua.ASPSM_UP_ACK)
        self.send(m3ua.encode_aspac(m3ua.TRAFFIC_MODE_LOADSHARE, contexts))
        self.expect(m3ua.ASPTM_ACTIVE_ACK)

    def serve_asp_handshake(self, timeout: float = DEFAULT_TIMEOUT_S) -> list[int]:
        """Act as the SG: answer the gateway's ASPUP and ASPAC; return the routing contexts it asked for."""
        up = self.expect(m3ua.ASPSM_UP, timeout)
        self.send(m3ua.encode_aspup_ack(up.uint32(0x0011)))
        active = self.expect(m3ua.ASPTM_ACTIVE, timeout)
        contexts = active.uint32_list(0x0006)
        mode = active.uint32(0x000B)
        self.send(m3ua.encode_aspac_ack(mode, contexts))
        self.send(m3ua.encode_ntfy(m3ua.NTFY_AS_STATE_CHANGE, m3ua.NTFY_AS_ACTIVE, contexts))
        return contexts


@dataclass(frozen=True)
class ScenarioResult:
    """What the gateway answered to `scenario_bytes`: one REL per IAM, one TCAP End per alert."""

    releases: int
    tcap_ends: int
    answers: list[m3ua.M3uaMessage]


def play_scenario(
    host: str,
    port: int,
    subscriber: str = SUBSCRIBER,
    routing_context: int | None = ROUTING_CONTEXT,
    timeout: float = 30.0,
    **scenario: object,
) -> ScenarioResult:
    """Connect to a gateway's server association as the MSC/HLR (IPSP), play the demo story
    (ASPUP, ASPAC, several IAMs to one subscriber incl. a withheld caller and repeated attempts,
    then alertServiceCentre) and collect the answers."""
    iams, alerts = scenario_messages(subscriber=subscriber, routing_context=routing_context, **scenario)
    with ScriptedPeer.connect(host, port, timeout=timeout) as peer:
        peer.bring_up(routing_context=routing_context)
        peer.send(b"".join(iams + alerts))
        answers = [peer.expect(m3ua.TRANSFER_DATA, timeout) for _ in range(len(iams) + len(alerts))]
    releases = sum(1 for a in answers if a.protocol_data is not None and a.protocol_data.si == m3ua.SI_ISUP)
    return ScenarioResult(releases=releases, tcap_ends=len(answers) - releases, answers=answers)


class ScriptedNode:
    """A scripted network element (HLR, MSC) answering on a ScriptedPeer from a thread of its own;
    `start()`/`stop()` or `with`. Subclasses call `_init_thread(name)` and implement `_run()`."""

    _thread: threading.Thread
    _stop: threading.Event

    def _init_thread(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
