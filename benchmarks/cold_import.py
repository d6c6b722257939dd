"""Cold start of each handler: its import PLUS what its first invocation imports, vs `import boto3`.

Lambda's code directory is read-only: bytecode compiled during a cold start is never kept, only
the bytecode the artifact ships counts. `sam build` (lambda-build.mk) ships unchecked-hash bytecode
for every module, so the handlers and layers are copied to a temporary tree without any bytecode
and compiled there the same way; every interpreter runs with PYTHONDONTWRITEBYTECODE=1 (the
variable means *don't write* when it is set to any non-empty value; "0" does not turn it off) and
`-X frozen_modules=on`, as Lambda. Third-party packages come from the virtualenv's site-packages,
with their bytecode, for the handlers and for the `import boto3` baseline alike: the same bytecode
situation on both sides. (benchmarks/built_layers.py measures the built artifacts themselves.)

What a first invocation imports is found, not listed by hand: for each handler a discovery
interpreter imports it, invokes it with its sample events from `events/` against an AWS
endpoint and an SMSC that refuse connections (so every adapter is built and fails fast), and
reports the modules that appeared. The timed interpreter then imports the handler and exactly
those modules, and builds the validator of every model those modules define: msgspec builds a
model's validator on its first use, which is the first call's cost, not import's, so it is charged
here (over-charged, even: a first call validates only some of them).
Baseline: `import boto3` in fresh interpreters of the same run. The floor rows are what no handler
can go below while it uses them: boto3, PynamoDB, Powertools and msgspec with one model validated;
and, for comparison, the same with pydantic (what the models used before) instead of msgspec.

With COUNT=instructions in the environment (needs valgrind) each figure is instead the instructions
the statement executes (cachegrind, the interpreter's start-up subtracted), once: deterministic, where
CPU time moves with the machine's load.

Target: every handler <= 1.5x boto3.
Run: [COUNT=instructions] .venv/bin/python benchmarks/cold_import.py [REPEATS [FunctionLogicalId ...]]
"""

from __future__ import annotations

import compileall
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from py_compile import PycInvalidationMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "devkit"))

from mcn_devkit.template import ResolvedTemplate, load_template  # noqa: E402

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 7
ONLY = set(sys.argv[2:])  # optionally, some functions' logical ids
INSTRUCTIONS = os.environ.get("COUNT") == "instructions"
TARGET = 1.5
# CPU time of the interpreter's own process: on a loaded machine wall time mostly measures the queue.
TIMER = "import time,sys;t=time.process_time();{stmt};sys.stdout.write(str(time.process_time()-t))"

# Sample events per handler (module in its CodeUri): the first call of each path it serves.
SAMPLE_EVENTS = {
    "IngestFunction": ["ingest/batch.json"],
    "AttachFunction": ["attach/single.json"],
    "ComposeFunction": ["notify/compose.json"],
    "SendFunction": ["notify/send.json", "send/notify_me.json", "send/reply.json"],
    "RecordFunction": ["notify/record.json"],
    "ReleaseFunction": ["notify/release.json"],
    "DeferFunction": ["notify/defer.json"],
    "ResumeFunction": ["notify/resume.json"],
    "ReceiptsFunction": ["receipts/receipt_single.json", "receipts/mo_keywords.json"],
    "FlashCallOutcomesFunction": ["flash_call_outcomes/batch.json"],
}
# The third-party packages every handler's first call imports, with one model validated.
FLOOR = (
    "import boto3, pynamodb.models, aws_lambda_powertools, msgspec;"
    "msgspec.convert({'x': 'a'}, msgspec.defstruct('M', [('x', str)]))"
)
# The same with pydantic, the models' library before msgspec (PYDANTIC_DISABLE_PLUGINS as deployed).
FLOOR_PYDANTIC = (
    "import boto3, pynamodb.models, aws_lambda_powertools, pydantic;"
    "pydantic.create_model('M', x=(str, ...)).model_validate({'x': 'a'})"
)

