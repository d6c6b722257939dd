"""The docs stand alone and name only what exists.

README.md and docs/**/*.md: every relative link resolves to a file in the repository (and to a
heading when it names an anchor), no link leaves the repository, the README stays short, and the
make targets, `mcn`/`mcn-receiver` subcommands and flags, environment variables, template
resources and repository paths the docs name exist. (Running the documented commands is
tests/integration/operator/test_docs_commands.py's job.)
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted([README, *(ROOT / "docs").rglob("*.md")])
README_MAX_LINES = 160

_FENCE = re.compile(r"^(```|~~~)[^\n]*\n.*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_BASH_FENCE = re.compile(r"^```(?:bash|sh|shell)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`(?:[^`\n]|\n(?![ \t]*\n))+`")  # a code span may wrap, not cross a blank line
_LINK = re.compile(r"!?\[(?P<text>[^\]\n]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
_REFERENCE_DEF = re.compile(r"^\s*\[[^\]]+\]:\s*(?P<target>\S+)", re.MULTILINE)
_AUTOLINK = re.compile(r"<(?P<target>[a-z][a-z0-9+.-]*:[^>\s]+)>", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _ids(paths: list[Path]) -> list[str]:
    return [str(path.relative_to(ROOT)) for path in paths]


def prose(text: str) -> str:
    """The text without fenced blocks and inline code (links there are examples, not links)."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed, spaces to '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = text.replace("`", "").replace("*", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    result = set()
    for match in _HEADING.finditer(_FENCE.sub("", path.read_text())):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return frozenset(result)


def links(path: Path) -> list[str]:
    text = prose(path.read_text())
    found = [m.group("target") for m in _LINK.finditer(text)]
    found += [m.group("target") for m in _REFERENCE_DEF.finditer(text)]
    found += [m.group("target") for m in _AUTOLINK.finditer(text)]
    return found


# ---------------------------------------------------------------- links
def test_the_docs_exist() -> None:
    names = {path.name for path in DOCS}
    assert {"README.md", "architecture.md", "operator-guide.md", "developer-guide.md", "finance-guide.md"} <= names


@pytest.mark.parametrize("path", DOCS, ids=_ids(DOCS))
def test_links_stay_in_the_repository_and_resolve(path: Path) -> None:
    problems = []
    for target in links(path):
        if _SCHEME.match(target) or target.startswith("//"):
            problems.append(f"{target}: leaves the repository (docs must stand alone)")
            continue
        file_part, _, anchor = target.partition("#")
        if file_part.startswith("/"):
            problems.append(f"{target}: absolute path (use a relative link)")
            continue
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.is_relative_to(ROOT):
            problems.append(f"{target}: outside the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{target}: no heading #{anchor} in {resolved.relative_to(ROOT)}")
    assert not problems, problems


def test_the_link_checker_catches_what_it_must(tmp_path: Path) -> None:
    """The checker itself: a remote link, a missing file and a wrong anchor are all found."""
    text = "[a](https://example.com) [b](missing.md) [c](#nowhere) [d](#here) `[e](http://x)`\n\n## Here\n"
    assert links_of(text) == ["https://example.com", "missing.md", "#nowhere", "#here"]
    assert slug("How to add a `keyword`") == "how-to-add-a-keyword"
    assert slug("HLR (MWD registration)") == "hlr-mwd-registration"
    assert slug("Tariffs and charge_on") == "tariffs-and-charge_on"


def links_of(text: str) -> list[str]:
    return [m.group("target") for m in _LINK.finditer(prose(text))]


def test_the_readme_is_short() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_the_readme_maps_every_guide() -> None:
    linked = {(README.parent / target.partition("#")[0]).resolve() for target in links(README)}
    guides = {path.resolve() for path in (ROOT / "docs").glob("*.md")}
    assert guides <= linked, sorted(str(p.relative_to(ROOT)) for p in guides - linked)


# ---------------------------------------------------------------- names the docs use
def all_text() -> str:
    return "\n".join(path.read_text() for path in DOCS)


def code_spans_and_lines() -> list[str]:
    """Inline code spans and lines of bash blocks: where commands, variables and paths are named."""
    text = all_text()
    spans = [span.strip("`") for span in _INLINE_CODE.findall(_FENCE.sub("", text))]
    lines = [line for block in _BASH_FENCE.findall(text) for line in block.splitlines()]
    return spans + lines


def makefile_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.MULTILINE))
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.MULTILINE)
    return targets | (set(phony.group(1).split()) if phony else set())


