"""Full AWS cost of one notice (3 missed calls, one SMS), counted on the local stack from what deploys.

Everything a notice causes, each measured by running the real handlers on the embedded AWS
(template.yaml deployed, the ASL run by Step Functions, a real SMPP SMSC) with every AWS request
counted at the botocore level:
  - ingest: the 3 missed calls, forwarded in the gateway's batches (its default batch size);
  - attach: one alert per notice (not batched: the conservative case);
  - the notify flow: the Express execution (requests, duration billed in 100 ms steps at 64 MB)
    and its Lambda tasks (requests, duration billed per ms at the function's memory);
  - delivery receipts: one DELIVRD per part, forwarded in mcn-receiver's batches to the receipts
    function (Lambda, reads, writes);
  - the HLR registration (MWD) of the absence: the gateway's own store, claim -> confirm -> clear;
  - DynamoDB units: 1 per KB written (2 in a transaction), 0.5/1 per 4 KB read (eventual/strong),
    plus one write per global index of the item's table (read from the template);
  - CloudWatch Logs: every application line, plus Lambda's own START/END/REPORT lines unless the
    template's LoggingConfig lowers the system log level, at 26 bytes of overhead per event;
  - X-Ray when the template turns tracing on (each task its own trace; the default sampling rule
    keeps 1/s + 5 %: at operator volume, 5 % of invocations).
Lambda and Express durations are not taken from this machine's wall clock (the embedded AWS runs
in the same process, on 2 shared cores): each invocation's duration is the CPU time of the
handler's own thread, scaled to the vCPU share of the function's memory (1,769 MB = 1 vCPU), plus
an in-region latency per AWS request and per SMSC round trip (figures below); an Express
execution lasts the sum of its tasks plus a hop per task, billed in 100 ms steps.
Then prices it at list prices and prints the breakdown and the total against the target.
Latency from the attach event to the submit_sm at the SMSC is compared with a bare SMPP submit
through the same pool in the same run (the floor no design can beat).

Run: .venv/bin/python benchmarks/notify_cost.py  [NOTICES]
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import statistics
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTICES = int(sys.argv[1]) if len(sys.argv) > 1 else 40
TARGET = 12.0
CALLS_PER_NOTICE = 3
GATEWAY_BATCH = 50  # gateway forwarding.batch_size default; mcn-receiver's batch is the same
RECEIVER_BATCH = 50

# List prices, eu-west-1, November 2026 (USD).
LAMBDA_REQUEST = 0.20 / 1e6
LAMBDA_GB_SECOND_ARM = 0.0000133334
EXPRESS_REQUEST = 1.00 / 1e6
EXPRESS_GB_SECOND = 0.00001667  # billed in 100 ms steps and 64 MB steps
DDB_WRITE_UNIT = 0.625 / 1e6  # on-demand
DDB_READ_UNIT = 0.125 / 1e6
LOGS_PER_GB = 0.50  # CloudWatch Logs ingestion (standard class)
LOG_EVENT_OVERHEAD = 26  # bytes counted per log event
XRAY_TRACE = 5.00 / 1e6  # traces recorded
XRAY_SAMPLED = 0.05
SECRETS_API_CALL = 0.05 / 10_000
SQS_REQUEST = 0.40 / 1e6  # standard queue, per request of up to 64 KB

# Latency a Lambda waits for, per request (in-region), and what Step Functions adds per task.
REQUEST_LATENCY_S = {"dynamodb": 0.006, "stepfunctions": 0.020, "ssm": 0.010, "secretsmanager": 0.015, "lambda": 0.015}
SMSC_ROUND_TRIP_S = 0.020  # submit_sm -> submit_sm_resp (as benchmarks/fleet_wave.py)
FULL_VCPU_MB = 1769
MEMORY_SWEEP_MB = (128, 256, 512, 1024)
#: the functions Step Functions invokes as tasks of the notify machine (their time is the execution's)
EXPRESS_TASKS = frozenset({"ComposeFunction", "SendFunction", "RecordFunction", "ReleaseFunction", "DeferFunction"})
FLASH_MODE = "call_and_sms"
#: threads a handler works on besides its own (their CPU is the invocation's): mcn_core.dal.calls, mcn_smpp
HANDLER_WORKER_THREADS = ("ingest-put", "smpp-bind")
SERVICE_KEY = re.compile(r'"service":"[^"]*"')
EXPRESS_TASK_HOP_S = 0.025

for part in ("devkit", "gateway"):
    sys.path.insert(0, str(ROOT / part))

import botocore.client  # noqa: E402

from mcn_core.dal.config import CONFIGURATIONS as notify_config_cache  # noqa: E402
from mcn_core.models.origination import FlashCallRequest  # noqa: E402
from mcn_core.settings import DEFAULT_WRITE_CONCURRENCY  # noqa: E402
from mcn_devkit import lambda_runtime  # noqa: E402
from mcn_devkit.embedded import EmbeddedStack  # noqa: E402
from mcn_devkit.events import delivered_receipt  # noqa: E402
from mcn_devkit.smsc import LocalSmsc  # noqa: E402
from mcn_edge.sqs import SqsQueue  # noqa: E402

_calls: list[tuple[str, str, str, dict, int]] = []
_phase = ["setup"]
_original = botocore.client.BaseClient._make_api_call
_original_entry_point = lambda_runtime.LocalFunction.entry_point
_submits_seen = [lambda: 0]
WRITES_IN_FLIGHT = DEFAULT_WRITE_CONCURRENCY  # ingest's conditional puts at once
#: per invocation: phase, function, handler-thread CPU seconds, modelled waits (AWS requests, SMSC)
_timed: list[tuple[str, str, float, float]] = []


def _counting(self, operation, params):  # type: ignore[no-untyped-def]
    _calls.append((_phase[0], self.meta.service_model.service_name, operation, params, threading.get_ident()))
    return _original(self, operation, params)


def _timed_entry_point(self):  # type: ignore[no-untyped-def]
    handler = _original_entry_point(self)

    def timed(event, context):  # type: ignore[no-untyped-def]
        thread, first_call, submits = threading.get_ident(), len(_calls), _submits_seen[0]()
        phase = _phase[0]  # tasks run on Step Functions' threads while the main thread waits in its phase
        workers_before = _worker_cpu()
        started = time.thread_time()
        try:
            return handler(event, context)
        finally:
            # the handler's thread, plus what its own threads did meanwhile (invocations run one at a time)
            workers_after = _worker_cpu()
            cpu = time.thread_time() - started
            cpu += sum(after - workers_before.get(ident, 0.0) for ident, after in workers_after.items())
            waits = sum(REQUEST_LATENCY_S.get(c[1], 0.01) for c in _calls[first_call:] if c[4] == thread)
            # ingest's puts, WRITES_IN_FLIGHT at a time
            waits += (
                sum(REQUEST_LATENCY_S.get(c[1], 0.01) for c in _calls[first_call:] if c[4] in workers_after)
                / WRITES_IN_FLIGHT
            )
            waits += (_submits_seen[0]() - submits) * SMSC_ROUND_TRIP_S
            _timed.append((phase, self.logical_id, cpu, waits))

    return timed


def _worker_cpu() -> dict[int, float]:
    """CPU seconds so far of each thread a handler runs its work on (ingest's puts, the SMPP binds' readers)."""
    seconds = {}
    for worker in threading.enumerate():
        if worker.ident is not None and worker.name.startswith(HANDLER_WORKER_THREADS):
            with contextlib.suppress(OSError, ProcessLookupError):  # ended meanwhile
                seconds[worker.ident] = time.clock_gettime(time.pthread_getcpuclockid(worker.ident))
    return seconds


def _value_bytes(value: dict) -> int:
    ((kind, inner),) = value.items()
    if kind in ("S", "B"):
        return len(str(inner).encode())
    if kind == "N":
        return len(str(inner).lstrip("-").replace(".", "")) // 2 + 2
    if kind in ("SS", "NS", "BS"):
        return sum(len(str(v).encode()) for v in inner)
    if kind == "L":
        return 3 + sum(1 + _value_bytes(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_bytes(v) for k, v in inner.items())
    return 1


def item_bytes(item: dict) -> int:
    """DynamoDB's item size: attribute names plus values."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


