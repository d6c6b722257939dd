"""The real `mcn-gateway run` as a subprocess: SIGTERM (ASPIA, ASPDN, close, drain within the configured
time), start-up errors (exit 2, one line), server-side connection limits and memory."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pycrate_stp as stp
import pytest

from mcn_devkit.ports import free_port
from mcn_devkit.sigtran.local import read_jsonl, wait_for

pytestmark = pytest.mark.integration

GATEWAY = str(Path(sys.executable).parent / "mcn-gateway")
RC = 100


def write_config(tmp_path: Path, associations: list[dict], **forwarding: object) -> tuple[Path, int]:
    http_port = free_port()
    config = {
        "signalling": {"point_code": 1001, "platform_gt": "447700900000"},
        "associations": associations,
        "forwarding": {
            "ingest_target": f"file:{tmp_path / 'missed_calls.jsonl'}",
            "attach_target": f"file:{tmp_path / 'attach.jsonl'}",
            "spool_path": str(tmp_path / "spool.sqlite3"),
            "batch_max_wait_s": 0.05,
            "retry_initial_s": 0.1,
            "retry_max_s": 0.5,
            **forwarding,
        },
        "http": {"host": "127.0.0.1", "port": http_port},
    }
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(config))
    return path, http_port


@contextmanager
def gateway_process(config: Path, http_port: int) -> Iterator[subprocess.Popen]:
    """The gateway's log goes to a file (`<config>.log`): a pipe nobody reads would block it once full."""
    log = config.with_suffix(".log")
    with log.open("w") as stderr:
        process = subprocess.Popen([GATEWAY, "--config", str(config), "run"], stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_for(lambda: _http(http_port, "/metrics") is not None or process.poll() is not None, "HTTP up", 180)
        assert process.poll() is None, log.read_text()
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def stop(process: subprocess.Popen, config: Path) -> str:
    """SIGTERM, wait for the exit (a generous bound), return the log."""
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    return config.with_suffix(".log").read_text()


def _http(port: int, path: str) -> tuple[int, str] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return None


def metric(port: int, name: str) -> float:
    text = (_http(port, "/metrics") or (0, ""))[1]
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


# --- SIGTERM ------------------------------------------------------------------------------------------


def _client(stp_port: int, local_port: int) -> dict:
    return {
        "name": "stp",
        "role": "client",
        "host": "127.0.0.1",
        "port": stp_port,
        "transport": "tcp",
        "local_host": "127.0.0.1",
        "local_port": local_port,
        "routing_contexts": [RC],
        "reconnect_initial_s": 0.1,
        "shutdown_timeout_s": 2,
    }


def test_sigterm_takes_the_asp_inactive_then_down_then_closes_and_drains(tmp_path: Path):
    local_port = free_port()
    with stp.PycrateStp(asp_address=("127.0.0.1", local_port)) as peer:
        config, http_port = write_config(tmp_path, [_client(peer.port, local_port)], batch_max_wait_s=30, batch_size=50)
        with gateway_process(config, http_port) as process:
            peer.wait_active(timeout=180)
            wait_for(lambda: (_http(http_port, "/healthz") or (0,))[0] == 200, "healthy")
            peer.send(
                stp.data(
                    2001, 1001, 5, stp.iam(9, "447700999000", original_called="447911123456", redirecting_reason=6), RC
                )
            )
            peer.expect((1, 1))  # the REL: the event is spooled; the batch would wait 30 s to fill
            assert read_jsonl(tmp_path / "missed_calls.jsonl") == []
            process.send_signal(signal.SIGTERM)
            peer.expect((4, 2))  # ASPIA
            peer.expect((3, 2))  # then ASPDN
            with pytest.raises(ConnectionError):
                peer.expect((0, 0), timeout=30)  # then the connection closes
            err = stop(process, config)
            assert process.returncode == 0, err
        kinds = [m.kind for m in peer.log]
        assert kinds.index((4, 2)) < kinds.index((3, 2))
        assert "Traceback" not in err
    # the spooled call was forwarded during the drain, not left behind
    assert [c["subscriber"] for c in read_jsonl(tmp_path / "missed_calls.jsonl")] == ["+447911123456"]


def test_sigterm_with_an_unreachable_target_stops_after_the_drain_timeout_and_keeps_the_events(tmp_path: Path):
    config, http_port = write_config(
        tmp_path,
        [{"name": "msc", "role": "server", "host": "127.0.0.1", "port": free_port(), "transport": "tcp"}],
        ingest_target="lambda:missing",
        endpoint_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        invoke_timeout_s=1,
        drain_timeout_s=1.5,
    )
    msc_port = json.loads(config.read_text())["associations"][0]["port"]
    with gateway_process(config, http_port) as process:
        with socket.create_connection(("127.0.0.1", msc_port), timeout=10) as sock:
            from pycrate_mobile import M3UA as pm

            sock.sendall(pm.M3UA_ASPUp().to_bytes())
            aspac = pm.M3UA_ASPAct()
            sock.sendall(aspac.to_bytes())
            sock.sendall(
                stp.data(
                    2001,
                    1001,
                    5,
                    stp.iam(4, "447700999000", original_called="447911123456", redirecting_reason=6),
                    None,
                )
            )
            wait_for(lambda: metric(http_port, 'mcn_gateway_events_total{kind="missed_call"}') == 1, "the event")
        err = stop(process, config)
    assert process.returncode == 0, err
    assert "not drained" in err and "Traceback" not in err
    with sqlite3.connect(tmp_path / "spool.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 1  # kept for the next start


# --- start-up errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["spool", "target"])
def test_unwritable_spool_or_file_target_exits_2_with_one_line(tmp_path: Path, what: str):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    overrides = (
        {"spool_path": str(blocker / "spool.sqlite3")}
        if what == "spool"
        else {"ingest_target": f"file:{blocker / 'calls.jsonl'}"}
    )
    config, _http_port = write_config(tmp_path, [], **overrides)
    for command in ("check-config", "run"):
        result = subprocess.run([GATEWAY, "--config", str(config), command], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, (command, result.stderr)
        assert "Traceback" not in result.stderr
        assert "not writable" in result.stderr
        if command == "run":
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# --- server-side limits -------------------------------------------------------------------------------


def _server(port: int, **limits: object) -> dict:
    return {"name": "msc", "role": "server", "host": "127.0.0.1", "port": port, "transport": "tcp", **limits}


def _closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_handshake_timeout_and_connection_cap(tmp_path: Path):
    port = free_port()
    config, http_port = write_config(tmp_path, [_server(port, handshake_timeout_s=1.0, max_connections=5)])
    with gateway_process(config, http_port):
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(5)]
        extra = socket.create_connection(("127.0.0.1", port), timeout=10)
        assert _closed_by_peer(extra, 10)  # the sixth is refused at once
        refused = 'mcn_gateway_connections_refused_total{association="msc",reason="max_connections"}'
        wait_for(lambda: metric(http_port, refused) == 1, "the refusal counted")
        # slowloris: connections that never complete ASPUP/ASPAC are closed after the handshake timeout
        assert all(_closed_by_peer(sock, 20) for sock in idle)
        timeouts = 'mcn_gateway_association_failures_total{association="msc",reason="handshake_timeout"}'
        wait_for(lambda: metric(http_port, timeouts) == 5, "five handshake timeouts")
        for sock in [*idle, extra]:
            sock.close()
        # capacity is back
        again = socket.create_connection(("127.0.0.1", port), timeout=10)
        from pycrate_mobile import M3UA as pm

        again.sendall(pm.M3UA_ASPUp().to_bytes())
        again.settimeout(10)
        assert again.recv(8)[:4] == bytes([1, 0, 3, 4])  # ASPUP_ACK
        again.close()


def test_memory_returns_after_many_connections_close(tmp_path: Path):
    port = free_port()
    connections = 200
    config, http_port = write_config(
        tmp_path, [_server(port, max_connections=connections + 10, handshake_timeout_s=60)]
    )
    from pycrate_mobile import M3UA as pm

    handshake = pm.M3UA_ASPUp().to_bytes() + pm.M3UA_ASPAct().to_bytes()
    with gateway_process(config, http_port) as process:

        def cycle() -> float:
            socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(connections)]
            for sock in socks:
                sock.sendall(handshake)
            active = 'mcn_gateway_association_state{association="msc#'
            wait_for(lambda: metric(http_port, active) == 2 * connections, "all ASPs active", 120)
            peak = rss_mb(process.pid)
            for sock in socks:
                sock.close()
            wait_for(lambda: metric(http_port, active) == 0, "all sessions gone", 120)
            return peak

        cycle()  # warm-up: first-use allocations (pycrate prototypes, metric families, buffers)
        baseline = rss_mb(process.pid)
        rounds = [(cycle(), rss_mb(process.pid)) for _ in range(3)]
    print(
        f"\nRSS with {connections} M3UA connections open and after they closed, 3 rounds after a warm-up "
        f"(baseline {baseline:.1f} MB): "
        + ", ".join(f"peak {peak:.1f} / after {after:.1f} MB" for peak, after in rounds)
    )
    # bounded per connection (it was ~51 MB for 200 and stayed), and closed connections leave nothing behind
    assert all(peak - baseline < 20 for peak, _after in rounds), (baseline, rounds)
    assert rounds[-1][1] - baseline < 5, (baseline, rounds)
