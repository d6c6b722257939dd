"""`mcn subscriber show|set` and `mcn calls` against the embedded AWS."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mcn_devkit.embedded import EmbeddedStack

pytestmark = pytest.mark.integration

SUBSCRIBER = "+447912000123"
SUBSCRIBER_NATIONAL = "07912 000123"
CALLER = "+447912000456"
OTHER_CALLER = "+447912000789"


@pytest.fixture
def subscriber(mcn: Callable[..., Any], local_state: Path) -> Callable[..., Any]:
    def run(*args: str) -> Any:
        return mcn("subscriber", *args, "--local-state", str(local_state))

    return run


def _stored(stack: EmbeddedStack, msisdn: str) -> dict[str, Any] | None:
    item = (
        stack.client("dynamodb")
        .get_item(TableName=stack.resource_name("SubscribersTable"), Key={"msisdn": {"S": msisdn}}, ConsistentRead=True)
        .get("Item")
    )
    return item


def test_set_then_show_round_trip(subscriber: Callable[..., Any], stack: EmbeddedStack) -> None:
    result = subscriber(
        "set",
        SUBSCRIBER_NATIONAL,  # national format, default region GB
        "--language",
        "en",
        "--time-zone",
        "Europe/Paris",
        "--quiet-hours",
        "22:00-07:00",
        "--opt-out",
        "--block",
        CALLER,
        "--block",
        "07912 000789",
        "--notify-me",
        "on",
    )
    assert result.code == 0, result.err
    assert SUBSCRIBER not in result.out  # masked by default
    item = _stored(stack, SUBSCRIBER)
    assert item is not None
    assert item["time_zone"] == {"S": "Europe/Paris"} and item["quiet_hours"] == {"S": "22:00-07:00"}
    assert item["opted_out"] == {"BOOL": True} and item["notify_me"] == {"BOOL": True}
    assert set(item["blocked_callers"]["SS"]) == {CALLER, OTHER_CALLER}

    shown = subscriber("show", SUBSCRIBER, "--json", "--show-numbers")
    assert shown.code == 0, shown.err
    document = json.loads(shown.out)
    assert document["msisdn"] == SUBSCRIBER
    assert document["language"] == "en" and document["time_zone"] == "Europe/Paris"
    assert document["opted_out"] is True and document["notify_me"] is True
    assert document["blocked_callers"] == [CALLER, OTHER_CALLER]

    masked = subscriber("show", SUBSCRIBER)
    assert masked.code == 0
    assert "+44*******123" in masked.out and CALLER not in masked.out and "22:00-07:00" in masked.out


def test_set_changes_only_what_is_given(subscriber: Callable[..., Any], stack: EmbeddedStack) -> None:
    number = "+447912000200"
    assert (
        subscriber("set", number, "--time-zone", "Europe/London", "--block", CALLER, "--block", OTHER_CALLER).code == 0
    )
    assert subscriber("set", number, "--quiet-hours", "23:30-06:00", "--opt-in", "--unblock", CALLER).code == 0
    assert subscriber("set", number, "--quiet-hours", "off", "--notify-me", "off").code == 0
    item = _stored(stack, number)
    assert item is not None
    assert item["time_zone"] == {"S": "Europe/London"}
    assert "quiet_hours" not in item
    assert item["opted_out"] == {"BOOL": False} and item["notify_me"] == {"BOOL": False}
    assert item["blocked_callers"]["SS"] == [OTHER_CALLER]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--time-zone", "Mars/Olympus_Mons"], "unknown time zone 'Mars/Olympus_Mons'"),
        (["--quiet-hours", "25:00-07:00"], "quiet hours must look like 22:00-07:00"),
        (["--quiet-hours", "22:00"], "quiet hours must look like 22:00-07:00"),
        (["--quiet-hours", "07:00-07:00"], "empty window"),
        (["--language", "xx"], "language 'xx' has no templates; configured: "),
        (["--language", "english"], "ISO 639 code"),
        (["--block", "12"], "invalid number to block '12'"),
        (["--block", CALLER, "--unblock", CALLER], "cannot be blocked and unblocked at once"),
        ([], "nothing to change"),
    ],
)
def test_invalid_settings_are_refused_and_nothing_is_written(
    subscriber: Callable[..., Any], stack: EmbeddedStack, flags: list[str], message: str
) -> None:
    number = "+447912000300"
    result = subscriber("set", number, "--time-zone", "Europe/London", *flags) if flags else subscriber("set", number)
    assert result.code == 2
    assert message in result.err
    assert _stored(stack, number) is None


def test_opt_in_and_out_together_is_a_usage_error(subscriber: Callable[..., Any]) -> None:
    result = subscriber("set", SUBSCRIBER, "--opt-in", "--opt-out")
    assert result.code == 2 and "not allowed with" in result.err


def test_unknown_subscriber_is_a_clear_error(subscriber: Callable[..., Any]) -> None:
    result = subscriber("show", "+447912000999")
    assert result.code == 1
    assert "unknown subscriber +44*******999" in result.err


def test_invalid_number_is_a_clear_error(subscriber: Callable[..., Any]) -> None:
    result = subscriber("show", "not-a-number")
    assert result.code == 2 and "invalid subscriber number 'not-a-number'" in result.err


def test_national_numbers_follow_region(subscriber: Callable[..., Any], stack: EmbeddedStack) -> None:
    result = subscriber("set", "06 12 34 56 78", "--region", "FR", "--time-zone", "Europe/Paris")
    assert result.code == 0, result.err
    assert _stored(stack, "+33612345678") is not None


# ---------------------------------------------------------------- mcn calls
@pytest.fixture(scope="module")
def pending_calls(stack: EmbeddedStack) -> str:
    subscriber = "+447912000400"
    now = datetime.now(UTC)
    dynamodb, table = stack.client("dynamodb"), stack.resource_name("MissedCallsTable")

    def put(ref: str, caller: str | None, presentation: str, minutes_ago: int, expires_in: timedelta) -> None:
        item = {
            "subscriber": {"S": subscriber},
            "call_ref": {"S": ref},
            "presentation": {"S": presentation},
            "call_time": {"S": (now - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")},
            "reason": {"S": "not_reachable"},
            "msc": {"S": "msc-1"},
            "expires_at": {"N": str(int((now + expires_in).timestamp()))},
            "received_at": {"S": now.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")},
        }
        if caller:
            item["caller"] = {"S": caller}
        dynamodb.put_item(TableName=table, Item=item)

    put("ref-1", CALLER, "allowed", 30, timedelta(hours=70))
    put("ref-2", CALLER, "allowed", 20, timedelta(hours=70))
    put("ref-3", None, "restricted", 10, timedelta(hours=70))
    put("ref-old", OTHER_CALLER, "allowed", 5000, timedelta(hours=-1))  # expired, TTL not yet run
    return subscriber


def test_calls_are_listed_masked_oldest_first(mcn: Callable[..., Any], local_state: Path, pending_calls: str) -> None:
    result = mcn("calls", pending_calls, "--local-state", str(local_state))
    assert result.code == 0, result.err
    assert "3 pending missed call(s) from 2 caller(s) for +44*******400" in result.out
    assert CALLER not in result.out and OTHER_CALLER not in result.out
    assert "+44*******456" in result.out and "private number" in result.out
    assert "1 expired call(s) awaiting TTL deletion" in result.out
    refs = [line.split()[-1] for line in result.out.splitlines() if line.split()[-1].startswith("ref-")]
    assert refs == ["ref-1", "ref-2", "ref-3"]


def test_calls_show_numbers_and_json(mcn: Callable[..., Any], local_state: Path, pending_calls: str) -> None:
    result = mcn("calls", pending_calls, "--json", "--show-numbers", "--local-state", str(local_state))
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert [c["caller"] for c in document["pending"]] == [CALLER, CALLER, "private number"]
    assert document["expired_awaiting_deletion"] == 1


def test_calls_for_a_number_without_calls(mcn: Callable[..., Any], local_state: Path) -> None:
    result = mcn("calls", "+447912000999", "--local-state", str(local_state))
    assert result.code == 0 and "0 pending missed call(s)" in result.out
