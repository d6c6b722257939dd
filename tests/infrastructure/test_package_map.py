"""What may import what (docs/developer-guide.md, "What may import what"), checked on the source.

Every import statement counts, at module level or inside a function, except where a rule says a
lazy import is allowed. logic/'s own rule lives in tests/unit/core/test_layering.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PACKAGES = {
    "mcn_core": ROOT / "layers/core/mcn_core",
    "mcn_smpp": ROOT / "layers/smpp/mcn_smpp",
    "mcn_edge": ROOT / "edge/mcn_edge",
    "mcn_gateway": ROOT / "gateway/mcn_gateway",
    "mcn_receiver": ROOT / "receiver/mcn_receiver",
    "mcn_cli": ROOT / "cli/mcn_cli",
    "functions": ROOT / "functions",
}
AWS = ("boto3", "botocore", "pynamodb", "aws_lambda_powertools")


def imports(path: Path) -> list[tuple[str, bool]]:
    """(absolute module name, at module level?) of every import in the file; relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    package = _package_of(path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((name, id(node) in top_level))
    return found


def _package_of(path: Path) -> str:
    for name, root in PACKAGES.items():
        if path.is_relative_to(root):
            parts = path.relative_to(root).with_suffix("").parts
            return ".".join([name, *parts[:-1]])
    raise AssertionError(path)


def _files(package: str, under: str = "") -> list[Path]:
    files = sorted((PACKAGES[package] / under).rglob("*.py"))
    assert files, package
    return files


def _offenders(files: list[Path], forbidden: tuple[str, ...], *, lazy_allowed: tuple[str, ...] = ()) -> list[str]:
    problems = []
    for path in files:
        for name, top in imports(path):
            hit = next((f for f in forbidden if name == f or name.startswith(f + ".")), None)
            if hit and not (not top and hit in lazy_allowed):
                problems.append(f"{path.relative_to(ROOT)}: {name}")
    return problems


DEVKIT_AND_TESTS = ("mcn_devkit", "tests")


@pytest.mark.parametrize(
    ("files", "forbidden", "lazy_allowed"),
    [
        pytest.param(
            _files("mcn_core", "models"),
            (*AWS, "mcn_core.dal", "mcn_core.logic", "mcn_core.wiring"),
            (),
            id="models: no AWS, no dal or logic",
        ),
        pytest.param(
            _files("mcn_smpp"),
            (
                "mcn_core",
                "mcn_edge",
                "mcn_gateway",
                "mcn_receiver",
                "mcn_cli",
                *DEVKIT_AND_TESTS,
                "botocore",
                "pynamodb",
                "aws_lambda_powertools",
                "boto3",
            ),
            ("boto3",),
            id="smpp: protocol only, boto3 lazily",
        ),
        pytest.param(
            _files("mcn_gateway", "protocol"),
            (
                *AWS,
                "mcn_core",
                "mcn_edge",
                "mcn_gateway.app",
                "mcn_gateway.association",
                "mcn_gateway.processor",
                "socket",
                "asyncio",
            ),
            (),
            id="gateway protocol: codecs only",
        ),
        pytest.param(
            _files("mcn_edge"),
            ("mcn_gateway", "mcn_receiver", "mcn_cli", *DEVKIT_AND_TESTS),
            (),
            id="edge: shared, knows neither service",
        ),
        pytest.param(
            _files("mcn_gateway"), ("mcn_receiver", "mcn_cli", *DEVKIT_AND_TESTS), (), id="gateway: not the receiver"
        ),
        pytest.param(
            _files("mcn_receiver"), ("mcn_gateway", "mcn_cli", *DEVKIT_AND_TESTS), (), id="receiver: not the gateway"
        ),
        pytest.param(
            _files("mcn_core"),
            ("mcn_edge", "mcn_gateway", "mcn_receiver", "mcn_cli", *DEVKIT_AND_TESTS),
            (),
            id="core: no edge, CLI or devkit",
        ),
        pytest.param(
            _files("functions"),
            ("boto3", "botocore", "pynamodb", *DEVKIT_AND_TESTS),
            (),
            id="functions: AWS only through mcn_core",
        ),
        pytest.param(
            [p for p in _files("mcn_cli") if p.name != "main.py"], DEVKIT_AND_TESTS, (), id="cli: devkit only from main"
        ),
        pytest.param(
            [PACKAGES["mcn_cli"] / "main.py"], DEVKIT_AND_TESTS, ("mcn_devkit",), id="cli main: devkit lazily"
        ),
    ],
)
def test_import_rules(files: list[Path], forbidden: tuple[str, ...], lazy_allowed: tuple[str, ...]) -> None:
    offenders = _offenders(files, forbidden, lazy_allowed=lazy_allowed)
    assert not offenders, offenders


def test_the_checker_sees_lazy_and_relative_imports() -> None:
    assert ("mcn_gateway.app", False) in imports(PACKAGES["mcn_gateway"] / "cli.py")  # `from .app import` in a function
    assert ("boto3", False) in imports(PACKAGES["mcn_smpp"] / "credentials.py")  # the lazy Secrets Manager import
    assert _offenders([PACKAGES["mcn_smpp"] / "credentials.py"], ("boto3",))  # seen when not allowed
