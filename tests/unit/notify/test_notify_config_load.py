"""The functions' configuration load: an invalid parameter is refused with its name, the field and what is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from mcn_core.dal import config as dal_config
from mcn_core.models.config import NotifyConfig


class _Parameters:
    """Stands in for Powertools' SSMProvider (what it returns for transform="json"), not for the code under test."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def get(self, name: str, transform: str, max_age: int) -> Any:
        assert transform == "json"
        return self.value


def load(monkeypatch: pytest.MonkeyPatch, value: Any) -> NotifyConfig:
    monkeypatch.setattr(dal_config, "_provider", lambda endpoint, region: _Parameters(value))
    return dal_config.load_notify_config("/mcn/test/notify-config", 300)


def test_a_valid_parameter_loads_with_its_tenants(
    monkeypatch: pytest.MonkeyPatch, default_config: NotifyConfig
) -> None:
    raw = default_config.to_data() | {"tenants": {"brava": {"ranges": ["+4474001"], "overrides": {"daily_cap": 2}}}}
    config = load(monkeypatch, raw)
    assert config.for_tenant("brava").daily_cap == 2 and config.tenant_ranges == {"+4474001": "brava"}


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
    monkeypatch: pytest.MonkeyPatch, default_config: NotifyConfig, change: dict[str, Any], expected: str
) -> None:
    with pytest.raises(dal_config.ConfigInvalidError) as caught:
        load(monkeypatch, default_config.to_data() | change)
    assert str(caught.value).startswith(f"/mcn/test/notify-config is invalid: {expected}"), caught.value


def test_a_parameter_that_is_not_an_object(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(dal_config.ConfigInvalidError, match=r"notify-config is invalid: config: Expected `object`"):
        load(monkeypatch, [1, 2])
