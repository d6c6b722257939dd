"""Missed calls placed on behalf, the cloud half: the notify flow (the deployed ASL on moto's engine)
puts one FlashCallRequest per caller on the template's SQS queue, received here with boto3 as the
gateway would; FlashCallOutcomes lands the gateway's reports on the fee record once each; the
finance report counts the per-call fees and reconciles.
"""

from __future__ import annotations

import argparse
import io
import json
import os
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from notify_stack import SMSC_PASSWORD, NotifyStack

from mcn_core.models.origination import FlashCallRequest
from mcn_devkit.smsc import LocalSmsc

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ALICE, BOB, CAROL = "+447912000111", "+4915112345678", "+447912000333"
PER_CALL = 3


@pytest.fixture(scope="module")
def flow() -> Iterator[NotifyStack]:
    with LocalSmsc(system_id="mcn", password=SMSC_PASSWORD) as smsc:
        stack, notify = NotifyStack.start(smsc)
        try:
            config = notify.set_config()
            notify.set_config(on_behalf="call", tariff={**config["tariff"], "fee_minor_per_call": PER_CALL})
            yield notify
        finally:
            stack.stop()


@pytest.fixture(autouse=True)
def calls_mode(flow: NotifyStack) -> Iterator[None]:
    flow.smsc.reset_faults()
    yield
    flow.set_config(on_behalf="call", on_behalf_callers="all")


def queue_url(flow: NotifyStack) -> str:
    return flow.stack.resource_name("OriginationQueue")


