"""A scripted MSC at the far end of the gateway's flash-call trunk (the demo, e2e tests).

It reads the gateway's ISUP with pycrate's whole-message parse and answers with messages pycrate builds
(`isup_pycrate`), per called number:

    msc = ScriptedMsc(peer, behaviour={"447911123456": "busy"})   # peer: a ScriptedPeer, ASP active
    msc.start(); ...; msc.calls  -> every IAM received, decoded, with the REL that ended it

Behaviours (per called number, digits as in the IAM; else `default`):
- "alert": ACM (subscriber free): B's phone rings; the gateway's REL is answered with RLC
- "answer": ACM, then ANM: B answered; the REL is answered with RLC
- "busy" / "absent": REL cause 17 / 20 (the gateway answers RLC)
- "silent": nothing (the gateway releases at T7)
GRS from the gateway is answered with GRA (nothing blocked), RSC with RLC.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from mcn_gateway.protocol import m3ua
from mcn_gateway.protocol.m3ua import ProtocolData

from . import isup_pycrate as isup
from .peer import PeerTimeout, ScriptedPeer

_CAUSES = {"busy": 17, "absent": 20}


@dataclass
class ReceivedCall:
    """A flash call as the MSC saw it."""

    cic: int
    called: str
    calling: str
    presentation: int  # 0 allowed
    screening: int  # 3 network provided
    iam: bytes
    received_at: float
    release_cause: int | None = None  # of the REL that ended it (either side)
    released_by: str | None = None  # "gateway" or "msc"
    released_at: float | None = None

    def describe(self) -> str:
        presentation = {0: "allowed", 1: "restricted"}.get(self.presentation, str(self.presentation))
        screening = {3: "network provided"}.get(self.screening, str(self.screening))
        return (
            f"IAM cic {self.cic}: called {self.called}, calling {self.calling} "
            f"(presentation {presentation}, screening {screening}); "
            f"REL by {self.released_by or '-'} cause {self.release_cause}"
        )


def _digits(number: Any) -> str:
    digits = str(number["Num"].decode())
    return digits[:-1] if number["OE"].get_val() and digits.endswith(("0", "f", "F")) else digits


@dataclass
class ScriptedMsc:
    peer: ScriptedPeer
    behaviour: dict[str, str] = field(default_factory=dict)
    default: str = "alert"
    point_code: int = 2001
    calls: list[ReceivedCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scripted-msc", daemon=True)
        self._lock = threading.Lock()
        self._by_cic: dict[int, ReceivedCall] = {}

    def start(self) -> ScriptedMsc:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def __enter__(self) -> ScriptedMsc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def released(self) -> list[ReceivedCall]:
        with self._lock:
            return [call for call in self.calls if call.release_cause is not None]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                message = self.peer.recv(timeout=0.1)
            except PeerTimeout:
                continue
            except ConnectionError:
                return
            data = message.protocol_data
            if message.kind != m3ua.TRANSFER_DATA or data is None or data.si != isup.SI_ISUP:
                continue
            try:
                self._isup(data, message.uint32(0x0006))
            except Exception as exc:  # surfaced through `errors`
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def _send(self, received: ProtocolData, payload: bytes, routing_context: int | None) -> None:
        reply = ProtocolData(
            opc=received.dpc, dpc=received.opc, si=isup.SI_ISUP, ni=received.ni, mp=0, sls=received.sls, data=payload
        )
        self.peer.send(m3ua.encode_data(reply, routing_context=routing_context))

    def _isup(self, data: ProtocolData, routing_context: int | None) -> None:
        message = isup.parse(data.data)
        cic, kind = message["CIC"].get_val(), message["Type"].get_val()
        if kind == isup.GRS:
            circuits = message["RangeStatus"][1]["Range"].get_val() + 1
            self._send(data, isup.gra(cic, circuits), routing_context)
        elif kind == isup.RSC:
            self._send(data, isup.rlc(cic), routing_context)
        elif kind == isup.IAM:
            calling = message["Opt"]["CallingPartyNum"][2]
            call = ReceivedCall(
                cic,
                _digits(message["CalledPartyNum"][1]),
                _digits(calling),
                calling["AddrPresInd"].get_val(),
                calling["ScreeningInd"].get_val(),
                data.data,
                time.time(),
            )
            with self._lock:
                self.calls.append(call)
                self._by_cic[cic] = call
            behaviour = self.behaviour.get(call.called, self.default)
            if behaviour in ("alert", "answer"):
                self._send(data, isup.acm(cic), routing_context)
            if behaviour == "answer":
                self._send(data, isup.anm(cic), routing_context)
            if behaviour in _CAUSES:
                self._ended(cic, _CAUSES[behaviour], "msc")
                self._send(data, isup.rel(cic, _CAUSES[behaviour]), routing_context)
        elif kind == isup.REL:
            self._ended(cic, isup.cause_of(message), "gateway")
            self._send(data, isup.rlc(cic), routing_context)

    def _ended(self, cic: int, cause: int, by: str) -> None:
        with self._lock:
            call = self._by_cic.pop(cic, None)
            if call is not None:
                call.release_cause, call.released_by, call.released_at = cause, by, time.time()
