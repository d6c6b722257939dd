"""Per-handler settings: each names exactly the variable that is missing or invalid."""

from __future__ import annotations

import pytest

from mcn_core.settings import (
    SettingsError,
    attach_settings,
    defer_settings,
    ingest_settings,
    notify_settings,
    receipts_settings,
)

NOTIFY_ENV = {
    "MISSED_CALLS_TABLE": "mcn-missed-calls",
    "SUBSCRIBERS_TABLE": "mcn-subscribers",
    "FEES_TABLE": "mcn-fees",
    "NOTIFY_CONFIG_PARAMETER": "/mcn/notify",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in [*NOTIFY_ENV, "MESSAGE_IDS_TABLE", "NOTIFY_STATE_MACHINE_ARN", "QUIET_HOURS_STATE_MACHINE_ARN"]:
        monkeypatch.delenv(name, raising=False)
    for name in ["DEFAULT_REGION", "RETENTION_HOURS", "STORE_WITHHELD_NUMBER", "CONFIG_CACHE_SECONDS"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in NOTIFY_ENV.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_notify_settings_read_the_template_variables(env: pytest.MonkeyPatch) -> None:
    env.setenv("DEFAULT_REGION", "de")
    env.setenv("NOTIFY_STATE_MACHINE_ARN", "arn:aws:states:eu-west-1:1:stateMachine:notify")
    settings = notify_settings()
    assert settings.fees_table == "mcn-fees" and settings.default_region == "DE"
    assert settings.state_machine_arn == "arn:aws:states:eu-west-1:1:stateMachine:notify"
    assert settings.message_ids_table is None and settings.config_cache_seconds == 300


def test_attach_names_the_missing_state_machine(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="invalid function environment: NOTIFY_STATE_MACHINE_ARN"):
        attach_settings()
    env.setenv("NOTIFY_STATE_MACHINE_ARN", "arn:aws:states:eu-west-1:1:stateMachine:notify")
    assert attach_settings().state_machine_arn.endswith(":notify")


def test_receipts_names_the_missing_message_ids_table(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="MESSAGE_IDS_TABLE"):
        receipts_settings()
    env.setenv("MESSAGE_IDS_TABLE", "mcn-message-ids")
    assert receipts_settings().message_ids_table == "mcn-message-ids"


def test_defer_names_the_missing_quiet_hours_machine(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="QUIET_HOURS_STATE_MACHINE_ARN"):
        defer_settings()


def test_every_invalid_variable_is_named_at_once(env: pytest.MonkeyPatch) -> None:
    env.delenv("MISSED_CALLS_TABLE")
    env.setenv("RETENTION_HOURS", "0")
    with pytest.raises(SettingsError) as error:
        ingest_settings()
    assert "MISSED_CALLS_TABLE" in str(error.value) and "RETENTION_HOURS" in str(error.value)
