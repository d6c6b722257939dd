"""ingest: CPU cost per event for a batch of 1,000 on in-process moto, and DynamoDB requests per call.

Baseline in the same run: the bare minimum ingest must do, a boto3 conditional PutItem per
event into the same table. Target: exactly one DynamoDB write per missed call.
Run: .venv/bin/python benchmarks/ingest_cost.py
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BATCH = 1000
os.environ.update(
    {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}
)

import boto3  # noqa: E402
import botocore.client  # noqa: E402
from moto import mock_aws  # noqa: E402

from mcn_core.models.envelope import MAX_EVENTS_PER_INVOCATION  # noqa: E402
from mcn_devkit.embedded import deploy_template  # noqa: E402
from mcn_devkit.lambda_runtime import LocalLambdaRuntime  # noqa: E402
from mcn_devkit.template import ResolvedTemplate, load_template  # noqa: E402

calls: Counter[str] = Counter()
_original = botocore.client.BaseClient._make_api_call


def _counting(self, operation_name, api_params):  # type: ignore[no-untyped-def]
    calls[f"{self.meta.service_model.service_name}:{operation_name}"] += 1
    return _original(self, operation_name, api_params)


def batch(prefix: str) -> dict:
    now = datetime.now(UTC)
    callers = ["+447912000111", "+447912000222", "+4915112345678", "+442079460123"]
    return {
        "events": [
            {
                "call_ref": f"{prefix}-{i}",
                "subscriber": f"+4479111{i % 200:05d}",
                "caller": callers[i % len(callers)],
                "presentation": "restricted" if i % 10 == 0 else "allowed",
                "call_time": (now - timedelta(seconds=i)).isoformat(),
                "reason": "not_reachable",
                "msc": "447953000001",
            }
            for i in range(BATCH)
        ]
    }


def main() -> None:
    with mock_aws():
        resolved = ResolvedTemplate(load_template(), "bench")
        deploy_template(resolved, lambda service: boto3.client(service, region_name="eu-west-1"))
        table = resolved.physical_name("MissedCallsTable")
        client = boto3.client("dynamodb", region_name="eu-west-1")

        # Baseline: one conditional PutItem per event with boto3, nothing else.
        raw = batch("base")["events"]
        started = time.process_time()
        for event in raw:
            client.put_item(
                TableName=table,
                Item={
                    "subscriber": {"S": event["subscriber"]},
                    "call_ref": {"S": event["call_ref"]},
                    "caller": {"S": event["caller"]},
                    "call_time": {"S": event["call_time"]},
                },
                ConditionExpression="attribute_not_exists(call_ref)",
            )
        baseline = (time.process_time() - started) / BATCH

        runtime = LocalLambdaRuntime(resolved, {"AWS_DEFAULT_REGION": "eu-west-1"})
        name = resolved.physical_name("IngestFunction")
        runtime.invoke(name, batch("warm"))  # cold start excluded: the figure is the steady cost
        botocore.client.BaseClient._make_api_call = _counting
        events = batch("measured")["events"]
        started = time.process_time()
        # In batches of the most one invocation takes, as the gateway sends them.
        responses = [
            runtime.invoke(name, {"events": events[i : i + MAX_EVENTS_PER_INVOCATION]})
            for i in range(0, BATCH, MAX_EVENTS_PER_INVOCATION)
        ]
        cost = (time.process_time() - started) / BATCH
        response = {"counts": dict(sum((Counter(r["counts"]) for r in responses), Counter()))}
        botocore.client.BaseClient._make_api_call = _original

    writes = sum(n for op, n in calls.items() if op.split(":")[1] in {"PutItem", "UpdateItem", "BatchWriteItem"})
    print(f"{BATCH} events in batches of {MAX_EVENTS_PER_INVOCATION}: {json.dumps(response['counts'])}")
    print(f"CPU per event, boto3 conditional put (baseline): {baseline * 1e6:8.0f} us")
    print(f"CPU per event, ingest handler:                   {cost * 1e6:8.0f} us  ({cost / baseline:.2f}x baseline)")
    print(f"DynamoDB requests: {dict(calls)}")
    print(f"writes per missed call: {writes / BATCH:.3f}  (target 1.000)")
    print(f"all requests per missed call: {sum(calls.values()) / BATCH:.3f}")


if __name__ == "__main__":
    sys.exit(main())
