"""Tenants through the whole flow: the operator and a hosted MVNO brand side by side (ingest -> attach ->
the deployed ASL on moto's engine -> SMS on the wire at node-smpp -> fee record), a range changed while
calls wait, the brand's daily cap and its next-day merge, and keywords to the brand's short code."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from notify_stack import SMSC_PASSWORD, NotifyStack, eventually

from mcn_devkit.smsc import LocalSmsc

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BRAVA = {
    "name": "Brava Mobile",
    "ranges": ["+4474001"],
    "overrides": {
        "default_language": "de",
        "service_sender": "Brava",
        "default_time_zone": "Europe/Berlin",
        "tariff": {"id": "brava-2026", "currency": "EUR", "fee_minor_per_notice": 9, "charge_on": "submit"},
        "templates": {"de": {"header": "Brava: {total_calls} Anruf(e) verpasst:"}},
        "keywords": {
            "short_code": "80800",
            "words": {"de": {"stop": ["HALT", "STOP", "STOPP", "ABMELDEN"]}},
            "replies": {"de": {"stopped": "Brava: keine Anruf-Info mehr. START an {short_code}."}},
        },
        "daily_cap": 1,
    },
}


@pytest.fixture(scope="module")
def flow() -> Iterator[NotifyStack]:
    with LocalSmsc(system_id="mcn", password=SMSC_PASSWORD) as smsc:
        stack, notify = NotifyStack.start(smsc)
        notify.set_config(tenants={"brava": BRAVA})
        try:
            yield notify
        finally:
            stack.stop()


def stored_tenants(flow: NotifyStack, subscriber: str) -> list[str | None]:
    items = flow.dynamodb.query(
        TableName=flow.stack.resource_name("MissedCallsTable"),
        KeyConditionExpression="subscriber = :s",
        ExpressionAttributeValues={":s": {"S": subscriber}},
    )["Items"]
    return [item.get("tenant", {}).get("S") for item in items]


def notify(flow: NotifyStack, subscriber: str) -> dict[str, Any]:
    started = flow.attach(subscriber)
    assert started["outcome"] == "started", started
    (run,) = flow.wait_finished(started["notification_id"])
    assert run["status"] == "SUCCEEDED", run
    return json.loads(run["output"])


def fees_report(flow: NotifyStack, state: Path, *args: str) -> dict[str, Any]:
    """`mcn fees report --format json ARGS` against the module's stack (the finance user's command)."""
    from mcn_cli.main import build_parser
    from mcn_cli.target import write_state
    from mcn_devkit.local_cmd import state_document

    write_state(state, state_document(flow.stack))
    period = f"{datetime.now(UTC):%Y-%m}"
    out = io.StringIO()
    with redirect_stdout(out):
        parsed = build_parser().parse_args(
            ["fees", "report", "--period", period, "--format", "json", "--local-state", str(state), *args]
        )
        assert parsed.func(parsed) == 0
    return json.loads(out.getvalue())


def test_two_tenants_each_get_their_language_sender_tariff_and_currency(flow: NotifyStack, tmp_path: Path) -> None:
    operator, brand = "+447911200101", "+447400100001"
    flow.missed_calls(operator, ["+447912000111", "+447912000222"])
    brand_calls = flow.missed_calls(brand, ["+447912000111", "+447912000111"])
    assert stored_tenants(flow, operator) == ["default", "default"]  # resolved at ingest too
    assert stored_tenants(flow, brand) == ["brava", "brava"]

    assert notify(flow, operator)["tenant"] == "default"
    assert notify(flow, brand)["tenant"] == "brava"

    (to_operator,) = flow.sms_to(operator)
    (to_brand,) = flow.sms_to(brand)
    assert (to_operator.source_addr, to_operator.source_addr_ton) == ("MissedCall", 5)
    assert to_operator.text.startswith("You missed 2 call(s) while unreachable:")
    assert (to_brand.source_addr, to_brand.source_addr_ton) == ("Brava", 5)
    last = datetime.fromisoformat(brand_calls[-1]["call_time"]).astimezone(ZoneInfo("Europe/Berlin"))
    assert to_brand.text == f"Brava: 2 Anruf(e) verpasst:\n+447912000111 2x, zuletzt {last:%H:%M}"

    (operator_fee,) = flow.fees(operator)
    (brand_fee,) = flow.fees(brand)
    assert (operator_fee["currency"]["S"], operator_fee["fee_minor"]["N"]) == ("GBP", "10")
    assert (brand_fee["currency"]["S"], brand_fee["fee_minor"]["N"], brand_fee["tariff_id"]["S"]) == (
        "EUR",
        "9",
        "brava-2026",
    )
    assert flow.pending(operator) == [] and flow.pending(brand) == []
    assert (operator_fee["tenant"]["S"], brand_fee["tenant"]["S"]) == ("default", "brava")

    # Finance per tenant: totals per tenant and currency, each report reconciled to the fee records.
    by_tenant = fees_report(flow, tmp_path / "stack.json", "--by", "tenant")
    rows = {(r["tenant"], r["currency"]): (r["notices"], r["charged_minor"]) for r in by_tenant["rows"]}
    assert rows == {("default", "GBP"): (1, 10), ("brava", "EUR"): (1, 9)} and by_tenant["reconciled"] is True
    brand_only = fees_report(flow, tmp_path / "stack.json", "--tenant", "brava", "--by", "tariff")
    assert brand_only["tenant"] == "brava" and brand_only["reconciled"] is True
    assert [(r["currency"], r["charged_minor"]) for r in brand_only["rows"]] == [("EUR", 9)]


def test_a_range_changed_while_calls_wait_applies_at_compose(flow: NotifyStack) -> None:
    subscriber = "+447400200001"
    config = flow.set_config(tenants={"brava": {**BRAVA, "ranges": ["+4474001", "+4474002"]}})
    try:
        flow.missed_calls(subscriber, ["+447912000333"])
        assert stored_tenants(flow, subscriber) == ["brava"]
        flow.set_config(tenants=config["tenants"] | {"brava": BRAVA})  # the range goes back to the operator
        assert notify(flow, subscriber)["tenant"] == "default"
    finally:
        flow.set_config(tenants={"brava": BRAVA})
    (sms,) = flow.sms_to(subscriber)
    assert sms.source_addr == "MissedCall" and sms.text.startswith("You missed 1 call(s)")
    (fee,) = flow.fees(subscriber)
    assert fee["currency"]["S"] == "GBP"


def test_a_subscriber_override_moves_them_to_the_brand(flow: NotifyStack) -> None:
    subscriber = "+447911200102"
    flow.set_subscriber(subscriber, tenant="brava")
    flow.missed_calls(subscriber, ["+447912000444"])
    assert stored_tenants(flow, subscriber) == ["brava"]
    assert notify(flow, subscriber)["tenant"] == "brava"
    (sms,) = flow.sms_to(subscriber)
    assert sms.source_addr == "Brava"
    assert flow.fees(subscriber)[0]["currency"]["S"] == "EUR"


def waiting_executions(flow: NotifyStack, notification_id: str) -> list[dict[str, Any]]:
    sfn, arn = flow.sfn, flow.stack.resource_name("QuietHoursStateMachine")
    found = []
    for execution in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if json.loads(described["input"])["notification_id"] == notification_id:
            found.append(described)
    return found


def test_daily_cap_keeps_later_calls_pending_and_merges_them_into_the_next_days_notice(flow: NotifyStack) -> None:
    subscriber = "+447400100002"  # brava: daily cap 1
    table = flow.stack.resource_name("SubscribersTable")
    flow.missed_calls(subscriber, ["+447912000111"])
    first = notify(flow, subscriber)
    assert first["action"] == "send" and first["notices_on_day"] == 1
    again = flow.stack.invoke("RecordFunction", first)  # a re-driven Record counts nothing twice
    assert again["recorded_now"] is False
    day = datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin")).date()
    counted = flow.dynamodb.get_item(TableName=table, Key={"msisdn": {"S": subscriber}}, ConsistentRead=True)["Item"]
    assert (counted["notices_day"]["S"], counted["notices_on_day"]["N"]) == (day.isoformat(), "1")

    # The cap is reached: the next attach composes nothing to send, and the calls wait for tomorrow.
    second_calls = flow.missed_calls(subscriber, ["+447912000222", "+447912000222"])
    started = flow.attach(subscriber)
    (run,) = flow.wait_finished(started["notification_id"])
    capped = json.loads(run["output"])
    assert (capped["action"], capped["defer_reason"]) == ("defer", "daily_cap")
    midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=ZoneInfo("Europe/Berlin"))
    assert datetime.fromisoformat(capped["send_at"]) == midnight.astimezone(UTC)
    (waiting,) = eventually(lambda: waiting_executions(flow, started["notification_id"]))
    assert len(flow.sms_to(subscriber)) == 1 and len(flow.fees(subscriber)) == 1
    assert flow.attach(subscriber)["outcome"] == "in_flight"  # the waiting notice keeps the lock
    third_calls = flow.missed_calls(subscriber, ["+447912000333"])  # arrives while the notice waits

    # The next local day: the stored count names yesterday (what the clock at midnight sees), and the
    # wait ends: its Resume task restarts the notice (the moto Wait would last until midnight).
    flow.sfn.stop_execution(executionArn=waiting["executionArn"])
    yesterday = (day - timedelta(days=1)).isoformat()
    flow.dynamodb.update_item(
        TableName=table,
        Key={"msisdn": {"S": subscriber}},
        UpdateExpression="SET notices_day = :d",
        ExpressionAttributeValues={":d": {"S": yesterday}},
    )
    resume = json.loads(waiting["input"]) | {"deferring_execution": waiting["name"]}
    assert "execution_arn" in flow.stack.invoke("ResumeFunction", resume)
    runs = flow.wait_finished(started["notification_id"], count=2)
    merged = next(json.loads(r["output"]) for r in runs if json.loads(r["output"])["action"] == "send")
    assert merged["calls_listed"] == 3 and merged["notices_on_day"] == 1

    _first_sms, merged_sms = sorted(flow.sms_to(subscriber), key=lambda sms: sms.message_id)
    assert merged_sms.text.startswith("Brava: 3 Anruf(e) verpasst:")
    assert "+447912000222 2x" in merged_sms.text and "+447912000333" in merged_sms.text
    refs = {c["call_ref"] for c in second_calls + third_calls}
    assert set(merged["call_refs"]) == refs and flow.pending(subscriber) == []
    assert sorted(int(f["calls_listed"]["N"]) for f in flow.fees(subscriber)) == [1, 3]


def mo(source: str, destination: str, text: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "kind": "mo",
        "source": source,
        "destination": destination,
        "text": text,
        "received_at": now.isoformat(),
        "message_ref": f"{now:%Y%m%dT%H%M%S.%f}Z-{uuid.uuid4().hex[:6]}",
        "data_coding": 0,
    }


def test_keywords_to_the_brands_short_code_use_its_words_and_reply_from_it(flow: NotifyStack) -> None:
    brand, operator = "+447400100003", "+447911200103"
    response = flow.stack.invoke(
        "ReceiptsFunction",
        {"events": [mo(brand.lstrip("+"), "80800", "halt"), mo(operator.lstrip("+"), "62226", "halt")]},
    )
    brand_result, operator_result = response["results"]
    assert (brand_result["keyword"], brand_result["tenant"]) == ("STOP", "brava")
    assert (operator_result["keyword"], operator_result["tenant"]) == ("UNKNOWN", "default")
    (reply,) = eventually(lambda: flow.sms_to(brand))
    assert (reply.source_addr, reply.text) == ("80800", "Brava: keine Anruf-Info mehr. START an 80800.")
    (help_reply,) = eventually(lambda: flow.sms_to(operator))
    assert help_reply.source_addr == "62226" and help_reply.text.startswith("Missed call alerts:")
    item = flow.dynamodb.get_item(
        TableName=flow.stack.resource_name("SubscribersTable"), Key={"msisdn": {"S": brand}}, ConsistentRead=True
    )["Item"]
    assert item["opted_out"]["BOOL"] is True
