"""The configuration helpers both edge services load with: file formats, environment precedence,
every validation problem on its own line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, Field, ValidationError

from mcn_edge.config import ConfigError, apply_env_overrides, read_config_file, readable_errors


def test_each_file_format_reads_to_the_same_mapping(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("[http]\nport = 9102\n")
    (tmp_path / "c.json").write_text('{"http": {"port": 9102}}')
    (tmp_path / "c.yaml").write_text("http:\n  port: 9102\n")
    assert {
        suffix: read_config_file(tmp_path / f"c.{suffix}")["http"]["port"] for suffix in ("toml", "json", "yaml")
    } == {
        "toml": 9102,
        "json": 9102,
        "yaml": 9102,
    }


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("missing.toml", None, "config file not found"),
        ("c.ini", "x=1", "unsupported config format"),
        ("c.json", "{", "not valid"),
    ],
)
def test_unreadable_files_are_clear_errors(tmp_path: Path, name: str, text: str | None, message: str) -> None:
    if text is not None:
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_config_file(tmp_path / name)


def test_environment_overrides_win_and_parse_json_values() -> None:
    data = {"forwarding": {"batch_size": 50, "region": "eu-west-1"}}
    environ = {
        "MCN_X__FORWARDING__BATCH_SIZE": "10",
        "MCN_X__FORWARDING__ENDPOINT_URL": "http://127.0.0.1:4000",
        "MCN_X__HTTP__PORT": "0",
        "OTHER__FORWARDING__REGION": "us-east-1",
    }
    assert apply_env_overrides(data, environ, "MCN_X__") == {
        "forwarding": {"batch_size": 10, "region": "eu-west-1", "endpoint_url": "http://127.0.0.1:4000"},
        "http": {"port": 0},
    }
    with pytest.raises(ConfigError, match="is not a section"):
        apply_env_overrides({"log_level": "INFO"}, {"MCN_X__LOG_LEVEL__DEEP": "1"}, "MCN_X__")


class _Settings(BaseModel):
    batch_size: int = Field(ge=1)
    target: str


def test_every_problem_is_one_readable_line() -> None:
    with pytest.raises(ValidationError) as caught:
        _Settings.model_validate({"batch_size": 0})
    assert readable_errors(caught.value) == [
        "batch_size: Input should be greater than or equal to 1",
        "target: Field required",
    ]
    assert readable_errors(caught.value, {"batch_size": "MCN_BATCH_SIZE / --batch-size"})[0].startswith(
        "MCN_BATCH_SIZE / --batch-size: "
    )
