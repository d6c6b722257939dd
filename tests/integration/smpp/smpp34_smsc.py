"""A second, independent test SMSC: smpp34's server (Rust SMPP 3.4 codec and sessions, PyPI).

It shares no code with node-smpp (the other test SMSC) nor with smpplib/mcn_smpp: PDUs are
framed, decoded and answered by smpp34's own Rust core; this harness only scripts what its
Python API lets a server decide, with the same method names as the node-smpp harness:

    with Smpp34Smsc() as smsc:
        smsc.throttle_next(2)
        submits = smsc.wait_for_submits(3)
        smsc.send_receipt(submits[0].message_id, esm_class=0)

What smpp34's server API cannot be scripted to do (so those tests run on node-smpp only):
refuse a bind or check a password (it accepts every bind), answer with generic_nack,
drop a TCP connection, and report enquire_link traffic (its core answers enquire_link itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import smpp34

from mcn_devkit.ports import free_port
from mcn_devkit.smsc.harness import SmscEvents

ESME_ROK = 0x00
ESME_RMSGQFUL = 0x14
ESME_RTHROTTLED = 0x58
TLV_MESSAGE_PAYLOAD = 0x0424
VENDOR_TLV_TAG = 0x1501
MESSAGE_STATES = {"ENROUTE": 1, "DELIVRD": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIV": 5, "ACCEPTD": 6, "UNKNOWN": 7}
#: how long a deliver_sm waits for a bound receiving session to be listed (see _deliver)
SESSION_WAIT_S = 30

#: what this SMSC can be scripted to do (tests that need anything else run on node-smpp only)
CAPABILITIES = frozenset(
    {"status", "drop", "latency", "tps_limit", "receipts", "mo", "auto_receipts", "smsc_unbind", "dialect_receipts"}
)


class Smpp34Error(RuntimeError):
    pass


def _smpp_date(moment: float) -> str:
    return time.strftime("%y%m%d%H%M", time.gmtime(moment))


class Smpp34Smsc(SmscEvents):
    """smpp34.Server on a free 127.0.0.1 port, run by an asyncio loop in a thread of its own."""

    name = "smpp34"
    capabilities = CAPABILITIES

    def __init__(self, *, latency_ms: int = 0) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self._latency_ms = latency_ms
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        super().__init__()
        self._sessions: dict[str, Any] = {}  # smpp34 session id -> Esme
        self._session_numbers: dict[str, int] = {}
        self._owners: dict[str, tuple[str, str, str]] = {}  # message id -> (session, source, destination)
        self._held: list[Any] = []  # submits left unanswered on purpose
        self._next_message_id = 1
        self._reset_faults()
        self._stats = {"submits": 0, "accepted": 0, "throttled": 0, "licenceThrottled": 0}

    def _reset_faults(self) -> None:
        self._status_queue: list[list[int]] = []  # [status, count]
        self._drop = 0
        self._latency = self._latency_ms
        self._tps: float | None = None
        self._tokens = 0.0
        self._tokens_at = 0.0
        self._auto_receipt: str | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Smpp34Smsc:
        self.port = free_port()
        self._thread = threading.Thread(target=self._run, name="smpp34-smsc", daemon=True)
        self._thread.start()
        if not self._ready.wait(15) or self._failure is not None:
            raise Smpp34Error(f"smpp34 SMSC did not start: {self._failure!r}")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as error:  # reported to start() or logged in the events
            self._failure = error
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._server = smpp34.Server(host=self.host, port=self.port, system_id="smpp34-smsc")
        await self._server.start()
        self._ready.set()
        while True:
            event = await self._server.next()
            if isinstance(event, smpp34.Esme):
                number = self._session_numbers.setdefault(event.session_id, len(self._session_numbers) + 1)
                self._sessions[event.session_id] = event
                self._emit({"event": "bind", "session": number, "system_id": event.system_id, "status": 0})
            elif isinstance(event, smpp34.SubmitSmEvent):
                self._on_submit(event)
            elif isinstance(event, smpp34.Unbound):
                self._sessions.pop(event.session_id, None)
                self._emit({"event": "unbind", "session": self._session_numbers.get(event.session_id)})

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            self._call(self._server.stop(), timeout=5)
        for task in asyncio.all_tasks(loop) if not loop.is_closed() else ():
            loop.call_soon_threadsafe(task.cancel)
        thread.join(timeout=5)
        self._loop = self._thread = None

    def __enter__(self) -> Smpp34Smsc:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _call(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        if self._loop is None:
            raise Smpp34Error("smpp34 SMSC is not running")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    # -- submits -----------------------------------------------------------------------------
    def _take_status(self) -> int | None:
        while self._status_queue:
            head = self._status_queue[0]
            if head[1] > 0:
                head[1] -= 1
                return head[0]
            self._status_queue.pop(0)
        return None

    def _licence_allows(self) -> bool:
        if not self._tps:
            return True
        now = time.monotonic()
        self._tokens = min(self._tps, self._tokens + (now - self._tokens_at) * self._tps)
        self._tokens_at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def _on_submit(self, event: Any) -> None:
        self._stats["submits"] += 1
        payload = next((tlv.value for tlv in event.tlvs if tlv.tag == TLV_MESSAGE_PAYLOAD), None)
        record: dict[str, Any] = {
            "event": "submit_sm",
            "session": self._session_numbers.get(event.session_id, 0),
            "sequence": 0,  # not exposed by smpp34's server API
            "source_addr": event.source_addr,
            "source_addr_ton": event.source_addr_ton,
            "source_addr_npi": event.source_addr_npi,
            "destination_addr": event.destination_addr,
            "dest_addr_ton": event.dest_addr_ton,
            "dest_addr_npi": event.dest_addr_npi,
            "esm_class": event.esm_class,
            "registered_delivery": event.registered_delivery,
            "data_coding": event.data_coding,
            "short_message_hex": bytes(event.short_message).hex(),
            "message_payload_hex": bytes(payload).hex() if payload is not None else None,
            "node_text": None,
        }
        if self._drop > 0:
            self._drop -= 1
            self._held.append(event)  # never answered (dropping it would make smpp34 answer RSYSERR)
            record["fault"] = "no_response"
            self._emit(record)
            return
        status = self._take_status()
        if status is None and not self._licence_allows():
            status = ESME_RTHROTTLED
            record["fault"] = "licence_exceeded"
            self._stats["licenceThrottled"] += 1
        elif status is not None:
            record["fault"] = "status"
        if status is not None:
            record["status"] = status
            self._stats["throttled"] += status == ESME_RTHROTTLED
            self._emit(record)
            self._answer(event, lambda: event.reject(status))
            return
        message_id = f"s34-{self._next_message_id:08d}"
        self._next_message_id += 1
        self._owners[message_id] = (event.session_id, event.source_addr, event.destination_addr)
        record.update(message_id=message_id, status=ESME_ROK)
        self._stats["accepted"] += 1
        self._emit(record)
        self._answer(event, lambda: event.accept(message_id))
        if self._auto_receipt and event.registered_delivery & 0x03:
            stat = self._auto_receipt
            asyncio.get_running_loop().call_later(
                self._latency / 1000 + 0.001,
                lambda: asyncio.ensure_future(self._send_receipt(message_id, stat, vendor_tlv=False)),
            )

    def _answer(self, event: Any, respond: Callable[[], None]) -> None:
        if self._latency > 0:
            self._held.append(event)
            asyncio.get_running_loop().call_later(self._latency / 1000, respond)
        else:
            respond()

    # -- deliver_sm ----------------------------------------------------------------------------
    def _receiving_session(self, session_id: str | None) -> Any:
        esme = self._sessions.get(session_id) if session_id else None
        if esme is None or not esme.can_receive:
            esme = next((e for e in self._sessions.values() if e.can_receive), None)
        return esme

    async def _deliver(self, session_id: str | None, fields: dict[str, Any], kind: str) -> dict[str, Any]:
        # The library answers the bind before this loop has taken the bind event, so a client can
        # be bound (warm_up returned) a moment before its session is listed here: wait for it.
        deadline = asyncio.get_running_loop().time() + SESSION_WAIT_S
        while (esme := self._receiving_session(session_id)) is None:
            if asyncio.get_running_loop().time() > deadline:
                raise Smpp34Error("no bound receiver/transceiver session")
            await asyncio.sleep(0.02)
        number = self._session_numbers.get(esme.session_id)
        self._emit({"event": "deliver_sm", "kind": kind, "session": number})
        try:
            response = await esme.deliver_sm(**fields)
            status = response.command_status
        except smpp34.SmppError as error:  # the client answered with an error status
            status = _status_from_error(error)
        self._emit({"event": "deliver_sm_resp", "session": number, "status": status})
        return {"session": number, "status": status}

    async def _send_receipt(
        self,
        message_id: str,
        stat: str,
        *,
        err: str | None = None,
        text_only: bool = False,
        tlv_only: bool = False,
        vendor_tlv: bool = True,
        esm_class: int = 0x04,
    ) -> dict[str, Any]:
        session_id, source, destination = self._owners.get(message_id, (None, "", ""))
        now = time.time()
        error_code = err or ("000" if stat == "DELIVRD" else "001")
        text = (
            f"id:{message_id} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} "
            f"submit date:{_smpp_date(now)} done date:{_smpp_date(now)} stat:{stat} err:{error_code} text:"
        )
        tlvs = []
        if not text_only:
            tlvs.append(smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, message_id.encode("ascii") + b"\x00"))
            tlvs.append(smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, bytes([MESSAGE_STATES.get(stat, 7)])))
        if vendor_tlv:
            tlvs.append(smpp34.Tlv(VENDOR_TLV_TAG, b"vendor"))
        fields = {
            "destination_addr": source,
            "short_message": b"" if tlv_only else text.encode("latin-1"),
            "source_addr": destination,
            "esm_class": esm_class,
            "data_coding": 0,
            "tlvs": tlvs,
        }
        return await self._deliver(session_id, fields, "receipt")

    # -- control (same names as the node-smpp harness) ---------------------------------------
    def throttle_next(self, count: int = 1) -> None:
        self._status_queue.append([ESME_RTHROTTLED, count])

    def queue_full_next(self, count: int = 1) -> None:
        self._status_queue.append([ESME_RMSGQFUL, count])

    def reply_status_next(self, status: int, count: int = 1) -> None:
        self._status_queue.append([status, count])

    def drop_next(self, count: int = 1) -> None:
        self._drop += count

    def set_latency(self, milliseconds: int) -> None:
        self._latency = milliseconds

    def set_tps_limit(self, tps: float | None) -> None:
        self._tps = tps or None
        self._tokens = float(tps or 0)
        self._tokens_at = time.monotonic()

    def auto_receipts(self, stat: str | None = "DELIVRD", delay_ms: int = 0) -> None:
        self._auto_receipt = stat

    def reset_faults(self) -> None:
        self._reset_faults()

    def send_receipt(
        self,
        message_id: str,
        stat: str = "DELIVRD",
        *,
        err: str | None = None,
        text_only: bool = False,
        tlv_only: bool = False,
        vendor_tlv: bool = True,
        esm_class: int | None = None,
    ) -> dict[str, Any]:
        """deliver_sm receipt like the node-smpp harness's; ``esm_class`` (default 0x04) for dialects."""
        return dict(
            self._call(
                self._send_receipt(
                    message_id,
                    stat,
                    err=err,
                    text_only=text_only,
                    tlv_only=tlv_only,
                    vendor_tlv=vendor_tlv,
                    esm_class=0x04 if esm_class is None else esm_class,
                )
            )
        )

    def send_mo(self, source_addr: str, destination_addr: str, body: bytes, data_coding: int = 0) -> dict[str, Any]:
        fields = {
            "destination_addr": destination_addr,
            "short_message": body,
            "source_addr": source_addr,
            "esm_class": 0,
            "data_coding": data_coding,
        }
        return dict(self._call(self._deliver(None, fields, "mo"), timeout=SESSION_WAIT_S + 30))

    def unbind_all(self) -> int:
        async def unbind() -> int:
            sessions = list(self._sessions.items())
            for session_id, esme in sessions:
                self._emit({"event": "smsc_unbind", "session": self._session_numbers.get(session_id)})
                await esme.unbind()
                self._emit({"event": "unbind_resp", "session": self._session_numbers.get(session_id), "status": 0})
            return len(sessions)

        return int(self._call(unbind()))

    def stats(self) -> dict[str, Any]:
        return {**self._stats, "sessions": len(self._sessions)}

    # -- events ------------------------------------------------------------------------------
    def _emit(self, event: dict[str, Any]) -> None:
        self._record(event)


def _status_from_error(error: Exception) -> int:
    """smpp34 reports an error response as e.g. 'ESME_RX_T_APPN (0x00000064)'."""
    text = str(error)
    start = text.rfind("(0x")
    if start >= 0:
        with contextlib.suppress(ValueError):
            return int(text[start + 1 : text.index(")", start)], 16)
    return -1
