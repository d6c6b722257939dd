"""Cold import of each handler module vs a bare `import boto3`, in fresh interpreters, same run.

Target: each handler <= 1.5x boto3 (import lazily what a path does not need).
Run: .venv/bin/python benchmarks/cold_import.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "cli"))

from mcn_devkit.template import ResolvedTemplate, load_template  # noqa: E402

REPEATS = 7
TIMER = "import time,sys;t=time.perf_counter();{stmt};sys.stdout.write(str(time.perf_counter()-t))"


def measure(statement: str, env: dict[str, str], cwd: Path) -> float:
    samples = []
    for _ in range(REPEATS):
        out = subprocess.run(
            [sys.executable, "-c", TIMER.format(stmt=statement)],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            check=True,
        ).stdout
        samples.append(float(out))
    return statistics.median(samples)


def main() -> None:
    resolved = ResolvedTemplate(load_template(), "bench")
    base_env = {**os.environ, "AWS_DEFAULT_REGION": "eu-west-1", "PYTHONDONTWRITEBYTECODE": "0"}
    baseline = measure("import boto3", base_env, ROOT)
    print(f"{'module':<40} {'median ms':>10} {'x boto3':>8}")
    print(f"{'import boto3 (baseline)':<40} {baseline * 1000:>10.1f} {1.0:>8.2f}")
    for logical_id, resource in sorted(resolved.resources_of_type("AWS::Serverless::Function").items()):
        props = resource["Properties"]
        module = props["Handler"].rpartition(".")[0]
        # Lambda puts layer contents on the path (/opt/python); do the same, bypassing the editable install.
        layers = [str(ROOT / "layers" / name) for name in ("core", "smpp")]
        env = {**base_env, **resolved.function_environment(logical_id), "PYTHONPATH": os.pathsep.join(layers)}
        label = f"{logical_id} ({props['CodeUri']}{module})"
        seconds = measure(f"import {module}", env, ROOT / props["CodeUri"])
        print(f"{label:<40} {seconds * 1000:>10.1f} {seconds / baseline:>8.2f}")
        # Honest second figure: the data-access stack is imported lazily, on the first invocation.
        ready = measure(f"import {module}; import pynamodb.models", env, ROOT / props["CodeUri"])
        print(f"{'  + DynamoDB stack on first invoke':<40} {ready * 1000:>10.1f} {ready / baseline:>8.2f}")


if __name__ == "__main__":
    main()
