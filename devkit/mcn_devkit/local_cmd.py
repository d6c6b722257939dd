"""`mcn local up`: the embedded AWS (moto server, template.yaml deployed) in the foreground until Ctrl-C.

Writes the state file (endpoint, stack name, region, physical names, Outputs) that the other
commands read by default, and removes it when it stops.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from mcn_cli.progress import progress
from mcn_cli.target import STATE_FILE_ENV, state_file, write_state

DEFAULT_PORT = 4566
DEFAULT_STACK_NAME = "mcn-local"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    local = subparsers.add_parser("local", help="the embedded AWS for local work (no Docker, no AWS account)")
    local_commands = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")
    up = local_commands.add_parser(
        "up",
        help="start the embedded AWS with template.yaml deployed; runs until Ctrl-C",
        description="Start moto's server on 127.0.0.1 with every resource of template.yaml created, write "
        "the state file the other commands read (fees, subscriber, calls, config), and run in the "
        "foreground until Ctrl-C (or SIGTERM). The state lives in memory: it is gone when this stops.",
    )
    up.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port on 127.0.0.1 (default {DEFAULT_PORT})")
    up.add_argument("--stack-name", default=DEFAULT_STACK_NAME, help=f"stack name (default {DEFAULT_STACK_NAME})")
    up.add_argument(
        "--parameter",
        action="append",
        type=_parameter,
        default=[],
        metavar="NAME=VALUE",
        help="template parameter override (repeatable)",
    )
    up.add_argument(
        "--local-state",
        metavar="FILE",
        help=f"where to write the state file (default ${STATE_FILE_ENV} or .local/stack.json)",
    )
    up.add_argument(
        "--no-smsc",
        action="store_true",
        help="do not start the local SMSC (it starts unless --parameter SmscHost=... names another)",
    )
    up.set_defaults(func=run_up)


def _parameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError("use Name=Value")
    return name, value


def state_document(stack: Any) -> dict[str, Any]:
    """What commands need to reach the stack: the same Outputs a real deployment has, plus names."""
    from mcn_devkit.template import TemplateError

    resolved = stack.resolved
    outputs = {
        name: str(resolved.resolve(spec["Value"])) for name, spec in resolved.template.get("Outputs", {}).items()
    }
    resources = {}
    for logical_id in resolved.resources:
        try:
            resources[logical_id] = str(resolved.ref(logical_id))
        except (TemplateError, KeyError):  # a resource type the local resolver does not name: not needed here
            continue
    return {
        "endpoint": stack.aws_endpoint,
        "stack_name": stack.stack_name,
        "region": stack.region,
        "outputs": outputs,
        "resources": resources,
        "pid": os.getpid(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def run_up(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    path: Path = state_file(args.local_state)
    if args.port and not _port_free(args.port):
        print(f"error: port {args.port} is in use (another `mcn local up`?); choose one with --port", file=err)
        return 1
    parameters = dict(args.parameter)
    with contextlib.ExitStack() as resources:
        smsc = None
        if not args.no_smsc and "SmscHost" not in parameters:
            from mcn_devkit.invoke import LOCAL_SMSC_PASSWORD
            from mcn_devkit.smsc import LocalSmsc, SmscError

            with progress(err, "starting the local SMSC"):
                try:
                    smsc = resources.enter_context(LocalSmsc(system_id="mcn", password=LOCAL_SMSC_PASSWORD))
                except (SmscError, OSError) as exc:
                    print(f"error: cannot start the local SMSC ({exc}); run `make node`, or pass --no-smsc", file=err)
                    return 1
            parameters = {"SmscHost": "127.0.0.1", "SmscPort": str(smsc.port), **parameters}
        return _run_stack(args, parameters, smsc, path, out, err)
    return 1  # pragma: no cover (the with block returns)


def _run_stack(
    args: argparse.Namespace, parameters: dict[str, str], smsc: Any, path: Path, out: TextIO, err: TextIO
) -> int:
    from mcn_devkit.embedded import EmbeddedStack
    from mcn_devkit.template import TemplateError

    try:
        stack = EmbeddedStack(stack_name=args.stack_name, aws_port=args.port, parameters=parameters)
    except TemplateError as exc:
        print(f"error: {exc}", file=err)
        return 2
    try:
        with progress(err, "deploying template.yaml to the embedded AWS"):
            stack.start()
    except (OSError, SystemExit) as exc:  # werkzeug exits the process when it cannot bind: keep our message
        stack.stop()
        print(f"error: cannot start the embedded AWS on port {args.port}: {exc}", file=err)
        return 1
    assert stack.runtime is not None
    stack.runtime.log_sink = err  # `mcn invoke` and the state machine's tasks log here, as `sam local` does
    if smsc is not None:
        from mcn_devkit.invoke import LOCAL_SMSC_PASSWORD, set_smsc_password

        set_smsc_password(stack, LOCAL_SMSC_PASSWORD)
    stopping = threading.Event()
    # Ctrl-C and SIGTERM (a supervisor) stop cleanly; set explicitly because a shell starts
    # background jobs with SIGINT ignored, and Python then never raises KeyboardInterrupt.
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        document = state_document(stack)
        write_state(path, document)
        print(f"embedded AWS up: {stack.aws_endpoint}  stack {stack.stack_name} ({stack.region})", file=out)
        for name, value in sorted(document["outputs"].items()):
            print(f"  {name:28} {value}", file=out)
        print(f"state: {path}", file=out)
        if smsc is not None:
            print(f"local SMSC: {smsc.address} (SMPP 3.4; what it receives is shown on stderr)", file=out)
        print(f"SDKs: export AWS_ENDPOINT_URL={stack.aws_endpoint} AWS_REGION={stack.region}", file=out)
        print("Ctrl-C to stop.", file=out, flush=True)
        shown = 0
        while not stopping.wait(timeout=1.0):  # a timeout keeps the signal handlers responsive
            if smsc is not None and len(smsc.submits) > shown:
                from mcn_devkit.invoke import report_submits

                report_submits(smsc.submits[shown:], err)
                shown = len(smsc.submits)
    finally:
        stack.stop()
        _remove_own_state(path)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("embedded AWS stopped.", file=out, flush=True)
    return 0


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no obstacle
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _remove_own_state(path: Path) -> None:
    """Remove the state file unless another `mcn local up` has replaced it since."""
    import json

    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass
