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
