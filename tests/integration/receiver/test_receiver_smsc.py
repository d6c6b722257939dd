"""mcn-receiver against a real SMSC (node-smpp): spooling before deliver_sm_resp, forwarding, restart, rebind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from receiver_kit import PASSWORD, forwarded, receiver_config, wait_for

from mcn_devkit.smsc import LocalSmsc
from mcn_edge.spool import Spool
from mcn_edge.targets import FileTarget, TransientForwardError
from mcn_receiver.service import Receiver
from mcn_smpp import SmppConfig


def _smpp(smsc: LocalSmsc) -> SmppConfig:
    return SmppConfig.build(host=smsc.host, port=smsc.port, system_id="mcn", password=PASSWORD, system_type="MCNRCV")


@pytest.fixture
def fresh(smsc: LocalSmsc) -> Iterator[LocalSmsc]:
    smsc.reset_faults()
    smsc.clear()
    yield smsc


def test_receipt_and_mo_are_spooled_then_forwarded(fresh: LocalSmsc, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with Receiver(receiver_config(tmp_path), _smpp(fresh)) as receiver:
        assert receiver.wait_bound()
        healthy, details = receiver.health()
        assert healthy and details["binds"] >= 1
        fresh.send_receipt("abc123", stat="UNDELIV", err="027")
        fresh.send_mo("447911123456", "62226", b"Stop")
        fresh.send_mo("447911123456", "62226", "İptal".encode("utf-16-be"), data_coding=8)
        events = wait_for(lambda: len(forwarded(out)) >= 3 and forwarded(out))
        assert receiver.status()["spooled"] == {"receipt": 1, "mo": 2}
        assert receiver.metrics.value("mcn_receiver_events_total", {"kind": "mo"}) == 2
    receipt, stop, iptal = sorted(events, key=lambda e: (e["kind"] != "receipt", e["received_at"]))
    assert receipt["message_id"] == "abc123" and receipt["state"] == "UNDELIV" and receipt["final"] is True
    assert receipt["error_code"] == "027" and datetime.fromisoformat(receipt["done_at"]).utcoffset() == timedelta(0)
    assert (stop["source"], stop["destination"], stop["text"]) == ("447911123456", "62226", "Stop")
    assert iptal["text"] == "İptal" and iptal["data_coding"] == 8
    assert stop["message_ref"] < iptal["message_ref"]  # arrival order, as the function requires
    responses = fresh.deliver_sm_responses()
    assert len(responses) == 3 and {r["status"] for r in responses} == {0}


def test_a_deliver_sm_that_cannot_be_spooled_is_refused_so_the_smsc_redelivers(
    fresh: LocalSmsc, tmp_path: Path, monkeypatch
) -> None:
    with Receiver(receiver_config(tmp_path), _smpp(fresh)) as receiver:
        assert receiver.wait_bound()

        def broken(items):
            raise OSError("disk full")

        monkeypatch.setattr(receiver.spool, "append", broken)
        fresh.send_mo("447911123456", "62226", b"HELP")
        response = wait_for(lambda: fresh.deliver_sm_responses())
        assert response[0]["status"] == 0x64  # ESME_RX_T_APPN: temporary, the SMSC tries again
        assert receiver.counts["spool_errors"] == 1
        assert receiver.metrics.value("mcn_receiver_spool_errors_total") == 1


class _Down:
    name = "lambda:down"

    def send(self, events: list[dict]) -> list[dict]:
        raise TransientForwardError("endpoint unreachable")


def test_nothing_is_lost_while_the_function_is_unreachable_or_the_receiver_restarts(
    fresh: LocalSmsc, tmp_path: Path
) -> None:
    config = receiver_config(tmp_path, drain_timeout_s=0)
    with Receiver(config, _smpp(fresh), target=_Down()) as receiver:
        assert receiver.wait_bound()
        for n in range(3):
            fresh.send_receipt(f"id-{n}")
        wait_for(lambda: len(fresh.deliver_sm_responses()) == 3)
        assert {r["status"] for r in fresh.deliver_sm_responses()} == {0}  # acknowledged: they are on disk
    assert Spool(config.spool_path).depth("receipt") == 3
    out = tmp_path / "out.jsonl"
    with Receiver(config, _smpp(fresh), target=FileTarget(out)) as restarted:
        wait_for(lambda: len(forwarded(out)) == 3)
        wait_for(lambda: restarted.spool.depth() == 0)
    assert [e["message_id"] for e in forwarded(out)] == ["id-0", "id-1", "id-2"]


def test_the_bind_comes_back_after_the_smsc_drops_it(fresh: LocalSmsc, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with Receiver(receiver_config(tmp_path), _smpp(fresh)) as receiver:
        assert receiver.wait_bound()
        binds = len(fresh.binds())
        fresh.disconnect_all()
        wait_for(lambda: len([b for b in fresh.binds() if b["status"] == 0]) > binds)
        assert receiver.wait_bound()
        fresh.send_mo("447911123456", "62226", b"START")
        assert wait_for(lambda: forwarded(out))[0]["text"] == "START"


class _NotYetKnown:
    """Answers "retry" for a receipt the first time it sees it, as the function does for a young unknown id."""

    name = "lambda:fake"

    def __init__(self) -> None:
        self.calls: list[list[dict]] = []

    def send(self, events: list[dict]) -> list[dict]:
        self.calls.append(events)
        seen_before = [e["message_id"] for batch in self.calls[:-1] for e in batch]
        return [
            {"index": i, "outcome": "applied" if e["message_id"] in seen_before else "retry"}
            if e["message_id"] == "early"
            else {"index": i, "outcome": "applied"}
            for i, e in enumerate(events)
        ]


def test_a_receipt_answered_retry_is_resent_alone_later_without_holding_up_others(
    fresh: LocalSmsc, tmp_path: Path
) -> None:
    target = _NotYetKnown()
    config = receiver_config(tmp_path, retry_receipt_after_s=0.5)
    with Receiver(config, _smpp(fresh), target=target) as receiver:
        assert receiver.wait_bound()
        fresh.send_receipt("early")
        wait_for(lambda: target.calls)
        fresh.send_receipt("later")
        wait_for(lambda: any(e["message_id"] == "later" for batch in target.calls for e in batch))
        wait_for(lambda: len([b for b in target.calls if b[0]["message_id"] == "early"]) == 2)
        wait_for(lambda: receiver.spool.depth() == 0)
    first, *rest = target.calls
    assert [e["message_id"] for e in first] == ["early"]
    later = next(b for b in rest if b[0]["message_id"] == "later")
    retried = next(b for b in rest if b[0]["message_id"] == "early")
    assert target.calls.index(later) < target.calls.index(retried)  # "later" did not wait for "early"
    assert retried[0]["attempt"] == 1 and retried[0]["retry_at"] > 0
    assert receiver.counts["deferred"] == 1
    assert receiver.metrics.value("mcn_receiver_deferred_total") == 1


def _get(port: int, path: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_healthz_and_metrics_over_http(fresh: LocalSmsc, tmp_path: Path) -> None:
    with Receiver(receiver_config(tmp_path, http_host="127.0.0.1", http_port=0), _smpp(fresh)) as receiver:
        assert receiver.wait_bound() and receiver.http is not None
        port = receiver.http.port
        status, body = wait_for(lambda: (reply := _get(port, "/healthz"))[0] == 200 and reply)
        assert json.loads(body)["binds"] >= 1
        fresh.send_receipt("http-1", stat="DELIVRD")
        # a labelled counter's HELP line shows before any sample: wait for the sample itself
        wait_for(lambda: 'mcn_receiver_events_total{kind="receipt"}' in _get(port, "/metrics")[1])
        status, metrics = _get(port, "/metrics")
        assert status == 200
        assert 'mcn_receiver_events_total{kind="receipt"} 1.0' in metrics
        assert "mcn_receiver_binds 1.0" in metrics
        assert "mcn_gateway_" not in metrics  # its own names, not the gateway's
    # stopped: the port is closed with the service
    with pytest.raises(OSError):
        _get(port, "/healthz")


def test_unbound_receiver_is_unhealthy(tmp_path: Path) -> None:
    nobody = SmppConfig.build(host="127.0.0.1", port=1, system_id="mcn", password=PASSWORD, connect_timeout_s=0.2)
    with Receiver(receiver_config(tmp_path, http_host="127.0.0.1", http_port=0), nobody) as receiver:
        assert receiver.http is not None
        status, body = _get(receiver.http.port, "/healthz")
        assert status == 503 and json.loads(body)["binds"] == 0
        assert "mcn_receiver_binds 0.0" in _get(receiver.http.port, "/metrics")[1]


def test_a_taken_port_fails_the_start_before_binding(fresh: LocalSmsc, tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        receiver = Receiver(
            receiver_config(tmp_path, http_host="127.0.0.1", http_port=taken.getsockname()[1]), _smpp(fresh)
        )
        with pytest.raises(OSError):
            receiver.start()
        assert receiver.pool is None and receiver.spool is None
