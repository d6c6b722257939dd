"""Where forwarded batches go: AWS Lambda (RequestResponse) or a JSON-lines file.

This is the only module of the edge services that knows about AWS. A target acknowledges a batch
by returning (Lambda returned without FunctionError, or the file was fsynced) with per-event
results; it raises TransientForwardError when the batch must stay spooled and be retried.
Both targets here also take the events as the spool keeps them (`send_encoded`, JSON texts), which
spares the forwarder encoding each event a second time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

from .spool import encode_body


class TransientForwardError(Exception):
    """The batch was not acknowledged; it stays spooled and is retried."""


class FunctionFailedError(TransientForwardError):
    """The target ran on the batch and failed (Lambda FunctionError, or a payload it refuses): the
    cause may be one event of the batch, so the forwarder bisects it (mcn_edge.forwarder)."""


class Target(Protocol):
    name: str

    def send(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Deliver a batch; return per-event results ({index, outcome, reason}) or raise TransientForwardError."""


class FileTarget:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = f"file:{self.path.name}"
        if not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def send(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self.send_encoded([encode_body(event) for event in events])

    def send_encoded(self, events: list[str]) -> list[dict[str, Any]]:
        try:
            with self.path.open("a", encoding="utf-8") as out:
                out.write("".join(event + "\n" for event in events))
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise TransientForwardError(f"{self.path}: {exc}") from exc
        return [{"index": i, "outcome": "accepted", "reason": None} for i in range(len(events))]


class LambdaTarget:
    def __init__(self, client: Any, function_name: str) -> None:
        self.client = client
        self.function_name = function_name
        self.name = f"lambda:{function_name.rsplit(':', 1)[-1]}"

    def send(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self.send_encoded([encode_body(event) for event in events])

    def send_encoded(self, events: list[str]) -> list[dict[str, Any]]:
        return self._invoke(('{"events": [' + ", ".join(events) + "]}").encode(), len(events))

    def _invoke(self, payload_bytes: bytes, count: int) -> list[dict[str, Any]]:
        try:
            response = self.client.invoke(
                FunctionName=self.function_name,
                InvocationType="RequestResponse",
                Payload=payload_bytes,
            )
            payload = response["Payload"].read()
        except Exception as exc:  # botocore raises many transport exception types
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code in ("RequestEntityTooLargeException", "InvalidRequestContentException"):
                raise FunctionFailedError(f"{self.name}: {code}: {exc}") from exc
            raise TransientForwardError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        if response.get("FunctionError"):
            raise FunctionFailedError(f"{self.name}: FunctionError {response['FunctionError']}: {payload[:200]!r}")
        try:
            document = json.loads(payload or b"{}")
        except json.JSONDecodeError:
            document = {}
        results = document.get("results") if isinstance(document, dict) else None
        if not isinstance(results, list):
            return [{"index": i, "outcome": "accepted", "reason": None} for i in range(count)]
        return results


def make_lambda_client(region: str, endpoint_url: str | None, timeout_s: float) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "lambda",
        region_name=region,
        endpoint_url=endpoint_url,
        config=Config(
            connect_timeout=min(timeout_s, 5.0),
            read_timeout=timeout_s,
            retries={"max_attempts": 1, "mode": "standard"},  # the spool is the retry mechanism
        ),
    )


def make_target(spec: str, region: str, endpoint_url: str | None, timeout_s: float) -> Target:
    scheme, _, rest = spec.partition(":")
    if scheme == "file":
        return FileTarget(rest)
    return LambdaTarget(make_lambda_client(region, endpoint_url, timeout_s), rest)
