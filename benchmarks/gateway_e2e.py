"""Gateway end to end: IAMs over TCP/M3UA -> spool (synchronous=FULL) -> REL back, forwarded to file targets.

Each run starts the gateway in its own process (under `strace -c` for its fsyncs when strace is
installed) and drives it from this one with a fixed number of IAMs in flight: every REL received
lets the next IAM go. Figures per run:

- IAM per CPU-second: IAMs answered / CPU time (user + system, all threads) of the gateway process
  over the measured window; wall rate; p50/p99 latency from sending an IAM to its REL;
- commits and fsyncs per IAM (the spool's write transactions; fsync + fdatasync system calls of the
  whole gateway run, start-up included);
- CPU µs per IAM of each gateway thread (Linux schedstat): signalling (decode, spool commit to the
  WAL), spool-sync (the WAL's fdatasync before answers are released), the event loop (M3UA in and
  out), the forwarders (batches to the file targets, rows removed).

An answer waits for its event's fdatasync, so the disk's own latency, measured right after each row
on the same file system (4 KB appended and fdatasync'ed, as a WAL commit does), is printed next to
it (disk p50/p99): the gateway's p99 cannot be below the disk's. The load average is printed with
every row (the machine may be shared).

Variants, measured in the same run:
- baseline: each forwarded row deleted in its own transaction (as before issue 12), the spool depth
  counted with COUNT(*) after every write (as before), answers encoded naively with pycrate (a
  fresh pycrate object per REL, per UDT, per M3UA DATA; before issue 12 the REL and TCAP End were
  already templates, the M3UA DATA was not), and each IAM parameter decoded by a pycrate structure;
- spool fixed: batch deletes and the depth kept in memory, answers still naive pycrate;
- pycrate IAM: answers written directly as well, IAM parameters still decoded by pycrate structures
  (the gateway before the fast IAM decoder);
- gateway: the production path (IAMs read from their octets, pycrate only as the fallback);
- gateway tmpfs: the same with the spool on /dev/shm (tmpfs: an fdatasync costs nothing and survives
  no power cut): what the code does when the disk is not the limit. For comparison only.

Answer encoding alone (µs per answer, direct vs pycrate) is printed first. The targets (issue 12)
are checked on the gateway rows at 32 in flight: >= 5,000 IAM per CPU-second and p99 < 20 ms; with
--repeat N each (variant, in flight) runs N times and the verdict uses the median, with the spread.

Run: .venv/bin/python benchmarks/gateway_e2e.py [--repeat N] [variant ...]   (about three minutes)
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IN_FLIGHT = (8, 32)
WARMUP = 500
MEASURED = 4000
VARIANTS = ("baseline", "spool fixed", "pycrate IAM", "gateway", "gateway tmpfs")
TMPFS = "/dev/shm"


# --- the gateway process -------------------------------------------------------------------------------


def _use_baseline_spool() -> None:
    from mcn_edge.spool import Spool

    def remove(self: Spool, ids: list[int]) -> int:
        with self._lock:  # autocommit: every DELETE is a transaction of its own
            for event_id in ids:
                self._db.execute("DELETE FROM events WHERE id = ?", (event_id,))
                self.commits += 1
        return len(ids)

    def depth(self: Spool, kind: str | None = None) -> int:
        with self._lock:
            if kind is None:
                return self._db.execute("SELECT count(*) FROM events").fetchone()[0]
            return self._db.execute("SELECT count(*) FROM events WHERE kind = ?", (kind,)).fetchone()[0]

    Spool.remove = remove  # type: ignore[method-assign]
    Spool.depth = depth  # type: ignore[method-assign]


def _use_pycrate_answers() -> None:
    """Every answer encoded with a fresh pycrate object, as straightforward pycrate use does."""
    from mcn_gateway.protocol import isup, m3ua, sccp, tcap

    m3ua._encode = m3ua.encode_with_pycrate
    m3ua.encode_data = m3ua.encode_data_with_params  # through _encode, i.e. pycrate
    isup.encode_rel = lambda cic, cause=isup.CAUSE_SUBSCRIBER_ABSENT: isup.encode_rel_with_pycrate(cic, cause)
    isup.encode_rlc = isup.encode_rlc_with_pycrate
    sccp.encode_udt = sccp.encode_udt_with_pycrate
    tcap.encode_end_result = lambda *args: tcap._encode(tcap.end_result_value(*args))
    tcap.encode_end_reject = lambda *args: tcap._encode(tcap.end_reject_value(*args))
    tcap.encode_p_abort = lambda *args: tcap._encode(tcap.p_abort_value(*args))


def _use_pycrate_iam_parameters() -> None:
    """Each IAM parameter decoded by a reused pycrate structure (the gateway before the fast decoder)."""
    from mcn_gateway.protocol import isup

    isup.IsupDecoder.decode_iam = isup.IsupDecoder.decode_iam_with_pycrate  # type: ignore[method-assign]


def _name_threads() -> None:
    """Give each thread its Python name in the kernel too, so its CPU time can be read per thread."""
    import ctypes
    import threading

    try:
        prctl = ctypes.CDLL(None).prctl
    except (OSError, AttributeError):
        return
    run = threading.Thread.run

    def named_run(self: threading.Thread) -> None:
        prctl(15, self.name[:15].encode(), 0, 0, 0)  # PR_SET_NAME
        run(self)

    threading.Thread.run = named_run  # type: ignore[method-assign]


def _thread_cpu_ns() -> dict[str, int]:
    """CPU time (ns, schedstat) per thread name of this process, numbered threads summed."""
    totals: dict[str, int] = {}
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return totals
    for task in tasks.iterdir():
        try:
            name = (task / "comm").read_text().strip()
            ns = int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        group = name.rstrip("0123456789-").removesuffix("_") or name
        totals[group] = totals.get(group, 0) + ns
    return totals


def serve(workdir: str, variant: str) -> None:
    """Child process: run the gateway, answer 'stats' / 'quit' on stdin."""
    import logging

    logging.disable(logging.WARNING)
    _name_threads()
    if variant == "baseline":
        _use_baseline_spool()
    if variant in ("baseline", "spool fixed"):
        _use_pycrate_answers()
    if variant in ("baseline", "spool fixed", "pycrate IAM"):
        _use_pycrate_iam_parameters()

    from mcn_devkit.sigtran.local import loopback_config
    from mcn_gateway.app import GatewayThread

    config = loopback_config(Path(workdir))
    config.forwarding.batch_size = 50  # the production defaults, not the tests' small batches
    config.forwarding.batch_max_wait_s = 0.5
    with GatewayThread(config) as gateway:
        print(json.dumps({"port": gateway.association_port("msc"), "pid": os.getpid()}), flush=True)
        for line in sys.stdin:
            if line.strip() == "stats":
                times = os.times()
                spool = gateway.gateway.spool
                stats = {"cpu": times.user + times.system, "commits": spool.commits, "threads": _thread_cpu_ns()}
                print(json.dumps(stats), flush=True)
            else:
                break


# --- the driver ----------------------------------------------------------------------------------------


class Driver:
    """An MSC-side ASP over a raw socket with a window of IAMs in flight (one CIC each)."""

    def __init__(self, port: int, window: int) -> None:
        from mcn_devkit.sigtran import build_iam, m3ua_data
        from mcn_devkit.sigtran.builders import MSC_PC, ROUTING_CONTEXT
        from mcn_gateway.protocol import m3ua

        self.m3ua = m3ua
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.framer = m3ua.FrameReader()
        self.pending: list[bytes] = []
        self.window = window
        self.iams = {cic: m3ua_data(5, build_iam(cic), opc=MSC_PC) for cic in range(1, 2 * window + 1)}
        self.sock.sendall(m3ua.encode_aspup(1))
        self._until(m3ua.ASPSM_UP_ACK)
        self.sock.sendall(m3ua.encode_aspac(m3ua.TRAFFIC_MODE_LOADSHARE, [ROUTING_CONTEXT]))
        self._until(m3ua.ASPTM_ACTIVE_ACK)

    def _messages(self) -> list[bytes]:
        if self.pending:
            messages, self.pending = self.pending, []
            return messages
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("the gateway closed the association")
        return self.framer.feed(chunk)

    def _until(self, kind: tuple[int, int]) -> None:
        while True:
            messages = self._messages()
            for index, raw in enumerate(messages):
                if (raw[2], raw[3]) == kind:
                    self.pending = messages[index + 1 :]
                    return

    @staticmethod
    def _cic(raw: bytes) -> int | None:
        """The CIC of an ISUP answer in an M3UA DATA message (None for anything else)."""
        if (raw[2], raw[3]) != (1, 1):
            return None
        offset = 8
        while offset + 4 <= len(raw):
            tag, length = int.from_bytes(raw[offset : offset + 2]), int.from_bytes(raw[offset + 2 : offset + 4])
            if tag == 0x0210:
                isup = raw[offset + 16 :]
                return int.from_bytes(isup[:2], "little") & 0x0FFF
            offset += (length + 3) & ~3
        return None

    def run(self, count: int) -> list[float]:
        """Send `count` IAMs keeping `window` in flight; return each one's latency (s)."""
        free = list(range(1, 2 * self.window + 1))
        sent_at: dict[int, float] = {}
        latencies: list[float] = []
        sent = 0

        def refill() -> None:
            nonlocal sent
            batch = []
            now = time.perf_counter()
            while len(sent_at) < self.window and sent < count:
                cic = free.pop()
                sent_at[cic] = now
                batch.append(self.iams[cic])
                sent += 1
            if batch:
                self.sock.sendall(b"".join(batch))

        refill()
        while len(latencies) < count:
            messages = self._messages()
            now = time.perf_counter()
            for raw in messages:
                cic = self._cic(raw)
                if cic is not None and cic in sent_at:
                    latencies.append(now - sent_at.pop(cic))
                    free.append(cic)
                elif (raw[2], raw[3]) == self.m3ua.ASPSM_BEAT:
                    # answered as a live peer does (Heartbeat Data echoed): a slow run outlasts the
                    # gateway's heartbeat timeout otherwise, and it closes the association
                    self.sock.sendall(raw[:3] + bytes([self.m3ua.ASPSM_BEAT_ACK[1]]) + raw[4:])
            refill()
        return latencies

    def close(self) -> None:
        self.sock.close()


