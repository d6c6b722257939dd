"""Work queues the edge takes requests from: Amazon SQS (long poll).

Like targets.py, the only place of its concern that knows about AWS. Errors surface as QueueError
(the caller counts them and polls again later); nothing here retries by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class QueueError(Exception):
    """A receive or delete did not go through (network, throttling, permissions)."""


@dataclass(frozen=True, slots=True)
class QueueMessage:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int = 1


class WorkQueue(Protocol):
    def receive(self, max_messages: int, wait_s: int, visibility_s: int) -> list[QueueMessage]: ...

    def delete(self, receipt_handles: list[str]) -> list[str]:
        """Delete messages; returns the receipt handles that failed."""
        ...

    def release(self, receipt_handle: str) -> None:
        """Make a received message visible again at once (it was not worked on)."""
        ...


class SqsQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url

    def receive(self, max_messages: int, wait_s: int, visibility_s: int) -> list[QueueMessage]:
        try:
            response = self.client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=max(1, min(10, max_messages)),
                WaitTimeSeconds=wait_s,
                VisibilityTimeout=visibility_s,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
        except Exception as exc:  # botocore raises many transport exception types
            raise QueueError(f"receive: {type(exc).__name__}: {exc}") from exc
        return [
            QueueMessage(
                message["MessageId"],
                message["ReceiptHandle"],
                message.get("Body", ""),
                int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
            )
            for message in response.get("Messages", [])
        ]

    def delete(self, receipt_handles: list[str]) -> list[str]:
        failed: list[str] = []
        for start in range(0, len(receipt_handles), 10):
            chunk = receipt_handles[start : start + 10]
            entries = [{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(chunk)]
            try:
                response = self.client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except Exception as exc:
                raise QueueError(f"delete: {type(exc).__name__}: {exc}") from exc
            failed += [chunk[int(entry["Id"])] for entry in response.get("Failed", [])]
        return failed

    def release(self, receipt_handle: str) -> None:
        try:
            self.client.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=0
            )
        except Exception as exc:
            raise QueueError(f"release: {type(exc).__name__}: {exc}") from exc


def make_sqs_queue(queue_url: str, region: str, endpoint_url: str | None, wait_s: int, timeout_s: float) -> SqsQueue:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "sqs",
        region_name=region,
        endpoint_url=endpoint_url,
        config=Config(
            connect_timeout=min(timeout_s, 5.0),
            read_timeout=wait_s + timeout_s,  # a long poll holds the request open for wait_s
            retries={"max_attempts": 2, "mode": "standard"},
        ),
    )
    return SqsQueue(client, queue_url)
