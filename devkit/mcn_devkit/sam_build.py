"""What `sam build` made (.aws-sam/build), read from the built template, and importing it as Lambda would.

Lambda puts a function's artifact first on sys.path, then each of its layers' `python/` directories;
`clean_import` does the same in a fresh interpreter with nothing else but the standard library (no
site-packages, no repo paths, no bytecode written), so a module the build left out fails to import.

The layers are built for the functions' architecture (arm64). Where the host differs, their compiled
extensions cannot load here: `host_overlay` puts the same release of those distributions, for the
host, from this venv, ahead of the layers (the versions are checked equal); every pure-Python file
still comes from the build.
"""

from __future__ import annotations

import ast
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = PROJECT_ROOT / ".aws-sam" / "build"
BUILT_TEMPLATE = BUILD_DIR / "template.yaml"

# ELF e_machine of each Lambda architecture.
ELF_MACHINE = {"arm64": 183, "x86_64": 62}
HOST_ARCHITECTURE = {"aarch64": "arm64", "arm64": "arm64", "x86_64": "x86_64", "amd64": "x86_64"}.get(
    platform.machine().lower(), platform.machine().lower()
)


DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


class BuildMissingError(RuntimeError):
    """There is no SAM build output (run `make sam-build`)."""


def normalize(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def elf_machine(path: Path) -> int | None:
    header = path.read_bytes()[:20]
    if header[:4] != b"\x7fELF":
        return None
    byte_order = "little" if header[5] == 1 else "big"
    return int.from_bytes(header[18:20], byte_order)


@dataclass(frozen=True)
class Distribution:
    """One installed distribution in a layer, read from its .dist-info."""

    name: str
    version: str
    dist_info: Path

    @property
    def key(self) -> str:
        return normalize(self.name)

    @cached_property
    def files(self) -> list[str]:
        record = self.dist_info / "RECORD"
        return [line.split(",")[0] for line in record.read_text().splitlines() if line]

    @cached_property
    def top_level(self) -> set[str]:
        """Names this distribution puts at the top of site-packages (packages, modules, .dist-info)."""
        return {Path(f).parts[0] for f in self.files if not f.startswith("..")}

    @property
    def compiled(self) -> bool:
        return "Root-Is-Purelib: false" in (self.dist_info / "WHEEL").read_text()

    def extension_modules(self, root: Path) -> list[Path]:
        return [root / f for f in self.files if f.endswith(".so") or ".so." in f]


@dataclass(frozen=True)
class BuiltLayer:
    logical_id: str
    source_dir: Path
    artifact_dir: Path

    @property
    def python_dir(self) -> Path:
        return self.artifact_dir / "python"

    @cached_property
    def distributions(self) -> dict[str, Distribution]:
        found = {}
        for dist_info in sorted(self.python_dir.glob("*.dist-info")):
            meta = metadata.Distribution.at(dist_info).metadata
            dist = Distribution(meta["Name"], meta["Version"], dist_info)
            found[dist.key] = dist
        return found

    @property
    def own_packages(self) -> list[str]:
        """The first-party packages the layer's source folder holds (e.g. mcn_core)."""
        return sorted(p.name for p in self.source_dir.iterdir() if (p / "__init__.py").is_file())


@dataclass(frozen=True)
class BuiltFunction:
    logical_id: str
    source_dir: Path
    artifact_dir: Path
    handler: str
    architecture: str
    layers: tuple[BuiltLayer, ...]
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def handler_module(self) -> str:
        return self.handler.rpartition(".")[0]

    @property
    def handler_attribute(self) -> str:
        return self.handler.rpartition(".")[2]

    def sys_path(self, root: Path | None = None) -> list[Path]:
        """The artifact, then each layer's python/ in order (optionally under a copy of the build at root)."""
        paths = [self.artifact_dir, *(layer.python_dir for layer in self.layers)]
        if root is None:
            return paths
        return [root / p.relative_to(BUILD_DIR) for p in paths]


def _plain_env(value: Any, parameters: dict[str, Any]) -> str:
    """An environment value as a string: literals as they are, a parameter Ref as its default."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        ref = value.get("Ref")
        if isinstance(ref, str) and ref in parameters and "Default" in parameters[ref]:
            return str(parameters[ref]["Default"])
        return "unresolved"
    return str(value)


class BuildOutput:
    """The functions and layers of the built template, with where their artifacts are."""

    def __init__(self, build_dir: Path = BUILD_DIR, source_template: dict[str, Any] | None = None) -> None:
        self.build_dir = build_dir
        template_path = build_dir / "template.yaml"
        if not template_path.is_file():
            raise BuildMissingError(f"{template_path} is missing: run `make sam-build`")
        self.template: dict[str, Any] = yaml.safe_load(template_path.read_text())
        self.source_template = source_template if source_template is not None else load_source_template()

    def _resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        resources = self.template.get("Resources", {})
        return {name: res for name, res in resources.items() if res.get("Type") == resource_type}

    def _source_uri(self, logical_id: str, key: str) -> Path:
        return PROJECT_ROOT / self.source_template["Resources"][logical_id]["Properties"][key]

    @cached_property
    def layers(self) -> dict[str, BuiltLayer]:
        return {
            logical_id: BuiltLayer(
                logical_id,
                self._source_uri(logical_id, "ContentUri"),
                self.build_dir / resource["Properties"]["ContentUri"],
            )
            for logical_id, resource in self._resources("AWS::Serverless::LayerVersion").items()
        }

    @cached_property
    def functions(self) -> dict[str, BuiltFunction]:
        globals_fn = self.template.get("Globals", {}).get("Function", {})
        parameters = self.template.get("Parameters", {})
        built = {}
        for logical_id, resource in self._resources("AWS::Serverless::Function").items():
            props = resource["Properties"]
            # SAM merges list globals first, then the function's own; only this template's layers are built.
            refs = [*globals_fn.get("Layers", []), *props.get("Layers", [])]
            layers = tuple(self.layers[r["Ref"]] for r in refs if isinstance(r, dict) and r.get("Ref") in self.layers)
            variables = {
                **globals_fn.get("Environment", {}).get("Variables", {}),
                **props.get("Environment", {}).get("Variables", {}),
            }
            built[logical_id] = BuiltFunction(
                logical_id=logical_id,
                source_dir=self._source_uri(logical_id, "CodeUri"),
                artifact_dir=self.build_dir / props["CodeUri"],
                handler=props.get("Handler", globals_fn.get("Handler", "")),
                architecture=(props.get("Architectures") or globals_fn.get("Architectures") or ["x86_64"])[0],
                layers=layers,
                environment={name: _plain_env(value, parameters) for name, value in variables.items()},
            )
        return built


ALL = "*"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _optional_import(node: ast.Try) -> bool:
    return any(
        isinstance(h.type, ast.Name) and h.type.id in {"ImportError", "ModuleNotFoundError"} for h in node.handlers
    )


@dataclass
class _Scope:
    """What one body (a module's top level, or one def/class) imports, and which module-level names it uses."""

    modules: set[str] = field(default_factory=set)  # `import X`, and X of `from X import ...`
    members: set[tuple[str, str]] = field(default_factory=set)  # (X, Y) of `from X import Y`
    lazy_names: set[str] = field(default_factory=set)  # dotted strings: modules named for import_module
    names: set[str] = field(default_factory=set)  # names it reads (calls of the module's own functions)


def _collect(body: list[ast.stmt], package: str, scope: _Scope, *, top: bool) -> dict[str, list[ast.stmt]]:
    """Fill scope from body; at the top level, return the bodies of its defs and classes, not entered here."""
    deferred: dict[str, list[ast.stmt]] = {}

    def visit(node: ast.AST) -> None:
        if top and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node in body:
            deferred[node.name] = [node]
            if isinstance(node, ast.ClassDef):  # a class body runs at import; its methods do not
                for child in [*node.bases, *node.decorator_list]:
                    visit(child)
            else:
                for child in node.decorator_list:
                    visit(child)
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Try) and _optional_import(node):
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child)
            return
        if isinstance(node, ast.Import):
            scope.modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            scope.modules.add(base)
            scope.members.update((base, alias.name) for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and DOTTED_NAME.fullmatch(node.value):
            scope.lazy_names.add(node.value)
        elif isinstance(node, ast.Name):
            scope.names.add(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child)

    for statement in body:
        visit(statement)
    return deferred


def reachable_modules(function: BuiltFunction) -> tuple[list[str], list[str]]:
    """The modules an invocation of the handler can import: (ours, from the artifact and the layers' own
    packages; the others, third-party and standard library, as named).

    Follows our imports at module level and inside functions (imported on first use), but only inside
    the functions and classes actually imported by name (`from mcn_core.wiring import notify_store`
    follows notify_store and what it calls in its module, not the module's other factories). A module
    imported whole, or a name it does not define (lazy attributes), counts as all of it.
    """
    roots = [(function.artifact_dir, None)] + [(layer.python_dir, set(layer.own_packages)) for layer in function.layers]

    def source_of(module: str) -> Path | None:
        relative = module.replace(".", "/")
        for root, packages in roots:
            if packages is not None and module.partition(".")[0] not in packages:
                continue
            for candidate in (root / f"{relative}.py", root / relative / "__init__.py"):
                if candidate.is_file():
                    return candidate
        return None

    parsed: dict[str, tuple[_Scope, dict[str, list[ast.stmt]], str]] = {}
    followed: set[tuple[str, str]] = set()
    others: set[str] = set()
    pending: list[tuple[str, str]] = [(function.handler_module, ALL)]

    def load(module: str) -> None:
        parts = module.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix not in parsed and (path := source_of(prefix)) is not None:
                package = prefix if path.name == "__init__.py" else prefix.rpartition(".")[0]
                top = _Scope()
                deferred = _collect(ast.parse(path.read_text()).body, package, top, top=True)
                parsed[prefix] = (top, deferred, package)
                take(top, prefix)

    def take(scope: _Scope, module: str) -> None:
        for name in scope.modules:
            if source_of(name.partition(".")[0]) is None:
                others.add(name)
            else:
                load(name)
                if name not in {base for base, _ in scope.members}:
                    pending.append((name, ALL))  # `import X`: any of it may be used
        for base, member in scope.members:
            if source_of(f"{base}.{member}") is not None:
                load(f"{base}.{member}")
                pending.append((f"{base}.{member}", ALL))
            elif source_of(base) is not None:
                pending.append((base, member))
        for name in scope.lazy_names:
            if source_of(name) is not None:
                load(name)
                pending.append((name, ALL))
        pending.extend((module, name) for name in scope.names if name in parsed[module][1])

    while pending:
        module, name = pending.pop()
        load(module)
        if module not in parsed or (module, name) in followed or (module, ALL) in followed:
            continue
        followed.add((module, name))
        top, deferred, package = parsed[module]
        names = list(deferred) if name == ALL or name not in deferred else [name]
        if name != ALL and name not in deferred and name not in top.names:
            followed.add((module, ALL))  # not defined here (a lazy attribute, a re-export): all of it
        for each in names:
            scope = _Scope()
            _collect(deferred[each], package, scope, top=False)
            take(scope, module)
    return sorted(parsed), sorted(others)


def load_source_template(path: Path = PROJECT_ROOT / "template.yaml") -> dict[str, Any]:
    from cfnlint.decode import decode  # reads the short-form intrinsics (!Ref, !GetAtt) of the source

    template, matches = decode(str(path))
    if matches or template is None:
        raise RuntimeError(f"cannot parse {path}: {'; '.join(str(m) for m in matches)}")
    return json.loads(json.dumps(template))  # plain dicts and strings, without cfn-lint's line marks


def host_overlay(layers: tuple[BuiltLayer, ...], architecture: str, into: Path) -> Path | None:
    """Host builds of the layers' compiled distributions (same versions, from this venv), or None if not needed."""
    if architecture == HOST_ARCHITECTURE:
        return None
    into.mkdir(parents=True, exist_ok=True)
    for layer in layers:
        for dist in layer.distributions.values():
            if not dist.compiled:
                continue
            try:
                host = metadata.distribution(dist.name)
            except metadata.PackageNotFoundError:
                raise RuntimeError(
                    f"{layer.logical_id} ships {dist.name} {dist.version}, which this venv lacks:"
                    " add it to requirements/lock.txt"
                ) from None
            if host.version != dist.version:
                raise RuntimeError(
                    f"{layer.logical_id} ships {dist.name} {dist.version}, this venv has {host.version}:"
                    " the layer's requirements and requirements/lock.txt disagree"
                )
            for name in dist.top_level:
                if name.endswith((".dist-info", ".data")) or (into / name).exists():
                    continue
                (into / name).symlink_to(Path(str(host.locate_file(name))))
    return into


def copy_without_bytecode(source: Path, into: Path, *, symlinks: bool = True) -> Path:
    """A copy of a tree with no __pycache__, so that imports from it are cold (symlinks=False: copy their targets)."""
    shutil.copytree(source, into, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), symlinks=symlinks)
    return into


