"""Where the bind password comes from: the environment locally, Secrets Manager in AWS.

boto3 is imported lazily, only by SecretsManagerCredentials, so the rest of the layer has
no AWS dependency. Passwords are never logged or put in reprs.
"""

from __future__ import annotations

import json
import os
import threading
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


class SecretsManagerCredentials:
    """Password from AWS Secrets Manager, fetched once per container and cached.

    The secret is either the bare password, or JSON with the password under ``json_key``.
    """

    def __init__(
        self,
        secret_id: str,
        *,
        json_key: str = "password",
        region_name: str | None = None,
        client: Any = None,
    ) -> None:
        self.secret_id = secret_id
        self.json_key = json_key
        self.region_name = region_name
        self._client = client
        self._cached: str | None = None
        self._lock = threading.Lock()

    def _secrets_client(self) -> Any:
        if self._client is None:
            import boto3  # lazy: only Lambda pays for it, and only when it binds

            self._client = boto3.client("secretsmanager", region_name=self.region_name)
        return self._client

    def password(self) -> str:
        with self._lock:
            if self._cached is None:
                self._cached = self._fetch()
            return self._cached

    def invalidate(self) -> None:
        """Forget the cached value (after a bind refused for a bad password: it may have rotated)."""
        with self._lock:
            self._cached = None

    def _fetch(self) -> str:
        try:
            response = self._secrets_client().get_secret_value(SecretId=self.secret_id)
        except Exception as error:  # botocore errors; never include the response in the message
            raise CredentialsError(f"cannot read secret {self.secret_id}: {type(error).__name__}") from error
        secret: str | None = response.get("SecretString")
        if secret is None:
            raise CredentialsError(f"secret {self.secret_id} has no SecretString")
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

    def __repr__(self) -> str:
        return f"SecretsManagerCredentials(secret_id={self.secret_id!r})"