class Units:
    """DynamoDB capacity of one request, per table, with the index writes it causes."""

    def __init__(self, indexed_tables: set[str], key_names: dict[str, list[str]]) -> None:
        self.indexed = indexed_tables
        self.key_names = key_names  # per table, from its KeySchema in the template
        self.sizes: dict[tuple[str, str], int] = {}  # last known size per (table, key): updates cost the item's size

    def _key(self, table: str, key: dict) -> tuple[str, str]:
        return table, json.dumps(key, sort_keys=True)

    def _write(self, table: str, kind: str, body: dict, multiplier: int) -> float:
        if kind == "Put":
            size = item_bytes(body["Item"])
            key = {k: v for k, v in body["Item"].items() if k in self.key_names.get(table, ())}
            self.sizes[self._key(table, key)] = size
        else:
            size = self.sizes.get(self._key(table, body["Key"]), 1)
        units = multiplier * max(1, math.ceil(size / 1024))
        if table in self.indexed and kind in ("Put", "Update"):
            units += max(1, math.ceil(size / 1024))  # the index's copy (projection ALL)
        return units

    def writes(self, operation: str, params: dict) -> float:
        if operation == "TransactWriteItems":
            total = 0.0
            for entry in params["TransactItems"]:
                ((kind, body),) = entry.items()
                if kind != "ConditionCheck":
                    total += self._write(body["TableName"], kind, body, 2)
            return total
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            return self._write(params["TableName"], operation.removesuffix("Item"), params, 1)
        if operation == "BatchWriteItem":
            total = 0.0
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    ((kind, body),) = request.items()
                    total += self._write(table, "Put" if kind == "PutRequest" else "Delete", body, 1)
            return total
        return 0.0

    @staticmethod
    def reads(operation: str, params: dict) -> float:
        strong = 1.0 if params.get("ConsistentRead") else 0.5
        if operation in ("GetItem", "Query"):
            return strong
        if operation == "BatchGetItem":
            return sum(
                len(t["Keys"]) * (1.0 if t.get("ConsistentRead") else 0.5) for t in params["RequestItems"].values()
            )
        return 0.0