_CLEAN_IMPORT = r"""
import importlib, json, sys, sysconfig, time
paths, modules = json.loads(sys.argv[1])
sys.path[:0] = paths
stdlib = {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")}
roots = tuple(p.rstrip("/") + "/" for p in [*paths, *stdlib])
report = {"errors": {}, "outside": [], "sources_read": []}
# Every file the import system reads goes through io.open_code (audit event "open"): a .py read under
# the given paths means its module was compiled here, not loaded from bytecode shipped with it.
own = tuple(p.rstrip("/") + "/" for p in paths)
sources_read = report["sources_read"]
sys.addaudithook(
    lambda event, args: sources_read.append(args[0])
    if event == "open" and isinstance(args[0], str) and args[0].endswith(".py") and args[0].startswith(own)
    else None
)
started, started_cpu = time.perf_counter(), time.process_time()
for name in modules:
    try:
        importlib.import_module(name)
    except BaseException as exc:
        report["errors"][name] = f"{type(exc).__name__}: {exc}"
report["cpu_seconds"] = time.process_time() - started_cpu
report["seconds"] = time.perf_counter() - started
for module in list(sys.modules.values()):
    path = getattr(module, "__file__", None)
    if path and not path.startswith(roots):
        report["outside"].append(path)
print(json.dumps(report))
"""


@dataclass(frozen=True)
class ImportReport:
    errors: dict[str, str]
    outside: list[str]  # files imported from anywhere but the given paths and the standard library
    seconds: float
    cpu_seconds: float  # the interpreter's CPU time for the imports (wall time on a loaded machine is mostly queue)
    sources_read: list[str]  # .py files under the given paths the imports read: compiled at run time


def clean_import(
    paths: list[Path], modules: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> ImportReport:
    """Import modules in a fresh interpreter whose sys.path is `paths` + the standard library only.

    -S: no site-packages; -P: not the current directory; -B and PYTHONDONTWRITEBYTECODE: no bytecode written.
    """
    base = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TZ", "SYSTEMROOT"}}
    full_env = {
        **base,
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        **(env or {}),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    argument = json.dumps([[str(p) for p in paths], modules])
    result = subprocess.run(
        [sys.executable, "-S", "-P", "-B", "-c", _CLEAN_IMPORT, argument],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or paths[0],
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the import interpreter failed: {result.stderr.strip()}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return ImportReport(
        report["errors"], report["outside"], report["seconds"], report["cpu_seconds"], report["sources_read"]
    )