def _fsyncs(path: Path) -> int | None:
    if not path.exists():
        return None
    total = 0
    for line in path.read_text().splitlines():
        fields = line.split()
        if fields and fields[-1] in ("fsync", "fdatasync"):
            total += int(fields[3])  # % time, seconds, usecs/call, calls, [errors,] syscall
    return total


def one_run(variant: str, window: int) -> dict:
    on_tmpfs = variant.endswith("tmpfs") and Path(TMPFS).is_dir()
    with tempfile.TemporaryDirectory(dir=TMPFS if on_tmpfs else None) as workdir:
        strace_out = Path(workdir) / "strace.txt"
        command = [sys.executable, __file__, "--serve", workdir, variant]
        if shutil.which("strace"):
            # only fsync/fdatasync stop the process (seccomp filter): the other system calls run untraced
            command = ["strace", "-f", "--seccomp-bpf", "-qq", "-e", "trace=fsync,fdatasync", "-c"]
            command += ["-o", str(strace_out), *[sys.executable, __file__, "--serve", workdir, variant]]
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert child.stdin is not None and child.stdout is not None

        def stats() -> dict:
            child.stdin.write("stats\n")
            child.stdin.flush()
            return json.loads(child.stdout.readline())

        try:
            started = json.loads(child.stdout.readline())
            driver = Driver(started["port"], window)
            driver.run(WARMUP)
            before, wall = stats(), time.perf_counter()
            latencies = driver.run(MEASURED)
            wall, after = time.perf_counter() - wall, stats()
            driver.close()
        finally:
            child.stdin.write("quit\n")
            child.stdin.close()
            child.wait(timeout=60)
        cpu = after["cpu"] - before["cpu"]
        quantiles = statistics.quantiles(latencies, n=100)
        fsyncs = _fsyncs(strace_out)
        threads = {
            name: (ns - before["threads"].get(name, 0)) / 1e3 / MEASURED for name, ns in after["threads"].items()
        }
        disk_p50, disk_p99 = disk_fsync_ms(workdir, 50)
        return {
            "disk_p50_ms": disk_p50,
            "disk_p99_ms": disk_p99,
            "load": os.getloadavg()[0],
            "threads": {name: us for name, us in sorted(threads.items(), key=lambda item: -item[1]) if us >= 1},
            "per_cpu_s": MEASURED / cpu,
            "wall_rate": MEASURED / wall,
            "p50_ms": quantiles[49] * 1000,
            "p99_ms": quantiles[98] * 1000,
            "commits": (after["commits"] - before["commits"]) / MEASURED,
            "fsyncs": None if fsyncs is None else fsyncs / (WARMUP + MEASURED),
        }


