"""The embedded AWS makes each DynamoDB request atomic, as DynamoDB does, under real process concurrency.

moto's server answers requests on threads and its DynamoDB backend reads an item, checks the
condition and writes it back as separate steps; a transaction backs up whole tables and
restores them on a failed condition. Without serialisation two conditional writes racing for
one item can both pass (issue 11: two notices, two SMS, two fees). Here 20 spawned processes
hit one item at the same instant, round after round, through our own data access layer.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mcn_core.models.clearing import ClearingPlan, ClearMark, ref_entry
from mcn_devkit.embedded import EmbeddedStack

pytestmark = pytest.mark.integration

PROCESSES = 20
ROUNDS = 12


def _store(tables: dict[str, str]) -> Any:
    from mcn_core.dal.notify import NotifyStore

    return NotifyStore(tables["calls"], tables["subscribers"], tables["fees"], tables["message_ids"])


def _take_lock(tables: dict[str, str], subscriber: str, worker: int) -> bool:
    now = datetime.now(UTC)
    return _store(tables).acquire_lock(subscriber, f"n-{worker}", now + timedelta(minutes=30), now) is not None


def _record(tables: dict[str, str], subscriber: str, worker: int) -> str:
    """Each worker records its own notice listing the same calls: only one may charge for them."""
    store = _store(tables)
    now = datetime.now(UTC)
    fee = store.new_fee(
        notification_id=f"{subscriber}-n-{worker}",
        subscriber=subscriber,
        period=f"{now:%Y-%m}",
        fee_partition=store.fee_partition("default", f"{now:%Y-%m}", f"{subscriber}-n-{worker}"),
        created_at=now.isoformat(),
        calls_listed=2,
        callers_listed=1,
        messages=1,
        segments=1,
        fee_minor=10,
        currency="GBP",
        tariff_id="t",
        charge_on="submitted",
        smsc_message_ids=[f"m-{worker}"],
        status="submitted",
    )
    # Each read the subscriber's clearing mark before any of them cleared (as Compose would have).
    plan = ClearingPlan(
        mark=ClearMark(),
        listed=[ref_entry(f"{subscriber}-{call}", now - timedelta(hours=1)) for call in ("c1", "c2")],
        listed_at=now,
    )
    outcome = store.record_notice(fee, clearing=plan, release_lock=False)
    return str(outcome)


def _worker(environment: dict[str, str], barrier: Any, inbox: Any, outbox: Any) -> None:
    os.environ.update(environment)
    while (task := inbox.get()) is not None:
        function, arguments = task
        barrier.wait(timeout=120)
        try:
            outbox.put(function(*arguments))
        except Exception as exc:  # reported to the test, which fails on it
            outbox.put(f"{type(exc).__name__}: {exc}")


@pytest.fixture(scope="module")
def workers(stack: EmbeddedStack) -> Iterator[Callable[..., list[Any]]]:
    context = multiprocessing.get_context("spawn")
    barrier, outbox = context.Barrier(PROCESSES), context.Queue()
    inboxes = [context.Queue() for _ in range(PROCESSES)]
    environment = {**stack.env, "POWERTOOLS_METRICS_NAMESPACE": "test"}
    processes = [
        context.Process(target=_worker, args=(environment, barrier, inbox, outbox), daemon=True) for inbox in inboxes
    ]
    for process in processes:
        process.start()

    def run_together(function: Callable[..., Any], *arguments: Any) -> list[Any]:
        """`function(*arguments, worker)` in every process at the same instant; their results."""
        for worker, inbox in enumerate(inboxes):
            inbox.put((function, (*arguments, worker)))
        return [outbox.get(timeout=180) for _ in processes]

    try:
        yield run_together
    finally:
        for inbox in inboxes:
            inbox.put(None)
        for process in processes:
            process.join(timeout=20)
            if process.is_alive():
                process.kill()


@pytest.fixture(scope="module")
def tables(stack: EmbeddedStack) -> dict[str, str]:
    return {
        "calls": stack.resource_name("MissedCallsTable"),
        "subscribers": stack.resource_name("SubscribersTable"),
        "fees": stack.resource_name("FeesTable"),
        "message_ids": stack.resource_name("MessageIdsTable"),
    }


def test_one_of_twenty_processes_takes_a_subscribers_lock(
    workers: Callable[..., list[Any]], tables: dict[str, str]
) -> None:
    for round_number in range(ROUNDS):
        results = workers(_take_lock, tables, f"+4479111{50000 + round_number:05d}")
        assert sorted(results, key=str) == [False] * (PROCESSES - 1) + [True], f"round {round_number}: {results}"


def test_one_of_twenty_notices_listing_the_same_calls_is_recorded(
    stack: EmbeddedStack, workers: Callable[..., list[Any]], tables: dict[str, str]
) -> None:
    dynamodb = stack.client("dynamodb")
    for round_number in range(ROUNDS):
        subscriber = f"+4479111{60000 + round_number:05d}"
        for call in ("c1", "c2"):
            dynamodb.put_item(
                TableName=tables["calls"],
                Item={
                    "subscriber": {"S": subscriber},
                    "call_ref": {"S": f"{subscriber}-{call}"},
                    "presentation": {"S": "allowed"},
                    "call_time": {"S": "2026-12-01T10:00:00.000000+0000"},
                    "reason": {"S": "not_reachable"},
                    "msc": {"S": "447953000001"},
                    "expires_at": {"N": str(int(datetime.now(UTC).timestamp()) + 3600)},
                    "received_at": {"S": "2026-12-01T10:00:00.000000+0000"},
                },
            )
        results = workers(_record, tables, subscriber)
        # "already_recorded": the client resent a request the server had done (a timeout under load).
        assert set(results) <= {"recorded", "not_charged", "already_recorded"}, results
        assert results.count("recorded") <= 1, results
        items = dynamodb.scan(TableName=tables["fees"])["Items"]
        fees = [f for f in items if f.get("subscriber", {}).get("S") == subscriber]  # not the tenant list
        assert sorted(int(f["fee_minor"]["N"]) for f in fees) == [0] * (PROCESSES - 1) + [10], round_number


def test_a_retried_record_is_already_recorded_and_a_second_notice_for_cleared_calls_charges_nothing(
    stack: EmbeddedStack, tables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in stack.env.items():
        monkeypatch.setenv(name, value)
    subscriber = "+447911170000"
    dynamodb = stack.client("dynamodb")
    for call in ("c1", "c2"):
        dynamodb.put_item(
            TableName=tables["calls"],
            Item={"subscriber": {"S": subscriber}, "call_ref": {"S": f"{subscriber}-{call}"}},
        )
    assert _record(tables, subscriber, 1) == "recorded"
    assert _record(tables, subscriber, 1) == "already_recorded"  # the same notice, retried
    assert _record(tables, subscriber, 2) == "not_charged"  # another notice, same calls: recorded, fee 0
    fees = dynamodb.scan(TableName=tables["fees"])["Items"]
    charged = {
        f["notification_id"]["S"]: int(f["fee_minor"]["N"])
        for f in fees
        if f.get("subscriber", {}).get("S") == subscriber  # not the tenant list
    }
    assert charged == {f"{subscriber}-n-1": 10, f"{subscriber}-n-2": 0}
