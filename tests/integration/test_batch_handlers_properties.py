"""One bad event never sinks a batch (issue 11), through the real handlers on the embedded AWS.

Any JSON and any field value, in batches with well-formed neighbours: the function never fails,
answers exactly one outcome per event in input order, and stores nothing for a rejected event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from batch_strategies import attach, batches, flash_call_outcome, inbound, missed_call
from hypothesis import HealthCheck, given, settings

from mcn_devkit.embedded import EmbeddedStack

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
PROPERTIES = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


def item_count(stack: EmbeddedStack, table: str) -> int:
    return int(stack.client("dynamodb").scan(TableName=stack.resource_name(table), Select="COUNT")["Count"])


def outcomes(response: dict[str, Any], events: list[Any]) -> list[str]:
    assert [r["index"] for r in response["results"]] == list(range(len(events))), response
    assert sum(response["counts"].values()) == len(events), response
    for result in response["results"]:
        if result["outcome"] == "rejected":
            assert result["reason"], result
    return [r["outcome"] for r in response["results"]]


@PROPERTIES
@given(events=batches(missed_call(NOW)))
def test_ingest(stack: EmbeddedStack, events: list[Any]) -> None:
    before = item_count(stack, "MissedCallsTable")
    response = stack.invoke("IngestFunction", {"events": events})  # FunctionError if it fails
    assert item_count(stack, "MissedCallsTable") - before == outcomes(response, events).count("accepted")


@pytest.fixture(scope="module")
def no_pending_calls(stack: EmbeddedStack) -> None:
    dynamodb, table = stack.client("dynamodb"), stack.resource_name("MissedCallsTable")
    for item in dynamodb.scan(TableName=table, ProjectionExpression="subscriber, call_ref")["Items"]:
        dynamodb.delete_item(TableName=table, Key=item)


@PROPERTIES
@given(events=batches(attach(NOW)))
def test_attach(stack: EmbeddedStack, no_pending_calls: None, events: list[Any]) -> None:
    before = item_count(stack, "SubscribersTable")
    response = stack.invoke("AttachFunction", {"events": events})
    # Nothing pending: whatever the event, no lock taken (no subscriber item) and nothing started.
    assert set(outcomes(response, events)) <= {"no_pending", "rejected"}
    assert item_count(stack, "SubscribersTable") == before


@PROPERTIES
@given(events=batches(inbound(NOW)))
def test_receipts(stack: EmbeddedStack, events: list[Any]) -> None:
    before = item_count(stack, "SubscribersTable"), item_count(stack, "FeesTable")
    response = stack.invoke("ReceiptsFunction", {"events": events})
    results = outcomes(response, events)
    if all(outcome == "rejected" for outcome in results):
        assert (item_count(stack, "SubscribersTable"), item_count(stack, "FeesTable")) == before


@PROPERTIES
@given(events=batches(flash_call_outcome(NOW)))
def test_flash_call_outcomes(stack: EmbeddedStack, events: list[Any]) -> None:
    before = item_count(stack, "FeesTable")
    response = stack.invoke("FlashCallOutcomesFunction", {"events": events})
    # No fee record for the notice: a valid outcome is "unknown", never creates a record.
    assert set(outcomes(response, events)) <= {"unknown", "rejected"}
    assert item_count(stack, "FeesTable") == before
