"""Cost and latency of one notice on the local stack, from the ASL that deploys.

Counts, per notice (attach -> compose -> send -> record), on the embedded AWS with a real SMPP
SMSC: state transitions, Lambda invocations and their durations, DynamoDB requests and the
write/read units they cost, log bytes; then prices them at AWS list prices. Latency from the
attach event to the submit_sm arriving at the SMSC is compared with a bare SMPP submit through
the same pool in the same run (the floor no design can beat).

Run: .venv/bin/python benchmarks/notify_cost.py  [NOTICES]
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTICES = int(sys.argv[1]) if len(sys.argv) > 1 else 40

# List prices, us-east-1 / eu-west-1, November 2026 (USD).
LAMBDA_REQUEST = 0.20 / 1e6
LAMBDA_GB_SECOND_ARM = 0.0000133334
EXPRESS_REQUEST = 1.00 / 1e6
EXPRESS_GB_SECOND = 0.00001667  # billed in 64 MB steps; a notice's payload stays in the first
STANDARD_TRANSITION = 0.025 / 1000
DDB_WRITE_UNIT = 0.625 / 1e6  # on-demand
DDB_READ_UNIT = 0.125 / 1e6
LOGS_PER_GB = 0.50  # CloudWatch Logs ingestion

import botocore.client  # noqa: E402

from mcn_devkit.embedded import EmbeddedStack  # noqa: E402
from mcn_devkit.smsc import LocalSmsc  # noqa: E402

_calls: list[tuple[str, str, dict]] = []
_original = botocore.client.BaseClient._make_api_call


def _counting(self, operation, params):  # type: ignore[no-untyped-def]
    _calls.append((self.meta.service_model.service_name, operation, params))
    return _original(self, operation, params)


def write_units(operation: str, params: dict) -> int:
    if operation == "TransactWriteItems":
        return 2 * len(params["TransactItems"])  # transactions cost two units per item (items < 1 KB)
    return 1 if operation in {"PutItem", "UpdateItem", "DeleteItem"} else 0


def read_units(operation: str, params: dict) -> float:
    if operation in {"GetItem", "Query"}:
        return 1.0 if params.get("ConsistentRead") else 0.5
    if operation == "BatchGetItem":
        return sum(len(t["Keys"]) for t in params["RequestItems"].values()) * 0.5
    return 0.0


def main() -> None:
    with (
        LocalSmsc(system_id="mcn", password="bench1") as smsc,
        EmbeddedStack(parameters={"SmscHost": "127.0.0.1", "SmscPort": str(smsc.port)}) as stack,
    ):
        stack.client("secretsmanager").put_secret_value(
            SecretId=stack.resource_name("SmscCredentials"),
            SecretString=json.dumps({"username": "mcn", "password": "bench1"}),
        )
        assert stack.runtime is not None
        stack.runtime.log_sink = open("/dev/null", "w")  # noqa: SIM115 - kept for the run
        subscribers = [f"+4479111{n:05d}" for n in range(NOTICES)]
        now = datetime.now(UTC)
        for subscriber in subscribers:
            events = [
                {
                    "call_ref": f"b-{subscriber}-{i}",
                    "subscriber": subscriber,
                    "caller": caller,
                    "presentation": "allowed" if caller else "restricted",
                    "call_time": (now - timedelta(minutes=5 - i)).isoformat(),
                    "msc": "447953000001",
                }
                for i, caller in enumerate(["+447912000111", "+447912000111", None])
            ]
            stack.invoke("IngestFunction", {"events": events})
        stack.invoke("AttachFunction", {"subscriber": "+447911123456", "attach_time": now.isoformat(), "hlr": "x"})
        sfn = stack.client("stepfunctions")
        machine = stack.resource_name("NotifyStateMachine")

        # Baseline: the same SMS through the same SMPP layer, directly.
        from mcn_smpp import SmppConfig, get_pool

        pool = get_pool(SmppConfig.build(host="127.0.0.1", port=smsc.port, system_id="mcn", password="bench1"))
        pool.send("+447911999999", "warm-up")
        direct = []
        for _ in range(NOTICES):
            started = time.perf_counter()
            pool.send("+447911999999", "You missed 3 call(s) while unreachable:\n+447912000111 2x, last 12:00")
            direct.append(time.perf_counter() - started)

        latencies, durations = [], []
        invocations_before = len(stack.runtime.invocations)
        log_lines_before = sum(len(v) for v in stack.runtime.logs.values())
        log_bytes_before = sum(len(line) + 1 for v in stack.runtime.logs.values() for line in v)
        botocore.client.BaseClient._make_api_call = _counting
        try:
            for subscriber in subscribers:
                seen = len(smsc.submits)
                started = time.perf_counter()
                result = stack.invoke(
                    "AttachFunction",
                    {"subscriber": subscriber, "attach_time": datetime.now(UTC).isoformat(), "hlr": "447953000100"},
                )
                while len(smsc.submits) == seen:
                    time.sleep(0.002)
                latencies.append(time.perf_counter() - started)
                arn = f"{machine.replace(':stateMachine:', ':execution:')}:{result['results'][0]['notification_id']}"
                while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
                    time.sleep(0.02)
                durations.append((described["stopDate"] - described["startDate"]).total_seconds())
        finally:
            botocore.client.BaseClient._make_api_call = _original
        history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        transitions = sum(1 for e in history if e["type"].endswith("StateEntered"))

        invocations = stack.runtime.invocations[invocations_before:]
        per_function = Counter(name for name, _ in invocations)
        lambda_gb_s = sum(max(0.001, seconds) * 0.5 for _, seconds in invocations) / NOTICES  # 512 MB
        dynamo = [(op, params) for service, op, params in _calls if service == "dynamodb"]
        wcu = sum(write_units(op, p) for op, p in dynamo) / NOTICES
        rcu = sum(read_units(op, p) for op, p in dynamo) / NOTICES
        log_bytes = (sum(len(line) + 1 for v in stack.runtime.logs.values() for line in v) - log_bytes_before) / NOTICES
        log_lines = (sum(len(v) for v in stack.runtime.logs.values()) - log_lines_before) / NOTICES
        express_gb_s = statistics.mean(durations) * 0.0625

    cost = {
        "Lambda requests": len(invocations) / NOTICES * LAMBDA_REQUEST,
        "Lambda duration (arm64, 512 MB)": lambda_gb_s * LAMBDA_GB_SECOND_ARM,
        "Step Functions Express requests": EXPRESS_REQUEST,
        "Step Functions Express duration (64 MB)": express_gb_s * EXPRESS_GB_SECOND,
        "DynamoDB writes (on-demand)": wcu * DDB_WRITE_UNIT,
        "DynamoDB reads (on-demand)": rcu * DDB_READ_UNIT,
        "CloudWatch Logs ingestion": log_bytes / 1e9 * LOGS_PER_GB,
    }
    print(f"notices: {NOTICES} (3 calls from 2 callers each, one SMS), local stack, real SMPP SMSC")
    print(f"state transitions per notice (Express, not billed per transition): {transitions}")
    print(f"Lambda invocations per notice: {len(invocations) / NOTICES:.2f}  {dict(per_function)}")
    ops = Counter(op for op, _ in dynamo)
    print(f"DynamoDB requests per notice: {len(dynamo) / NOTICES:.2f}  {dict(ops)}")
    print(f"DynamoDB units per notice: {wcu:.2f} write, {rcu:.2f} read")
    print(f"log lines / bytes per notice: {log_lines:.1f} / {log_bytes:.0f}")
    print("cost per million notices at list prices (USD):")
    for item, dollars in cost.items():
        print(f"  {item:<42} {dollars * 1e6:8.2f}")
    print(f"  {'total (target <= 20)':<42} {sum(cost.values()) * 1e6:8.2f}")
    print(
        f"  deferred by quiet hours: + Standard wait (2 transitions) + 2 Lambda = "
        f"{(2 * STANDARD_TRANSITION + 2 * LAMBDA_REQUEST) * 1e6:.2f} per million deferred notices"
    )
    lat, base = statistics.median(latencies), statistics.median(direct)
    print(
        f"latency attach -> submit_sm at the SMSC: median {lat * 1000:.0f} ms, "
        f"p95 {sorted(latencies)[int(0.95 * (NOTICES - 1))] * 1000:.0f} ms; "
        f"bare SMPP submit through the same pool: {base * 1000:.1f} ms ({lat / base:.0f}x)"
    )


if __name__ == "__main__":
    main()