def disk_fsync_ms(directory: str | None = None, samples: int = 100) -> tuple[float, float]:
    """p50 and p99 (ms) of appending 4 KB and fdatasync'ing it, on the file system the spool uses."""
    with tempfile.NamedTemporaryFile(dir=directory) as probe:
        times = []
        for _ in range(samples):
            os.write(probe.fileno(), b"\0" * 4096)
            started = time.perf_counter()
            os.fdatasync(probe.fileno())
            times.append(time.perf_counter() - started)
    quantiles = statistics.quantiles(times, n=100)
    return quantiles[49] * 1000, quantiles[98] * 1000


def answer_encoding() -> None:
    from mcn_gateway.protocol import isup, m3ua, sccp, tcap

    data_params = [(0x0006, b"\0\0\0\1"), (0x0210, b"\0" * 12 + isup.encode_rel(77, 20))]
    rel_data = m3ua.ProtocolData(0, 0, 0, 0, 0, 0, isup.encode_rel(77, 20))
    called, calling = sccp.encode_gt_address("447700900123", 6), sccp.encode_gt_address("447700900001", 8)
    application_context = (0, 4, 0, 0, 1, 0, 25, 2)
    cases = {
        "ISUP REL": (lambda: isup.encode_rel(77, 20), lambda: isup.encode_rel_with_pycrate(77, 20)),
        "ISUP RLC": (lambda: isup.encode_rlc(77), lambda: isup.encode_rlc_with_pycrate(77)),
        "TCAP End + result + dialogue": (
            lambda: tcap.encode_end_result(b"\x01\x02\x03\x04", 1, application_context),
            lambda: tcap._encode(tcap.end_result_value(b"\x01\x02\x03\x04", 1, application_context)),
        ),
        "TCAP Abort": (
            lambda: tcap.encode_p_abort(b"\x01\x02\x03\x04", 1),
            lambda: tcap._encode(tcap.p_abort_value(b"\x01\x02\x03\x04", 1)),
        ),
        "SCCP UDT wrapping an End": (
            lambda: sccp.encode_udt(called, calling, b"\x64" * 60, 1),
            lambda: sccp.encode_udt_with_pycrate(called, calling, b"\x64" * 60, 1),
        ),
        "M3UA DATA wrapping a REL": (
            lambda: m3ua.encode_data(rel_data, routing_context=1),
            lambda: m3ua.encode_with_pycrate(m3ua.TRANSFER_DATA, data_params),
        ),
        "SCCP XUDT wrapping an End": (
            lambda: sccp.encode_xudt(called, calling, b"\x64" * 60, 1),
            lambda: sccp.encode_xudt_with_pycrate(called, calling, b"\x64" * 60, 1),
        ),
    }

    def per_call_us(function, minimum_s: float = 0.3) -> float:
        count, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < minimum_s:
            for _ in range(50):
                function()
            count += 50
        return elapsed / count * 1e6

    print("answer encoding, µs per answer (single thread):")
    for name, (direct, pycrate) in cases.items():
        assert direct() == pycrate(), name
        fast, slow = per_call_us(direct), per_call_us(pycrate)
        print(f"  {name:<30} direct {fast:6.1f}   pycrate {slow:7.1f}   ({slow / fast:.0f}x)")


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def _spread(runs: list[dict], key: str, fmt: str) -> str:
    values = [run[key] for run in runs]
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def main(variants: tuple[str, ...] = VARIANTS, repeat: int = 1) -> int:
    answer_encoding()
    print(
        f"end to end: {MEASURED} IAMs measured after {WARMUP} warm-up, spool synchronous=FULL, file targets;"
        f" {os.cpu_count()} CPUs, {repeat} run(s) each"
    )
    header = f"  {'variant':<13} {'in flight':>9} {'IAM/CPU-s':>10} {'wall/s':>8} {'p50 ms':>7} {'p99 ms':>7}"
    header += f" {'disk p50/p99':>13} {'commits/IAM':>11} {'fsyncs/IAM':>10} {'load':>5}  CPU µs per IAM by thread"
    print(header)
    results: dict[tuple[str, int], list[dict]] = {}
    for _ in range(repeat):
        for variant in variants:
            for window in IN_FLIGHT:
                result = one_run(variant, window)
                results.setdefault((variant, window), []).append(result)
                fsyncs = "n/a" if result["fsyncs"] is None else f"{result['fsyncs']:.3f}"
                threads = ", ".join(f"{name} {us:.0f}" for name, us in result["threads"].items())
                disk = f"{result['disk_p50_ms']:.1f}/{result['disk_p99_ms']:.1f}"
                print(
                    f"  {variant:<13} {window:>9} {result['per_cpu_s']:>10,.0f} {result['wall_rate']:>8,.0f}"
                    f" {result['p50_ms']:>7.1f} {result['p99_ms']:>7.1f} {disk:>13} {result['commits']:>11.3f}"
                    f" {fsyncs:>10} {result['load']:>5.1f}  {threads}",
                    flush=True,
                )
    if repeat > 1:
        print("medians (range) over the runs:")
        for (variant, window), runs in results.items():
            print(
                f"  {variant:<13} {window:>9}  IAM/CPU-s {_spread(runs, 'per_cpu_s', ',.0f')}"
                f"  p99 ms {_spread(runs, 'p99_ms', '.1f')}  disk p99 ms {_spread(runs, 'disk_p99_ms', '.1f')}"
            )
    if "gateway" not in variants:
        return 0
    gateway = results["gateway", 32]
    if "baseline" in variants:
        baseline = results["baseline", 32]
        print(
            f"  gateway vs baseline at 32 in flight (medians):"
            f" {_median(gateway, 'per_cpu_s') / _median(baseline, 'per_cpu_s'):.2f}x IAM per CPU-s,"
            f" {_median(gateway, 'wall_rate') / _median(baseline, 'wall_rate'):.2f}x wall rate,"
            f" p99 {_median(baseline, 'p99_ms'):.1f} -> {_median(gateway, 'p99_ms'):.1f} ms"
        )
    if "pycrate IAM" in variants:
        for window in IN_FLIGHT:
            fast, slow = results["gateway", window], results["pycrate IAM", window]
            ratio = _median(fast, "per_cpu_s") / _median(slow, "per_cpu_s")
            print(f"  fast IAM decoder at {window} in flight: {ratio:.2f}x IAM per CPU-s vs pycrate parameters")
    eight = results["gateway", 8]
    per_cpu_s, p99 = _median(gateway, "per_cpu_s"), _median(gateway, "p99_ms")
    ok = per_cpu_s >= 5000 and p99 < 20 and _median(gateway, "wall_rate") >= _median(eight, "wall_rate") * 0.95
    print(
        f"{'targets met' if ok else 'TARGETS NOT MET'} at 32 in flight (>= 5,000 IAM per CPU-s, p99 < 20 ms,"
        f" no slower than 8 in flight): {per_cpu_s:,.0f} IAM per CPU-s, p99 {p99:.1f} ms"
        f" with the disk's own fdatasync p99 at {_median(gateway, 'disk_p99_ms'):.1f} ms"
    )
    print(
        f"  at 8 in flight: {_median(eight, 'per_cpu_s'):,.0f} IAM per CPU-s, p99 {_median(eight, 'p99_ms'):.1f} ms"
        f" (about {1 / max(_median(eight, 'commits'), 1e-9):.0f} IAMs per commit and fdatasync)"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3])
    else:
        arguments = sys.argv[1:]
        runs = 1
        if arguments[:1] == ["--repeat"]:
            runs, arguments = int(arguments[1]), arguments[2:]
        sys.exit(main(tuple(arguments) or VARIANTS, runs))  # e.g. `gateway_e2e.py gateway` for one variant
