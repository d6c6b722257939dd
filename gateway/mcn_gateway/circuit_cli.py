"""`mcn-gateway circuits block|unblock|show`: the operator's blocking of the flash-call trunk's circuits, sent
to the running gateway through its HTTP control endpoint (`/circuits`, taken from this host only)."""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any, TextIO

from .config import GatewayConfig

_ANY_ADDRESS = ("", "0.0.0.0", "::")


class CircuitCommandError(Exception):
    """Something the operator must fix; the message says what. `status` is the exit status."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def add_circuits_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    circuits = sub.add_parser(
        "circuits", help="block, unblock or show the flash-call trunk's circuits (running gateway)"
    )
    circuits.add_argument("action", choices=("block", "unblock", "show"))
    circuits.add_argument("--cic", help="a circuit (N) or a range (N-M); show: all when omitted")
    circuits.add_argument(
        "--wait", type=float, default=5.0, help="block/unblock: seconds to wait for the MSC's acknowledgement (5)"
    )
    circuits.add_argument("--json", action="store_true", help="print the circuits as JSON")


def parse_cics(text: str) -> list[int]:
    """ "5" -> [5], "5-8" -> [5, 6, 7, 8]."""
    first, dash, last = text.strip().partition("-")
    try:
        low = int(first)
        high = int(last) if dash else low
    except ValueError:
        raise CircuitCommandError(f"--cic {text}: expected a circuit number N or a range N-M") from None
    if low < 0 or high < low:
        raise CircuitCommandError(f"--cic {text}: expected a circuit number N or a range N-M with N <= M")
    return list(range(low, high + 1))


def control_url(config: GatewayConfig) -> str:
    host = config.http.host
    host = "127.0.0.1" if host in _ANY_ADDRESS else host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.http.port}/circuits"


def _call(url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    request.add_header("Content-Type", "application/json")
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the gateway is local: no HTTP proxy
    try:
        with direct.open(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            reason = exc.reason
        if exc.code == 404:
            reason = "the gateway answering there runs without [origination] (no trunk to block)"
        raise CircuitCommandError(f"{reason}", status=2 if exc.code == 400 else 1) from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CircuitCommandError(
            f"the gateway is not running: nothing answers on {url} ({reason}); start it, or check http.port",
            status=1,
        ) from None


def _line(circuit: dict[str, Any]) -> str:
    local = "blocked" if circuit["locally_blocked"] else "-"
    remote = "blocked" if circuit["remotely_blocked"] else "-"
    awaiting = f"awaiting {circuit['awaiting']}" if circuit["awaiting"] else "acknowledged"
    return f"cic {circuit['cic']}\t{circuit['state']}\tlocal {local}\tremote {remote}\t{awaiting}"


def run_circuits(args: argparse.Namespace, config: GatewayConfig, out: TextIO | None = None) -> int:
    """Exit status: 0 done, 1 the gateway is not running (or failed), 2 a usage error (CIC outside the range)."""
    out = out or sys.stdout
    try:
        origination = config.origination
        if origination is None:
            raise CircuitCommandError("this configuration has no [origination] trunk: there are no circuits to block")
        cics = parse_cics(args.cic) if args.cic else None
        if args.action != "show" and cics is None:
            raise CircuitCommandError(f"circuits {args.action}: give --cic N or --cic N-M")
        if cics is not None:
            outside = [cic for cic in cics if not origination.cic_first <= cic <= origination.cic_last]
            if outside:
                raise CircuitCommandError(
                    f"--cic {args.cic}: outside the trunk's range {origination.cic_first}-{origination.cic_last}"
                )
        url = control_url(config)
        if args.action == "show":
            answer = _call(url)
        else:
            answer = _call(url, {"action": args.action, "cics": cics})
            deadline = time.monotonic() + max(0.0, args.wait)
            while any(c["awaiting"] for c in answer["circuits"]) and time.monotonic() < deadline:
                time.sleep(0.2)
                shown = _call(url)
                wanted = set(cics or [])
                answer = {**shown, "circuits": [c for c in shown["circuits"] if c["cic"] in wanted]}
        circuits = answer["circuits"]
        if cics is not None and args.action == "show":
            circuits = [c for c in circuits if c["cic"] in set(cics)]
        if args.json:
            print(json.dumps(circuits), file=out)
        else:
            for circuit in circuits:
                print(_line(circuit), file=out)
        waiting = [c["cic"] for c in circuits if c["awaiting"]]
        if waiting and args.action != "show":
            print(
                f"the MSC has not acknowledged cic {', '.join(map(str, waiting))} yet: the gateway repeats the "
                "message (T12/T14/T18/T20) and alerts at T13/T15/T19/T21",
                file=sys.stderr,
            )
        return 0
    except CircuitCommandError as exc:
        print(f"mcn-gateway: {exc}", file=sys.stderr)
        return exc.status
