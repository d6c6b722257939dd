"""Python handle on the local SMSC (node-smpp, a third-party SMPP 3.4 server) for tests, benchmarks, demo.

    with LocalSmsc(system_id="mcn", password="secret") as smsc:
        ...  # point the layer at smsc.host / smsc.port
        smsc.throttle_next(2)
        submits = smsc.wait_for_submits(3)
        smsc.send_receipt(submits[0].message_id)

The SMSC runs as a node subprocess on a free 127.0.0.1 port; commands go as JSON lines on
its stdin and are acknowledged; everything it sees comes back as JSON lines on stdout,
collected by a reader thread.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SMSC_SCRIPT = Path(__file__).with_name("smsc.js")
REPO_ROOT = Path(__file__).resolve().parents[3]

ESME_RTHROTTLED = 0x58
ESME_RMSGQFUL = 0x14


class SmscError(RuntimeError):
    """The local SMSC could not start, or refused a control command."""


@dataclass(frozen=True)
class ReceivedSubmit:
    """A submit_sm exactly as the SMSC decoded it off the socket."""

    session: int
    sequence: int
    source_addr: str
    source_addr_ton: int
    source_addr_npi: int
    destination_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    esm_class: int
    registered_delivery: int
    data_coding: int
    short_message: bytes
    message_payload: bytes | None
    #: text as node-smpp decoded it (its own GSM/UCS-2 decoder; None when it could not)
    node_text: str | None
    #: SMSC message id when accepted; None for faulted submits
    message_id: str | None
    #: command_status the SMSC answered with; None when it did not answer
    status: int | None
    #: "status", "licence_exceeded", "no_response", "generic_nack", "held_for_disconnect" or None
    fault: str | None

    @property
    def udh(self) -> bytes:
        from mcn_smpp.gsm0338 import split_udh

        return split_udh(self.body_with_udh, self.esm_class)[0]

    @property
    def body_with_udh(self) -> bytes:
        return self.message_payload if self.message_payload is not None else self.short_message

    @property
    def text(self) -> str:
        """Text decoded by the layer's codec (the UDH's national shift IE honoured)."""
        from mcn_smpp.gsm0338 import decode_body, split_udh

        udh, body = split_udh(self.body_with_udh, self.esm_class)
        return decode_body(body, self.data_coding, udh)

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> ReceivedSubmit:
        payload_hex = event.get("message_payload_hex")
        return cls(
            session=event["session"],
            sequence=event["sequence"],
            source_addr=event.get("source_addr") or "",
            source_addr_ton=event.get("source_addr_ton") or 0,
            source_addr_npi=event.get("source_addr_npi") or 0,
            destination_addr=event.get("destination_addr") or "",
            dest_addr_ton=event.get("dest_addr_ton") or 0,
            dest_addr_npi=event.get("dest_addr_npi") or 0,
            esm_class=event.get("esm_class") or 0,
            registered_delivery=event.get("registered_delivery") or 0,
            data_coding=event.get("data_coding") or 0,
            short_message=bytes.fromhex(event.get("short_message_hex") or ""),
            message_payload=bytes.fromhex(payload_hex) if payload_hex else None,
            node_text=event.get("node_text"),
            message_id=event.get("message_id"),
            status=event.get("status"),
            fault=event.get("fault"),
        )


@dataclass
class _Acks:
    condition: threading.Condition = field(default_factory=threading.Condition)
    replies: dict[int, dict[str, Any]] = field(default_factory=dict)


class SmscEvents:
    """What an SMSC test peer saw (bind, submit_sm, deliver_sm_resp, ...), and waiting for it.

    Shared by every SMSC the tests run against (node-smpp here, smpp34 in the tests), so a test
    reads the same events and waits the same way whichever SMSC it talks to.
    """

    def __init__(self) -> None:
        self._events: list[dict[str, Any]] = []
        self._events_changed = threading.Condition()

    def _record(self, event: dict[str, Any]) -> None:
        with self._events_changed:
            self._events.append(event)
            self._events_changed.notify_all()

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every event so far (ready, connect, bind, submit_sm, enquire_link, unbind, close, ...)."""
        with self._events_changed:
            return [e for e in self._events if kind is None or e["event"] == kind]

    def wait_for_event(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        seen = 0
        with self._events_changed:
            while True:
                for event in self._events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self._events)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._events_changed.wait(remaining)

    def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._events_changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._events_changed.wait(min(remaining, 0.2))
        return True

    @property
    def submits(self) -> list[ReceivedSubmit]:
        """Every submit_sm received so far, in arrival order."""
        return [ReceivedSubmit.from_event(e) for e in self.events("submit_sm")]

    def wait_for_submits(self, count: int, timeout: float = 10.0) -> list[ReceivedSubmit]:
        """Block until at least ``count`` submits arrived (generous timeout, never a hang)."""
        self.wait_until(lambda: len(self.events("submit_sm")) >= count, timeout)
        return self.submits

    def binds(self) -> list[dict[str, Any]]:
        return self.events("bind")

    def deliver_sm_responses(self) -> list[dict[str, Any]]:
        return self.events("deliver_sm_resp")

    def clear(self) -> None:
        """Forget the events so far (the SMSC state is unchanged)."""
        with self._events_changed:
            self._events.clear()


