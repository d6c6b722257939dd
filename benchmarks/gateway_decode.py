"""Gateway decode benchmark: the gateway's decode path vs naive pycrate, and end-to-end events/s.

Corpus (mixed): ISUP IAMs (CFNRc, CLIR), MAP alertServiceCentre v2/v3, and every M3UA message of
the public MAP capture (updateLocation, SRI-SM, sendAuthenticationInfo, insertSubscriberData...).

- naive: what straightforward pycrate use does: fresh pycrate objects for every message and a full
  decode of every layer (M3UA with the Network Appearance fix, SCCP, the whole TCAP-MAP-Message with
  MAP arguments, or the ISUP message).
- gateway: the production path (reused prototypes, TCAP envelope first, MAP arguments decoded only
  for the operations the gateway acts on), from M3UA bytes to validated-ready event dicts.
- end-to-end: IAMs over TCP on loopback to a running gateway; every REL comes back only after the
  event is committed to the SQLite spool, so RELs/s = events/s into the spool.

Run: .venv/bin/python benchmarks/gateway_decode.py   (about a minute)
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path

from pycrate_mobile import ISUP as pycrate_isup
from pycrate_mobile import M3UA as pycrate_m3ua
from pycrate_mobile.SCCP import parse_SCCP

from mcn_devkit.sigtran import ScriptedPeer, build_alert_service_centre, build_iam, m3ua_data
from mcn_devkit.sigtran.builders import HLR_PC, MSC_PC, PLATFORM_GT, ROUTING_CONTEXT
from mcn_devkit.sigtran.local import loopback_config
from mcn_gateway.app import GatewayThread
from mcn_gateway.config import FirewallConfig, SignallingConfig
from mcn_gateway.metrics import Metrics
from mcn_gateway.pcap import iter_sctp_data
from mcn_gateway.processor import SignallingProcessor
from mcn_gateway.protocol import m3ua, tcap
from mcn_gateway.protocol.isup import PRESENTATION_RESTRICTED
from mcn_gateway.protocol.m3ua import _fixed_instance

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "tests" / "unit" / "gateway" / "captures" / "pycrate_pcapr_tcapmap.pcap"


def corpus() -> list[bytes]:
    messages = []
    for cic in range(1, 41):
        presentation = PRESENTATION_RESTRICTED if cic % 4 == 0 else 0
        messages.append(m3ua_data(5, build_iam(cic, caller_presentation=presentation), opc=MSC_PC))
    for otid in range(1, 21):
        messages.append(m3ua_data(3, build_alert_service_centre(otid=otid, version=2 + otid % 2), opc=HLR_PC))
    messages += [p.data for p in iter_sctp_data(CAPTURE) if p.ppid == 3]
    return messages


def naive_decode(buf: bytes) -> object:
    message = _fixed_instance(pycrate_m3ua.M3UAMsgDispatcher[(buf[2], buf[3])])
    message.from_bytes(buf)
    data = message[1].get_prm_first(pycrate_m3ua.M3UATag.ProtocolData)
    si, payload = data[2].get_val(), data[6].get_val()
    if si == 5:
        isup_message, error = pycrate_isup.parse_ISUP(payload)
        return isup_message.get_val() if not error else None
    sccp_message, error = parse_SCCP(payload)
    if error:
        return None
    user_data = sccp_message["Data"][1].get_val()
    if not isinstance(user_data, bytes):
        return None
    try:
        return tcap.decode_full(user_data)
    except Exception:  # segmented XUDTs cannot decode either way
        return None


def rate(label: str, function, messages: list[bytes], minimum_s: float) -> float:
    count, started = 0, time.perf_counter()
    while True:
        for message in messages:
            function(message)
        count += len(messages)
        elapsed = time.perf_counter() - started
        if elapsed >= minimum_s:
            break
    per_second = count / elapsed
    print(f"  {label:<44} {per_second:>10,.0f} msg/s  ({count} messages in {elapsed:.1f}s)")
    return per_second


def end_to_end(calls: int) -> float:
    with tempfile.TemporaryDirectory() as workdir, GatewayThread(loopback_config(Path(workdir))) as gateway:  # noqa: SIM117
        with ScriptedPeer.connect("127.0.0.1", gateway.association_port("msc")) as peer:
            peer.bring_up(routing_context=ROUTING_CONTEXT)
            iams = [m3ua_data(5, build_iam(cic % 4000 + 1), opc=MSC_PC) for cic in range(calls)]
            started = time.perf_counter()
            peer.send(b"".join(iams))
            for _ in range(calls):
                peer.expect(m3ua.TRANSFER_DATA, timeout=60)
            elapsed = time.perf_counter() - started
    per_second = calls / elapsed
    print(
        f"  {'IAM over TCP -> event in the spool -> REL':<44} {per_second:>10,.0f} events/s ({calls} in {elapsed:.1f}s)"
    )
    return per_second


def main() -> int:
    logging.disable(logging.WARNING)  # the capture's rejected opcodes would log one line each
    messages = corpus()
    print(
        f"corpus: {len(messages)} M3UA messages (40 IAM, 20 alertServiceCentre, {len(messages) - 60} from the capture)"
    )
    signalling = SignallingConfig(point_code=1001, platform_gt=PLATFORM_GT)
    passive = SignallingProcessor(signalling, FirewallConfig(), Metrics(), passive=True)
    active = SignallingProcessor(signalling, FirewallConfig(), Metrics())
    decoder = m3ua.M3uaDecoder()

    def gateway_decode(buf: bytes) -> object:
        return passive.handle(decoder.decode(buf).protocol_data, 0.0)

    def gateway_answer(buf: bytes) -> object:
        return active.handle(decoder.decode(buf).protocol_data, 0.0)

    print("decode, single thread (= per core):")
    naive = rate("naive pycrate (fresh objects, full decode)", naive_decode, messages, 8)
    fast = rate("gateway decode path (passive: events only)", gateway_decode, messages, 8)
    answered = rate("gateway, active (events + REL/End encoded)", gateway_answer, messages, 8)
    print(f"  speed-up: {fast / naive:.1f}x decode, {answered / naive:.1f}x with answers (target >= 10x)")
    print("end to end:")
    end_to_end(2000)
    ok = fast / naive >= 10 and fast >= 5000
    print("targets met" if ok else "TARGETS NOT MET (>= 10x and >= 5,000 msg/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
