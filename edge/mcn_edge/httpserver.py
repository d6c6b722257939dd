"""/healthz and /metrics over a minimal asyncio HTTP/1.1 server (no web framework needed), plus the control
endpoints a service adds (`controls`: the gateway's `/circuits`), answered only to clients on the same host."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

log = logging.getLogger("mcn_edge.http")

HealthProbe = Callable[[], tuple[bool, dict[str, Any]]]
# a control endpoint: (method, JSON body or None) -> (status, JSON answer)
Control = Callable[[str, Any], Awaitable[tuple[int, Any]]]
_MAX_BODY = 64 * 1024
_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _loopback(peer: Any) -> bool:
    try:
        return ipaddress.ip_address(str(peer[0]).split("%")[0]).is_loopback
    except (TypeError, ValueError, IndexError):
        return False


class HttpServer:
    def __init__(
        self,
        host: str,
        port: int,
        render_metrics: Callable[[], bytes],
        health: HealthProbe,
        controls: dict[str, Control] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.render_metrics = render_metrics
        self.health = health
        self.controls = controls or {}  # path -> handler; loopback clients only (they change the service)
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
            control = self.controls.get(path)
            if control is not None:
                content_type = "application/json"
                status, answer = await self._control(control, method, request, reader, writer)
                body = json.dumps(answer).encode() + b"\n"
            elif method != "GET":
                status, content_type, body = 405, "text/plain", b"method not allowed\n"
            elif path == "/metrics":
                status, content_type, body = 200, CONTENT_TYPE_LATEST, self.render_metrics()
            elif path == "/healthz":
                healthy, details = self.health()
                status = 200 if healthy else 503
                content_type, body = "application/json", json.dumps(details).encode()
            else:
                status, content_type, body = 404, "text/plain", b"not found\n"
            reason = _REASONS[status]
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

    async def _control(
        self,
        control: Control,
        method: str,
        head: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> tuple[int, Any]:
        if not _loopback(writer.get_extra_info("peername")):
            return 403, {"error": "control requests are taken from this host only"}
        length = 0
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length > _MAX_BODY:
            return 400, {"error": "request body too large"}
        body = None
        if length:
            raw = await asyncio.wait_for(reader.readexactly(length), timeout=5)
            try:
                body = json.loads(raw)
            except ValueError:
                return 400, {"error": "the request body is not JSON"}
        try:
            return await control(method, body)
        except Exception as exc:  # a bug in a handler: the operator sees it, the server goes on
            log.exception("control %s failed", method)
            return 500, {"error": f"internal error: {exc}"}


class HttpServerThread:
    """The same server on its own event loop thread, for a service that has no asyncio loop (mcn-receiver).

    `start()` returns the bound port (0 = any free port); `stop()` closes the server and ends the thread.
    """

    def __init__(
        self,
        host: str,
        port: int,
        render_metrics: Callable[[], bytes],
        health: HealthProbe,
        controls: dict[str, Control] | None = None,
    ) -> None:
        self.server = HttpServer(host, port, render_metrics, health, controls)
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
