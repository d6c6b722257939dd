"""Tenants from the operator's commands: `config validate` per tenant, `subscriber set --tenant`,
and `preview` showing the tenant it used, why, and the daily cap."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mcn_devkit.embedded import EmbeddedStack

pytestmark = pytest.mark.integration

BRAVA = {
    "name": "Brava Mobile",
    "ranges": ["+4474001"],
    "overrides": {
        "service_sender": "Brava",
        "default_language": "de",
        "default_time_zone": "Europe/Berlin",
        "tariff": {"id": "brava-2026", "currency": "EUR", "fee_minor_per_notice": 9},
        "daily_cap": 1,
    },
}


def deployed(stack: EmbeddedStack) -> dict[str, Any]:
    name = stack.resource_name("NotifyConfigParameter")
    return json.loads(stack.client("ssm").get_parameter(Name=name)["Parameter"]["Value"])


@pytest.fixture(scope="module", autouse=True)
def with_tenants(stack: EmbeddedStack) -> None:
    name = stack.resource_name("NotifyConfigParameter")
    config = deployed(stack) | {"tenants": {"brava": BRAVA}}
    stack.client("ssm").put_parameter(Name=name, Value=json.dumps(config), Type="String", Overwrite=True)


def write(tmp_path: Path, document: dict[str, Any]) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_validate_lists_each_tenant(stack: EmbeddedStack, mcn: Callable[..., Any], tmp_path: Path) -> None:
    result = mcn("config", "validate", write(tmp_path, deployed(stack)))
    assert result.code == 0, result.err
    assert (
        "tenant brava (Brava Mobile): 1 range(s), sender Brava, languages de, en, tr (default de), "
        "tariff brava-2026 (9 EUR), short code 62226, daily cap 1"
    ) in result.out


def test_validate_reports_problems_per_tenant_and_field(
    stack: EmbeddedStack, mcn: Callable[..., Any], tmp_path: Path
) -> None:
    document = deployed(stack)
    document["tenants"]["brava"]["overrides"] |= {"service_sender": "BravaMobileDE", "tariff": {"currency": "eur"}}
    document["tenants"]["other"] = {"ranges": ["+4474001"]}
    result = mcn("config", "validate", write(tmp_path, document))
    assert result.code == 2
    assert "tenant 'brava': overrides.service_sender: alphanumeric sender 'BravaMobileDE' is 13 characters" in (
        result.err
    )
    assert "tenant 'brava': overrides.tariff.currency: Expected `str` matching regex" in result.err
    assert "tenant 'other': ranges: +4474001 is also a range of tenant 'brava'" in result.err
    # and `config set` refuses it, changing nothing
    before = deployed(stack)
    refused = mcn("config", "set", write(tmp_path, document))
    assert refused.code == 2 and deployed(stack) == before


def ingest(stack: EmbeddedStack, subscriber: str) -> None:
    event = {
        "call_ref": f"tn-{subscriber[-6:]}",
        "subscriber": subscriber,
        "caller": "+447912000111",
        "call_time": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "msc": "447953000001",
    }
    assert stack.invoke("IngestFunction", {"events": [event]})["counts"]["accepted"] == 1


def test_preview_shows_the_range_tenant_and_its_sms(stack: EmbeddedStack, local_state: Path, mcn) -> None:
    ingest(stack, "+447400100011")
    result = mcn("preview", "--subscriber", "+447400100011", "--local-state", str(local_state))
    assert result.code == 0, result.err
    assert "tenant brava (number range +4474001): Brava Mobile" in result.out
    assert "from Brava:" in result.out and "fee: 9 minor units EUR (tariff brava-2026)" in result.out


def test_subscriber_set_tenant_overrides_the_ranges(stack: EmbeddedStack, local_state: Path, mcn) -> None:
    number = "+447911100012"
    ingest(stack, number)
    target = ("--local-state", str(local_state))
    unknown = mcn("subscriber", "set", number, "--tenant", "nosuch", *target)
    assert unknown.code == 2 and "unknown tenant 'nosuch'; configured: brava, default" in unknown.err
    moved = mcn("subscriber", "set", number, "--tenant", "brava", *target)
    assert moved.code == 0, moved.err
    assert "tenant            brava" in moved.out
    preview = mcn("preview", "--subscriber", number, *target)
    assert "tenant brava (the subscriber's override)" in preview.out and "from Brava:" in preview.out
    back = mcn("subscriber", "set", number, "--tenant", "off", *target)
    assert back.code == 0 and "tenant            (number ranges)" in back.out
    preview = mcn("preview", "--subscriber", number, *target)
    assert "tenant default (no range matches)" in preview.out and "from MissedCall:" in preview.out


def test_preview_says_when_capped_calls_go_out(stack: EmbeddedStack, local_state: Path, mcn) -> None:
    number = "+447400100013"
    ingest(stack, number)
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin")).date()
    stack.client("dynamodb").put_item(
        TableName=stack.resource_name("SubscribersTable"),
        Item={"msisdn": {"S": number}, "notices_day": {"S": today.isoformat()}, "notices_on_day": {"N": "1"}},
    )
    result = mcn("preview", "--subscriber", number, "--local-state", str(local_state))
    assert result.code == 0, result.err
    midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=ZoneInfo("Europe/Berlin"))
    assert (
        "daily cap: 1 notice(s) a day reached; the calls stay pending and go out, merged, in the first notice "
        f"of the next local day, at {midnight.astimezone(UTC).isoformat()}"
    ) in result.out
    assert "from Brava:" in result.out  # what will go out then