def take_requests(flow: NotifyStack, expected: int, timeout_s: float = 20) -> list[tuple[FlashCallRequest, dict]]:
    """Long-poll the origination queue as the gateway does, deleting what it takes."""
    sqs = flow.stack.client("sqs")
    taken: list[tuple[FlashCallRequest, dict]] = []
    deadline = datetime.now(UTC) + timedelta(seconds=timeout_s)
    while len(taken) < expected and datetime.now(UTC) < deadline:
        response = sqs.receive_message(
            QueueUrl=queue_url(flow), MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        for message in response.get("Messages", []):
            taken.append((FlashCallRequest.from_data(json.loads(message["Body"])), message["MessageAttributes"]))
            sqs.delete_message(QueueUrl=queue_url(flow), ReceiptHandle=message["ReceiptHandle"])
    return taken


def queue_is_empty(flow: NotifyStack) -> bool:
    response = flow.stack.client("sqs").receive_message(QueueUrl=queue_url(flow), WaitTimeSeconds=1)
    return not response.get("Messages")


def notice(flow: NotifyStack, subscriber: str, callers: list[str | None]) -> tuple[str, dict[str, Any]]:
    flow.missed_calls(subscriber, callers)
    started = flow.attach(subscriber)
    assert started["outcome"] == "started", started
    (run,) = flow.wait_finished(started["notification_id"])
    assert run["status"] == "SUCCEEDED", run
    return started["notification_id"], run


def outcome(notification_id: str, n: int, kind: str, **extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "kind": "flash_call_outcome",
        "request_id": f"{notification_id}#{n}",
        "notification_id": notification_id,
        "outcome": kind,
        "placed_at": (now - timedelta(seconds=6)).isoformat(),
        "alerted_at": (now - timedelta(seconds=4)).isoformat() if kind == "alerted_released" else None,
        "released_at": now.isoformat(),
        **extra,
    }


def test_one_request_per_presentable_caller_after_the_fee_is_recorded(flow: NotifyStack) -> None:
    subscriber = "+447911200101"
    notification_id, _ = notice(flow, subscriber, [ALICE, None, ALICE, BOB])
    taken = take_requests(flow, 2)
    requests = sorted((request for request, _ in taken), key=lambda r: r.request_id)
    assert [(r.request_id, r.caller) for r in requests] == [
        (f"{notification_id}#1", BOB),
        (f"{notification_id}#2", ALICE),
    ]
    assert {r.subscriber for r in requests} == {subscriber} and {r.notification_id for r in requests} == {
        notification_id
    }
    assert {r.not_after - r.requested_at for r in requests} == {timedelta(seconds=120)}
    assert {attrs["request_id"]["StringValue"] for _, attrs in taken} == {r.request_id for r in requests}
    assert queue_is_empty(flow)  # never a call from the withheld caller

    # The withheld caller is told by SMS (the service listing); the called ones are not listed again.
    (sms,) = flow.sms_to(subscriber)
    assert "Private number" in sms.text and ALICE[1:] not in sms.text
    (fee,) = flow.fees(subscriber)
    assert (fee["status"]["S"], fee["calls_requested"]["N"], fee["fee_minor_per_call"]["N"]) == ("submitted", "2", "3")
    assert flow.pending(subscriber) == []


def test_a_retried_record_requests_the_same_calls(flow: NotifyStack) -> None:
    subscriber = "+447911200102"
    notification_id, run = notice(flow, subscriber, [ALICE, BOB])
    first = sorted(r.request_id for r, _ in take_requests(flow, 2))
    # Re-drive Record with the input it had (as a retry after a lost response would).
    state = json.loads(run["output"])
    state.pop("record", None)
    again = flow.stack.invoke("RecordFunction", state)
    assert again["outcome"] == "already_recorded" and again["calls_requested"] == 2
    assert (
        sorted(r.request_id for r, _ in take_requests(flow, 2))
        == first
        == [f"{notification_id}#1", f"{notification_id}#2"]
    )
    assert len(flow.fees(subscriber)) == 1


def test_calls_only_notice_without_sms_then_outcomes_land_once(flow: NotifyStack) -> None:
    subscriber = "+447911200103"
    notification_id, _ = notice(flow, subscriber, [ALICE, BOB, ALICE])
    assert len(take_requests(flow, 2)) == 2
    assert flow.sms_to(subscriber) == []  # every caller is told by a call: no SMS at all
    (fee,) = flow.fees(subscriber)
    assert (fee["status"]["S"], fee["messages"]["N"], fee["fee_minor"]["N"]) == ("submitted", "0", "10")
    assert flow.pending(subscriber) == []  # no SMS, yet the notice cleared the calls it covered

    batch = {
        "events": [
            outcome(notification_id, 1, "alerted_released", cause=16, cic=1),
            outcome(notification_id, 2, "busy", cause=17, cic=2, alerted_at=None),
        ]
    }
    response = flow.stack.invoke("FlashCallOutcomesFunction", batch)
    assert response["counts"] == {"applied": 2, "duplicate": 0, "unknown": 0, "rejected": 0}, response
    resent = flow.stack.invoke("FlashCallOutcomesFunction", batch)  # the gateway resends after a timeout
    assert resent["counts"]["duplicate"] == 2

    (fee,) = flow.fees(subscriber)
    assert (fee["calls_placed"]["N"], fee["calls_alerted"]["N"], fee["call_fee_minor"]["N"]) == ("2", "1", "3")
    assert fee["status"]["S"] == "delivered"  # the call that rang delivered the notice
    assert {e["S"] if isinstance(e, dict) else e for e in fee["flash_call_outcomes"]["SS"]} == {
        f"{notification_id}#1 alerted_released 16",
        f"{notification_id}#2 busy 17",
    }

    report = fees_report(flow, datetime.now(UTC).strftime("%Y-%m"))
    (row,) = [r for r in report["rows"] if r["notification_id"] == notification_id]
    assert (row["calls_placed"], row["calls_alerted"], row["call_fee_minor"], row["charged_minor"]) == (2, 1, 3, 13)
    assert report["reconciled"] is True


def test_repeated_callers_only_and_the_cap(flow: NotifyStack) -> None:
    flow.set_config(on_behalf_callers="repeated", max_calls_per_notice=1)
    subscriber = "+447911200104"
    notification_id, _ = notice(flow, subscriber, [ALICE, CAROL, ALICE, CAROL, BOB])
    (request,) = [r for r, _ in take_requests(flow, 1)]
    assert (request.request_id, request.caller) == (f"{notification_id}#1", CAROL)  # the most recent repeated caller
    assert queue_is_empty(flow)
    (sms,) = flow.sms_to(subscriber)
    assert ALICE[1:] in sms.text and BOB[1:] in sms.text and CAROL[1:] not in sms.text


def test_no_calls_when_the_sms_failed(flow: NotifyStack) -> None:
    flow.set_config(on_behalf="call_and_sms")
    subscriber = "+447911200105"
    flow.smsc.reply_status_next(0x0B, count=5)  # ESME_RINVDSTADR: permanent
    notice(flow, subscriber, [ALICE, BOB])
    (fee,) = flow.fees(subscriber)
    assert fee["status"]["S"] == "failed"
    assert queue_is_empty(flow)
    assert len(flow.pending(subscriber)) == 2  # the calls wait for the next attach, which calls then


def test_no_calls_in_quiet_hours(flow: NotifyStack) -> None:
    subscriber = "+447911200106"
    local = datetime.now(UTC)
    window = f"{(local - timedelta(hours=1)):%H:%M}-{(local + timedelta(hours=2)):%H:%M}"
    flow.set_subscriber(subscriber, time_zone="UTC", quiet_hours=window)
    flow.missed_calls(subscriber, [ALICE])
    started = flow.attach(subscriber)
    (run,) = flow.wait_finished(started["notification_id"])
    assert run["status"] == "SUCCEEDED" and "deferred" in json.loads(run["output"])
    assert queue_is_empty(flow)
    assert flow.fees(subscriber) == []


def test_the_queue_is_deployed_from_the_template(flow: NotifyStack) -> None:
    sqs = flow.stack.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url(flow), AttributeNames=["All"])["Attributes"]
    assert (attributes["VisibilityTimeout"], attributes["MessageRetentionPeriod"]) == ("120", "600")
    redrive = json.loads(attributes["RedrivePolicy"])
    dead_letters = flow.stack.resolved.arn("OriginationDeadLetterQueue")
    assert redrive["deadLetterTargetArn"] == dead_letters and int(redrive["maxReceiveCount"]) == 3
    assert attributes.get("SqsManagedSseEnabled") == "true"


# ---------------------------------------------------------------- `mcn fees report`, in this process
def fees_report(flow: NotifyStack, period: str) -> dict[str, Any]:
    from mcn_cli.main import build_parser
    from mcn_cli.target import write_state
    from mcn_devkit import local_cmd

    state = Path(os.environ.get("PYTEST_TMP", "/tmp")) / f"{flow.stack.stack_name}-state.json"
    write_state(state, local_cmd.state_document(flow.stack))
    saved = dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            args: argparse.Namespace = build_parser().parse_args(
                [
                    "fees",
                    "report",
                    "--period",
                    period,
                    "--by",
                    "notice",
                    "--format",
                    "json",
                    "--local-state",
                    str(state),
                ]
            )
            code = int(args.func(args))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        state.unlink(missing_ok=True)
    assert code == 0, err.getvalue()
    return json.loads(out.getvalue())