def calls_of(subscriber: str) -> list[dict]:
    """A notice's missed calls: 2 from one caller, one withheld."""
    now = datetime.now(UTC)
    return [
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


def flash_outcome(request: FlashCallRequest) -> dict:
    """The gateway's report of a call that rang and was released (the usual outcome)."""
    now = datetime.now(UTC)
    return {
        "kind": "flash_call_outcome",
        "request_id": request.request_id,
        "notification_id": request.notification_id,
        "tenant": request.tenant,
        "outcome": "alerted_released",
        "cause": 16,
        "cic": 1,
        "placed_at": (now - timedelta(seconds=6)).isoformat(),
        "alerted_at": (now - timedelta(seconds=4)).isoformat(),
        "released_at": now.isoformat(),
    }


def platform_log_bytes(invocations: int, tracing: bool) -> tuple[int, int]:
    """Lambda's own START/END/REPORT lines (text format), with their real shapes."""
    request = str(uuid.uuid4())
    lines = [
        f"START RequestId: {request} Version: $LATEST",
        f"END RequestId: {request}",
        f"REPORT RequestId: {request}\tDuration: 23.45 ms\tBilled Duration: 24 ms\tMemory Size: 512 MB\t"
        "Max Memory Used: 96 MB\t"
        + (
            "\nXRAY TraceId: 1-5f84c7a1-1234567890abcdef12345678\tSegmentId: 1234567890abcdef\tSampled: true"
            if tracing
            else ""
        ),
    ]
    per = sum(len(line) + 1 + LOG_EVENT_OVERHEAD for line in lines)
    return invocations * len(lines), invocations * per


def main() -> None:
    from mcn_gateway.registrations import STATE_REGISTERED, DynamoRegistrationStore

    with (
        LocalSmsc(system_id="mcn", password="bench1") as smsc,
        EmbeddedStack(parameters={"SmscHost": "127.0.0.1", "SmscPort": str(smsc.port)}) as stack,
    ):
        resolved = stack.resolved
        stack.client("secretsmanager").put_secret_value(
            SecretId=stack.resource_name("SmscCredentials"),
            SecretString=json.dumps({"username": "mcn", "password": "bench1"}),
        )
        assert stack.runtime is not None
        stack.runtime.log_sink = open("/dev/null", "w")  # noqa: SIM115 - kept for the run
        lambda_runtime.LocalFunction.entry_point = _timed_entry_point  # type: ignore[method-assign]
        _submits_seen[0] = lambda: len(smsc.submits)
        memory_mb = {
            logical: int(resolved.function_property(logical, "MemorySize", 128))
            for logical in resolved.resources_of_type("AWS::Serverless::Function")
        }
        services = {
            logical: resolved.function_environment(logical).get("POWERTOOLS_SERVICE_NAME", "") for logical in memory_mb
        }
        tracing = resolved.function_property("SendFunction", "Tracing", "PassThrough") == "Active"
        # SAM merges a function's LoggingConfig into the Globals' one.
        logging_config = {
            **(resolved.resolve(resolved.template.get("Globals", {}).get("Function", {}).get("LoggingConfig")) or {}),
            **(resolved.resolve(resolved.resources["SendFunction"]["Properties"].get("LoggingConfig")) or {}),
        }
        platform_lines = str(logging_config.get("SystemLogLevel", "INFO")).upper() in ("INFO", "DEBUG")
        tables = resolved.resources_of_type("AWS::DynamoDB::Table")
        units = Units(
            # every write of an item in a table with a global index writes the index too (projection ALL)
            {
                stack.resource_name(t)
                for t in tables
                if resolved.resources[t]["Properties"].get("GlobalSecondaryIndexes")
            },
            {
                stack.resource_name(t): [k["AttributeName"] for k in resolved.resources[t]["Properties"]["KeySchema"]]
                for t in tables
            },
        )

        subscribers = [f"+4479111{n:05d}" for n in range(NOTICES)]
        now = datetime.now(UTC)
        # Warm every function once (cold starts are not per notice), on a subscriber of its own.
        warm = "+447911123456"
        stack.invoke(
            "IngestFunction",
            {
                "events": [
                    {
                        "call_ref": "w",
                        "subscriber": warm,
                        "caller": "+447912000999",
                        "call_time": now.isoformat(),
                        "msc": "447953000001",
                    }
                ]
            },
        )
        warm_result = stack.invoke("AttachFunction", {"subscriber": warm, "attach_time": now.isoformat(), "hlr": "x"})
        sfn = stack.client("stepfunctions")
        machine = stack.resource_name("NotifyStateMachine")

        def execution_arn(notification_id: str) -> str:
            return f"{machine.replace(':stateMachine:', ':execution:')}:{notification_id}"

        def finished(notification_id: str) -> dict:
            while (described := sfn.describe_execution(executionArn=execution_arn(notification_id)))[
                "status"
            ] == "RUNNING":
                time.sleep(0.02)
            return described

        finished(warm_result["results"][0]["notification_id"])
        # ... the receipts function too (its first call builds its clients: not a per-notice cost)
        warm_receipts = [delivered_receipt(submit.message_id) for submit in smsc.submits if submit.message_id]
        stack.invoke("ReceiptsFunction", {"events": warm_receipts})
        smsc_seen = len(smsc.submits)

        # Baseline: the same SMS through the same SMPP layer, directly.
        from mcn_smpp import SmppConfig, get_pool

        pool = get_pool(SmppConfig.build(host="127.0.0.1", port=smsc.port, system_id="mcn", password="bench1"))
        pool.send("+447911999999", "warm-up")
        direct = []
        for _ in range(NOTICES):
            started = time.perf_counter()
            pool.send("+447911999999", "You missed 3 call(s) while unreachable:\n+447912000111 2x, last 12:00")
            direct.append(time.perf_counter() - started)
        smsc_seen = len(smsc.submits)

        invocations_before, timed_before = len(stack.runtime.invocations), len(_timed)
        log_mark = {k: len(v) for k, v in stack.runtime.logs.items()}
        botocore.client.BaseClient._make_api_call = _counting
        latencies, durations = [], []
        try:
            # 1. ingest: 3 calls per notice (2 from one caller, one withheld), in the gateway's batches
            _phase[0] = "ingest"
            events = [event for subscriber in subscribers for event in calls_of(subscriber)]
            for start in range(0, len(events), GATEWAY_BATCH):
                stack.invoke("IngestFunction", {"events": events[start : start + GATEWAY_BATCH]})

            # 2. the absence's HLR registration, by the gateway's own store (claim, confirm, clear at the alert)
            _phase[0] = "mwd"
            registrations = DynamoRegistrationStore(
                stack.resource_name("MwdRegistrationsTable"), stack.region, stack.aws_endpoint
            )
            epoch = int(time.time())
            for subscriber in subscribers:
                assert registrations.claim(subscriber, "gw-1", epoch, epoch + 300).won
                registrations.transition(subscriber, "gw-1", STATE_REGISTERED, epoch, epoch + 259200)

            # 3. attach -> the notify flow (Express) -> submit_sm at the SMSC
            for subscriber in subscribers:
                _phase[0] = "mwd"
                registrations.clear(subscriber)
                _phase[0] = "notify"
                seen = len(smsc.submits)
                started = time.perf_counter()
                result = stack.invoke(
                    "AttachFunction",
                    {"subscriber": subscriber, "attach_time": datetime.now(UTC).isoformat(), "hlr": "447953000100"},
                )
                while len(smsc.submits) == seen:
                    time.sleep(0.002)
                latencies.append(time.perf_counter() - started)
                described = finished(result["results"][0]["notification_id"])
                assert described["status"] == "SUCCEEDED", described
                durations.append((described["stopDate"] - described["startDate"]).total_seconds())
            last_arn = execution_arn(result["results"][0]["notification_id"])

            # 4. delivery receipts, as mcn-receiver forwards them
            _phase[0] = "receipts"
            receipts = [
                delivered_receipt(submit.message_id) for submit in smsc.submits[smsc_seen:] if submit.message_id
            ]
            for start in range(0, len(receipts), RECEIVER_BATCH):
                response = stack.invoke("ReceiptsFunction", {"events": receipts[start : start + RECEIVER_BATCH]})
                assert response["counts"].get("applied", 0) + response["counts"].get("duplicate", 0) > 0, response
        finally:
            botocore.client.BaseClient._make_api_call = _original
            _phase[0] = "setup"
        history = sfn.get_execution_history(executionArn=last_arn, maxResults=1000)["events"]
        transitions = sum(1 for e in history if e["type"].endswith("StateEntered"))
        invocations = stack.runtime.invocations[invocations_before:]
        new_logs = {k: v[log_mark.get(k, 0) :] for k, v in stack.runtime.logs.items()}

        # 5. flash calls (apart: not in the total): the same notices with the callers called too, the
        # requests taken from the queue as the gateway does, their outcomes forwarded to the cloud.
        flash_subscribers = [f"+4479112{i:05d}" for i in range(max(10, NOTICES // 4))]
        ssm, parameter = stack.client("ssm"), stack.resource_name("NotifyConfigParameter")
        config = json.loads(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
        ssm.put_parameter(
            Name=parameter, Value=json.dumps({**config, "on_behalf": FLASH_MODE}), Type="String", Overwrite=True
        )
        notify_config_cache.clear()  # as after ConfigCacheSeconds: the functions read the new config
        for start in range(0, len(flash_subscribers), GATEWAY_BATCH // CALLS_PER_NOTICE):
            stack.invoke(
                "IngestFunction",
                {"events": [e for s in flash_subscribers[start : start + GATEWAY_BATCH // 3] for e in calls_of(s)]},
            )
        flash_log_mark = {k: len(v) for k, v in stack.runtime.logs.items()}
        queue = SqsQueue(stack.client("sqs"), stack.resource_name("OriginationQueue"))
        botocore.client.BaseClient._make_api_call = _counting
        _phase[0] = "flash"
        try:
            for subscriber in flash_subscribers:
                result = stack.invoke(
                    "AttachFunction",
                    {"subscriber": subscriber, "attach_time": datetime.now(UTC).isoformat(), "hlr": "447953000100"},
                )
                assert finished(result["results"][0]["notification_id"])["status"] == "SUCCEEDED"
            # the gateway: long polls of up to 10, a batch delete once each outcome is durable
            requests = []
            while batch := queue.receive(10, 1, 60):
                requests += [FlashCallRequest.from_data(json.loads(m.body)) for m in batch]
                assert not queue.delete([m.receipt_handle for m in batch])
            flash_calls = len(requests)
            outcomes = [flash_outcome(request) for request in requests]
            for start in range(0, len(outcomes), GATEWAY_BATCH):
                stack.invoke("FlashCallOutcomesFunction", {"events": outcomes[start : start + GATEWAY_BATCH]})
        finally:
            botocore.client.BaseClient._make_api_call = _original
            _phase[0] = "setup"
        assert flash_calls >= len(flash_subscribers), f"{flash_calls} calls requested for {len(flash_subscribers)}"
        flash_logs = {k: v[flash_log_mark.get(k, 0) :] for k, v in stack.runtime.logs.items()}
        timed = _timed[timed_before:]

    # ------------------------------------------------------------------ pricing
    n = NOTICES

    def log_bytes(logs: dict[str, list[str]], functions: set[str] | None = None) -> tuple[int, int]:
        """Lines and bytes as CloudWatch ingests them. The local runtime shares one Powertools logger, so
        every line names the first function's service: each is counted with its own function's name."""
        chosen = {k: v for k, v in logs.items() if functions is None or k in functions}
        return sum(len(v) for v in chosen.values()), sum(
            len(SERVICE_KEY.sub(f'"service":"{services[name]}"', line)) + 1 + LOG_EVENT_OVERHEAD
            for name, v in chosen.items()
            for line in v
        )

    base_phases = {"ingest", "mwd", "notify", "receipts"}
    base_timed = [t for t in timed if t[0] in base_phases]
    app_lines, app_bytes = log_bytes(new_logs)
    used = {name for _, name, _, _ in base_timed}
    plat_lines, plat_bytes = platform_log_bytes(len(invocations), tracing) if platform_lines else (0, 0)

    def priced(
        memory_of: dict[str, int],
        phases: set[str],
        per: int,
        logs_bytes: int,
        platform_bytes: int,
        executions: int,
    ) -> tuple[dict[str, float], float, float]:
        """Cost per unit (`per` notices) by item, of the work measured in `phases`; the modelled
        Express seconds of one execution and their billed length."""
        cost: dict[str, float] = defaultdict(float)
        task_seconds: list[float] = []
        invoked = 0
        for phase, logical, cpu, waits in timed:
            if phase not in phases:
                continue
            invoked += 1
            memory = memory_of[logical]
            seconds = cpu * FULL_VCPU_MB / min(memory, FULL_VCPU_MB) + waits
            if logical in EXPRESS_TASKS:
                task_seconds.append(seconds + EXPRESS_TASK_HOP_S)
            billed_ms = math.ceil(max(seconds, 0.001) * 1000)
            cost[f"{phase}: Lambda requests"] += LAMBDA_REQUEST / per
            cost[f"{phase}: Lambda duration (arm64)"] += billed_ms / 1000 * memory / 1024 * LAMBDA_GB_SECOND_ARM / per
        for phase, service, operation, params, _ in _calls:
            if phase not in phases:
                continue
            if service == "dynamodb":
                cost[f"{phase}: DynamoDB writes"] += units.writes(operation, params) * DDB_WRITE_UNIT / per
                cost[f"{phase}: DynamoDB reads"] += units.reads(operation, params) * DDB_READ_UNIT / per
            elif service == "secretsmanager":
                cost[f"{phase}: Secrets Manager"] += SECRETS_API_CALL / per
            elif service == "sqs":
                cost[f"{phase}: SQS requests"] += SQS_REQUEST / per
        express_s = sum(task_seconds) / max(executions, 1)
        billed = math.ceil(round(express_s / 0.1, 6)) * 0.1
        label = "notify" if "notify" in phases else sorted(phases)[0]
        cost[f"{label}: Express requests"] = EXPRESS_REQUEST * executions / per
        cost[f"{label}: Express duration (100 ms steps, 64 MB)"] = (
            billed * 0.0625 * EXPRESS_GB_SECOND * executions / per
        )
        cost["logs: application lines"] = logs_bytes / 1e9 * LOGS_PER_GB / per
        cost["logs: Lambda START/END/REPORT"] = platform_bytes / 1e9 * LOGS_PER_GB / per
        cost["X-Ray traces"] = XRAY_SAMPLED * invoked / per * XRAY_TRACE if tracing else 0.0
        return cost, express_s, billed

    def base_cost(memory_of: dict[str, int]) -> tuple[dict[str, float], float, float]:
        return priced(memory_of, base_phases, n, app_bytes, plat_bytes, n)

    detail: dict[str, Counter] = defaultdict(Counter)
    for phase, logical, _, _ in timed:
        detail[phase][f"{logical} invocations"] += 1
    for phase, service, operation, params, _ in _calls:
        if service == "dynamodb":
            detail[phase]["write units"] += units.writes(operation, params)
            detail[phase]["read units"] += units.reads(operation, params)
            detail[phase][operation] += 1
        elif service == "sqs":
            detail[phase][f"SQS {operation}"] += 1
    cost, express_s, billed_express = base_cost(memory_mb)
    # The same measured work priced at other memory sizes (CPU time scales with the vCPU share,
    # waits do not; Express lasts the sum of its tasks): a smaller size is not always cheaper.
    sweep = {size: sum(base_cost(dict.fromkeys(memory_mb, size))[0].values()) * 1e6 for size in MEMORY_SWEEP_MB}
    # Flash calls: what a notice with its calls placed costs more than one without (its notify flow,
    # the queue, the gateway's receive and delete, the outcomes landing on the fee record).
    notify_functions = {name for phase, name, _, _ in timed if phase == "notify"}

    def platform_bytes_of(phase: str) -> int:
        count = sum(1 for t in timed if t[0] == phase)
        return platform_log_bytes(count, tracing)[1] if platform_lines else 0

    notify_only = priced(
        memory_mb, {"notify"}, n, log_bytes(new_logs, notify_functions)[1], platform_bytes_of("notify"), n
    )[0]
    flash_n = len(flash_subscribers)
    flash = priced(memory_mb, {"flash"}, flash_n, log_bytes(flash_logs)[1], platform_bytes_of("flash"), flash_n)[0]
    flash_extra = sum(flash.values()) - sum(notify_only.values())

    print(f"notices: {n} ({CALLS_PER_NOTICE} calls from 2 callers, one withheld; one SMS each), local stack, real SMSC")
    print(f"state transitions per notice (Express, not billed per transition): {transitions}")
    print(
        f"Lambda invocations per notice: {len(invocations) / n:.2f}  {dict(Counter(name for name, _ in invocations))}"
    )
    for phase in ("ingest", "mwd", "notify", "receipts"):
        ops = {k: round(v / n, 3) for k, v in detail[phase].items()}
        print(f"  {phase:<9} per notice: {ops}")
    ops = {k: round(v / flash_n, 3) for k, v in detail["flash"].items()}
    print(f"  flash     per notice with its calls placed (attach to outcomes): {ops}")
    print(
        f"log lines per notice: {app_lines / n:.1f} application ({app_bytes / n:.0f} B) + "
        f"{plat_lines / n:.1f} Lambda platform ({plat_bytes / n:.0f} B); tracing {'on' if tracing else 'off'}; "
        f"Express execution {express_s * 1000:.0f} ms modelled (here: {statistics.mean(durations) * 1000:.0f} ms), "
        f"billed {billed_express * 1000:.0f} ms"
    )
    per_function: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for _, logical, cpu, waits in base_timed:
        per_function[logical].append((cpu, waits))
    print(
        "per invocation, handler CPU here / modelled waits: "
        + ", ".join(
            f"{name.removesuffix('Function')} {statistics.mean(c for c, _ in v) * 1000:.0f}/"
            f"{statistics.mean(w for _, w in v) * 1000:.0f} ms"
            for name, v in sorted(per_function.items())
        )
    )
    print("cost per million notices at list prices (USD):")
    for item in sorted(cost):
        print(f"  {item:<52} {cost[item] * 1e6:8.2f}")
    total = sum(cost.values()) * 1e6
    print(f"  {f'total (target <= {TARGET:g})':<52} {total:8.2f}  {'met' if total <= TARGET else 'NOT met'}")
    if not tracing:
        print(f"  (with Tracing=Active: + {XRAY_SAMPLED * len(invocations) / n * XRAY_TRACE * 1e6:.2f} for X-Ray)")
    # what the flash notice costs more, item by item (its notify flow against a notice's without calls)
    extra: dict[str, float] = defaultdict(float)
    for item, value in flash.items():
        extra[item.split(": ", 1)[-1]] += value
    for item, value in notify_only.items():
        extra[item.split(": ", 1)[-1]] -= value
    print(
        f"  {'flash calls, when on (not in the total)':<52} {flash_extra * 1e6:+8.2f}  per million notices with "
        f"on_behalf={FLASH_MODE}, {flash_calls / flash_n:.2f} call(s) placed per notice here "
        f"({flash_extra * 1e6 * flash_n / max(flash_calls, 1):.2f} per million calls): "
        + ", ".join(f"{k} {v * 1e6:+.2f}" for k, v in sorted(extra.items()) if abs(v) >= 0.005e-6)
    )
    print(
        "memory per function (template): "
        + ", ".join(f"{name.removesuffix('Function')} {mb}" for name, mb in sorted(memory_mb.items()) if name in used)
        + " MB; total if every function had "
        + ", ".join(f"{size} MB: {total:.2f}" for size, total in sweep.items())
    )
    lat, base = statistics.median(latencies), statistics.median(direct)
    print(
        f"latency attach -> submit_sm at the SMSC: median {lat * 1000:.0f} ms, "
        f"p95 {sorted(latencies)[int(0.95 * (n - 1))] * 1000:.0f} ms; "
        f"bare SMPP submit through the same pool: {base * 1000:.1f} ms ({lat / base:.0f}x)"
    )


if __name__ == "__main__":
    main()
