"""/healthz and /metrics over a minimal asyncio HTTP/1.1 server (no web framework needed)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

log = logging.getLogger("mcn_edge.http")

HealthProbe = Callable[[], tuple[bool, dict[str, Any]]]


class HttpServer:
    def __init__(self, host: str, port: int, render_metrics: Callable[[], bytes], health: HealthProbe) -> None:
        self.host = host
        self.port = port
        self.render_metrics = render_metrics
        self.health = health
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            method, _, rest = request.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            if method != "GET":
                status, content_type, body = 405, "text/plain", b"method not allowed\n"
            elif path == "/metrics":
                status, content_type, body = 200, CONTENT_TYPE_LATEST, self.render_metrics()
            elif path == "/healthz":
                healthy, details = self.health()
                status = 200 if healthy else 503
                content_type, body = "application/json", json.dumps(details).encode()
            else:
                status, content_type, body = 404, "text/plain", b"not found\n"
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


class HttpServerThread:
    """The same server on its own event loop thread, for a service that has no asyncio loop (mcn-receiver).

    `start()` returns the bound port (0 = any free port); `stop()` closes the server and ends the thread.
    """

    def __init__(self, host: str, port: int, render_metrics: Callable[[], bytes], health: HealthProbe) -> None:
        self.server = HttpServer(host, port, render_metrics, health)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="edge-http", daemon=True)

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> int:
        self._thread.start()
        return asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(timeout=10)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
