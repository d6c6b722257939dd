"""Operator configuration from SSM Parameter Store, kept validated for ConfigCacheSeconds per container."""

from __future__ import annotations

import json
import os

from mcn_core.dal.clients import KeptValues, aws_client
from mcn_core.models.base import ValidationError
from mcn_core.models.config import NotifyConfig, located_problems


class ConfigInvalidError(RuntimeError):
    """The operator's configuration does not validate: nothing is sent with a wrong text or fee."""


#: (endpoint, parameter) -> the validated configuration, or why it is invalid: an invalid one is not
#: read again before its maximum age either (SSM's GetParameter rate is limited and shared)
CONFIGURATIONS: KeptValues[NotifyConfig | ConfigInvalidError] = KeptValues()


def load_notify_config(parameter_name: str, max_age_seconds: int) -> NotifyConfig:
    def read() -> NotifyConfig | ConfigInvalidError:
        value = aws_client("ssm").get_parameter(Name=parameter_name, WithDecryption=True)["Parameter"]["Value"]
        return _validated(parameter_name, value)

    loaded = CONFIGURATIONS.get((os.environ.get("AWS_ENDPOINT_URL"), parameter_name), max_age_seconds, read)
    if isinstance(loaded, ConfigInvalidError):
        raise loaded
    return loaded


def _validated(parameter_name: str, text: str) -> NotifyConfig | ConfigInvalidError:
    try:
        raw = json.loads(text)
    except ValueError as exc:
        return ConfigInvalidError(f"{parameter_name} is invalid: config: not JSON ({exc})")
    try:
        return NotifyConfig.from_data(raw)
    except ValidationError as exc:
        # the first problem, with its field: 'tenants.brava.overrides.tariff.currency: ...'
        field, message = located_problems(exc, NotifyConfig, raw)[0]
        return ConfigInvalidError(f"{parameter_name} is invalid: {field or 'config'}: {message}")
