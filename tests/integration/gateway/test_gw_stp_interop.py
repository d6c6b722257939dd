"""The gateway against a strict STP written directly on pycrate (tests/integration/gateway/pycrate_stp.py):
provisioning by IP and port, AS state from NTFY, heartbeat timeout, STP restart, backoff against an STP
that accepts and closes, DUNA/DAVA/SCON per destination, odd-length GTs with either filler, IAMs that
are not missed calls."""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pycrate_stp as stp
import pytest

from mcn_devkit.ports import free_port
from mcn_devkit.sigtran.local import loopback_config, read_jsonl, wait_for
from mcn_gateway.app import GatewayThread

pytestmark = pytest.mark.integration

RC = 100
GATEWAY_PC = 1001
MSC_PC = 2001
STP_PC = 4001
PLATFORM_GT = "447700900000"
PLATFORM_NUMBER = "447700999000"
SUBSCRIBER = "447911123456"


def client_association(stp_port: int, local_port: int | None, **overrides: object) -> dict:
    return {
        "name": "stp",
        "role": "client",
        "host": "127.0.0.1",
        "port": stp_port,
        "transport": "tcp",
        "local_host": "127.0.0.1",
        "local_port": local_port,
        "routing_contexts": [RC],
        "asp_id": 7,
        "heartbeat_interval_s": 0.5,
        "heartbeat_timeout_s": 3,  # generous: a loaded CI machine must not look like a frozen STP
        "handshake_timeout_s": 10,
        "reconnect_initial_s": 0.05,
        "reconnect_max_s": 0.4,
        "reconnect_reset_after_s": 1.0,
        **overrides,
    }


def gateway_config(tmp_path: Path, association: dict, **sections: dict):
    config = loopback_config(tmp_path, extra_associations=[association], registration=sections.get("registration"))
    signalling = {"platform_numbers": [], **sections.get("signalling", {})}
    firewall = sections.get("firewall")
    update = {"signalling": config.signalling.model_copy(update=signalling)}
    if "http" in sections:
        update["http"] = config.http.model_copy(update=sections["http"])
    if firewall is not None:
        update["firewall"] = config.firewall.model_copy(update=firewall)
    return config.model_copy(update=update)


def health(gateway: GatewayThread) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{gateway.http_port}/healthz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def state(gateway: GatewayThread) -> str:
    return gateway.gateway.associations.states().get("stp", "down")


def state_metric(gateway: GatewayThread) -> float:
    return gateway.metrics.value("mcn_gateway_association_state", {"association": "stp"})


def send_iam(peer: stp.PycrateStp, cic: int, **kwargs: object) -> None:
    peer.send(stp.data(MSC_PC, GATEWAY_PC, 5, stp.iam(cic, **kwargs), RC, sls=cic % 16))


def next_release(peer: stp.PycrateStp) -> tuple[int, int]:
    answer = peer.expect((1, 1)).protocol_data()
    assert (answer["OPC"], answer["DPC"], answer["SI"]) == (GATEWAY_PC, MSC_PC, 5)
    return stp.release_cause(answer["Data"])


# --- provisioning -------------------------------------------------------------------------------------


