"""`mcn`: the operator's and finance's commands, and the developer kit's (invoke, local up, demo)."""

from __future__ import annotations

import argparse
import sys

from mcn_cli import config_cmd, fees, preview, sms, subscribers


def build_parser() -> argparse.ArgumentParser:
    from mcn_devkit import demo, invoke, local_cmd

    parser = argparse.ArgumentParser(prog="mcn", description="Missed Call Notice: operator and developer commands")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # mcn_devkit: invoke, local up, demo (developer tooling); mcn_cli: the operator and finance commands
    invoke.register(commands)
    sms.register(commands)
    local_cmd.register(commands)
    fees.register(commands)
    subscribers.register(commands)
    config_cmd.register(commands)
    preview.register(commands)
    demo.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # here, not at exit: a reader that left early is handled below
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `mcn fees report | head`: the reader left; nothing more to say, and nothing to say it to.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