class LocalSmsc(SmscEvents):
    """A real SMPP 3.4 SMSC on loopback with run-time fault injection."""

    def __init__(
        self,
        *,
        system_id: str | None = None,
        password: str | None = None,
        latency_ms: int = 0,
        port: int = 0,
        node: str | None = None,
        start_timeout: float = 15.0,
    ) -> None:
        self.system_id = system_id
        self.password = password
        self.host = "127.0.0.1"
        self.port = port
        self._latency_ms = latency_ms
        self._node = node or shutil.which("node") or "node"
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        super().__init__()
        self._acks = _Acks()
        self._command_ids = itertools.count(1)
        self._stdin_lock = threading.Lock()
        self.stderr_tail: list[str] = []

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> LocalSmsc:
        command = [
            self._node,
            str(SMSC_SCRIPT),
            "--port",
            str(self.port),
            "--latency-ms",
            str(self._latency_ms),
        ]
        if self.system_id is not None:
            command += ["--system-id", self.system_id]
        if self.password is not None:
            command += ["--password", self.password]
        env = dict(os.environ)
        env.setdefault("MCN_NODE_MODULES", str(REPO_ROOT / "node_modules"))
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
                env=env,
            )
        except FileNotFoundError as error:
            raise SmscError(f"cannot start the local SMSC: node not found ({error})") from error
        self._reader = threading.Thread(target=self._read_events, name="local-smsc-events", daemon=True)
        self._reader.start()
        threading.Thread(target=self._read_stderr, name="local-smsc-stderr", daemon=True).start()
        ready = self.wait_for_event(lambda e: e["event"] in ("ready", "fatal"), timeout=self._start_timeout)
        if ready is None or ready["event"] != "ready":
            self.stop()
            raise SmscError(f"local SMSC did not start: {ready or 'timeout'}; stderr: {self.stderr_tail[-5:]}")
        self.port = int(ready["port"])
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.stdin:
                process.stdin.close()  # smsc.js exits when its control channel closes
            process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait(timeout=5)
        if self._reader is not None:
            self._reader.join(timeout=5)

    def __enter__(self) -> LocalSmsc:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # -- events ------------------------------------------------------------------------------
    def _read_events(self) -> None:
        process = self._process
        assert process is not None and process.stdout is not None
        for line in process.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("event") == "ack":
                with self._acks.condition:
                    self._acks.replies[event.get("id")] = event
                    self._acks.condition.notify_all()
                continue
            self._record(event)

    def _read_stderr(self) -> None:
        process = self._process
        if process is None or process.stderr is None:
            return
        for line in process.stderr:
            self.stderr_tail = [*self.stderr_tail[-50:], line.rstrip()]

    # -- control -----------------------------------------------------------------------------
    def command(self, cmd: str, timeout: float = 10.0, **arguments: Any) -> dict[str, Any]:
        """Send a control command and wait for its acknowledgement."""
        process = self._process
        if process is None or process.stdin is None:
            raise SmscError("local SMSC is not running")
        command_id = next(self._command_ids)
        line = json.dumps({"id": command_id, "cmd": cmd, **arguments})
        with self._stdin_lock:
            process.stdin.write(line + "\n")
            process.stdin.flush()
        deadline = time.monotonic() + timeout
        with self._acks.condition:
            while command_id not in self._acks.replies:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SmscError(f"local SMSC did not acknowledge {cmd!r}")
                self._acks.condition.wait(remaining)
            reply = self._acks.replies.pop(command_id)
        if reply.get("error"):
            raise SmscError(f"local SMSC refused {cmd!r}: {reply['error']}")
        return reply

    def throttle_next(self, count: int = 1) -> None:
        """Answer the next ``count`` submits with ESME_RTHROTTLED (0x58)."""
        self.command("throttle", count=count)

    def queue_full_next(self, count: int = 1) -> None:
        """Answer the next ``count`` submits with ESME_RMSGQFUL (0x14)."""
        self.command("queue_full", count=count)

    def reply_status_next(self, status: int, count: int = 1) -> None:
        """Answer the next ``count`` submits with any command_status (e.g. 0x0B invalid dest)."""
        self.command("status", status=status, count=count)

    def drop_next(self, count: int = 1) -> None:
        """Never answer the next ``count`` submits."""
        self.command("drop", count=count)

    def generic_nack_next(self, count: int = 1) -> None:
        """Answer the next ``count`` submits with generic_nack (ESME_RINVCMDLEN)."""
        self.command("generic_nack", count=count)

    def generic_nack_zero_next(self, count: int = 1) -> None:
        """Answer the next ``count`` submits with generic_nack carrying sequence number 0 (broken session)."""
        self.command("generic_nack_zero", count=count)

    def disconnect_with_inflight(self, count: int) -> None:
        """Hold the next ``count`` submits unanswered, then drop every connection holding one."""
        self.command("disconnect_inflight", count=count)

    def reject_binds(self, status: int, count: int = 1) -> None:
        """Refuse the next ``count`` binds with ``status`` (e.g. 0x0D bind failed)."""
        self.command("reject_bind", status=status, count=count)

    def set_latency(self, milliseconds: int) -> None:
        """Delay every submit_sm_resp by ``milliseconds``."""
        self.command("latency", ms=milliseconds)

    def set_tps_limit(self, tps: float | None) -> None:
        """Licence: above ``tps`` (1 s of burst), submits are answered ESME_RTHROTTLED. None lifts it."""
        self.command("tps_limit", tps=tps)

    def unbind_all(self, session: int | None = None) -> int:
        """SMSC-initiated unbind on every bound session (or one); returns how many."""
        arguments = {} if session is None else {"session": session}
        return int(self.command("unbind", **arguments)["sessions"])

    def disconnect_all(self) -> int:
        """Drop every TCP connection without an unbind."""
        return int(self.command("disconnect")["sessions"])

    def send_receipt(
        self,
        message_id: str,
        stat: str = "DELIVRD",
        *,
        err: str | None = None,
        text_only: bool = False,
        tlv_only: bool = False,
        vendor_tlv: bool = True,
        session: int | None = None,
        esm_class: int | None = None,
    ) -> dict[str, Any]:
        """deliver_sm receipt (esm_class 0x04) for ``message_id`` on the session that submitted it.

        By default it carries both the receipted_message_id/message_state TLVs and the
        ``id:... stat:...`` text, plus an unknown vendor TLV (0x1501) the client must tolerate.
        """
        arguments: dict[str, Any] = {
            "message_id": message_id,
            "stat": stat,
            "text_only": text_only,
            "tlv_only": tlv_only,
            "vendor_tlv": vendor_tlv,
        }
        if err is not None:
            arguments["err"] = err
        if esm_class is not None:
            arguments["esm_class"] = esm_class  # e.g. 0: receipts of SMSCs that do not flag them
        if session is not None:
            arguments["session"] = session
        return self.command("receipt", **arguments)

    def auto_receipts(self, stat: str | None = "DELIVRD", delay_ms: int = 0) -> None:
        """From now on, send a receipt with ``stat`` for every accepted submit that asked for one
        (registered_delivery); ``None`` turns it off."""
        self.command("auto_receipt", stat=stat, delay_ms=delay_ms)

    def send_mo(self, source_addr: str, destination_addr: str, body: bytes, data_coding: int = 0) -> dict[str, Any]:
        """Mobile-originated deliver_sm (e.g. a STOP keyword) to a bound receiver/transceiver."""
        return self.command(
            "mo",
            source_addr=source_addr,
            destination_addr=destination_addr,
            short_message_hex=body.hex(),
            data_coding=data_coding,
        )

    def stats(self) -> dict[str, Any]:
        """Counters: submits, accepted, throttled, licenceThrottled, binds, unbinds, sessions."""
        return self.command("stats")

    def reset_faults(self) -> None:
        self.command("reset")
