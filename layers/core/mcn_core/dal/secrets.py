"""Secrets (the SMSC bind password) from Secrets Manager, through Powertools Parameters (cached)."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

#: How long a warm Lambda keeps a secret before reading it again (a bind refused for a bad
#: password reads it at once: it may have been rotated).
SECRET_MAX_AGE_S = 300


@lru_cache(maxsize=8)
def _provider(endpoint: str | None, region: str | None) -> Any:
    """One provider (and its cache) per endpoint, as for the configuration (dal.config): a process
    that serves several stacks (the local runtime) must never read another stack's secret."""
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=boto3.client("secretsmanager", region_name=region, endpoint_url=endpoint))


def read_secret(secret_id: str, bypass_cache: bool) -> str:
    """The secret's string, cached per container for SECRET_MAX_AGE_S (mcn_smpp's SecretFetcher)."""
    provider = _provider(os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_REGION"))
    return str(provider.get(secret_id, max_age=SECRET_MAX_AGE_S, force_fetch=bypass_cache))
