"""The Lambdas read the SMSC password through Powertools Parameters (get_secret with a max age)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from mcn_core.sms import read_secret
from mcn_smpp.credentials import SecretsManagerCredentials


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        parameters.clear_caches()
        client = boto3.client("secretsmanager", region_name="eu-west-1")
        client.create_secret(Name="smsc", SecretString=json.dumps({"password": "first"}))
        yield client
        parameters.clear_caches()


def test_the_password_is_cached_until_a_bind_refusal_forces_a_read(secrets: object) -> None:
    credentials = SecretsManagerCredentials("smsc", fetch=read_secret)
    assert credentials.password() == "first"
    secrets.put_secret_value(SecretId="smsc", SecretString=json.dumps({"password": "rotated"}))  # type: ignore[attr-defined]
    assert credentials.password() == "first"  # within the max age: no Secrets Manager call per bind
    credentials.invalidate()
    assert credentials.password() == "rotated"
    assert credentials.password() == "rotated"
