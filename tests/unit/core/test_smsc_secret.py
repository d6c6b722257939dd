"""The Lambdas read the SMSC password from Secrets Manager, kept for a maximum age (mcn_core.dal.secrets)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from mcn_core.dal.secrets import SECRETS, read_secret
from mcn_smpp.credentials import SecretsManagerCredentials


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        SECRETS.clear()
        client = boto3.client("secretsmanager", region_name="eu-west-1")
        client.create_secret(Name="smsc", SecretString=json.dumps({"password": "first"}))
        yield client
        SECRETS.clear()


def test_the_password_is_cached_until_a_bind_refusal_forces_a_read(secrets: object) -> None:
    credentials = SecretsManagerCredentials("smsc", fetch=read_secret)
    assert credentials.password() == "first"
    secrets.put_secret_value(SecretId="smsc", SecretString=json.dumps({"password": "rotated"}))  # type: ignore[attr-defined]
    assert credentials.password() == "first"  # within the max age: no Secrets Manager call per bind
    credentials.invalidate()
    assert credentials.password() == "rotated"
    assert credentials.password() == "rotated"


def test_each_endpoint_has_its_own_client_and_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: one process hosting stack after stack (the local runtime, the test suite) kept the
    first stack's client, so later reads went to a stopped endpoint."""
    from moto.server import ThreadedMotoServer

    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    passwords = []
    for password in ("first-stack", "second-stack"):
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
            client = boto3.client("secretsmanager", region_name="eu-west-1", endpoint_url=endpoint)
            client.create_secret(Name=f"smsc-{password}", SecretString=json.dumps({"password": password}))
            passwords.append(SecretsManagerCredentials(f"smsc-{password}", fetch=read_secret).password())
        finally:
            server.stop()
    assert passwords == ["first-stack", "second-stack"]
