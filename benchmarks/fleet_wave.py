"""A morning attach wave against the fleet-wide SMSC budget: discrete-event simulation, no AWS.

Everything that decides the outcome comes from the code and files that deploy:
  - template.yaml, resolved with the licence and bind parameters: the Send function's reserved
    concurrency (how many instances, hence binds, may exist) and its environment;
  - the SMPP layer's own configuration from that environment (`SmppConfig.from_env`, which
    derives each instance's binds and rate through `mcn_smpp.budget`) and its `TokenBucket`;
  - statemachine/notify.asl.json: the Send state's Retry on Lambda.TooManyRequestsException and
    the wait it hands a notice to when every instance stays busy (`WaitForSmscCapacity`);
  - the Defer task's own wait (`mcn_core.logic.send.capacity_resume_at`).
Only the timings of the outside world are assumed (below): SMSC round trip, handler overhead,
cold start, and the hops of Step Functions.

Reported per licence: SMSC throttles (submits beyond the licence in any 1-second window; goal 0),
failed notices (an Express execution past 5 minutes; goal 0), Lambda throttles (retried, free),
the delay from attach to submit_sm (percentiles), round trips through the waiting machine, and
what the waiting costs. Baseline in the same run: the demand (the wave's own arrival rate).

Run: .venv/bin/python benchmarks/fleet_wave.py [ATTACHES] [WAVE_SECONDS] [LICENCES...]
"""

from __future__ import annotations

import heapq
import json
import random
import sys
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for part in ("devkit", "layers/core", "layers/smpp"):
    sys.path.insert(0, str(ROOT / part))

from mcn_core.logic.send import capacity_resume_at  # noqa: E402
from mcn_devkit.template import ResolvedTemplate, load_template  # noqa: E402
from mcn_smpp.config import SmppConfig  # noqa: E402
from mcn_smpp.ratelimit import TokenBucket  # noqa: E402

ATTACHES = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
WAVE_S = float(sys.argv[2]) if len(sys.argv) > 2 else 600.0
LICENCES = [float(x) for x in sys.argv[3:]] or [50.0, 500.0]
MAX_BINDS = 4

# The outside world (assumed, not ours to choose).
SMSC_ROUND_TRIP_S = 0.020  # submit_sm -> submit_sm_resp, operator SMSC over a VPN
HANDLER_OVERHEAD_S = 0.010  # warm Send invocation besides the SMSC
COLD_START_S = 1.5  # new instance: init + Secrets Manager + bind
COMPOSE_S = 0.080  # Express start + Compose task + dispatch to Send
RESUME_S = 0.400  # Standard Wait ends -> Resume task -> new Express -> Compose -> Send
EXPRESS_LIMIT_S = 300.0

# List prices (USD) for what a round trip through the waiting machine costs.
STANDARD_TRANSITION = 0.025 / 1000
LAMBDA_REQUEST = 0.20 / 1e6
EXPRESS_REQUEST = 1.00 / 1e6
DDB_WRITE_UNIT, DDB_READ_UNIT = 0.625 / 1e6, 0.125 / 1e6


def asl(name: str) -> dict:
    return json.loads((ROOT / "statemachine" / name).read_text())


