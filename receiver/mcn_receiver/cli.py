"""`mcn-receiver`: the command that runs the receiver service until SIGTERM/SIGINT.

Configuration: SMPP_* variables (mcn_smpp.SmppConfig: SMPP_HOST, SMPP_PORT, SMPP_SYSTEM_ID,
SMPP_PASSWORD or SMPP_PASSWORD_SECRET_ID, SMPP_SYSTEM_TYPE, SMPP_BINDS, ...) and MCN_RECEIVER_*
variables, each overridable by a command-line option (see --help).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .config import ENV_PREFIX, OPTIONS, ReceiverConfigError, load_config
from .service import Receiver

log = logging.getLogger("mcn_receiver")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcn-receiver",
        description=(
            "Keep an SMPP bind to the SMSC, spool every delivery receipt and keyword SMS durably, "
            "and forward them in batches to the receipts function. SMPP settings come from SMPP_* "
            "variables (SMPP_HOST, SMPP_PORT, SMPP_SYSTEM_ID, SMPP_PASSWORD or SMPP_PASSWORD_SECRET_ID, "
            "SMPP_SYSTEM_TYPE, SMPP_BINDS, ...)."
        ),
    )
    for field, (suffix, text) in OPTIONS.items():
        parser.add_argument(f"--{field.replace('_', '-')}", dest=field, help=f"{text} [env {ENV_PREFIX}{suffix}]")
    parser.add_argument("--smpp-host", help="SMSC host [env SMPP_HOST]")
    parser.add_argument("--smpp-port", type=int, help="SMSC port [env SMPP_PORT]")
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")
    return parser


def parked_main(argv: Sequence[str]) -> int:
    """`mcn-receiver parked list|retry|purge`: needs only the spool (no SMSC settings)."""
    from mcn_edge.parked import add_parked_parser, run_parked

    parser = argparse.ArgumentParser(prog="mcn-receiver")
    parked = add_parked_parser(parser.add_subparsers(dest="command", required=True))
    parked.add_argument(
        "--spool-path", help=f"SQLite spool file [env {ENV_PREFIX}SPOOL, default mcn-receiver-spool.sqlite3]"
    )
    args = parser.parse_args(argv)
    spool = args.spool_path or os.environ.get(f"{ENV_PREFIX}SPOOL") or "mcn-receiver-spool.sqlite3"
    return run_parked(args, spool)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["parked"]:
        return parked_main(arguments)
    args = build_parser().parse_args(argv)
    try:
        config, smpp = load_config(args)
    except ReceiverConfigError as error:
        print(f"mcn-receiver: {error}", file=sys.stderr)
        return 2
    if args.check:
        print(f"configuration OK: SMSC {smpp.host}:{smpp.port} as {smpp.system_id}, target {config.target}")
        return 0
    logging.basicConfig(
        level=getattr(logging, config.log_level),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    Path(config.spool_path).parent.mkdir(parents=True, exist_ok=True)
    try:
        receiver = Receiver(config, smpp).start()
    except OSError as error:  # e.g. the /healthz + /metrics port is taken, or the spool is not writable
        print(f"mcn-receiver: cannot start: {error}", file=sys.stderr)
        return 2
    log.info("mcn-receiver up: SMSC %s:%d, target %s, spool %s", smpp.host, smpp.port, config.target, config.spool_path)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        log.info("mcn-receiver stopping")
        receiver.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
