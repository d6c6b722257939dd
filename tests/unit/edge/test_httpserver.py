"""The shared /healthz + /metrics server, over a real socket, run on its own thread (as a service
without an asyncio loop, e.g. mcn-receiver, uses it)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from mcn_edge.httpserver import HttpServerThread
from mcn_edge.metrics import EdgeMetrics


def test_healthz_and_metrics_from_a_thread() -> None:
    metrics = EdgeMetrics("mcn_test")
    metrics.spool_depth.labels("receipt").set(3)
    state = {"healthy": True}
    server = HttpServerThread("127.0.0.1", 0, metrics.render, lambda: (state["healthy"], {"binds": 1}))
    port = server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200 and json.loads(response.read()) == {"binds": 1}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert 'mcn_test_spool_depth{kind="receipt"} 3.0' in response.read().decode()
        state["healthy"] = False
        with pytest.raises(urllib.error.HTTPError) as unhealthy:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert unhealthy.value.code == 503
    finally:
        server.stop()


def _request(port: int, method: str, body: bytes | None = None, host: str = "127.0.0.1") -> tuple[int, dict]:
    request = urllib.request.Request(f"http://{host}:{port}/control", data=body, method=method)
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an HTTP proxy
    try:
        with direct.open(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_control_endpoints_take_json_from_this_host_only() -> None:
    seen: list[tuple[str, object]] = []

    async def control(method: str, body: object) -> tuple[int, object]:
        seen.append((method, body))
        if body == {"boom": True}:
            raise RuntimeError("handler bug")
        return 200, {"ok": method}

    metrics = EdgeMetrics("mcn_test_control")
    server = HttpServerThread("0.0.0.0", 0, metrics.render, lambda: (True, {}), {"/control": control})
    port = server.start()
    try:
        assert _request(port, "POST", b'{"cics": [1, 2]}') == (200, {"ok": "POST"})
        assert _request(port, "GET") == (200, {"ok": "GET"})
        assert seen == [("POST", {"cics": [1, 2]}), ("GET", None)]
        status, answer = _request(port, "POST", b"not json")
        assert status == 400 and "not JSON" in answer["error"]
        status, answer = _request(port, "POST", b'{"boom": true}')
        assert status == 500 and "handler bug" in answer["error"]  # the server goes on
        assert _request(port, "GET") == (200, {"ok": "GET"})
        own_address = _own_address()
        if own_address is None:
            pytest.skip("no non-loopback address on this host to connect from")
        status, answer = _request(port, "POST", b"{}", host=own_address)
        assert status == 403 and "this host only" in answer["error"]
        assert len(seen) == 4  # neither the request that was no JSON nor the refused one reached the handler
    finally:
        server.stop()


def _own_address() -> str | None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: only picks the outgoing interface's address
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address