@dataclass
class Fleet:
    """What the template deploys for one licence: instances allowed and each one's SMPP config."""

    licence: float
    reserved_concurrency: int
    config: SmppConfig
    retry_interval_s: float
    retry_attempts: int
    retry_backoff: float
    capacity_delay_s: int
    standard_transitions: int

    @classmethod
    def from_template(cls, template: dict, licence: float, max_binds: int) -> Fleet:
        resolved = ResolvedTemplate(
            template, "wave", parameter_overrides={"SmscLicenceTps": str(licence), "SmscMaxBinds": str(max_binds)}
        )
        concurrency = int(resolved.function_property("SendFunction", "ReservedConcurrentExecutions"))
        env = {k: str(v) for k, v in resolved.function_environment("SendFunction").items()}
        env["SMPP_PASSWORD_SECRET_ID"] = "unused-in-simulation"
        notify = asl("notify.asl.json")["States"]
        (throttle_retry,) = [
            r for r in notify["Send"]["Retry"] if "Lambda.TooManyRequestsException" in r["ErrorEquals"]
        ]
        (throttle_catch,) = [
            c for c in notify["Send"]["Catch"] if "Lambda.TooManyRequestsException" in c["ErrorEquals"]
        ]
        busy = notify[throttle_catch["Next"]]
        wait_state = notify[busy["Default"]]  # nothing sent yet: handed to the waiting machine
        return cls(
            licence=licence,
            reserved_concurrency=concurrency,
            config=SmppConfig.from_env(env),
            retry_interval_s=throttle_retry["IntervalSeconds"],
            retry_attempts=throttle_retry["MaxAttempts"],
            retry_backoff=throttle_retry["BackoffRate"],
            capacity_delay_s=wait_state["Parameters"]["delay_s"],
            # Wait + Resume, and the execution's start: what Standard bills per round trip.
            standard_transitions=len(asl("quiet_hours.asl.json")["States"]) + 1,
        )


@dataclass
class Instance:
    bucket: TokenBucket
    busy: bool = False
    warm: bool = False
    binds: int = 0


@dataclass
class Result:
    delays: list[float] = field(default_factory=list)
    submits: list[float] = field(default_factory=list)
    lambda_throttles: int = 0
    round_trips: int = 0
    failed: int = 0
    longest_execution_s: float = 0.0
    most_instances: int = 0
    most_binds: int = 0


def simulate(fleet: Fleet, attaches: int, wave_s: float, seed: int = 7) -> Result:
    rng = random.Random(seed)
    clock = [0.0]
    epoch = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    waits: list[float] = []
    events: list[tuple[float, int, str, int, int, float]] = []  # time, seq, kind, notice, attempt, exec start
    seq = 0

    def at(time: float, kind: str, notice: int, attempt: int = 0, started: float = 0.0) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (time, seq, kind, notice, attempt, started))

    instances: list[Instance] = []
    result = Result()
    attach_time = sorted(rng.uniform(0, wave_s) for _ in range(attaches))
    for notice, t in enumerate(attach_time):
        at(t + COMPOSE_S, "send", notice, 0, t)
    while events:
        now, _, kind, notice, attempt, started = heapq.heappop(events)
        clock[0] = now
        if kind == "free":
            instances[notice].busy = False
            continue
        # Lambda: a free warm instance, else a new one while under the reserved concurrency.
        free = [i for i in instances if not i.busy]
        warm = [i for i in free if i.warm]
        if warm:
            instance = warm[0]
        elif len(instances) < fleet.reserved_concurrency:
            bucket = TokenBucket(
                fleet.config.tps or float("inf"),
                fleet.config.tps_burst,
                clock=lambda: clock[0],
                sleep=waits.append,
            )
            instance = Instance(bucket)
            instances.append(instance)
        elif free:
            instance = free[0]
        else:
            result.lambda_throttles += 1
            if attempt < fleet.retry_attempts:
                at(now + fleet.retry_interval_s * fleet.retry_backoff**attempt, "send", notice, attempt + 1, started)
                continue
            # Retries used up: the Express execution ends, the notice waits in the Standard machine.
            result.longest_execution_s = max(result.longest_execution_s, now - started)
            result.round_trips += 1
            now_dt = epoch + timedelta(seconds=now)
            since = epoch + timedelta(seconds=attach_time[notice])
            resume = (capacity_resume_at(now_dt, since, fleet.capacity_delay_s, rng.random()) - epoch).total_seconds()
            at(resume + RESUME_S, "send", notice, 0, resume + RESUME_S - COMPOSE_S)
            continue
        instance.busy = True
        start = now
        if not instance.warm:
            start += COLD_START_S
            instance.warm, instance.binds = True, fleet.config.binds
        clock[0] = start
        waits.clear()
        instance.bucket.acquire()
        submit = start + HANDLER_OVERHEAD_S / 2 + sum(waits)
        done = submit + SMSC_ROUND_TRIP_S + HANDLER_OVERHEAD_S / 2
        result.submits.append(submit)
        result.delays.append(submit - attach_time[notice])
        execution = done - started
        result.longest_execution_s = max(result.longest_execution_s, execution)
        if execution > EXPRESS_LIMIT_S:
            result.failed += 1
        index = instances.index(instance)
        at(done, "free", index)
        result.most_instances = max(result.most_instances, sum(1 for i in instances if i.busy))
        result.most_binds = max(result.most_binds, sum(i.binds for i in instances))
    return result


