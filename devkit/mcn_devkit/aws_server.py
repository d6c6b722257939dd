"""One HTTP endpoint for the embedded AWS: moto's WSGI app, with Lambda Invoke for the
template's functions answered by the local Lambda runtime (moto would need Docker for that).

Because it is one endpoint, everything that calls Lambda, a boto3 client or a Step Functions
Task state run by moto's engine, reaches the real handlers.

DynamoDB requests are served one at a time. DynamoDB makes every request atomic per item (and
a transaction atomic as a whole); moto's backend does not: it reads an item, evaluates the
condition and writes the item back as separate steps, and a transaction backs up whole tables
and restores them when a condition fails. On the server's request threads, two conditional
writes racing for one item could both pass, and a cancelled transaction could undo another
request's write (issue 11: two notices for one attach). Serialising DynamoDB restores the
guarantees the code relies on in AWS.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

_DYNAMODB_TARGET = "DynamoDB_20120810."
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")

InvokeHandler = Callable[[str, Any, bool], tuple[int, Any, dict[str, str]]]


class _LambdaInvokeRouter:
    def __init__(self, moto_app: Any, invoke: InvokeHandler) -> None:
        self._moto_app = moto_app
        self._invoke = invoke
        self._dynamodb = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith(_DYNAMODB_TARGET):
            with self._dynamodb:  # atomic per request, as DynamoDB is (see the module's docstring)
                response = self._moto_app(environ, start_response)
                try:
                    return [b"".join(response)]
                finally:
                    if hasattr(response, "close"):
                        response.close()
        match = _INVOKE_PATH.match(environ.get("PATH_INFO", ""))
        if environ.get("REQUEST_METHOD") != "POST" or match is None:
            return self._moto_app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        asynchronous = environ.get("HTTP_X_AMZ_INVOCATION_TYPE") == "Event"
        try:
            payload = json.loads(body) if body else {}
        except json.JSONDecodeError:
            status, result, headers = (
                400,
                {"Type": "User", "message": "Could not parse request body into json"},
                {"X-Amzn-ErrorType": "InvalidRequestContentException"},
            )
        else:
            status, result, headers = self._invoke(unquote(match.group("name")), payload, asynchronous)
        data = json.dumps(result).encode()
        reason = {200: "OK", 202: "Accepted", 400: "Bad Request", 404: "Not Found", 503: "Service Unavailable"}
        start_response(
            f"{status} {reason.get(status, 'Error')}",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(data))),
                ("X-Amz-Executed-Version", "$LATEST"),
                *headers.items(),
            ],
        )
        return [data]


class EmbeddedAwsServer:
    """moto's server app on 127.0.0.1 in a thread, with the Lambda Invoke router in front."""

    def __init__(self, port: int, invoke: InvokeHandler) -> None:
        self._requested_port = port
        self._invoke = invoke
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        app = _LambdaInvokeRouter(DomainDispatcherApplication(create_backend_app), self._invoke)
        self._server = make_server(
            "127.0.0.1", self._requested_port, app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="embedded-aws")
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