def test_every_make_target_named_exists() -> None:
    named = set()
    for text in code_spans_and_lines():
        for match in re.finditer(r"\bmake ((?:[a-z][a-z0-9-]* ?)+)", text):
            named.update(word for word in match.group(1).split())
    assert {"demo", "test"} <= named
    missing = named - makefile_targets()
    assert not missing, f"the docs name make targets the Makefile lacks: {sorted(missing)}"


def _commands(program: str) -> list[list[str]]:
    found = []
    for text in code_spans_and_lines():
        line = text.split("#", 1)[0].replace("&", " ").replace("\\", " ")
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        for index, word in enumerate(words):
            if word.removeprefix(".venv/bin/") == program and (index == 0 or words[index - 1] in {"|", "&&", ";"}):
                found.append(words[index + 1 :])
    return found


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _flags(words: list[str]) -> list[str]:
    """Flags written in a command line, also inside optional groups: `[--by notice|day]`, `[--opt-out|--opt-in]`."""
    flags = []
    for word in words:
        for part in re.split(r"[\[\]|]", word):
            if part.startswith("--") and len(part) > 2:
                flags.append(part.split("=", 1)[0].rstrip(".,"))
    return flags


def test_every_mcn_command_and_flag_named_exists() -> None:
    from mcn_cli.main import build_parser

    root = build_parser()
    commands = _commands("mcn")
    assert commands, "the docs show no mcn command"
    problems = []
    for words in commands:
        parser, path = root, ["mcn"]
        for word in words:
            choices = _subparsers(parser)
            if not choices or word.startswith("-") or not re.fullmatch(r"[a-z][a-z-]*", word):
                break
            if word not in choices:
                problems.append(f"{' '.join(path)} has no subcommand {word!r} ({' '.join(words)})")
                break
            parser = choices[word]
            path.append(word)
        known = _options(parser)
        problems += [f"{' '.join(path)} has no option {flag}" for flag in _flags(words) if flag not in known]
    assert not problems, sorted(set(problems))


def test_every_mcn_receiver_flag_named_exists() -> None:
    from mcn_receiver.cli import build_parser

    known = _options(build_parser())
    service = [words for words in _commands("mcn-receiver") if words[:1] != ["parked"]]
    flags = {flag for words in service for flag in _flags(words)}
    flags |= set(re.findall(r"`(--[a-z][a-z0-9-]*)`", _receiver_table()))
    assert flags, "the docs show no mcn-receiver option"
    assert not flags - known, sorted(flags - known)
    # `mcn-receiver parked list|retry|purge` has its own parser: checked against its help
    problems = []
    for words in _commands("mcn-receiver"):
        if words[:1] == ["parked"] and len(words) > 1:
            code = "import sys; from mcn_receiver.cli import main; sys.exit(main())"
            result = subprocess.run(
                [sys.executable, "-c", code, "parked", words[1], "--help"], capture_output=True, text=True, timeout=120
            )
            problems += [f"mcn-receiver parked has no subcommand {words[1]!r}"] if result.returncode else []
            problems += [
                f"mcn-receiver parked {words[1]} has no option {flag}"
                for flag in _flags(words)
                if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", result.stdout)
            ]
    assert not problems, sorted(set(problems))


def _receiver_table() -> str:
    return "\n".join(line for line in all_text().splitlines() if "MCN_RECEIVER_" in line)


def _gateway_help(*subcommand: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from mcn_gateway.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *subcommand, "--help"], capture_output=True, text=True, timeout=120
    )


def test_every_mcn_gateway_command_and_flag_named_exists() -> None:
    problems = []
    helps: dict[str, str] = {}
    for words in _commands("mcn-gateway"):
        subcommand = next((w for w in words if re.fullmatch(r"[a-z][a-z-]*", w)), None)
        if subcommand is None:
            continue
        if subcommand not in helps:
            result = _gateway_help(subcommand)
            if result.returncode != 0:
                problems.append(f"mcn-gateway has no subcommand {subcommand!r}")
                continue
            helps[subcommand] = result.stdout + _gateway_help().stdout
        problems += [
            f"mcn-gateway {subcommand} has no option {flag}"
            for flag in _flags(words)
            if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", helps[subcommand])
        ]
    assert helps, "the docs show no mcn-gateway command"
    assert not problems, sorted(set(problems))


