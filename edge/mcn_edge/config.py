"""Configuration loading both edge services share: a file (TOML/JSON/YAML), environment overrides
that win over it, and pydantic errors turned into lines an operator can act on (every problem at once).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mcn_core.models.envelope import MAX_EVENTS_PER_INVOCATION

#: The most events a function takes per invocation (a larger batch is refused whole): the edge
#: services never send more in one batch.
FUNCTION_EVENT_CAP = MAX_EVENTS_PER_INVOCATION


class ConfigError(ValueError):
    """Invalid configuration, with a message an operator can act on."""


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping a .toml, .json or .yaml file holds; ConfigError when missing or unreadable."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file not found: {file}")
    text = file.read_text()
    try:
        if file.suffix == ".toml":
            return tomllib.loads(text)
        if file.suffix == ".json":
            data = json.loads(text)
            return data if isinstance(data, dict) else {}
        if file.suffix in (".yaml", ".yml"):
            import yaml  # type: ignore[import-untyped]  # optional: only for YAML configs

            loaded = yaml.safe_load(text) or {}
            return loaded if isinstance(loaded, dict) else {}
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{file}: not valid: {exc}") from exc
    raise ConfigError(f"{file}: unsupported config format (use .toml, .json or .yaml)")


def apply_env_overrides(data: dict[str, Any], environ: Mapping[str, str], prefix: str) -> dict[str, Any]:
    """Overlay `PREFIX` + `SECTION__KEY=value` variables on `data` (double underscores separate levels;
    values are parsed as JSON when they parse, else taken as strings)."""
    for key, raw in environ.items():
        if not key.startswith(prefix):
            continue
        path = [part.lower() for part in key[len(prefix) :].split("__") if part]
        if not path:
            continue
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{key}: {part} is not a section")
        node[path[-1]] = value
    return data


def readable_errors(error: ValidationError, names: Mapping[str, str] | None = None) -> list[str]:
    """One line per problem, `where: what`. `names` maps a top-level field to how the operator sets it
    (e.g. `MCN_RECEIVER_TARGET / --target`); without it the dotted field path is shown."""
    lines = []
    for problem in error.errors():
        if names is not None:
            field = str(problem["loc"][0]) if problem["loc"] else "config"
            where = names.get(field, field)
        else:
            where = ".".join(str(part) for part in problem["loc"]) or "(top)"
        lines.append(f"{where}: {problem['msg']}")
    return lines
