"""Secrets (the SMSC bind password) from Secrets Manager, kept for a while per container."""

from __future__ import annotations

import os

from mcn_core.dal.clients import KeptValues, aws_client

#: How long a warm Lambda keeps a secret before reading it again (a bind refused for a bad
#: password reads it at once: it may have been rotated).
SECRET_MAX_AGE_S = 300

#: (endpoint, secret id) -> the secret's string: a process serving several stacks never reads another's
SECRETS: KeptValues[str] = KeptValues()


def read_secret(secret_id: str, bypass_cache: bool) -> str:
    """The secret's string, kept per container for SECRET_MAX_AGE_S (mcn_smpp's SecretFetcher)."""

    def read() -> str:
        return str(aws_client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])

    key = (os.environ.get("AWS_ENDPOINT_URL"), secret_id)
    return SECRETS.get(key, SECRET_MAX_AGE_S, read, fresh=bypass_cache)
