"""The functions' configuration load: from SSM (moto), kept for its maximum age, and an invalid parameter
refused with its name, the field and what is wrong."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mcn_core.dal import config as dal_config
from mcn_core.models.config import NotifyConfig

PARAMETER = "/mcn/test/notify-config"


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        dal_config.CONFIGURATIONS.clear()
        yield boto3.client("ssm", region_name="eu-west-1")
        dal_config.CONFIGURATIONS.clear()


def load(ssm: Any, value: Any, max_age: int = 300) -> NotifyConfig:
    text = value if isinstance(value, str) else json.dumps(value)
    ssm.put_parameter(Name=PARAMETER, Value=text, Type="String", Overwrite=True)
    return dal_config.load_notify_config(PARAMETER, max_age)


def test_a_valid_parameter_loads_with_its_tenants(ssm: Any, default_config: NotifyConfig) -> None:
    raw = default_config.to_data() | {"tenants": {"brava": {"ranges": ["+4474001"], "overrides": {"daily_cap": 2}}}}
    config = load(ssm, raw)
    assert config.for_tenant("brava").daily_cap == 2 and config.tenant_ranges == {"+4474001": "brava"}


def test_the_configuration_is_kept_for_its_maximum_age_then_read_again(ssm: Any, default_config: NotifyConfig) -> None:
    first = load(ssm, default_config.to_data())
    assert load(ssm, default_config.to_data() | {"daily_cap": 3}) is first  # kept: SSM not read
    dal_config.CONFIGURATIONS.clear()  # as after the maximum age
    assert dal_config.load_notify_config(PARAMETER, 300).daily_cap == 3
    assert load(ssm, default_config.to_data() | {"daily_cap": 4}, max_age=0).daily_cap == 4


def test_an_invalid_configuration_is_kept_too(ssm: Any, default_config: NotifyConfig) -> None:
    """A broken parameter is not read again on every invocation (SSM's rate is shared): its error is kept."""
    with pytest.raises(dal_config.ConfigInvalidError):
        load(ssm, default_config.to_data() | {"colour": "red"})
    ssm.put_parameter(Name=PARAMETER, Value=json.dumps(default_config.to_data()), Type="String", Overwrite=True)
    with pytest.raises(dal_config.ConfigInvalidError, match="colour"):
        dal_config.load_notify_config(PARAMETER, 300)
    assert dal_config.load_notify_config(PARAMETER, 0) == default_config


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"max_callers_per_message": 0}, "max_callers_per_message: Expected `int` >= 1"),
        ({"colour": "red"}, "colour: unknown setting (misspelt?)"),
        ({"default_time_zone": "Mars/Base"}, "default_time_zone: unknown time zone 'Mars/Base'"),
        (
            {"tenants": {"brava": {"overrides": {"tariff": {"currency": "euro"}}}}},
            "tenants.brava.overrides.tariff.currency: Expected `str` matching regex",
        ),
        ({"tariff": None}, "tariff: Expected `object`, got `null`"),
    ],
)
def test_an_invalid_parameter_names_the_field(
    ssm: Any, default_config: NotifyConfig, change: dict[str, Any], expected: str
) -> None:
    with pytest.raises(dal_config.ConfigInvalidError) as caught:
        load(ssm, default_config.to_data() | change)
    assert str(caught.value).startswith(f"{PARAMETER} is invalid: {expected}"), caught.value


def test_a_parameter_that_is_not_an_object(ssm: Any) -> None:
    with pytest.raises(dal_config.ConfigInvalidError, match=r"notify-config is invalid: config: Expected `object`"):
        load(ssm, [1, 2])


def test_a_parameter_that_is_not_json(ssm: Any) -> None:
    with pytest.raises(dal_config.ConfigInvalidError, match=r"notify-config is invalid: config: not JSON"):
        load(ssm, "{'templates': ")
