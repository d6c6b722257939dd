"""Operator configuration from SSM Parameter Store, through Powertools Parameters (cached)."""

from __future__ import annotations

from pydantic import ValidationError

from mcn_core.models.config import NotifyConfig
from mcn_core.models.errors import describe_validation_error


class ConfigInvalidError(RuntimeError):
    """The operator's configuration does not validate: nothing is sent with a wrong text or fee."""


def load_notify_config(parameter_name: str, max_age_seconds: int) -> NotifyConfig:
    from aws_lambda_powertools.utilities.parameters import get_parameter

    raw = get_parameter(parameter_name, transform="json", max_age=max_age_seconds)
    try:
        return NotifyConfig.model_validate(raw)
    except ValidationError as exc:
        problems = describe_validation_error(exc, root="config")
        raise ConfigInvalidError(f"{parameter_name} is invalid: {problems}") from None