def test_strict_stp_accepts_only_the_provisioned_ip_and_port(tmp_path: Path):
    local_port = free_port()
    with stp.PycrateStp(asp_address=("127.0.0.1", local_port)) as peer:
        # a gateway connecting from a random port is refused by the STP, again and again: never active
        unprovisioned = gateway_config(tmp_path / "a", client_association(peer.port, None))
        with GatewayThread(unprovisioned) as gateway:
            wait_for(lambda: len(peer.rejected) >= 2, "the STP to refuse the unprovisioned ASP twice")
            assert state(gateway) == "down"
            status, body = health(gateway)
            assert status == 503 and body["associations"]["stp"]["traffic"] is False
        # http.require_traffic = false: still reported, but /healthz stays 200 (orchestrators that restart)
        reporting_only = gateway_config(
            tmp_path / "c", client_association(peer.port, None), http={"require_traffic": False}
        )
        with GatewayThread(reporting_only) as gateway:
            status, body = health(gateway)
            assert status == 200 and body["status"] == "no association carries traffic"
        assert all(port != local_port for _host, port in peer.rejected)

        # from the provisioned port it is accepted and carries traffic
        provisioned = gateway_config(tmp_path / "b", client_association(peer.port, local_port))
        with GatewayThread(provisioned) as gateway:
            aspac = peer.wait_active()
            assert aspac.routing_contexts() == [RC]
            wait_for(lambda: state(gateway) == "active", "the association to carry traffic")
            assert peer.connections[-1][0] == ("127.0.0.1", local_port)
            send_iam(peer, 12, called=PLATFORM_NUMBER, original_called=SUBSCRIBER, redirecting_reason=6)
            assert next_release(peer) == (12, 20)
            status, body = health(gateway)
            assert status == 200 and body["associations"]["stp"]["state"] == "active"
            assert state_metric(gateway) == 2


# --- AS state from NTFY -------------------------------------------------------------------------------


def test_traffic_flows_only_once_the_stp_notifies_as_active(tmp_path: Path):
    local_port = free_port()
    with stp.PycrateStp(asp_address=("127.0.0.1", local_port), as_state=None) as peer:
        config = gateway_config(tmp_path, client_association(peer.port, local_port))
        with GatewayThread(config) as gateway:
            peer.wait_active()
            # ASPAC_ACK alone: the STP put the ASP in no active AS ("Unable to route ... the AS is down")
            wait_for(lambda: state(gateway) == "asp-active", "ASPAC acknowledged")
            status, body = health(gateway)
            assert status == 503 and body["status"] == "no association carries traffic"
            assert body["associations"]["stp"]["as"] == {str(RC): "inactive"}
            assert state_metric(gateway) == 1

            peer.send(stp.ntfy(stp.AS_ACTIVE, [RC]))
            wait_for(lambda: state(gateway) == "active", "NTFY AS-ACTIVE to make the association carry traffic")
            assert health(gateway)[0] == 200 and state_metric(gateway) == 2
            labels = {"association": "stp", "routing_context": str(RC)}
            assert gateway.metrics.value("mcn_gateway_as_state", labels) == 2

            peer.send(stp.ntfy(stp.AS_PENDING, [RC]))
            wait_for(lambda: state(gateway) == "asp-active", "NTFY AS-PENDING")
            assert gateway.metrics.value("mcn_gateway_as_state", labels) == 1
            assert health(gateway)[0] == 503

            peer.send(stp.ntfy(stp.AS_ACTIVE, [RC]))
            wait_for(lambda: state(gateway) == "active", "AS active again")
            peer.send(stp.ntfy(2, [RC], status_type=2))  # Other: alternate ASP active (override)
            wait_for(lambda: state(gateway) == "up", "the ASP to be inactive after alternate ASP active")
            assert health(gateway)[0] == 503


# --- heartbeat, restart, backoff ----------------------------------------------------------------------


def test_a_stp_that_stops_answering_beat_is_declared_down_and_reconnected(tmp_path: Path):
    local_port = free_port()
    with stp.PycrateStp(asp_address=("127.0.0.1", local_port)) as peer:
        config = gateway_config(tmp_path, client_association(peer.port, local_port))
        with GatewayThread(config) as gateway:
            wait_for(lambda: state(gateway) == "active", "active")
            peer.expect((3, 3))  # BEATs flow and are answered
            connections = len(peer.connections)
            peer.answer_beat = False  # frozen: the TCP connection stays open, nothing answers
            failures = {"association": "stp", "reason": "heartbeat_timeout"}
            wait_for(lambda: gateway.metrics.value("mcn_gateway_association_failures_total", failures) >= 1, "timeout")
            peer.answer_beat = True
            wait_for(lambda: len(peer.connections) > connections, "the gateway to reconnect")
            wait_for(lambda: state(gateway) == "active", "active again after the reconnect")
            assert peer.connections[-1][0] == ("127.0.0.1", local_port)  # the same provisioned port


