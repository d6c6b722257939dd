"""`mcn-gateway` console script: run the gateway, check a config, replay a capture, manage parked events and
the flash-call trunk's circuits."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

from .config import ConfigError, FirewallConfig, GatewayConfig, SignallingConfig, load_config

log = logging.getLogger("mcn_gateway")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    # pycrate logs every unknown private extension at INFO (noise for an operator); its log module sets
    # that level when first imported, so import it before overriding
    import pycrate_core.log  # noqa: F401

    logging.getLogger("pycrate").setLevel(logging.WARNING)


def _writable_file(path: str, what: str) -> str | None:
    """None when `path` can be written (created if missing), else one line saying why not.
    Tried for real (a temporary file in its directory): permission bits say nothing when running as root."""
    target = Path(path)
    try:
        if target.exists():
            if target.is_dir():
                return f"{what} {path} is a directory"
            with target.open("r+b"):
                pass
            return None
        directory = target.parent
        while not directory.exists() and directory != directory.parent:
            directory = directory.parent  # missing directories are created at start: their first existing parent counts
        if not directory.is_dir():
            return f"{what} {path} is not writable: {directory} is not a directory"
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".mcn-gateway-check-"):
            pass
    except OSError as exc:
        return f"{what} {path} is not writable: {exc.strerror or exc}"
    return None


def startup_problems(config: GatewayConfig) -> list[str]:
    """What would stop the gateway at start: the spool and `file:` targets must be writable."""
    forwarding = config.forwarding
    checks = [(forwarding.spool_path, "forwarding.spool_path")]
    for key in ("ingest_target", "attach_target", "outcome_target"):
        scheme, _, rest = (getattr(forwarding, key) or "").partition(":")
        if scheme == "file":
            checks.append((rest, f"forwarding.{key}"))
    return [problem for path, what in checks if (problem := _writable_file(path, what))]


def _run(config: GatewayConfig) -> int:
    from .app import Gateway

    problems = startup_problems(config)
    if problems:
        print(f"mcn-gateway: cannot start: {'; '.join(problems)}", file=sys.stderr)
        return 2

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        gateway = Gateway(config)
        await gateway.run_forever(stop)

    try:
        asyncio.run(main())
    except (OSError, sqlite3.Error) as exc:  # a port in use, a spool that cannot be opened: one line, no traceback
        print(f"mcn-gateway: cannot start: {exc}", file=sys.stderr)
        return 2
    return 0


def _terminal_progress(description: str) -> Any:
    """A progress bar on stderr for long replays, when it is a terminal and tqdm is installed (not in the image)."""
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return lambda items: tqdm(items, desc=description, unit=" msg", file=sys.stderr, leave=False)


def _replay(args: argparse.Namespace) -> int:
    from .metrics import Metrics
    from .processor import SignallingProcessor
    from .replay import replay_capture

    config: GatewayConfig | None = None
    if not args.print_events:
        config = load_config(args.config)
        signalling, firewall = config.signalling, config.firewall
    else:
        try:
            config = load_config(args.config) if args.config else None
        except ConfigError:
            raise
        signalling = config.signalling if config else SignallingConfig(point_code=0, platform_gt="0")
        firewall = config.firewall if config else FirewallConfig()
    signalling = signalling.model_copy(update={"ready_for_sm": True})
    metrics = Metrics()
    processor = SignallingProcessor(signalling, firewall, metrics, passive=True)
    stats = replay_capture(args.capture, processor, _terminal_progress("decoding " + str(args.capture)))
    if args.print_events:
        for event in stats.events:
            print(json.dumps({"kind": event.kind, **event.body}, sort_keys=True))
    else:
        from mcn_edge.forwarder import Forwarder
        from mcn_edge.spool import Spool

        from .app import EventSink, build_targets

        assert config is not None
        spool = Spool(config.forwarding.spool_path)
        forwarding = config.forwarding
        forwarder = Forwarder(
            spool,
            build_targets(config),
            metrics,
            batch_size=forwarding.batch_size,
            retry_initial_s=forwarding.retry_initial_s,
            retry_max_s=forwarding.retry_max_s,
            max_batch_bytes=forwarding.max_batch_bytes,
            poison_attempts=forwarding.poison_attempts,
        )
        EventSink(spool, None, metrics).accept(stats.events)
        if not forwarder.drain(args.drain_timeout):
            log.error("replay: %d events still spooled (target unreachable?)", spool.depth())
            return 3
    print(
        f"replay: {stats.packets} SCTP payloads, {stats.m3ua_messages} M3UA, {stats.m2pa_messages} M2PA, "
        f"{stats.data_messages} user messages, {stats.decode_errors} decode errors, {len(stats.events)} events",
        file=sys.stderr,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mcn-gateway", description="Missed Call Notice SIGTRAN edge gateway")
    parser.add_argument("--config", "-c", help="config file (.toml/.json/.yaml); default $MCN_GATEWAY_CONFIG")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the gateway (default)")
    sub.add_parser("check-config", help="validate the configuration and exit")
    replay = sub.add_parser("replay", help="decode a pcap passively and emit the events it carries")
    replay.add_argument("capture")
    replay.add_argument(
        "--print",
        dest="print_events",
        action="store_true",
        help="print events as JSON lines instead of forwarding them",
    )
    replay.add_argument("--drain-timeout", type=float, default=60.0)
    from mcn_edge.parked import add_parked_parser, run_parked

    from .circuit_cli import add_circuits_parser, run_circuits

    add_parked_parser(sub)
    add_circuits_parser(sub)
    args = parser.parse_args(argv)
    try:
        if args.command == "parked":
            return run_parked(args, load_config(args.config).forwarding.spool_path)
        if args.command == "circuits":
            return run_circuits(args, load_config(args.config))
        if args.command == "replay":
            from .pcap import PcapError

            _setup_logging("WARNING")
            try:
                return _replay(args)
            except (OSError, PcapError) as exc:  # a missing, unreadable or non-pcap file: the user's error
                reason = exc.strerror or exc if isinstance(exc, OSError) else exc
                print(f"mcn-gateway: cannot replay {args.capture}: {reason}", file=sys.stderr)
                return 2
        config = load_config(args.config)
        _setup_logging(config.log_level)
        if args.command == "check-config":
            problems = startup_problems(config)
            if problems:
                print("mcn-gateway: " + "\n  ".join(["configuration cannot run:", *problems]), file=sys.stderr)
                return 2
            print(config.model_dump_json(indent=2))
            return 0
        return _run(config)
    except ConfigError as exc:
        print(f"mcn-gateway: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
