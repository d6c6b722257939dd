"""`mcn config get|set|validate` against the embedded AWS's SSM parameter."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mcn_core.models.config import NotifyConfig
from mcn_devkit.embedded import EmbeddedStack

pytestmark = pytest.mark.integration


@pytest.fixture
def config(mcn: Callable[..., Any], local_state: Path) -> Callable[..., Any]:
    def run(command: str, *args: str) -> Any:
        target = [] if command == "validate" else ["--local-state", str(local_state)]
        return mcn("config", command, *args, *target)

    return run


def _deployed(stack: EmbeddedStack) -> str:
    name = stack.resource_name("NotifyConfigParameter")
    return stack.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]


def test_get_prints_the_deployed_configuration(config: Callable[..., Any], stack: EmbeddedStack) -> None:
    result = config("get")
    assert result.code == 0, result.err
    assert json.loads(result.out) == json.loads(_deployed(stack))
    NotifyConfig.from_data(json.loads(result.out))


def test_get_output_validate_edit_set_round_trip(
    config: Callable[..., Any], stack: EmbeddedStack, tmp_path: Path
) -> None:
    path = tmp_path / "config.json"
    assert config("get", "--output", str(path)).code == 0
    assert config("validate", str(path)).code == 0

    document = json.loads(path.read_text())
    document["tariff"]["fee_minor_per_notice"] = 175
    document["tariff"]["charge_on"] = "delivery"
    path.write_text(json.dumps(document, indent=2))
    result = config("set", str(path))
    assert result.code == 0, result.err
    assert "configuration updated" in result.out
    deployed = NotifyConfig.from_data(json.loads(_deployed(stack)))
    assert (deployed.tariff.fee_minor_per_notice, deployed.tariff.charge_on) == (175, "delivery")


def _invalid_variants(valid: dict[str, Any]) -> list[tuple[str, dict[str, Any] | str, list[str]]]:
    def changed(**edits: Any) -> dict[str, Any]:
        document = json.loads(json.dumps(valid))
        for dotted, value in edits.items():
            node = document
            *parents, last = dotted.split("__")
            for parent in parents:
                node = node[parent]
            node[last] = value
        return document

    return [
        (
            "bad-tariff",
            changed(tariff__currency="pounds", tariff__fee_minor_per_notice=-5),
            # every problem, also two of one section (validation itself stops at the first)
            ["tariff.currency: Expected `str` matching regex", "tariff.fee_minor_per_notice: Expected `int` >= 0"],
        ),
        ("misspelt", changed(max_caller_per_message=3), ["max_caller_per_message: unknown setting (misspelt?)"]),
        ("zone", changed(default_time_zone="Mars/Base"), ["default_time_zone: unknown time zone 'Mars/Base'"]),
        (
            "placeholder",
            changed(templates__en__header="You missed {calls} calls"),
            ["templates.en.header: template 'header' uses unknown placeholder(s) ['calls']"],
        ),
        ("not-json", '{"tariff": ', ["not valid JSON", "line 1"]),
        ("not-object", "[1, 2]", ["must be a JSON object"]),
    ]


def test_invalid_files_are_refused_readably_and_nothing_changes(
    config: Callable[..., Any], stack: EmbeddedStack, tmp_path: Path
) -> None:
    before = _deployed(stack)
    for name, document, messages in _invalid_variants(json.loads(before)):
        path = tmp_path / f"{name}.json"
        path.write_text(document if isinstance(document, str) else json.dumps(document))
        for command in ("validate", "set"):
            result = config(command, str(path))
            assert result.code == 2, (name, command, result.err)
            for message in messages:
                assert message in result.err, (name, command, result.err)
        assert "nothing was changed" in config("set", str(path)).err
    assert _deployed(stack) == before


def test_missing_file_is_a_clear_error(config: Callable[..., Any], tmp_path: Path) -> None:
    result = config("validate", str(tmp_path / "absent.json"))
    assert result.code == 2 and "file not found" in result.err
