"""`mcn preview`: the exact notice, from the real Compose code, against the embedded AWS."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mcn_devkit.embedded import EmbeddedStack

pytestmark = pytest.mark.integration


def ingest(stack: EmbeddedStack, subscriber: str, callers: list[str | None]) -> None:
    now = datetime.now(UTC)
    events = [
        {
            "call_ref": f"pv-{subscriber[-4:]}-{i}",
            "subscriber": subscriber,
            "caller": caller,
            "presentation": "allowed" if caller else "restricted",
            "call_time": (now - timedelta(minutes=10 - i)).isoformat(),
            "msc": "447953000001",
        }
        for i, caller in enumerate(callers)
    ]
    assert stack.invoke("IngestFunction", {"events": events})["counts"]["accepted"] == len(callers)


def test_preview_shows_the_exact_turkish_sms_with_its_segments(
    stack: EmbeddedStack, local_state: Path, mcn: Callable[..., object]
) -> None:
    ingest(stack, "+447911123460", ["+905321234567", "+905321234567", None])
    stack.client("dynamodb").put_item(
        TableName=stack.resource_name("SubscribersTable"),
        Item={"msisdn": {"S": "+447911123460"}, "language": {"S": "tr"}, "time_zone": {"S": "Europe/Istanbul"}},
    )
    result = mcn("preview", "--subscriber", "07911123460", "--local-state", str(local_state))
    assert result.code == 0, result.err
    assert "1 segment(s), gsm7-turkish, national shift turkish" in result.out
    assert "Ulaşılamadığınız sırada 3 cevapsız çağrınız var:" in result.out
    assert "+90*******567 2 kez" in result.out and "Gizli numara saat" in result.out  # numbers masked
    assert "+905321234567" not in result.out and "+447911123460" not in result.out
    assert "fee: 10 minor units GBP" in result.out
    exact = mcn("preview", "--subscriber", "07911123460", "--show-numbers", "--local-state", str(local_state))
    assert "+905321234567 2 kez" in exact.out

    as_json = mcn("preview", "--subscriber", "+447911123460", "--json", "--local-state", str(local_state))
    notice = json.loads(as_json.out)
    assert (notice["action"], notice["segments"], notice["calls_listed"]) == ("send", 1, 3)
    assert "+905321234567" not in as_json.out and "+447911123460" not in as_json.out
    assert notice["subscriber"] == "+44*******460" and "+90*******567 2 kez" in notice["messages"][0]["text"]


def test_preview_in_quiet_hours_says_when_it_will_be_sent(
    stack: EmbeddedStack, local_state: Path, mcn: Callable[..., object]
) -> None:
    ingest(stack, "+447911123461", ["+447912000111"])
    stack.client("dynamodb").put_item(
        TableName=stack.resource_name("SubscribersTable"),
        Item={"msisdn": {"S": "+447911123461"}, "time_zone": {"S": "UTC"}, "quiet_hours": {"S": "00:00-23:59"}},
    )
    at = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    result = mcn("preview", "--subscriber", "+447911123461", "--at", at.isoformat(), "--local-state", str(local_state))
    assert result.code == 0, result.err
    assert f"waits until {at.replace(hour=23, minute=59).isoformat()}" in result.out
    assert "You missed 1 call(s) while unreachable:" in result.out


def test_preview_errors_are_clear(local_state: Path, mcn: Callable[..., object], tmp_path: Path) -> None:
    bad = mcn("preview", "--subscriber", "12345", "--local-state", str(local_state))
    assert bad.code == 2 and "not a valid number" in bad.err
    missing = mcn("preview", "--subscriber", "+447911123462", "--local-state", str(tmp_path / "none.json"))
    assert missing.code == 1 and "error:" in missing.err
    nothing = mcn("preview", "--subscriber", "+447911123462", "--local-state", str(local_state))
    assert nothing.code == 0 and "nothing would be sent" in nothing.out


def test_preview_lists_the_missed_calls_that_would_be_placed_masked(
    stack: EmbeddedStack, local_state: Path, mcn: Callable[..., object]
) -> None:
    ssm, name = stack.client("ssm"), stack.resource_name("NotifyConfigParameter")
    original = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    config = json.loads(original) | {"on_behalf": "call", "max_calls_per_notice": 1}
    ssm.put_parameter(Name=name, Value=json.dumps(config), Type="String", Overwrite=True)
    try:
        ingest(stack, "+447911123463", ["+447912000111", None, "+4915112345678"])
        result = mcn("preview", "--subscriber", "+447911123463", "--local-state", str(local_state))
        assert result.code == 0, result.err
        assert "missed calls placed on behalf (call): 1" in result.out
        assert "preview#1: +49********678 -> +44*******463" in result.out
        assert "+4915112345678" not in result.out  # masked: it is a call, not a line of the SMS
        assert "Private number" in result.out and "+44*******111 at" in result.out  # listed by SMS, masked
        shown = mcn("preview", "--subscriber", "+447911123463", "--show-numbers", "--local-state", str(local_state))
        assert "preview#1: +4915112345678 -> " in shown.out
        as_json = json.loads(
            mcn("preview", "--subscriber", "+447911123463", "--json", "--local-state", str(local_state)).out
        )
        assert as_json["flash_calls"] == ["+49********678"]
    finally:
        ssm.put_parameter(Name=name, Value=original, Type="String", Overwrite=True)
