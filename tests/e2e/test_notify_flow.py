"""Attach -> Step Functions (the deployed ASL, on moto's engine) -> real SMPP -> one fee record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from notify_stack import SMSC_PASSWORD, NotifyStack, eventually

from mcn_devkit.smsc import LocalSmsc
from mcn_smpp.gsm0338 import IE_NATIONAL_SINGLE_SHIFT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def flow() -> Iterator[NotifyStack]:
    with LocalSmsc(system_id="mcn", password=SMSC_PASSWORD) as smsc:
        stack, notify = NotifyStack.start(smsc)
        try:
            yield notify
        finally:
            stack.stop()


@pytest.fixture(autouse=True)
def healthy_smsc(flow: NotifyStack) -> None:
    flow.smsc.reset_faults()


def test_calls_then_attach_send_one_exact_sms_record_one_fee_and_clear_calls(flow: NotifyStack) -> None:
    subscriber = "+447911200001"
    calls = flow.missed_calls(subscriber, ["+447912000111", None, "+447912000111", "+4915112345678"])
    at = [datetime.fromisoformat(c["call_time"]).astimezone(ZoneInfo("Europe/London")).strftime("%H:%M") for c in calls]
    started = flow.attach(subscriber)
    assert started["outcome"] == "started"
    (run,) = flow.wait_finished(started["notification_id"])
    assert run["status"] == "SUCCEEDED", run

    (sms,) = flow.sms_to(subscriber)
    assert sms.text == (
        "You missed 4 call(s) while unreachable:\n"
        f"+4915112345678 at {at[3]}\n"
        f"+447912000111 2x, last {at[2]}\n"
        f"Private number at {at[1]}"
    )
    assert sms.source_addr == "MissedCall" and sms.data_coding == 0

    (fee,) = flow.fees(subscriber)
    assert fee["status"]["S"] == "submitted"
    assert fee["fee_minor"]["N"] == "10" and fee["currency"]["S"] == "GBP"
    assert fee["calls_listed"]["N"] == "4"
    assert [m["S"] for m in fee["smsc_message_ids"]["L"]] == [sms.message_id]
    assert flow.pending(subscriber) == []


def test_duplicate_attach_gives_one_sms_and_one_fee(flow: NotifyStack) -> None:
    subscriber = "+447911200002"
    flow.missed_calls(subscriber, ["+447912000111"])
    first, repeated = flow.attach(subscriber), flow.attach(subscriber)
    assert (first["outcome"], repeated["outcome"]) == ("started", "in_flight")
    flow.wait_finished(first["notification_id"])
    again_later = flow.attach(subscriber)
    assert again_later["outcome"] == "no_pending"
    assert len(flow.sms_to(subscriber)) == 1
    assert len(flow.fees(subscriber)) == 1


def test_call_arriving_mid_flow_stays_pending_for_the_next_attach(flow: NotifyStack) -> None:
    subscriber = "+447911200003"
    flow.missed_calls(subscriber, ["+447912000111"])
    flow.smsc.set_latency(1500)  # the SMSC takes its time answering: the notice is in flight
    started = flow.attach(subscriber)
    eventually(lambda: any(s.destination_addr == subscriber[1:] for s in flow.smsc.submits), timeout=30)
    late = [c["call_ref"] for c in flow.missed_calls(subscriber, ["+447912000222"])]
    flow.wait_finished(started["notification_id"])
    flow.smsc.set_latency(0)
    assert flow.pending(subscriber) == late
    second = flow.attach(subscriber)
    flow.wait_finished(second["notification_id"])
    texts = [s.text for s in flow.sms_to(subscriber)]
    assert len(texts) == 2 and "+447912000222" not in texts[0] and "+447912000222" in texts[1]
    assert len(flow.fees(subscriber)) == 2
    assert flow.pending(subscriber) == []


def emitted(flow: NotifyStack, function: str, metric: str) -> float:
    """The sum of an EMF metric in what the function printed (its CloudWatch Logs, locally)."""
    assert flow.stack.runtime is not None
    total = 0.0
    for line in flow.stack.runtime.logs[function]:
        if line.startswith("{") and '"_aws"' in line:
            value = json.loads(line).get(metric, 0)
            total += sum(value) if isinstance(value, list) else value
    return total


def test_throttling_then_success_is_one_sms_and_one_fee(flow: NotifyStack) -> None:
    subscriber = "+447911200004"
    flow.missed_calls(subscriber, ["+447912000111"])
    throttled_before = emitted(flow, "SendFunction", "SmsThrottled")
    flow.smsc.throttle_next(2)
    started = flow.attach(subscriber)
    (run,) = flow.wait_finished(started["notification_id"])
    # the dashboard's and SmscThrottleRatioAlarm's metric: one per throttled attempt
    assert emitted(flow, "SendFunction", "SmsThrottled") - throttled_before == 2
    throttled = [s for s in flow.smsc.submits if s.destination_addr == subscriber[1:] and s.status == 0x58]
    assert len(throttled) == 2
    assert len(flow.sms_to(subscriber)) == 1
    (fee,) = flow.fees(subscriber)
    assert fee["status"]["S"] == "submitted"
    assert json.loads(run["output"])["send"]["attempt"] == 3


def test_permanent_failure_records_a_failed_notice_without_fee_and_keeps_calls(flow: NotifyStack) -> None:
    subscriber = "+447911200005"
    refs = [c["call_ref"] for c in flow.missed_calls(subscriber, ["+447912000111"])]
    flow.smsc.reply_status_next(0x0B, 1)  # ESME_RINVDSTADR
    started = flow.attach(subscriber)
    flow.wait_finished(started["notification_id"])
    (fee,) = flow.fees(subscriber)
    assert fee["status"]["S"] == "failed" and fee["fee_minor"]["N"] == "0"
    assert "0x0000000B" in fee["failure_reason"]["S"] or "RINVDSTADR" in fee["failure_reason"]["S"]
    assert flow.pending(subscriber) == sorted(refs)
    assert flow.attach(subscriber)["outcome"] == "started"  # the lock was released


def test_quiet_hours_wait_until_the_window_ends(flow: NotifyStack) -> None:
    subscriber = "+447911200006"
    zone = ZoneInfo("Asia/Tokyo")
    flow.missed_calls(subscriber, ["+447912000111"])
    # The window is set just before the attach and is wide enough that Compose, however slow the
    # machine, runs inside it (a 4 s window once closed before Compose ran on a loaded machine).
    local = datetime.now(UTC).astimezone(zone)
    start, end = local - timedelta(minutes=1), local + timedelta(seconds=10)
    flow.set_subscriber(subscriber, time_zone="Asia/Tokyo", quiet_hours=f"{start:%H:%M:%S}-{end:%H:%M:%S}")
    started = flow.attach(subscriber)
    first = flow.wait_finished(started["notification_id"])
    assert json.loads(first[0]["output"])["action"] == "defer"
    assert flow.sms_to(subscriber) == []
    eventually(lambda: flow.sms_to(subscriber), timeout=60)
    received_at = datetime.now(UTC)
    assert received_at >= end.astimezone(UTC).replace(microsecond=0)
    eventually(lambda: flow.fees(subscriber), timeout=30)
    runs = flow.wait_finished(started["notification_id"], count=2)
    actions = [json.loads(r["output"])["action"] for r in runs]
    # moto's Wait may end up to a second early (it truncates): the notice then defers again, briefly.
    assert actions.count("send") == 1 and actions.count("defer") == len(actions) - 1
    (sms,) = flow.sms_to(subscriber)
    assert sms.text.startswith("You missed 1 call(s)")
    assert len(flow.fees(subscriber)) == 1


def test_turkish_notice_is_one_gsm7_segment_on_the_wire(flow: NotifyStack) -> None:
    subscriber = "+447911200007"
    flow.set_subscriber(subscriber, language="tr", time_zone="Europe/Istanbul")
    flow.missed_calls(subscriber, ["+905321234567", "+905321234567", "+905337654321"])
    started = flow.attach(subscriber)
    flow.wait_finished(started["notification_id"])
    (sms,) = flow.sms_to(subscriber)
    assert sms.data_coding == 0
    assert sms.udh[1:4] == bytes((IE_NATIONAL_SINGLE_SHIFT, 1, 1))  # Turkish single shift IE
    assert "cevapsız çağrınız" in sms.text
    (fee,) = flow.fees(subscriber)
    assert fee["segments"]["N"] == "1"


def test_ucs2_notice_counts_segments_exactly_on_the_wire(flow: NotifyStack) -> None:
    subscriber = "+447911200008"
    config = json.loads(
        flow.stack.client("ssm").get_parameter(Name=flow.stack.resource_name("NotifyConfigParameter"))["Parameter"][
            "Value"
        ]
    )
    russian = {**config["templates"]["en"], "header": "Вы пропустили {total_calls} звонков, пока были недоступны:"}
    flow.set_config(templates={**config["templates"], "ru": russian})
    try:
        flow.set_subscriber(subscriber, language="ru")
        flow.missed_calls(subscriber, ["+447912000111", "+447912000222", "+447912000333"])
        started = flow.attach(subscriber)
        flow.wait_finished(started["notification_id"])
    finally:
        flow.set_config(templates=config["templates"])
    parts = flow.sms_to(subscriber)
    (fee,) = flow.fees(subscriber)
    assert {p.data_coding for p in parts} == {8}
    assert len(parts) == int(fee["segments"]["N"]) == 2
    text = "".join(p.text for p in sorted(parts, key=lambda p: p.udh[-1]))
    assert text.startswith("Вы пропустили 3 звонков") and len(text) > 70


def test_notify_me_tells_callers_who_asked_once_and_never_withheld(flow: NotifyStack) -> None:
    subscriber, asked, did_not_ask = "+447911200009", "+447912300001", "+447912300002"
    flow.set_subscriber(asked, notify_me=True)
    flow.missed_calls(subscriber, [asked, asked, did_not_ask, None])
    started = flow.attach(subscriber)
    flow.wait_finished(started["notification_id"])
    (told,) = flow.sms_to(asked)
    assert told.text == f"{subscriber} is reachable again."
    assert flow.sms_to(did_not_ask) == []


def test_record_retried_never_charges_twice(flow: NotifyStack) -> None:
    subscriber = "+447911200010"
    flow.missed_calls(subscriber, ["+447912000111"])
    started = flow.attach(subscriber)
    (run,) = flow.wait_finished(started["notification_id"])
    state = json.loads(run["output"])
    again = flow.stack.invoke("RecordFunction", state)  # a re-driven Record with the same input
    assert again["recorded_now"] is False and again["status"] == "submitted"
    assert len(flow.fees(subscriber)) == 1


def test_attach_for_a_subscriber_without_calls_costs_one_read(flow: NotifyStack) -> None:
    import botocore.client

    calls: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def counting(self, operation, params):  # type: ignore[no-untyped-def]
        calls.append(f"{self.meta.service_model.service_name}:{operation}")
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = counting
    try:
        result = flow.attach("+447911200011")
    finally:
        botocore.client.BaseClient._make_api_call = original
    assert result["outcome"] == "no_pending"
    assert calls == ["dynamodb:Query"]


def test_missed_call_on_behalf_comes_from_the_callers_own_number(flow: NotifyStack) -> None:
    subscriber = "+447911200012"
    flow.set_config(on_behalf="sms")
    try:
        flow.missed_calls(subscriber, ["+447912000111", "+447912000111", None])
        started = flow.attach(subscriber)
        flow.wait_finished(started["notification_id"])
    finally:
        flow.set_config(on_behalf="off")
    on_behalf, private = sorted(flow.sms_to(subscriber), key=lambda s: s.source_addr != "447912000111")
    assert (on_behalf.source_addr, on_behalf.source_addr_ton, on_behalf.source_addr_npi) == ("447912000111", 1, 1)
    assert on_behalf.text.startswith("I called you 2x, last at ")
    assert (private.source_addr, private.source_addr_ton) == ("MissedCall", 5)
    assert "Private number at " in private.text
    (fee,) = flow.fees(subscriber)
    assert fee["messages"]["N"] == "2"


def test_attach_composes_and_the_execution_goes_straight_to_route(flow: NotifyStack) -> None:
    """One listing, the profile from the lock's own update: the execution starts composed."""
    import botocore.client

    subscriber = "+447911200013"
    flow.missed_calls(subscriber, ["+447912000111", None])
    requests: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def counting(self, operation, params):  # type: ignore[no-untyped-def]
        requests.append(f"{self.meta.service_model.service_name}:{operation}")
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = counting
    try:
        started = flow.attach(subscriber)
    finally:
        botocore.client.BaseClient._make_api_call = original
    assert started["outcome"] == "started"
    dynamodb = [r for r in requests if r.startswith("dynamodb:")]
    # the calls, the clearing mark, the lock (returning the profile), the callers' NotifyMe flags
    assert dynamodb == ["dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:BatchGetItem"]
    (run,) = flow.wait_finished(started["notification_id"])
    assert run["status"] == "SUCCEEDED", run
    assert json.loads(run["input"])["action"] == "send"
    history = flow.sfn.get_execution_history(executionArn=run["executionArn"], maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]
    assert entered[:3] == ["ComposedAhead", "Route", "Send"] and "Compose" not in entered
    assert len(flow.sms_to(subscriber)) == 1 and len(flow.fees(subscriber)) == 1
    assert flow.pending(subscriber) == []


def test_attach_that_cannot_compose_leaves_it_to_the_workflow_and_loses_nothing(flow: NotifyStack) -> None:
    subscriber = "+447911200014"
    flow.missed_calls(subscriber, ["+447912000111"])
    config = flow.set_config()
    flow.set_config(tariff="not a tariff")  # the operator's config invalid: attach cannot compose
    try:
        started = flow.attach(subscriber)
        assert started["outcome"] == "started"  # the attach itself goes on
        (run,) = flow.wait_finished(started["notification_id"])
        assert "action" not in json.loads(run["input"])  # started with the request: Compose composes
        assert run["status"] == "FAILED"  # ... and fails on the same config, releasing the lock
    finally:
        flow.set_config(tariff=config["tariff"])
    assert flow.sms_to(subscriber) == [] and flow.fees(subscriber) == []
    assert len(flow.pending(subscriber)) == 1  # the call waits for the next attach
    again = flow.attach(subscriber)
    assert again["outcome"] == "started"
    (run,) = flow.wait_finished(again["notification_id"])
    assert run["status"] == "SUCCEEDED", run
    assert len(flow.sms_to(subscriber)) == 1 and flow.pending(subscriber) == []