DISCOVER = """
import json, sys
before = set(sys.modules)
import {module} as handler
after_import = set(sys.modules)
class Context:
    function_name = "bench"; memory_limit_in_mb = 512; aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:000000000000:function:bench"
    def get_remaining_time_in_millis(self): return 30000
for path in {events!r}:
    try:
        getattr(handler, "{function}")(json.load(open(path)), Context())
    except BaseException:
        pass  # the endpoints refuse connections: only the imports on the way there matter
# Our models (msgspec builds a model's validator on first use): their validators belong to the cold start.
import msgspec
models = sorted(
    (name, value.__qualname__)
    for name, module in list(sys.modules.items())
    if name.startswith("mcn_") or name == "{module}"
    for value in list(vars(module).values())
    if isinstance(value, type) and issubclass(value, msgspec.Struct) and getattr(value, "__module__", None) == name
)
sys.stdout.write("\\nMODELS " + json.dumps(models))
sys.stdout.write("\\nMODULES " + json.dumps(sorted(set(sys.modules) - after_import)))
"""


def _no_bytecode_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_"))}
    env.update({"PYTHONDONTWRITEBYTECODE": "1", "AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "eu-west-1"})
    return env


def _python(
    code: str, env: dict[str, str], cwd: Path, flags: tuple[str, ...] = (), under: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter (run `under` a tool, if given) running `code`, as Lambda runs one: frozen modules."""
    return subprocess.run(
        [*under, sys.executable, *flags, "-X", "frozen_modules=on", "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=True,
        timeout=900 if under else 120,
    )


def _run(statement: str, env: dict[str, str], cwd: Path, flags: tuple[str, ...] = ()) -> str:
    return _python(statement, env, cwd, flags).stdout


_CACHEGRIND = ("valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null")


def _instructions(statement: str, env: dict[str, str], cwd: Path) -> float:
    """Instructions executed by an interpreter running `statement`, less one running nothing, in billions
    (so that the table's "ms" columns read as millions of instructions)."""

    def count(code: str) -> int:
        report = _python(code, env, cwd, under=_CACHEGRIND).stderr
        return int(re.search(r"I\s+refs:\s+([\d,]+)", report)[1].replace(",", ""))  # type: ignore[index]

    return (count(statement) - count("pass")) / 1e9


def measure_against_boto3(
    statements: list[str], env: dict[str, str], cwd: Path, base_env: dict[str, str]
) -> list[float]:
    """Median seconds of each statement and of `import boto3`, interleaved run by run (load drifts); or,
    with COUNT=instructions, the instructions of each."""
    if INSTRUCTIONS:
        return [_instructions("import boto3", base_env, cwd)] + [_instructions(s, env, cwd) for s in statements]
    samples: list[list[float]] = [[] for _ in range(len(statements) + 1)]
    for _ in range(REPEATS):
        samples[0].append(float(_run(TIMER.format(stmt="import boto3"), base_env, cwd)))
        for index, statement in enumerate(statements, start=1):
            samples[index].append(float(_run(TIMER.format(stmt=statement), env, cwd)))
    return [statistics.median(values) for values in samples]


def _copy_sources(target: Path) -> None:
    """The functions and layers without local bytecode, then compiled as lambda-build.mk compiles them."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in ("functions", "layers"):
        shutil.copytree(ROOT / part, target / part, ignore=ignore)
    compileall.compile_dir(target, quiet=2, invalidation_mode=PycInvalidationMode.UNCHECKED_HASH)


def first_call_imports(
    module: str, function: str, events: list[str], env: dict[str, str], cwd: Path, flags: tuple[str, ...] = ()
) -> tuple[list[str], list[tuple[str, str]]]:
    """(the modules the first call imports, the models they define as (module, qualified name)).

    flags: the interpreter's (e.g. -S for a build's own paths only, given in PYTHONPATH).
    """
    dead = {
        **env,
        # Refused at once: every adapter is built and imported, no call gets through.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "SMPP_HOST": "127.0.0.1",
        "SMPP_PORT": "9",
        "SMPP_PASSWORD_SECRET_ID": "",
        "SMPP_PASSWORD": "bench",
        "SMPP_CONNECT_TIMEOUT_S": "0.2",
        "SMPP_RESPONSE_TIMEOUT_S": "0.2",
        "SMPP_RECONNECT_BACKOFF_INITIAL_S": "0.2",
        "SMPP_RECONNECT_BACKOFF_MAX_S": "0.2",
        "POWERTOOLS_LOG_LEVEL": "CRITICAL",
    }
    paths = [str(ROOT / "events" / name) for name in events]
    out = _run(DISCOVER.format(module=module, function=function, events=paths), dead, cwd, flags)
    # Only top-level names are imported explicitly; their submodules follow from the list itself.
    found = json.loads(out.rpartition("\nMODULES ")[2])  # the handler's own logs come first
    models = [tuple(entry) for entry in json.loads(out.rpartition("\nMODELS ")[2].partition("\n")[0])]
    return [name for name in found if not name.startswith("_") or "." in name], models


def first_call_statement(module: str, extra: list[str], models: list[tuple[str, str]]) -> str:
    """Import the handler and what its first call imports, and build each model's validator (msgspec builds
    it on a model's first use: a first call's cost)."""
    statement = f"import {module}" + "".join(f";import {name}" for name in extra)
    if models:
        statement += ";import functools,sys,msgspec" + "".join(
            f";msgspec.json.Decoder(functools.reduce(getattr,{qualname.split('.')!r},sys.modules[{owner!r}]))"
            for owner, qualname in models
        )
    return statement


def main() -> None:
    resolved = ResolvedTemplate(load_template(), "bench")
    env = _no_bytecode_env()
    with tempfile.TemporaryDirectory(prefix="mcn-cold-") as tmp:
        tree = Path(tmp)
        _copy_sources(tree)
        layers = os.pathsep.join(str(tree / "layers" / name) for name in ("core", "smpp"))
        rows = []
        for logical_id, resource in sorted(resolved.resources_of_type("AWS::Serverless::Function").items()):
            if ONLY and logical_id not in ONLY:
                continue
            props = resource["Properties"]
            module, _, function = props["Handler"].rpartition(".")
            code = tree / props["CodeUri"]
            # Lambda puts layer contents on the path (/opt/python); do the same, bypassing the editable install.
            fenv = {**env, **resolved.function_environment(logical_id), "PYTHONPATH": layers}
            extra, models = first_call_imports(module, function, SAMPLE_EVENTS.get(logical_id, []), fenv, code)
            statement = first_call_statement(module, extra, models)
            boto3_s, handler_only, with_first_call = measure_against_boto3(
                [f"import {module}", statement], fenv, code, env
            )
            rows.append((logical_id, f"{props['CodeUri']}{module}", boto3_s, handler_only, with_first_call, len(extra)))
        floor_env = {**env, "PYDANTIC_DISABLE_PLUGINS": "__all__"}
        boto3_floor, floor, floor_pydantic = measure_against_boto3([FLOOR, FLOOR_PYDANTIC], floor_env, tree, env)
    measured = (
        "instructions of each import (cachegrind; shown as Minstr where ms would be)"
        if INSTRUCTIONS
        else f"CPU seconds of each import, median of {REPEATS}, interleaved with `import boto3` runs"
    )
    print(
        "bytecode as the build ships it (unchecked-hash, compiled ahead), none written at run time "
        f"(PYTHONDONTWRITEBYTECODE=1); {measured}"
    )
    print(f"{'handler':<42} {'boto3':>7} {'import':>7} {'x boto3':>8} {'+ 1st call':>10} {'x boto3':>8} {'modules':>8}")
    worst = 0.0
    for logical_id, label, boto3_s, handler_only, with_first_call, count in rows:
        worst = max(worst, with_first_call / boto3_s)
        print(
            f"{logical_id + ' (' + label + ')':<42} {boto3_s * 1000:>5.0f}ms {handler_only * 1000:>5.0f}ms "
            f"{handler_only / boto3_s:>8.2f} {with_first_call * 1000:>8.0f}ms "
            f"{with_first_call / boto3_s:>8.2f} {count:>8}"
        )
    for label, seconds in (("msgspec", floor), ("pydantic", floor_pydantic)):
        print(
            f"{'floor: boto3+pynamodb+powertools+' + label:<42.42} {boto3_floor * 1000:>5.0f}ms {'':>7} {'':>8} "
            f"{seconds * 1000:>8.0f}ms {seconds / boto3_floor:>8.2f}"
        )
    verdict = "met" if worst <= TARGET else "NOT met"
    print(f"worst handler with its first call's imports: {worst:.2f}x boto3 (target <= {TARGET}x: {verdict})")


if __name__ == "__main__":
    main()
