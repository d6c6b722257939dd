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


def test_the_example_configures_origination():
    config = load_config(EXAMPLE, environ={})
    assert config.origination is not None and config.origination.dpc == 2001
    assert config.origination.visibility_s > config.origination.call_worst_case_s
    assert config.forwarding.outcome_target
    timers = config.origination
    assert (timers.t12_s, timers.t13_s, timers.t18_s, timers.t19_s) == (15, 300, 15, 300)  # Q.764 ranges
    assert timers.grs_on_route_return


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"MCN_GATEWAY__ORIGINATION__CIC_LAST": "0"}, "cic_last must not be below cic_first"),
        ({"MCN_GATEWAY__ORIGINATION__NAI": "national"}, "country_code is required"),
        ({"MCN_GATEWAY__ORIGINATION__VISIBILITY_TIMEOUT_S": "20"}, "visibility_timeout_s must exceed"),
        # an ACM without alerting just before T7, a CPG alerting just before T7 again, the ring time
        ({"MCN_GATEWAY__ORIGINATION__VISIBILITY_TIMEOUT_S": "45"}, "2 × t7_s + ring_time_s + 5 = 48"),
        ({"MCN_GATEWAY__ORIGINATION__QUEUE_URL": "mcn-queue"}, "queue_url must be the queue's URL"),
        ({"MCN_GATEWAY__ORIGINATION__ASSOCIATIONS": '["nope"]'}, "origination.associations names unknown"),
        ({"MCN_GATEWAY__FORWARDING__OUTCOME_TARGET": "s3:x"}, "outcome_target"),
        ({"MCN_GATEWAY__ORIGINATION__CIC_FIRST": "5000"}, "origination.cic_first"),
        ({"MCN_GATEWAY__ORIGINATION__T12_S": "0"}, "origination.t12_s"),
        ({"MCN_GATEWAY__ORIGINATION__T19_S": "1000"}, "origination.t19_s"),
    ],
)
def test_origination_errors_are_clear(override, message):
    with pytest.raises(ConfigError) as error:
        load_config(EXAMPLE, environ=override)
    assert message in str(error.value)


def test_origination_needs_an_outcome_target(tmp_path: Path):
    text = EXAMPLE.read_text().replace('outcome_target = "lambda:mcn-FlashCallOutcomesFunction"', "")
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="outcome_target is required"):
        load_config(path, environ={})
    without = "\n".join(line for line in text.split("[origination]")[0].splitlines())
    without += "\n[http]\n" + text.split("[http]", 1)[1]
    path.write_text(without)
    assert load_config(path, environ={}).origination is None  # absent: origination off
