"""A full batch (MAX_EVENTS_PER_INVOCATION events) against the functions' timeout, on the local stack.

Times the worst case per function: ingest of a full batch of new calls; attach of a full batch
of subscribers who all have calls pending (each event a Query, a conditional write and a
StartExecution); receipts of a full batch of receipts for known notices. Prints each as a ratio
of the function's timeout (from template.yaml): the cap is right when a full batch takes a small
fraction of it here, where every request also pays moto's and the local runtime's overhead.

Run: .venv/bin/python benchmarks/batch_cap.py
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from mcn_core.models.envelope import MAX_EVENTS_PER_INVOCATION
from mcn_devkit.embedded import EmbeddedStack

CAP = MAX_EVENTS_PER_INVOCATION


def timed(stack: EmbeddedStack, function: str, events: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    response = stack.invoke(function, {"events": events})
    elapsed = time.perf_counter() - started
    assert "rejected" not in {r["outcome"] for r in response["results"]}, response["results"][:3]
    return elapsed


def main() -> None:
    # No SMSC: the notices attach starts fail to bind and wait (the attach handler is what is timed).
    with EmbeddedStack(parameters={"SmscHost": "127.0.0.1", "SmscPort": "1"}) as stack:
        assert stack.runtime is not None
        stack.runtime.log_sink = open("/dev/null", "w")  # noqa: SIM115 - kept for the run
        now = datetime.now(UTC)
        subscribers = [f"+4479111{n:05d}" for n in range(CAP)]
        calls = [
            {
                "call_ref": f"cap-{n}",
                "subscriber": subscribers[n],
                "caller": "+447912000111",
                "call_time": (now - timedelta(minutes=1)).isoformat(),
                "msc": "447953000001",
            }
            for n in range(CAP)
        ]
        stack.invoke("IngestFunction", {"events": [{**calls[0], "call_ref": "warm-up"}]})
        stack.invoke("AttachFunction", {"subscriber": "+447911999999", "attach_time": now.isoformat(), "hlr": "x"})
        stack.invoke(
            "ReceiptsFunction",
            {"kind": "receipt", "message_id": "w", "state": "DELIVRD", "received_at": now.isoformat()},
        )
        # Baseline: bare DynamoDB round trips to the same endpoint, in the same run.
        dynamodb, table = stack.client("dynamodb"), stack.resource_name("SubscribersTable")
        started = time.perf_counter()
        for n in range(CAP):
            dynamodb.get_item(TableName=table, Key={"msisdn": {"S": f"+4479119{n:05d}"}}, ConsistentRead=True)
        bare = (time.perf_counter() - started) / CAP
        # Receipts before attach: the notices attach starts then queue for the local runtime.
        figures = {
            "IngestFunction": (timed(stack, "IngestFunction", calls), "1 PutItem per event + 1 BatchGetItem"),
            "ReceiptsFunction": (
                timed(
                    stack,
                    "ReceiptsFunction",
                    [
                        {"kind": "receipt", "message_id": f"u-{n}", "state": "DELIVRD", "received_at": now.isoformat()}
                        for n in range(CAP)
                    ],
                ),
                "1 GetItem per event (unknown id)",
            ),
            "AttachFunction": (
                timed(
                    stack,
                    "AttachFunction",
                    [{"subscriber": s, "attach_time": now.isoformat(), "hlr": "447953000100"} for s in subscribers],
                ),
                "Query + UpdateItem + StartExecution per event",
            ),
        }
        print(f"full batch: {CAP} events (MAX_EVENTS_PER_INVOCATION), local stack")
        print(f"baseline: one bare DynamoDB GetItem round trip {bare * 1000:.1f} ms")
        for function, (seconds, requests) in figures.items():
            timeout = stack.runtime.lookup(function).timeout_s
            print(
                f"{function:17s} {seconds:6.2f} s = {seconds / timeout:6.1%} of its {timeout} s timeout;"
                f" {seconds / CAP / bare:5.1f} bare round trips per event ({requests})"
            )


if __name__ == "__main__":
    main()
