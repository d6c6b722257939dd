"""Where each handler's cold start goes beyond `import boto3`: the import graph of the built artifact.

For each function of the SAM build (`make sam-build`), as Lambda runs it (its artifact and layers only
on sys.path, the bytecode the build ships, none written): the modules its first call imports are
found as benchmarks/cold_import.py finds them, then `python -X importtime` imports the handler and
those modules (and builds their models' validators, which is no import and shows in no module), RUNS
times. Each module's own time (median) is summed per package, leaving out every module a bare
`import boto3` also imports; the share of `import boto3`'s own total in the same runs is the figure to
compare with cold_import.py's ratios (importtime's own overhead inflates both sides alike).

Run: make sam-build && .venv/bin/python benchmarks/cold_import_graph.py [RUNS [FunctionLogicalId ...]]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from cold_import import SAMPLE_EVENTS, first_call_imports, first_call_statement

from mcn_devkit.sam_build import BuildMissingError, BuildOutput, host_overlay

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
ONLY = set(sys.argv[2:])
# Packages shown by their sub-package: where in them the time goes matters.
SPLIT = {"mcn_core": 3, "aws_lambda_powertools": 3, "pydantic": 2}


def own_times(paths: list[str], statement: str, env: dict[str, str]) -> dict[str, int]:
    """Microseconds each module took itself (children excluded), from one fresh interpreter."""
    code = f"import sys,json;sys.path[:0]=json.loads(sys.argv[1]);{statement}"
    result = subprocess.run(
        [sys.executable, "-SPB", "-X", "importtime", "-X", "frozen_modules=on", "-c", code, json.dumps(paths)],
        capture_output=True,
        text=True,
        env=env,
        cwd=paths[0],
        check=True,
    )
    times = {}
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            own, _, name = line.partition(":")[2].split("|")
            times[name.strip()] = int(own)
    return times


def package(module: str) -> str:
    top = module.split(".")[0]
    return ".".join(module.split(".")[: SPLIT.get(top, 1)])


def main() -> None:
    try:
        build = BuildOutput()
    except BuildMissingError as exc:
        raise SystemExit(str(exc)) from None
    with tempfile.TemporaryDirectory() as tmp:
        for function in sorted(build.functions.values(), key=lambda f: f.logical_id):
            if ONLY and function.logical_id not in ONLY:
                continue
            overlay = host_overlay(function.layers, function.architecture, Path(tmp) / function.logical_id)
            paths = [str(p) for p in [*([overlay] if overlay else []), *function.sys_path()]]
            env = {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "eu-west-1", **function.environment}
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            events = SAMPLE_EVENTS.get(function.logical_id, [])
            module = function.handler_module
            extra, models = first_call_imports(
                module,
                function.handler_attribute,
                events,
                {**env, "PYTHONPATH": ":".join(paths)},
                Path(paths[0]),
                flags=("-S", "-P", "-B"),
            )
            statement = first_call_statement(module, extra, models)
            boto3_runs, handler_runs = [], []
            for _ in range(RUNS):
                boto3_runs.append(own_times(paths, "import boto3", env))
                handler_runs.append(own_times(paths, statement, env))
            boto3_total = statistics.median(sum(run.values()) for run in boto3_runs)
            boto3_modules = set().union(*boto3_runs)
            by_package: Counter[str] = Counter()
            for name in set().union(*handler_runs) - boto3_modules:
                by_package[package(name)] += statistics.median(run.get(name, 0) for run in handler_runs)
            beyond = sum(by_package.values())
            print(
                f"\n{function.logical_id}: beyond `import boto3` ({boto3_total / 1000:.0f} ms under importtime): "
                f"{beyond / 1000:.0f} ms = {beyond / boto3_total:.2f}x boto3, median of {RUNS}"
            )
            for name, micros in by_package.most_common(15):
                print(f"  {name:<46} {micros / 1000:>7.1f} ms {micros / boto3_total:>6.3f}x")


if __name__ == "__main__":
    main()
