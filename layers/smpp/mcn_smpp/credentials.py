"""Where the bind password comes from: the environment locally, Secrets Manager in AWS.

boto3 is imported lazily, only by SecretsManagerCredentials, so the rest of the layer has
no AWS dependency. Passwords are never logged or put in reprs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable


class CredentialsError(RuntimeError):
    """The password could not be obtained (message never contains the secret)."""


@runtime_checkable
class CredentialsProvider(Protocol):
    def password(self) -> str:
        """The SMPP bind password."""
        ...


class StaticCredentials:
    def __init__(self, password: str) -> None:
        self._password = password

    def password(self) -> str:
        return self._password

    def __repr__(self) -> str:
        return "StaticCredentials(password=***)"


class EnvCredentials:
    """Password from an environment variable (local runs, the CLI)."""

    def __init__(self, variable: str = "SMPP_PASSWORD") -> None:
        self.variable = variable

    def password(self) -> str:
        value = os.environ.get(self.variable)
        if value is None:
            raise CredentialsError(f"environment variable {self.variable} is not set")
        return value

    def __repr__(self) -> str:
        return f"EnvCredentials(variable={self.variable!r})"


#: (secret id, bypass any cache) -> the secret's string. The Lambda side passes Powertools
#: Parameters' get_secret (cached with a max age); this layer never imports it.
SecretFetcher = Callable[[str, bool], str]


class SecretsManagerCredentials:
    """Password from AWS Secrets Manager: the bare password, or JSON with it under ``json_key``.

    Read through ``fetch`` when given (in Lambda: Powertools ``get_secret`` with a max age, see
    mcn_core.sms); otherwise one GetSecretValue per read, which is what a long-lived process such
    as mcn-receiver wants: a bind is opened rarely, and a rotated password is picked up at the next.
    """

    def __init__(
        self,
        secret_id: str,
        *,
        json_key: str = "password",
        region_name: str | None = None,
        client: Any = None,
        fetch: SecretFetcher | None = None,
    ) -> None:
        self.secret_id = secret_id
        self.json_key = json_key
        self.region_name = region_name
        self._client = client
        self._fetch = fetch or self._get_secret_value
        self._bypass_cache = False

    def _secrets_client(self) -> Any:
        if self._client is None:
            import boto3  # lazy: only Lambda pays for it, and only when it binds

            self._client = boto3.client("secretsmanager", region_name=self.region_name)
        return self._client

    def _get_secret_value(self, secret_id: str, bypass_cache: bool) -> str:
        secret = self._secrets_client().get_secret_value(SecretId=secret_id).get("SecretString")
        if secret is None:
            raise CredentialsError(f"secret {secret_id} has no SecretString")
        return str(secret)

    def password(self) -> str:
        bypass, self._bypass_cache = self._bypass_cache, False
        try:
            secret = self._fetch(self.secret_id, bypass)
        except CredentialsError:
            raise
        except Exception as error:  # botocore / Powertools errors; never include the response in the message
            raise CredentialsError(f"cannot read secret {self.secret_id}: {type(error).__name__}") from error
        stripped = secret.strip()
        if stripped.startswith("{"):
            try:
                document = json.loads(stripped)
            except json.JSONDecodeError as error:
                raise CredentialsError(f"secret {self.secret_id} is not valid JSON") from error
            if self.json_key not in document:
                raise CredentialsError(f"secret {self.secret_id} has no key {self.json_key!r}")
            return str(document[self.json_key])
        return secret

    def invalidate(self) -> None:
        """The next read bypasses any cache (after a bind refused for a bad password: it may have rotated)."""
        self._bypass_cache = True

    def __repr__(self) -> str:
        return f"SecretsManagerCredentials(secret_id={self.secret_id!r})"