def test_stp_restart_brings_the_association_back_on_the_same_port(tmp_path: Path):
    local_port = free_port()
    peer = stp.PycrateStp(asp_address=("127.0.0.1", local_port))
    port = peer.port
    config = gateway_config(tmp_path, client_association(port, local_port))
    with GatewayThread(config) as gateway:
        wait_for(lambda: state(gateway) == "active", "active")
        peer.close()
        wait_for(lambda: state(gateway) == "down", "down while the STP is away")
        with stp.PycrateStp(asp_address=("127.0.0.1", local_port), port=port) as restarted:
            started = time.monotonic()
            restarted.wait_active()
            wait_for(lambda: state(gateway) == "active", "active on the restarted STP")
            print(f"\nactive again {time.monotonic() - started:.2f} s after the STP came back")
            send_iam(restarted, 3, called=PLATFORM_NUMBER, original_called=SUBSCRIBER, redirecting_reason=1)
            assert next_release(restarted) == (3, 20)
            [call] = wait_for(lambda: read_jsonl(tmp_path / "missed_calls.jsonl"), "the missed call")
    assert call["reason"] == "busy"


def test_backoff_grows_against_a_stp_that_accepts_then_closes(tmp_path: Path):
    with stp.PycrateStp(asp_address=None, close_on_accept=True) as peer:
        config = gateway_config(tmp_path, client_association(peer.port, None))
        with GatewayThread(config):
            wait_for(lambda: len(peer.connections) >= 7, "seven connection attempts", timeout_s=60)
    times = [at for _peer, at in peer.connections]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    print(f"\nconnect gaps against an STP that accepts then closes: {[round(g, 2) for g in gaps]} s")
    # 0.05, 0.1, 0.2, 0.4, 0.4 s (±10% jitter): a connect that succeeds does not reset the backoff
    assert gaps[4] >= 0.4 * 0.9 - 0.01 and gaps[5] >= 0.4 * 0.9 - 0.01, gaps


# --- destinations -------------------------------------------------------------------------------------


def test_no_registration_dialogue_toward_a_point_code_the_stp_reports_unavailable(tmp_path: Path):
    local_port = free_port()
    registration = {
        "enabled": True,
        "dpc": STP_PC,
        "max_attempts": 1,
        "retry_initial_s": 0.1,
        "claim_ttl_s": 60,
        "dialogue_timeout_s": 2,
        "failure_holdoff_s": 0,
    }
    with stp.PycrateStp(asp_address=("127.0.0.1", local_port)) as peer:
        config = gateway_config(tmp_path, client_association(peer.port, local_port), registration=registration)
        with GatewayThread(config) as gateway:
            wait_for(lambda: state(gateway) == "active", "active")
            peer.send(stp.duna([STP_PC]))
            wait_for(lambda: health(gateway)[1]["associations"]["stp"]["unavailable_destinations"] == ["4001"], "DUNA")
            assert gateway.metrics.value("mcn_gateway_destinations_unavailable", {"association": "stp"}) == 1
            send_iam(peer, 1, called=PLATFORM_NUMBER, original_called=SUBSCRIBER, redirecting_reason=6)
            assert next_release(peer) == (1, 20)
            no_route = {"reason": "no_route"}
            wait_for(lambda: gateway.metrics.value("mcn_gateway_mwd_registrations_failed_total", no_route) == 1, "no")
            sccp_sent = [m for m in peer.log if m.kind == (1, 1) and m.protocol_data()["SI"] == 3]
            assert sccp_sent == []  # no SRI-SM went toward the unavailable point code

            peer.send(stp.dava([STP_PC]))
            wait_for(lambda: health(gateway)[1]["associations"]["stp"]["unavailable_destinations"] == [], "DAVA")
            send_iam(peer, 2, called=PLATFORM_NUMBER, original_called="447911654321", redirecting_reason=6)
            assert next_release(peer) == (2, 20)
            sri_sm = peer.expect((1, 1)).protocol_data()  # the SRI-SM Begin now goes out
            assert (sri_sm["DPC"], sri_sm["SI"]) == (STP_PC, 3)
            _called, _calling, tcap = stp.parse_udt(sri_sm["Data"])
            assert stp.tcap_kind(tcap)[0] == "begin"

            peer.send(stp.scon([STP_PC], level=2))
            wait_for(lambda: health(gateway)[1]["associations"]["stp"]["congested_destinations"] == [STP_PC], "SCON")
            peer.send(stp.dava([STP_PC]))
            wait_for(lambda: health(gateway)[1]["associations"]["stp"]["congested_destinations"] == [], "abated")


