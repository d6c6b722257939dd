"""SMPP throughput: naive smpplib vs the pooled layer, against the local node-smpp SMSC.

    .venv/bin/python benchmarks/smpp_throughput.py [--messages 2000] [--tps-messages 200]

Prints a table; not a test. Runs in well under two minutes on two cores (the naive run at
10 ms is the slow part by design: one response per round trip). CPU is this process's CPU
time (time.process_time: every thread, user + system) per message; the SMSC runs in its own
process and is not counted. Targets: CPU per message <= naive, 1 bind >= 1.0x naive at 0 ms,
>= 8x naive at 10 ms.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import dataclass

from mcn_devkit.smsc import LocalSmsc
from mcn_smpp.config import SmppConfig
from mcn_smpp.outcomes import Outcome
from mcn_smpp.pool import SmppPool

SYSTEM_ID = "bench"
PASSWORD = "bench"
DESTINATION = "447700900123"
TEXT = "You have 2 missed calls from +44 7700 900456, last at 09:14"


@dataclass
class Run:
    name: str
    latency_ms: int
    messages: int
    seconds: float
    accepted: int
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def cpu_us_per_message(self) -> float:
        return self.cpu_seconds / self.messages * 1e6


def naive_smpplib(smsc: LocalSmsc, messages: int) -> tuple[float, float, int]:
    """One bind; submit, then block for that response before the next submit."""
    import smpplib.client
    import smpplib.consts

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = smpplib.client.Client(smsc.host, smsc.port, allow_unknown_opt_params=True)
    client.connect()
    client.bind_transmitter(system_id=SYSTEM_ID, password=PASSWORD)
    accepted = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(messages):
        client.send_message(
            source_addr_ton=5,
            source_addr="MCN",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr=DESTINATION,
            short_message=TEXT.encode("ascii"),
            data_coding=0,
        )
        while True:
            response = client.read_pdu()
            if response.command == "submit_sm_resp":
                accepted += response.status == smpplib.consts.SMPP_ESME_ROK
                break
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    client.unbind()
    client.disconnect()
    return elapsed, cpu, accepted


def layer(
    smsc: LocalSmsc, messages: int, *, binds: int, window: int, tps: float | None = None
) -> tuple[float, float, int]:
    config = SmppConfig.build(
        host=smsc.host,
        port=smsc.port,
        system_id=SYSTEM_ID,
        password=PASSWORD,
        source_addr="MCN",
        binds=binds,
        window=window,
        tps=tps,
        registered_delivery=False,
        bind_mode="transmitter",
        acquire_timeout_s=60,
    )
    with SmppPool(config) as pool:
        pool.warm_up()  # bind set-up is not what we measure
        started, cpu_started = time.perf_counter(), time.process_time()
        pending = [pool.send_async(DESTINATION, TEXT) for _ in range(messages)]
        results = [item.result() for item in pending]
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return elapsed, cpu, sum(result.outcome is Outcome.ACCEPTED for result in results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--tps-messages", type=int, default=200)
    parser.add_argument("--tps", type=float, default=50.0)
    args = parser.parse_args(argv)

    runs: list[Run] = []
    with LocalSmsc(system_id=SYSTEM_ID, password=PASSWORD) as smsc:
        for latency in (10, 0):
            smsc.set_latency(latency)
            for name, action in (
                ("naive smpplib (1 bind, stop-and-wait)", lambda: naive_smpplib(smsc, args.messages)),
                ("layer 1 bind, W=10", lambda: layer(smsc, args.messages, binds=1, window=10)),
                ("layer 4 binds, W=10", lambda: layer(smsc, args.messages, binds=4, window=10)),
            ):
                seconds, cpu, accepted = action()
                runs.append(Run(name, latency, args.messages, seconds, accepted, cpu))
                smsc.clear()  # keep the harness's event list small
        smsc.set_latency(0)
        before = smsc.stats()
        smsc.set_tps_limit(args.tps)
        tps_seconds, _, tps_accepted = layer(smsc, args.tps_messages, binds=4, window=10, tps=args.tps)
        after = smsc.stats()
        smsc.set_tps_limit(None)

    print(f"SMPP throughput, {args.messages} messages per run, local node-smpp SMSC on 127.0.0.1")
    print(
        f"{'latency':>8}  {'run':<40} {'seconds':>8} {'msg/s':>9} {'vs naive':>9} "
        f"{'CPU us/msg':>11} {'CPU vs naive':>13} {'accepted':>9}"
    )
    failures = 0
    for latency in (10, 0):
        group = [run for run in runs if run.latency_ms == latency]
        naive_rate, naive_cpu = group[0].rate, group[0].cpu_us_per_message
        for run in group:
            print(
                f"{latency:>6}ms  {run.name:<40} {run.seconds:>8.2f} {run.rate:>9.0f} "
                f"{run.rate / naive_rate:>8.2f}x {run.cpu_us_per_message:>11.0f} "
                f"{run.cpu_us_per_message / naive_cpu:>12.2f}x {run.accepted:>9}"
            )
            failures += run.accepted != run.messages
    throttled = after["throttled"] - before["throttled"]
    print(
        f"licence {args.tps:g} msg/s: layer (4 binds, token bucket {args.tps:g}/s) sent {args.tps_messages} "
        f"in {tps_seconds:.2f}s = {args.tps_messages / tps_seconds:.1f} msg/s, accepted {tps_accepted}, "
        f"throttling replies from the SMSC: {throttled}"
    )
    at_10ms = [r for r in runs if r.latency_ms == 10]
    at_0ms = [r for r in runs if r.latency_ms == 0]
    targets = {
        ">= 8x naive at 10 ms, 1 bind W=10": at_10ms[1].rate / at_10ms[0].rate >= 8,
        ">= 1.0x naive at 0 ms, 1 bind W=10": at_0ms[1].rate / at_0ms[0].rate >= 1.0,
        "CPU per message <= naive (1 bind, both latencies)": all(
            group[1].cpu_us_per_message <= group[0].cpu_us_per_message for group in (at_10ms, at_0ms)
        ),
    }
    for target, met in targets.items():
        print(f"target {target}: {'met' if met else 'NOT met'}")
    return 0 if failures == 0 and throttled == 0 and tps_accepted == args.tps_messages else 1


if __name__ == "__main__":
    sys.exit(main())
