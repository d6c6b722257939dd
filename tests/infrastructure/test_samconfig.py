"""samconfig.toml: every environment deploys without --guided, with overrides the template accepts.

CloudFormation would reject a bad override only at deploy time, after the build and upload; this
checks each one against the parameter's declaration: it exists, and its value has the parameter's
type and lies within AllowedValues / AllowedPattern / MinValue / MaxValue / MinLength / MaxLength.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from typing import Any

import pytest

from mcn_devkit.sam_build import PROJECT_ROOT, load_source_template

CONFIG = tomllib.loads((PROJECT_ROOT / "samconfig.toml").read_text())
ENVIRONMENTS = sorted(name for name, value in CONFIG.items() if isinstance(value, dict))
PARAMETERS: dict[str, dict[str, Any]] = load_source_template().get("Parameters", {})


def command_parameters(environment: str, command: str) -> dict[str, Any]:
    """What SAM CLI uses for a command: the environment's global parameters, then the command's own."""
    sections = CONFIG[environment]
    return {**sections.get("global", {}).get("parameters", {}), **sections.get(command, {}).get("parameters", {})}


def overrides(environment: str) -> dict[str, str]:
    raw = command_parameters(environment, "deploy").get("parameter_overrides", [])
    # SAM CLI takes a string of Key=Value pairs (values optionally quoted) or a list of them.
    pairs = shlex.split(raw) if isinstance(raw, str) else [p for item in raw for p in shlex.split(item)]
    parsed = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        assert sep, f"[{environment}] {pair!r} is not Key=Value"
        assert name not in parsed, f"[{environment}] {name} given twice"
        parsed[name] = value
    return parsed


def problems(name: str, value: str) -> list[str]:
    spec = PARAMETERS[name]
    kind = spec.get("Type", "String")
    found = []
    values = [v.strip() for v in value.split(",")] if kind in {"CommaDelimitedList", "List<Number>"} else [value]
    for item in values:
        if kind in {"Number", "List<Number>"}:
            try:
                number = float(item)
            except ValueError:
                found.append(f"{name}={item!r} is not a number")
                continue
            if "MinValue" in spec and number < float(spec["MinValue"]):
                found.append(f"{name}={item} below MinValue {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                found.append(f"{name}={item} above MaxValue {spec['MaxValue']}")
        if "AllowedValues" in spec and item not in [str(v) for v in spec["AllowedValues"]]:
            found.append(f"{name}={item!r} not in AllowedValues {spec['AllowedValues']}")
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], item):
            found.append(f"{name}={item!r} does not match AllowedPattern {spec['AllowedPattern']}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        found.append(f"{name}={value!r} shorter than MinLength {spec['MinLength']}")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        found.append(f"{name}={value!r} longer than MaxLength {spec['MaxLength']}")
    return found


def test_there_is_a_default_and_a_prod_environment() -> None:
    assert {"default", "prod"} <= set(ENVIRONMENTS)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_overrides_name_template_parameters_with_valid_values(environment: str) -> None:
    given = overrides(environment)
    assert sorted(set(given) - set(PARAMETERS)) == [], f"[{environment}] overrides no such parameter"
    assert [p for name, value in given.items() for p in problems(name, value)] == []


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_deploys_without_guided_prompts(environment: str) -> None:
    deploy = command_parameters(environment, "deploy")
    assert deploy.get("stack_name"), f"[{environment}] no stack_name"
    assert deploy.get("region"), f"[{environment}] no region"
    assert "CAPABILITY_IAM" in str(deploy.get("capabilities", "")), f"[{environment}] the stack creates IAM roles"
    assert deploy.get("resolve_s3") or deploy.get("s3_bucket"), f"[{environment}] nowhere to upload artifacts"
    # Parameters with no default must be given, or CloudFormation refuses the deploy.
    required = sorted(name for name, spec in PARAMETERS.items() if "Default" not in spec)
    assert sorted(set(required) - set(overrides(environment))) == []


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_every_parameter_default_is_itself_valid(name: str) -> None:
    spec = PARAMETERS[name]
    if "Default" in spec and not (spec["Default"] == "" and "MinLength" not in spec):
        assert problems(name, str(spec["Default"])) == []


def test_an_out_of_range_override_is_reported() -> None:
    numeric = next(n for n, s in PARAMETERS.items() if "MinValue" in s)
    below = float(PARAMETERS[numeric]["MinValue"]) - 1
    assert problems(numeric, f"{below:g}")
    listed = next(n for n, s in PARAMETERS.items() if "AllowedValues" in s)
    assert problems(listed, "no-such-value")
