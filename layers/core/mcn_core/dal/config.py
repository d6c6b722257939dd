"""Operator configuration from SSM Parameter Store, through Powertools Parameters (cached)."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from mcn_core.models.base import ValidationError
from mcn_core.models.config import NotifyConfig, located_problems


class ConfigInvalidError(RuntimeError):
    """The operator's configuration does not validate: nothing is sent with a wrong text or fee."""


@lru_cache(maxsize=8)
def _provider(endpoint: str | None, region: str | None) -> Any:
    """One provider (and its cache) per endpoint: Powertools' default provider keeps the first
    client it made, which in a process that serves several stacks (the local runtime) would be
    another stack's. In Lambda there is one endpoint, so one provider."""
    import boto3
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    return SSMProvider(boto3_client=boto3.client("ssm", region_name=region, endpoint_url=endpoint))


def load_notify_config(parameter_name: str, max_age_seconds: int) -> NotifyConfig:
    provider = _provider(os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_REGION"))
    raw = provider.get(parameter_name, transform="json", max_age=max_age_seconds)
    try:
        return NotifyConfig.from_data(raw)
    except ValidationError as exc:
        # the first problem, with its field: 'tenants.brava.overrides.tariff.currency: ...'
        field, message = located_problems(exc, NotifyConfig, raw)[0]
        raise ConfigInvalidError(f"{parameter_name} is invalid: {field or 'config'}: {message}") from None
