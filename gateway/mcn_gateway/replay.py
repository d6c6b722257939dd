"""Passive mode: decode a capture (SCTP/M3UA, and M2PA for ISUP/SCCP) and emit the same events, answering nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pycrate_mobile.SIGTRAN import M2PA, MTP3

from .metrics import Metrics
from .pcap import SCTP_PPID_M2PA, SCTP_PPID_M3UA, iter_sctp_data
from .processor import Event, SignallingProcessor
from .protocol import DecodeError, m3ua
from .protocol.m3ua import ProtocolData

log = logging.getLogger("mcn_gateway.replay")

M2PA_CLASS = 11
M2PA_USER_DATA = 1


class M2paDecoder:
    """M2PA (RFC 4165) user data -> MTP3 (ITU, 14-bit point codes) -> Protocol Data."""

    def __init__(self) -> None:
        self._m2pa = M2PA()
        self._mtp3 = MTP3()

    def decode(self, buf: bytes) -> ProtocolData | None:
        """None for link status messages (no user data)."""
        if len(buf) < 16 or buf[2] != M2PA_CLASS:
            raise DecodeError("m2pa", "not an M2PA message")
        if buf[3] != M2PA_USER_DATA or len(buf) <= 17:
            return None
        try:
            self._m2pa.from_bytes(buf)
            user_data = self._m2pa[2].get_alt()["Data"].get_val()
            self._mtp3.from_bytes(user_data[: MTP3._SZ])
        except Exception as exc:
            raise DecodeError("m2pa", str(exc)) from exc
        if len(user_data) < MTP3._SZ:
            raise DecodeError("mtp3", "routing label truncated")
        mtp3 = self._mtp3
        return ProtocolData(
            opc=mtp3["OPC"].get_val(),
            dpc=mtp3["DPC"].get_val(),
            si=mtp3["ServiceInd"].get_val(),
            ni=mtp3["SubServiceInd"].get_val(),
            mp=0,
            sls=mtp3["SLS"].get_val(),
            data=user_data[MTP3._SZ :],
        )


@dataclass
class ReplayStats:
    packets: int = 0
    m3ua_messages: int = 0
    m2pa_messages: int = 0
    data_messages: int = 0
    decode_errors: int = 0
    events: list[Event] = field(default_factory=list)


def iter_protocol_data(path: str | Path, metrics: Metrics, stats: ReplayStats) -> Iterator[tuple[ProtocolData, float]]:
    m3ua_decoder = m3ua.M3uaDecoder()
    m2pa_decoder = M2paDecoder()
    for payload in iter_sctp_data(path):
        stats.packets += 1
        data = payload.data
        ppid = payload.ppid
        if ppid not in (SCTP_PPID_M3UA, SCTP_PPID_M2PA) and len(data) >= 8:
            ppid = SCTP_PPID_M2PA if data[2] == M2PA_CLASS else SCTP_PPID_M3UA  # PPID 0 is common in captures
        try:
            if ppid == SCTP_PPID_M3UA:
                stats.m3ua_messages += 1
                message = m3ua_decoder.decode(data)
                metrics.messages.labels("m3ua", message.name).inc()
                if message.protocol_data is not None:
                    stats.data_messages += 1
                    yield message.protocol_data, payload.timestamp
            elif ppid == SCTP_PPID_M2PA:
                stats.m2pa_messages += 1
                protocol_data = m2pa_decoder.decode(data)
                if protocol_data is not None:
                    stats.data_messages += 1
                    yield protocol_data, payload.timestamp
        except DecodeError as exc:
            stats.decode_errors += 1
            metrics.decode_errors.labels(exc.layer).inc()
            log.warning("frame %s: %s", payload.frame, exc)


def replay_capture(
    path: str | Path,
    processor: SignallingProcessor,
    progress: Callable[[Iterator[tuple[ProtocolData, float]]], Iterable[tuple[ProtocolData, float]]] | None = None,
) -> ReplayStats:
    """Decode every signalling message in the capture with a passive processor; collect the events.

    `progress` wraps the message stream (the CLI draws a bar on a terminal).
    """
    if not processor.passive:
        raise ValueError("replay needs a passive processor (it must not answer)")
    stats = ReplayStats()
    errors_before = _errors(processor.metrics)
    messages = iter_protocol_data(path, processor.metrics, stats)
    for protocol_data, timestamp in progress(messages) if progress else messages:
        stats.events.extend(processor.handle(protocol_data, timestamp).events)
    stats.events.extend(processor.flush())  # calls the capture does not show answered or released
    stats.decode_errors = int(_errors(processor.metrics) - errors_before)
    return stats


def _errors(metrics: Metrics) -> float:
    total = 0.0
    for metric in metrics.decode_errors.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                total += sample.value
    return total
