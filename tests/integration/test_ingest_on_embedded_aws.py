"""ingest end to end on the embedded AWS: the real handler behind the real Lambda Invoke API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mcn_devkit.embedded import EmbeddedStack
from mcn_devkit.events import load_event, rebase_times
from mcn_devkit.template import PROJECT_ROOT

pytestmark = pytest.mark.integration
EVENTS = PROJECT_ROOT / "events" / "ingest"


def invoke(stack: EmbeddedStack, payload: Any) -> dict[str, Any]:
    """Through boto3 and HTTP, exactly as the gateway calls it."""
    response = stack.lambda_client().invoke(
        FunctionName=stack.function_name("IngestFunction"),
        InvocationType="RequestResponse",
        Payload=json.dumps(payload).encode(),
    )
    body = json.loads(response["Payload"].read())
    if "FunctionError" in response:
        raise AssertionError(f"function error: {body}")
    return body


def items(stack: EmbeddedStack, subscriber: str) -> list[dict[str, Any]]:
    table = stack.resource_name("MissedCallsTable")
    return stack.client("dynamodb").query(
        TableName=table,
        KeyConditionExpression="subscriber = :s",
        ExpressionAttributeValues={":s": {"S": subscriber}},
    )["Items"]


def sample(name: str, subscriber: str) -> Any:
    """A sample event, moved to now and to a subscriber of this test's own."""
    text = (EVENTS / f"{name}.json").read_text()
    return rebase_times(json.loads(text.replace("07911123456", subscriber).replace("+447911123456", subscriber)))


def test_single_call_becomes_one_item_with_ttl(stack: EmbeddedStack) -> None:
    response = invoke(stack, sample("single", "+447911000001"))
    assert response["counts"]["accepted"] == 1
    (item,) = items(stack, "+447911000001")
    assert item["caller"] == {"S": "+447912000111"}
    call_time = datetime.fromisoformat(item["call_time"]["S"].replace("Z", "+00:00"))
    if call_time.tzinfo is None:
        call_time = call_time.replace(tzinfo=UTC)
    assert int(item["expires_at"]["N"]) == int((call_time + timedelta(hours=72)).timestamp())


def test_batch_stores_every_attempt(stack: EmbeddedStack) -> None:
    response = invoke(stack, sample("batch", "+447911000002"))
    assert response["counts"] == {"accepted": 4, "duplicate": 0, "suppressed": 0, "rejected": 0}
    stored = items(stack, "+447911000002")
    assert sorted(i["caller"]["S"] for i in stored) == [
        "+442079460123",
        "+447912000111",
        "+447912000111",
        "+4915112345678",
    ]


def test_clir_caller_is_stored_withheld(stack: EmbeddedStack) -> None:
    invoke(stack, sample("clir", "+447911000003"))
    (item,) = items(stack, "+447911000003")
    assert item["presentation"] == {"S": "restricted"}
    assert "caller" not in item or item["caller"] == {"NULL": True}
    assert "7912999888" not in json.dumps(item)


def test_duplicate_delivery_is_one_item(stack: EmbeddedStack) -> None:
    payload = sample("duplicate", "+447911000004")
    first = invoke(stack, payload)
    again = invoke(stack, payload)
    assert [r["outcome"] for r in first["results"]] == ["accepted", "duplicate"]
    assert [r["outcome"] for r in again["results"]] == ["duplicate", "duplicate"]
    assert len(items(stack, "+447911000004")) == 1


def test_malformed_events_rejected_one_by_one(stack: EmbeddedStack) -> None:
    response = invoke(stack, sample("malformed", "+447911000005"))
    outcomes = [r["outcome"] for r in response["results"]]
    assert outcomes == ["rejected"] * 5 + ["accepted"]
    assert all(r["reason"] for r in response["results"][:5])
    assert len(items(stack, "+447911000005")) == 1


def test_subscriber_policy_applies_at_ingest(stack: EmbeddedStack) -> None:
    subscribers = stack.resource_name("SubscribersTable")
    dynamodb = stack.client("dynamodb")
    dynamodb.put_item(TableName=subscribers, Item={"msisdn": {"S": "+447911000006"}, "opted_out": {"BOOL": True}})
    dynamodb.put_item(
        TableName=subscribers,
        Item={"msisdn": {"S": "+447911000007"}, "blocked_callers": {"SS": ["+447912000111"]}},
    )
    opted_out = invoke(stack, sample("single", "+447911000006"))
    blocked = invoke(stack, sample("batch", "+447911000007"))
    assert opted_out["results"][0]["outcome"] == "suppressed"
    assert [r["outcome"] for r in blocked["results"]] == ["suppressed", "suppressed", "accepted", "accepted"]
    assert items(stack, "+447911000006") == []
    assert len(items(stack, "+447911000007")) == 2


def test_payload_that_is_not_an_event_is_rejected_not_crashed(stack: EmbeddedStack) -> None:
    response = invoke(stack, {"events": "nope"})
    assert response["results"][0]["outcome"] == "rejected"


def test_logs_never_show_full_numbers(stack: EmbeddedStack) -> None:
    assert stack.runtime is not None
    stack.runtime.logs["IngestFunction"].clear()
    stack.invoke("IngestFunction", sample("batch", "+447911000008"))
    stack.invoke("IngestFunction", sample("malformed", "+447911000008"))
    output = "\n".join(stack.runtime.logs["IngestFunction"])
    assert '"MissedCallsRejected"' in output  # EMF metrics are emitted per outcome
    assert "event rejected" in output  # the logs were captured at all
    for number in ("447911000008", "7912000111", "4915112345678", "07911123456"):
        assert number not in output


def test_store_outage_fails_the_invocation_and_a_resend_is_idempotent() -> None:
    with EmbeddedStack() as own:
        payload = sample("batch", "+447911000009")
        dynamodb = own.client("dynamodb")
        table = own.resource_name("MissedCallsTable")
        description = dynamodb.describe_table(TableName=table)["Table"]
        dynamodb.delete_table(TableName=table)  # the table is gone: every put fails
        response = own.lambda_client().invoke(
            FunctionName=own.function_name("IngestFunction"), Payload=json.dumps(payload)
        )
        assert response.get("FunctionError") == "Unhandled"
        assert "resend the batch" in json.loads(response["Payload"].read())["errorMessage"]
        dynamodb.create_table(
            TableName=table,
            AttributeDefinitions=description["AttributeDefinitions"],
            KeySchema=description["KeySchema"],
            BillingMode="PAY_PER_REQUEST",
        )
        assert invoke(own, payload)["counts"]["accepted"] == 4
        assert invoke(own, payload)["counts"]["duplicate"] == 4


def test_lawful_flag_is_a_template_parameter() -> None:
    with EmbeddedStack(parameters={"StoreWithheldNumbers": "true", "RetentionHours": "1"}) as own:
        own.invoke("IngestFunction", sample("clir", "+447911000010"))
        (item,) = items(own, "+447911000010")
        assert item["withheld_number"] == {"S": "07912999888"}
        old = rebase_times(load_event(EVENTS / "single.json"), datetime.now(UTC) - timedelta(hours=2))
        assert own.invoke("IngestFunction", old)["results"][0]["reason"].startswith("call older than the retention")