# --- global titles ------------------------------------------------------------------------------------


@pytest.mark.parametrize("filler", [0x0, 0xF])
def test_odd_length_calling_gt_keeps_its_last_digit_with_either_filler(tmp_path: Path, filler: int):
    hlr_gt = "33600000001"  # 11 digits: the last byte is 0x01 (filler 0) or 0xf1 (filler F)
    local_port = free_port()
    firewall = {"allowed_calling_gt_prefixes": [hlr_gt]}  # the whole GT: a truncated one would be refused
    with stp.PycrateStp(asp_address=("127.0.0.1", local_port)) as peer:
        config = gateway_config(tmp_path, client_association(peer.port, local_port), firewall=firewall)
        with GatewayThread(config) as gateway:
            wait_for(lambda: state(gateway) == "active", "active")
            calling = stp.gt_address(hlr_gt, 6, filler=filler)
            assert calling[-1] == (0xF1 if filler else 0x01)
            begin = stp.alert_service_centre(0x77, SUBSCRIBER, PLATFORM_GT)
            unitdata = stp.udt(stp.gt_address(PLATFORM_GT, 8), calling, begin)
            peer.send(stp.data(3001, GATEWAY_PC, 3, unitdata, RC))
            answer = peer.expect((1, 1)).protocol_data()
            called, _calling, tcap = stp.parse_udt(answer["Data"])
            assert called == calling  # answered to the HLR's own address
            assert stp.tcap_kind(tcap)[0] == "end"
            [event] = wait_for(lambda: read_jsonl(tmp_path / "attach.jsonl"), "the attach event")
    assert event["hlr"] == hlr_gt
    assert event["event_ref"] == f"00000077@{hlr_gt}"


# --- IAMs that are not missed calls -------------------------------------------------------------------


def test_only_calls_diverted_to_the_platform_are_missed_calls(tmp_path: Path):
    local_port = free_port()
    signalling = {"platform_numbers": ["4477009991"], "not_diverted_release_cause": 31}
    with stp.PycrateStp(asp_address=("127.0.0.1", local_port)) as peer:
        config = gateway_config(tmp_path, client_association(peer.port, local_port), signalling=signalling)
        with GatewayThread(config) as gateway:
            wait_for(lambda: state(gateway) == "active", "active")
            send_iam(peer, 1, called="447911000001")  # an ordinary call, no redirection: not ours
            assert next_release(peer) == (1, 31)
            send_iam(peer, 2, called=PLATFORM_NUMBER, original_called=SUBSCRIBER, redirecting_reason=2)
            assert next_release(peer) == (2, 20)
            send_iam(peer, 3, called="4477009991" + "447911222333")  # prefix routing: <routing number><MSISDN>
            assert next_release(peer) == (3, 20)
            wait_for(lambda: len(read_jsonl(tmp_path / "missed_calls.jsonl")) == 2, "two missed calls")
            not_diverted = {"reason": "not_diverted"}
            assert gateway.metrics.value("mcn_gateway_events_suppressed_total", not_diverted) == 1
    calls = read_jsonl(tmp_path / "missed_calls.jsonl")
    assert [(c["subscriber"], c["reason"]) for c in calls] == [
        ("+447911123456", "no_reply"),
        ("+447911222333", "not_reachable"),
    ]
