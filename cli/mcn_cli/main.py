"""`mcn`: the operator's and developer's command line."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mcn", description="Missed Call Notice: operator and developer commands")
    parser.add_subparsers(dest="command", required=True)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
