"""What `sam build` ships: each layer's size (zipped, unzipped, by distribution) and each handler's cold import.

Imports run in fresh interpreters whose sys.path is the function's artifact and its layers only, as
Lambda has it, writing no bytecode (/opt and /var/task are read-only there: what a cold start compiles
is never kept). The first column is the build as `sam build` makes it (lambda-build.mk ships
unchecked-hash bytecode for every module); the second, the same build without its bytecode (what
SAM's python3.13 builder shipped). Each column's baseline is a bare `import boto3` from the same
layer in the same bytecode situation, measured interleaved with the handlers' imports (CPU time of
the importing interpreter, median of REPEATS).

Run: make sam-build && .venv/bin/python benchmarks/built_layers.py
"""

from __future__ import annotations

import importlib.util
import io
import statistics
import sys
import tempfile
import zipfile
from pathlib import Path

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
        # Bytecode compiled by the build belongs to its source's distribution (RECORD lists no .pyc).
        source = importlib.util.source_from_cache(filename) if "__pycache__" in filename else filename
        total = by_dist.setdefault(owner.get(source, "(own code)"), [0, 0])
        total[0] += unzipped
        total[1] += zipped
    unzipped = sum(u for u, _ in sizes.values())
    zipped = sum(z for _, z in sizes.values())
    pyc_unzipped = sum(u for name, (u, _) in sizes.items() if name.endswith(".pyc"))
    pyc_zipped = sum(z for name, (_, z) in sizes.items() if name.endswith(".pyc"))
    print(
        f"\n{layer.logical_id}: {unzipped / MB:.1f} MB unzipped, {zipped / MB:.1f} MB zipped"
        f" (bytecode: {pyc_unzipped / MB:.1f} MB, {pyc_zipped / MB:.1f} MB zipped)"
    )
    for name, (u, z) in sorted(by_dist.items(), key=lambda item: -item[1][1])[:8]:
        print(f"  {name:<28} {u / MB:>7.2f} MB {z / MB:>7.2f} MB zipped")
    sdk = [by_dist[d] for d in by_dist if d.lower() in RUNTIME_SDK]
    if sdk:
        sdk_u, sdk_z = sum(u for u, _ in sdk), sum(z for _, z in sdk)
        print(
            f"  without boto3/botocore/s3transfer (taken from the runtime): {(unzipped - sdk_u) / MB:.1f} MB unzipped,"
            f" {(zipped - sdk_z) / MB:.1f} MB zipped"
        )


def cpu_import(paths: list[Path], modules: list[str], env: dict[str, str]) -> float:
    report = clean_import(paths, modules, env=env)
    if report.errors:
        raise SystemExit(f"import failed: {report.errors}")
    return report.cpu_seconds


def interleaved(runs: dict[str, tuple[list[Path], list[str], dict[str, str]]]) -> dict[str, float]:
    """Median CPU seconds of each import, run by run in turn (the machine's load drifts)."""
    samples: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(REPEATS):
        for label, (paths, modules, env) in runs.items():
            samples[label].append(cpu_import(paths, modules, env))
    return {label: statistics.median(values) for label, values in samples.items()}


def main() -> None:
    try:
        build = BuildOutput()
    except BuildMissingError as exc:
        raise SystemExit(str(exc)) from None
    for layer in build.layers.values():
        report_layer(layer)

    with tempfile.TemporaryDirectory() as tmp:
        built = build.build_dir
        cold = copy_without_bytecode(build.build_dir, Path(tmp) / "cold")
        functions: list[BuiltFunction] = sorted(build.functions.values(), key=lambda f: f.logical_id)
        overlays = {}
        for function in functions:
            raw = host_overlay(function.layers, function.architecture, Path(tmp) / "raw" / function.logical_id)
            # A real copy, without bytecode, of the host builds of the compiled distributions (if any).
            overlays[function.logical_id] = (
                [copy_without_bytecode(raw, Path(tmp) / "host" / function.logical_id, symlinks=False)] if raw else []
            )
        sdk_layer = next(layer for layer in functions[0].layers if "boto3" in {d.lower() for d in layer.distributions})
        sdk_dir = sdk_layer.python_dir.relative_to(build.build_dir)
        columns = {"as built (bytecode shipped)": built, "without bytecode": cold}

        print(
            f"\ncold import from the built artifacts, CPU time, median of {REPEATS} fresh interpreters, x import boto3"
        )
        print(f"{'':<34}" + "".join(f"{title:>28}" for title in columns))
        worst = {title: 0.0 for title in columns}
        for function in functions:
            overlay = overlays[function.logical_id]
            ours, others = reachable_modules(function)
            rows = {function.logical_id: [function.handler_module], "  + first invocation": ours + others}
            runs = {}
            for title, root in columns.items():
                runs[f"{title}|boto3"] = ([*overlay, root / sdk_dir], ["boto3"], {})
                for label, modules in rows.items():
                    runs[f"{title}|{label}"] = ([*overlay, *function.sys_path(root)], modules, function.environment)
            medians = interleaved(runs)
            print(
                f"{'  import boto3 (baseline)':<34}"
                + "".join(f"{medians[f'{t}|boto3'] * 1000:>20.0f} ms 1.00x" for t in columns)
            )
            for label in rows:
                cells = []
                for title in columns:
                    ratio = medians[f"{title}|{label}"] / medians[f"{title}|boto3"]
                    if label != function.logical_id:
                        worst[title] = max(worst[title], ratio)
                    cells.append(f"{medians[f'{title}|{label}'] * 1000:>17.0f} ms {ratio:>5.2f}x")
                print(f"{label:<34}" + "".join(cells))
        for title, ratio in worst.items():
            print(f"worst handler with everything its first call can import, {title}: {ratio:.2f}x boto3")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
