"""Operator commands against the embedded AWS: a state file for the module's stack, and an `mcn` runner."""

from __future__ import annotations

import argparse
import io
import os
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from mcn_cli import config_cmd, fees, subscribers
from mcn_cli.target import write_state
from mcn_devkit import local_cmd
from mcn_devkit.embedded import EmbeddedStack

_COMMANDS = {"local": local_cmd, "fees": fees, "subscriber": subscribers, "config": config_cmd}


def build_parser() -> argparse.ArgumentParser:
    """main.py's parser; the operator commands are added if main.py does not register them (yet)."""
    from mcn_cli.main import build_parser as main_parser

    parser = main_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, module in _COMMANDS.items():
        if name not in commands.choices:
            module.register(commands)
    return parser


# The same, for a subprocess (`mcn local up` must be started and stopped as a real process).
SUBPROCESS_RUNNER = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("operator_conftest", {str(Path(__file__))!r})
module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
args = module.build_parser().parse_args(sys.argv[1:])
sys.exit(int(args.func(args)))
"""


@pytest.fixture(scope="session")
def subprocess_runner() -> str:
    """`[sys.executable, "-c", runner, *argv]` runs `mcn ARGV` in a new process."""
    return SUBPROCESS_RUNNER


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_mcn(*argv: str) -> Result:
    """Run `mcn ARGV` in this process, as the console script would, capturing its output."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            args = build_parser().parse_args(list(argv))
            code = int(args.func(args))
        except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
            code = int(exc.code or 0)
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def mcn() -> Callable[..., Result]:
    """`mcn("fees", "report", ...)` runs the command in this process and returns code, stdout, stderr."""
    return run_mcn


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """Commands point the process's SDKs at their target through os.environ: undo it after each test."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def local_state(stack: EmbeddedStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The state file `mcn local up` would write for the module's embedded AWS."""
    path = tmp_path_factory.mktemp("local") / "stack.json"
    write_state(path, local_cmd.state_document(stack))
    return path
