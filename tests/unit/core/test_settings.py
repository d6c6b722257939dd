"""Per-handler settings: each names exactly the variable that is missing or invalid."""

from __future__ import annotations

import subprocess
import sys

import hypothesis
import pytest
from hypothesis import strategies as st

from mcn_core.settings import (
    IngestSettings,
    SettingsError,
    attach_settings,
    defer_settings,
    ingest_settings,
    load_settings,
    notify_settings,
    outcomes_settings,
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
    for name in [
        "DEFAULT_REGION",
        "RETENTION_HOURS",
        "STORE_WITHHELD_NUMBER",
        "CONFIG_CACHE_SECONDS",
        "WRITE_CONCURRENCY",
    ]:
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
    with pytest.raises(SettingsError) as error:
        attach_settings()
    # The wording the operator guide documents.
    assert str(error.value) == "invalid function environment: NOTIFY_STATE_MACHINE_ARN: Field required"
    env.setenv("NOTIFY_STATE_MACHINE_ARN", "")
    with pytest.raises(SettingsError, match="NOTIFY_STATE_MACHINE_ARN: Expected `str` of length >= 1"):
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
    env.setenv("STORE_WITHHELD_NUMBER", "perhaps")
    env.setenv("SUBSCRIBERS_TABLE", "s")
    with pytest.raises(SettingsError) as error:
        ingest_settings()
    assert str(error.value) == (
        "invalid function environment: MISSED_CALLS_TABLE: Field required; "
        "SUBSCRIBERS_TABLE: Expected `str` of length >= 3; RETENTION_HOURS: Expected `int` >= 1; "
        "STORE_WITHHELD_NUMBER: Expected `bool`, got 'perhaps'"
    )


def test_variables_are_text_converted_to_numbers_and_flags(env: pytest.MonkeyPatch) -> None:
    env.setenv("RETENTION_HOURS", "48")
    env.setenv("STORE_WITHHELD_NUMBER", "true")
    env.setenv("WRITE_CONCURRENCY", "4")
    env.setenv("DEFAULT_REGION", "fr")
    settings = ingest_settings()
    assert (settings.retention_hours, settings.store_withheld_number, settings.write_concurrency) == (48, True, 4)
    assert settings.default_region == "FR" and settings.notify_config_parameter == "/mcn/notify"
    env.setenv("WRITE_CONCURRENCY", "many")
    with pytest.raises(SettingsError, match="WRITE_CONCURRENCY: Expected `int`, got 'many'"):
        ingest_settings()
    env.setenv("WRITE_CONCURRENCY", "65")
    with pytest.raises(SettingsError, match="WRITE_CONCURRENCY: Expected `int` <= 64"):
        ingest_settings()


def test_outcomes_names_the_missing_fees_table(env: pytest.MonkeyPatch) -> None:
    assert outcomes_settings().fees_table == "mcn-fees"
    env.delenv("FEES_TABLE")
    with pytest.raises(SettingsError) as error:
        outcomes_settings()
    assert str(error.value) == "invalid function environment: FEES_TABLE: Field required"


def test_settings_from_a_given_mapping() -> None:
    settings = load_settings(IngestSettings, {"MISSED_CALLS_TABLE": "abc", "SUBSCRIBERS_TABLE": "def"})
    assert (settings.missed_calls_table, settings.retention_hours, settings.default_region) == ("abc", 72, "GB")


def test_settings_import_no_pydantic() -> None:
    # The CoreLayer ships msgspec, not pydantic: reading settings must not need it (cold start).
    code = "import sys; from mcn_core.settings import load_settings, NotifySettings; "
    code += "print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


#: variable: (a good value, a bad one) for IngestSettings
INGEST_CASES: dict[str, tuple[str, str]] = {
    "MISSED_CALLS_TABLE": ("mcn-calls", "mc"),
    "SUBSCRIBERS_TABLE": ("mcn-subscribers", ""),
    "RETENTION_HOURS": ("48", "2161"),
    "DEFAULT_REGION": ("fr", "FRA"),
    "STORE_WITHHELD_NUMBER": ("1", "yes please"),
    "WRITE_CONCURRENCY": ("8", "eight"),
    "CONFIG_CACHE_SECONDS": ("0", "-1"),
}


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(
    bad=st.sets(st.sampled_from(sorted(INGEST_CASES))),
    good=st.sets(st.sampled_from(sorted(INGEST_CASES))),
)
def test_every_bad_variable_is_named_and_only_those(bad: set[str], good: set[str]) -> None:
    environ = {name: INGEST_CASES[name][0] for name in good - bad} | {name: INGEST_CASES[name][1] for name in bad}
    missing = {"MISSED_CALLS_TABLE", "SUBSCRIBERS_TABLE"} - environ.keys()
    try:
        settings = load_settings(IngestSettings, environ)
    except SettingsError as error:
        message = str(error).removeprefix("invalid function environment: ")
        named = {problem.split(":", 1)[0] for problem in message.split("; ")}
        assert named == bad | missing
        assert all(f"{name}: Field required" in message for name in missing)
    else:
        assert not bad and not missing
        if "DEFAULT_REGION" in environ:
            assert settings.default_region == "FR"
        if "RETENTION_HOURS" in environ:
            assert settings.retention_hours == 48
