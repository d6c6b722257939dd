"""What `sam build` made (.aws-sam/build, built by `make test` before pytest runs), checked as Lambda gets it.

Outside make, with no build, these tests skip and say so; with MCN_REQUIRE_SAM_BUILD=1 (as `make test`
sets it) a missing build fails them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest

from mcn_devkit.sam_build import (
    BUILD_DIR,
    BUILT_TEMPLATE,
    ELF_MACHINE,
    PROJECT_ROOT,
    BuildOutput,
    BuiltLayer,
    clean_import,
    elf_machine,
    host_overlay,
    load_source_template,
    normalize,
    reachable_modules,
)

SOURCE = load_source_template()
FUNCTION_IDS = sorted(k for k, v in SOURCE["Resources"].items() if v["Type"] == "AWS::Serverless::Function")
LAYER_IDS = sorted(k for k, v in SOURCE["Resources"].items() if v["Type"] == "AWS::Serverless::LayerVersion")
# Repo code that must never ship in a Lambda artifact.
NEVER_PACKAGED_DIRS = ("tests", "benchmarks", "devkit", "cli")
NEVER_PACKAGED_NAMES = {"tests", "benchmarks", "conftest.py", "mcn_devkit", "mcn_cli"}
# Build metadata in a function's or layer's folder (lambda-build.mk), not shipped.
BUILD_FILES = {"Makefile"}
STALE = "the build differs from the source (edited since? `make sam-build`)"


@pytest.fixture(scope="module")
def build() -> BuildOutput:
    if not BUILT_TEMPLATE.is_file():
        message = f"no SAM build at {BUILD_DIR.relative_to(PROJECT_ROOT)}: `make sam-build` (run by `make test`)"
        if os.environ.get("MCN_REQUIRE_SAM_BUILD") == "1":
            pytest.fail(message + " did not produce it")
        pytest.skip(message)
    return BuildOutput(source_template=SOURCE)


def requirement_pins(path: Path) -> dict[str, str]:
    pins = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;]+)", line)
        assert match, f"{path}: {raw!r} is not pinned with =="
        pins[normalize(match[1])] = match[3]
    return pins


DEV_LOCK = requirement_pins(PROJECT_ROOT / "requirements" / "lock.txt")


def test_the_build_has_every_function_and_layer_of_the_template(build: BuildOutput) -> None:
    assert sorted(build.functions) == FUNCTION_IDS
    assert sorted(build.layers) == LAYER_IDS
    for item in [*build.functions.values(), *build.layers.values()]:
        assert item.artifact_dir.is_dir(), f"{item.logical_id}: {item.artifact_dir} missing"


@pytest.mark.parametrize("logical_id", FUNCTION_IDS)
def test_handler_imports_from_the_built_artifact_and_layers(
    build: BuildOutput, logical_id: str, tmp_path: Path
) -> None:
    function = build.functions[logical_id]
    overlay = host_overlay(function.layers, function.architecture, tmp_path / "host")
    paths = ([overlay] if overlay else []) + function.sys_path()
    # Everything the handler can reach, including what it imports on first use (the DAL, SMPP, numbers).
    ours, others = reachable_modules(function)
    assert function.handler_module in ours
    report = clean_import(paths, [*ours, *others], env=function.environment)
    assert report.errors == {}, report.errors
    assert report.outside == [], "imported from outside the artifact, its layers and the standard library"
    # Lambda cannot keep bytecode it compiles (/var/task and /opt are read-only): the build ships it.
    assert [p for p in report.sources_read if p.startswith(f"{BUILD_DIR}/")] == [], "compiled at import"
    source = (function.artifact_dir / (function.handler_module.replace(".", "/") + ".py")).read_text()
    assert f"def {function.handler_attribute}(" in source


@pytest.mark.parametrize("logical_id", FUNCTION_IDS)
def test_function_artifact_is_exactly_its_source_folder(build: BuildOutput, logical_id: str) -> None:
    function = build.functions[logical_id]
    assert source_files(function.artifact_dir) == source_files(function.source_dir), STALE


def source_files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc" and p.name not in BUILD_FILES
    }


RUNTIME = SOURCE["Globals"]["Function"]["Runtime"]
# The flags word of a .pyc (PEP 552): hash-based, source never checked.
UNCHECKED_HASH = 0b01


@pytest.mark.parametrize("logical_id", FUNCTION_IDS + LAYER_IDS)
def test_every_module_ships_bytecode_for_the_runtime_that_needs_no_source_check(
    build: BuildOutput, logical_id: str
) -> None:
    artifact = {**build.functions, **build.layers}[logical_id].artifact_dir
    assert f"python{sys.version_info.major}.{sys.version_info.minor}" == RUNTIME, "tests must run the runtime's Python"
    sources = sorted(artifact.rglob("*.py"))
    assert sources, artifact
    problems = []
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        if not cached.is_file():
            problems.append(f"{source.relative_to(BUILD_DIR)}: no {cached.name}")
            continue
        header = cached.read_bytes()[:16]
        if header[:4] != importlib.util.MAGIC_NUMBER:
            problems.append(f"{cached.relative_to(BUILD_DIR)}: bytecode of another Python")
        elif int.from_bytes(header[4:8], "little") != UNCHECKED_HASH:
            problems.append(f"{cached.relative_to(BUILD_DIR)}: checked against its source's timestamp or hash")
        elif header[8:16] != importlib.util.source_hash(source.read_bytes()):
            problems.append(f"{cached.relative_to(BUILD_DIR)}: compiled from another version of its source")
    assert problems == []


@pytest.mark.parametrize("logical_id", LAYER_IDS)
def test_layer_contents_match_its_requirements_and_the_dev_lock(build: BuildOutput, logical_id: str) -> None:
    layer = build.layers[logical_id]
    pins = requirement_pins(layer.source_dir / "requirements.txt")
    shipped = {key: dist.version for key, dist in layer.distributions.items()}
    assert shipped == pins, (
        f"{logical_id}: installed but not pinned {sorted(set(shipped) - set(pins))}, "
        f"pinned but not installed {sorted(set(pins) - set(shipped))}, "
        f"other version {sorted(k for k in set(pins) & set(shipped) if pins[k] != shipped[k])}"
    )
    # The tests run what ships: every pin is the dev lock's version.
    assert {k: v for k, v in pins.items() if DEV_LOCK.get(k) != v} == {}


@pytest.mark.parametrize("logical_id", LAYER_IDS)
def test_layer_holds_only_its_packages_and_their_distributions(build: BuildOutput, logical_id: str) -> None:
    layer = build.layers[logical_id]
    assert sorted(p.name for p in layer.artifact_dir.iterdir()) == ["python"]
    owned = {name for dist in layer.distributions.values() for name in dist.top_level}
    expected = owned | set(layer.own_packages) | {"requirements.txt", "__pycache__"}  # bytecode of top-level modules
    assert sorted(p.name for p in layer.python_dir.iterdir() if p.name not in expected) == []
    for package in layer.own_packages:
        assert source_files(layer.python_dir / package) == source_files(layer.source_dir / package), STALE


def test_no_file_of_tests_benchmarks_or_developer_tools_is_packaged(build: BuildOutput) -> None:
    never = {
        hashlib.sha256(p.read_bytes()).hexdigest(): str(p.relative_to(PROJECT_ROOT))
        for folder in NEVER_PACKAGED_DIRS
        for p in (PROJECT_ROOT / folder).rglob("*")
        # Tiny files (an empty __init__.py) are common to unrelated packages.
        if p.is_file() and "__pycache__" not in p.parts and p.stat().st_size > 64
    }
    artifacts = [*build.functions.values(), *build.layers.values()]
    packaged = []
    for artifact in artifacts:
        tops = [artifact.artifact_dir, *([artifact.python_dir] if isinstance(artifact, BuiltLayer) else [])]
        packaged += [str(p) for top in tops for p in top.iterdir() if p.name in NEVER_PACKAGED_NAMES]
        for path in artifact.artifact_dir.rglob("*"):
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
            if digest in never:
                packaged.append(f"{path.relative_to(BUILD_DIR)} (a copy of {never[digest]})")
    assert packaged == []


@pytest.mark.parametrize("logical_id", FUNCTION_IDS)
def test_layers_of_a_function_do_not_overwrite_each_other(build: BuildOutput, logical_id: str) -> None:
    # Lambda extracts every layer into /opt: a name two layers ship must be the same release in both.
    seen: dict[str, tuple[str, str]] = {}
    for layer in build.functions[logical_id].layers:
        for dist in layer.distributions.values():
            for name in dist.top_level:
                if name in seen:
                    assert seen[name] == (dist.key, dist.version), (name, seen[name], layer.logical_id)
                seen[name] = (dist.key, dist.version)


@pytest.mark.parametrize("logical_id", LAYER_IDS)
def test_compiled_extensions_are_built_for_the_functions_architecture(build: BuildOutput, logical_id: str) -> None:
    layer = build.layers[logical_id]
    architectures = {f.architecture for f in build.functions.values() if layer in f.layers}
    declared = SOURCE["Resources"][logical_id]["Properties"].get("CompatibleArchitectures", ["x86_64"])
    assert architectures <= set(declared)
    for dist in layer.distributions.values():
        for extension in dist.extension_modules(layer.python_dir):
            assert {elf_machine(extension)} <= {ELF_MACHINE[a] for a in architectures}, extension