def smsc_throttles(submits: list[float], licence: float) -> tuple[int, int]:
    """Submits beyond the licence in the 1-second window ending at each one; busiest window."""
    window: deque[float] = deque()
    throttled, busiest = 0, 0
    for t in sorted(submits):
        window.append(t)
        while window[0] <= t - 1.0:
            window.popleft()
        busiest = max(busiest, len(window))
        if len(window) > licence:
            throttled += 1
    return throttled, busiest


def percentile(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


def main() -> None:
    template = load_template()
    demand = ATTACHES / WAVE_S
    print(
        f"wave: {ATTACHES:,} attaches in {WAVE_S:.0f} s (demand {demand:.0f} notices/s, one SMS each); "
        f"SMSC bind limit {MAX_BINDS}; SMSC round trip {SMSC_ROUND_TRIP_S * 1000:.0f} ms"
    )
    for licence in LICENCES:
        fleet = Fleet.from_template(template, licence, MAX_BINDS)
        result = simulate(fleet, ATTACHES, WAVE_S)
        throttled, busiest = smsc_throttles(result.submits, licence)
        delays = sorted(result.delays)
        drain = max(result.submits) - min(result.submits)
        per_trip = (
            fleet.standard_transitions * STANDARD_TRANSITION
            + 4 * LAMBDA_REQUEST  # Defer, Resume, Compose, Send again
            + EXPRESS_REQUEST
            + DDB_WRITE_UNIT  # the lock kept through the wait
            + 2 * 0.5 * DDB_READ_UNIT  # Compose reads the calls and the profile again
        )
        print(
            f"\nlicence {licence:g} msg/s, {MAX_BINDS} binds "
            f"(template: SmscLicenceTps={licence:g}, SmscMaxBinds={MAX_BINDS})"
        )
        print(
            f"  derived: Send reserved concurrency {fleet.reserved_concurrency}, {fleet.config.binds} bind(s) and "
            f"{fleet.config.tps:.2f} msg/s (+ burst {fleet.config.tps_burst:g}) per instance"
        )
        print(
            f"  most instances busy {result.most_instances}, most binds open {result.most_binds} (limit {MAX_BINDS}); "
            f"busiest 1-s window at the SMSC {busiest} (licence {licence:g})"
        )
        print(f"  SMSC throttles: {throttled} (goal 0)   failed notices: {result.failed} (goal 0)")
        print(
            f"  sent {len(delays):,} in {drain:.0f} s = {len(delays) / drain:.1f} msg/s "
            f"({len(delays) / drain / licence:.2f}x the licence, {len(delays) / drain / demand:.2f}x the demand)"
        )
        print(
            "  delay attach -> submit_sm: "
            + ", ".join(f"p{p} {percentile(delays, p):.1f} s" for p in (50, 90, 99))
            + f", max {delays[-1]:.1f} s; longest Express execution {result.longest_execution_s:.1f} s (limit 300)"
        )
        print(
            f"  Lambda throttles (retried, not billed): {result.lambda_throttles:,}; round trips through the waiting "
            f"machine: {result.round_trips / ATTACHES:.2f} per notice = "
            f"${result.round_trips / ATTACHES * per_trip * 1e6:.0f} "
            f"per million notices of this wave (${per_trip * 1e6:.0f} per million round trips)"
        )


if __name__ == "__main__":
    main()