_CODE = ("benchmarks", "cli", "devkit", "edge", "functions", "gateway", "layers", "receiver")


def test_every_environment_variable_named_exists() -> None:
    from mcn_gateway.config import GatewayConfig
    from mcn_receiver.config import ENV_PREFIX as RECEIVER_PREFIX
    from mcn_receiver.config import OPTIONS as RECEIVER_OPTIONS
    from mcn_smpp.config import SmppConfig

    code = [path for folder in _CODE for path in (ROOT / folder).rglob("*") if path.suffix in {".py", ".toml", ""}]
    files = [*code, ROOT / "Makefile", ROOT / "template.yaml"]
    sources = "\n".join(path.read_text(errors="replace") for path in files if path.is_file())
    named = set(re.findall(r"\b((?:MCN|SMPP)_[A-Z0-9_]*[A-Z0-9])\b", all_text()))
    problems = []
    for name in sorted(named):
        if name.startswith(RECEIVER_PREFIX):
            suffixes = {suffix for suffix, _ in RECEIVER_OPTIONS.values()}
            if name.removeprefix(RECEIVER_PREFIX) not in suffixes:
                problems.append(name)
        elif name.startswith("MCN_GATEWAY__"):
            section = name.removeprefix("MCN_GATEWAY__").split("__")[0].lower()
            if section != "section" and section not in GatewayConfig.model_fields:
                problems.append(name)
        elif name.startswith("SMPP_"):
            field = name.removeprefix("SMPP_").lower()
            if field not in SmppConfig.__struct_fields__ and name not in sources:
                problems.append(name)
        elif name not in sources:
            problems.append(name)
    assert not problems, f"the docs name variables no code reads: {problems}"


def template_names() -> set[str]:
    from mcn_devkit.template import load_template

    template = load_template()
    return {*template.get("Resources", {}), *template.get("Outputs", {}), *template.get("Parameters", {})}


_TEMPLATE_NAME = re.compile(
    r"`([A-Z][A-Za-z0-9]*(?:Function|Table|StateMachine|Alarm|Layer|Parameter|Topic|Credentials|Logs|Name|Arn))`"
)


def test_every_template_resource_named_exists() -> None:
    named = set(_TEMPLATE_NAME.findall(_FENCE.sub("", all_text())))
    assert "IngestFunction" in named
    missing = named - template_names()
    assert not missing, f"the docs name template resources/outputs that do not exist: {sorted(missing)}"


_TOP_LEVEL = ("benchmarks", "cli", "devkit", "edge", "events", "functions", "gateway", "layers", "receiver")
_TOP_LEVEL += ("requirements", "statemachine", "tests", "docs")
_PATH = re.compile(rf"^(?:{'|'.join(_TOP_LEVEL)})/[\w./-]*$")


def test_every_repository_path_named_exists() -> None:
    spans = [
        span.strip("`").split()[0] for span in _INLINE_CODE.findall(_FENCE.sub("", all_text())) if span.strip("` ")
    ]
    paths = {span.rstrip(".,:") for span in spans if _PATH.match(span)}
    assert "functions/ingest/app.py" in paths
    missing = sorted(path for path in paths if not (ROOT / path).exists())
    assert not missing, f"the docs name paths that do not exist: {missing}"


def test_every_deploy_parameter_in_the_operator_guide_exists() -> None:
    """The parameters table lists template parameters only, and every one of them."""
    from mcn_devkit.template import load_template

    text = (ROOT / "docs" / "operator-guide.md").read_text()
    table = text.split("### Parameters", 1)[1].split("\n#", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    named = {name for row in rows for name in re.findall(r"`([A-Za-z0-9]+)`", row.split("|")[1])}
    parameters = set(load_template().get("Parameters", {}))
    assert named - parameters == set(), f"not template parameters: {sorted(named - parameters)}"
    assert parameters - named == set(), f"parameters the guide does not list: {sorted(parameters - named)}"
