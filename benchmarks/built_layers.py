"""What `sam build` ships: each layer's size (zipped, unzipped, by distribution) and each handler's cold import.

Imports run from a copy of the build without bytecode, in fresh interpreters whose sys.path is the
function's artifact and its layers only (as Lambda has it; /opt and /var/task are read-only there, so
a cold start compiles every module it imports unless the layer ships bytecode). The baseline is a
bare `import boto3` from the same layer copy, in the same run. A second column shows the same imports
with bytecode compiled ahead (unchecked-hash .pyc, valid whatever the files' timestamps after unzip).

Run: make sam-build && .venv/bin/python benchmarks/built_layers.py
"""

from __future__ import annotations

import compileall
import io
import statistics
import sys
import tempfile
import zipfile
from pathlib import Path
from py_compile import PycInvalidationMode

from mcn_devkit.sam_build import (
    BuildMissingError,
    BuildOutput,
    BuiltFunction,
    BuiltLayer,
    clean_import,
    copy_without_bytecode,
    host_overlay,
    reachable_modules,
)

REPEATS = 5
RUNTIME_SDK = {"boto3", "botocore", "s3transfer"}  # what the Lambda python3.13 runtime also provides
MB = 1024 * 1024


def zipped_sizes(root: Path) -> dict[str, tuple[int, int]]:
    """(unzipped, zipped) bytes of each file under root, deflated as `sam deploy` packages it."""
    sizes = {}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            archive.write(path, path.relative_to(root))
        for info in archive.infolist():
            sizes[info.filename] = (info.file_size, info.compress_size)
    return sizes


def report_layer(layer: BuiltLayer) -> None:
    sizes = zipped_sizes(layer.artifact_dir)
    owner = {
        f"python/{name}": dist.name
        for dist in layer.distributions.values()
        for name in dist.files
        if not name.startswith("..")
    }
    by_dist: dict[str, list[int]] = {}
    for filename, (unzipped, zipped) in sizes.items():
        total = by_dist.setdefault(owner.get(filename, "(own code)"), [0, 0])
        total[0] += unzipped
        total[1] += zipped
    unzipped = sum(u for u, _ in sizes.values())
    zipped = sum(z for _, z in sizes.values())
    print(f"\n{layer.logical_id}: {unzipped / MB:.1f} MB unzipped, {zipped / MB:.1f} MB zipped")
    for name, (u, z) in sorted(by_dist.items(), key=lambda item: -item[1][1])[:8]:
        print(f"  {name:<28} {u / MB:>7.2f} MB {z / MB:>7.2f} MB zipped")
    sdk = [by_dist[d] for d in by_dist if d.lower() in RUNTIME_SDK]
    if sdk:
        sdk_u, sdk_z = sum(u for u, _ in sdk), sum(z for _, z in sdk)
        print(
            f"  without boto3/botocore/s3transfer (taken from the runtime): {(unzipped - sdk_u) / MB:.1f} MB unzipped,"
            f" {(zipped - sdk_z) / MB:.1f} MB zipped"
        )


def median_import(paths: list[Path], modules: list[str], env: dict[str, str]) -> float:
    samples = []
    for _ in range(REPEATS):
        report = clean_import(paths, modules, env=env)
        if report.errors:
            raise SystemExit(f"import failed: {report.errors}")
        samples.append(report.seconds)
    return statistics.median(samples)


def main() -> None:
    try:
        build = BuildOutput()
    except BuildMissingError as exc:
        raise SystemExit(str(exc)) from None
    for layer in build.layers.values():
        report_layer(layer)

    with tempfile.TemporaryDirectory() as tmp:
        cold = copy_without_bytecode(build.build_dir, Path(tmp) / "cold")
        warm = copy_without_bytecode(build.build_dir, Path(tmp) / "warm")
        compileall.compile_dir(warm, quiet=2, invalidation_mode=PycInvalidationMode.UNCHECKED_HASH)
        functions: list[BuiltFunction] = sorted(build.functions.values(), key=lambda f: f.logical_id)
        first = functions[0]
        overlays = {}
        for function in functions:
            raw = host_overlay(function.layers, function.architecture, Path(tmp) / "raw" / function.logical_id)
            # A real copy, without bytecode, of the host builds of the compiled distributions (if any).
            overlays[function.logical_id] = (
                [copy_without_bytecode(raw, Path(tmp) / "host" / function.logical_id, symlinks=False)] if raw else []
            )
        sdk_layer = next(layer for layer in first.layers if "boto3" in {d.lower() for d in layer.distributions})
        baseline_paths = [*overlays[first.logical_id], cold / sdk_layer.python_dir.relative_to(build.build_dir)]
        baseline = median_import(baseline_paths, ["boto3"], {})
        warm_paths = [*overlays[first.logical_id], warm / sdk_layer.python_dir.relative_to(build.build_dir)]
        baseline_warm = median_import(warm_paths, ["boto3"], {})

        print(f"\ncold import from the built artifacts, median of {REPEATS} fresh interpreters, x bare `import boto3`")
        print(f"{'':<34} {'no bytecode (as built)':>26} {'bytecode compiled ahead':>26}")
        row = [f"{seconds * 1000:>14.0f} ms  1.00x" for seconds in (baseline, baseline_warm)]
        print(f"{'import boto3 (baseline)':<34} {row[0]} {row[1]}")
        for function in functions:
            overlay = overlays[function.logical_id]
            ours, others = reachable_modules(function)
            rows = {function.logical_id: [function.handler_module], "  + first invocation": ours + others}
            for label, modules in rows.items():
                row = []
                for root, base in ((cold, baseline), (warm, baseline_warm)):
                    seconds = median_import([*overlay, *function.sys_path(root)], modules, function.environment)
                    row.append(f"{seconds * 1000:>14.0f} ms {seconds / base:>5.2f}x")
                print(f"{label:<34} {row[0]} {row[1]}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
