"""Configuration: file + environment, validated with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcn_gateway.config import ConfigError, load_config

EXAMPLE = Path(__file__).resolve().parents[3] / "gateway" / "config.example.toml"


def test_example_config_is_valid():
    config = load_config(EXAMPLE, environ={})
    assert config.signalling.platform_gt
    assert {a.role for a in config.associations} == {"client", "server"}


def test_environment_overrides_nested_keys():
    config = load_config(
        EXAMPLE,
        environ={
            "MCN_GATEWAY__FORWARDING__ENDPOINT_URL": "http://127.0.0.1:4000",
            "MCN_GATEWAY__FORWARDING__BATCH_SIZE": "7",
            "MCN_GATEWAY__FIREWALL__ALLOWED_OPCODES": "[64]",
        },
    )
    assert config.forwarding.endpoint_url == "http://127.0.0.1:4000"
    assert config.forwarding.batch_size == 7
    assert config.firewall.allowed_opcodes == [64]


def test_invalid_values_give_a_clear_error():
    with pytest.raises(ConfigError) as error:
        load_config(
            EXAMPLE,
            environ={
                "MCN_GATEWAY__FORWARDING__INGEST_TARGET": "s3:bucket",
                "MCN_GATEWAY__SIGNALLING__PLATFORM_GT": "+44 77",
            },
        )
    text = str(error.value)
    assert "forwarding.ingest_target" in text
    assert "signalling.platform_gt" in text


def test_missing_file_and_missing_sections(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", environ={})
    with pytest.raises(ConfigError, match="signalling"):
        load_config(None, environ={})
