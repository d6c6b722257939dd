"""The receipts function on the embedded AWS (template-deployed tables) with a real SMSC for replies."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mcn_core.dal.fee_keys import fee_partition
from mcn_devkit.embedded import EmbeddedStack
from mcn_devkit.smsc import LocalSmsc

pytestmark = pytest.mark.integration

PASSWORD = "secret1"


class Env:
    def __init__(self, stack: EmbeddedStack, smsc: LocalSmsc) -> None:
        self.stack, self.smsc = stack, smsc
        self.dynamodb = stack.client("dynamodb")
        self.fees_table = stack.resource_name("FeesTable")
        self.ids_table = stack.resource_name("MessageIdsTable")
        self.subscribers_table = stack.resource_name("SubscribersTable")

    def notice(self, notification_id: str, message_ids: list[str], status: str = "submitted") -> None:
        """A fee record and its message-id index, as the Record step writes them."""
        self.dynamodb.put_item(
            TableName=self.fees_table,
            Item={
                "fee_partition": {"S": fee_partition("default", "2026-11", notification_id)},
                "notification_id": {"S": notification_id},
                "tenant": {"S": "default"},
                "subscriber": {"S": "+447911200001"},
                "period": {"S": "2026-11"},
                "created_at": {"S": "2026-11-29T12:00:00+00:00"},
                "calls_listed": {"N": "1"},
                "callers_listed": {"N": "1"},
                "messages": {"N": "1"},
                "segments": {"N": str(len(message_ids))},
                "fee_minor": {"N": "10"},
                "currency": {"S": "GBP"},
                "tariff_id": {"S": "mcn-standard"},
                "charge_on": {"S": "delivery"},
                "smsc_message_ids": {"L": [{"S": m} for m in message_ids]},
                "status": {"S": status},
            },
        )
        for message_id in message_ids:
            self.dynamodb.put_item(
                TableName=self.ids_table,
                Item={
                    "message_id": {"S": message_id},
                    "notification_id": {"S": notification_id},
                    "part_count": {"N": str(len(message_ids))},
                    "expires_at": {"N": str(int(datetime.now(UTC).timestamp()) + 86400)},
                    "fee_partition": {"S": fee_partition("default", "2026-11", notification_id)},
                },
            )

    def fee(self, notification_id: str) -> dict[str, Any]:
        key = {"fee_partition": {"S": fee_partition("default", "2026-11", notification_id)}}
        return self.dynamodb.get_item(TableName=self.fees_table, Key=key | {"notification_id": {"S": notification_id}})[
            "Item"
        ]

    def subscriber(self, msisdn: str) -> dict[str, Any]:
        return self.dynamodb.get_item(TableName=self.subscribers_table, Key={"msisdn": {"S": msisdn}}).get("Item", {})

    def invoke(self, *events: dict[str, Any]) -> dict[str, Any]:
        return self.stack.invoke("ReceiptsFunction", {"events": list(events)})


def receipt(message_id: str, state: str = "DELIVRD", age_s: float = 0, **extra: Any) -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(seconds=age_s)
    return {"kind": "receipt", "message_id": message_id, "state": state, "received_at": at.isoformat(), **extra}


_ref = iter(range(1, 10_000))


def mo(source: str, text: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "kind": "mo",
        "source": source,
        "destination": "62226",
        "text": text,
        "received_at": now.isoformat(),
        "message_ref": f"{now:%Y%m%dT%H%M%S.%fZ}-{next(_ref):04d}",
    }


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with LocalSmsc(system_id="mcn", password=PASSWORD) as smsc:
        parameters = {"SmscHost": "127.0.0.1", "SmscPort": str(smsc.port), "ConfigCacheSeconds": "0"}
        with EmbeddedStack(parameters=parameters) as stack:
            stack.client("secretsmanager").put_secret_value(
                SecretId=stack.resource_name("SmscCredentials"),
                SecretString=json.dumps({"username": "mcn", "password": PASSWORD}),
            )
            yield Env(stack, smsc)


def test_single_receipt_delivers_and_a_duplicate_changes_nothing(env: Env) -> None:
    env.notice("n-single", ["a1"])
    first = env.invoke(receipt("a1"))
    assert first["results"][0] | {"reason": None} == {
        "index": 0,
        "kind": "receipt",
        "message_id": "a1",
        "outcome": "applied",
        "reason": None,
        "notification_id": "n-single",
        "status": "delivered",
    }
    before = env.fee("n-single")
    assert before["status"]["S"] == "delivered" and before["delivered_parts"]["SS"] == ["a1"]
    again = env.invoke(receipt("a1"), receipt("a1", "UNDELIV"))
    assert [r["outcome"] for r in again["results"]] == ["duplicate", "duplicate"]
    assert env.fee("n-single") == before


def test_a_text_receipt_counts_only_from_the_notices_own_handset(env: Env) -> None:
    env.notice("n-text", ["t1"])  # sent to +447911200001
    forged = env.invoke(receipt("t1", "UNDELIV", handset="447911200999", from_text=True))
    assert forged["results"][0]["outcome"] == "refused"
    assert env.fee("n-text")["status"]["S"] == "submitted"
    genuine = env.invoke(receipt("t1", handset="447911200001", from_text=True))
    assert genuine["results"][0]["outcome"] == "applied"
    assert env.fee("n-text")["status"]["S"] == "delivered"


def test_multi_part_notice(env: Env) -> None:
    env.notice("n-multi", ["b1", "b2", "b3"])
    partial = env.invoke(receipt("b1"), receipt("b2", "ENROUTE"), receipt("b2"))
    assert [r["outcome"] for r in partial["results"]] == ["applied", "interim", "applied"]
    assert env.fee("n-multi")["status"]["S"] == "submitted"
    assert sorted(env.fee("n-multi")["delivered_parts"]["SS"]) == ["b1", "b2"]
    env.invoke(receipt("b3"))
    assert env.fee("n-multi")["status"]["S"] == "delivered"


def test_a_batch_reads_its_notices_ahead_in_two_requests(env: Env) -> None:
    """Message ids, then fee records, each one BatchGetItem for the batch; a multi-part notice's second
    receipt re-reads its fee (the first one changed it) and a missing id is still answered."""
    import botocore.client

    env.notice("n-ahead-1", ["a1"])
    env.notice("n-ahead-2", ["a2", "a3"])
    requests: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def counting(self, operation, params):  # type: ignore[no-untyped-def]
        requests.append(operation)
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = counting
    try:
        response = env.invoke(receipt("a1"), receipt("a2"), receipt("a3"), receipt("a-missing", age_s=900))
    finally:
        botocore.client.BaseClient._make_api_call = original
    assert [r["outcome"] for r in response["results"]] == ["applied", "applied", "applied", "unknown"]
    assert requests.count("BatchGetItem") == 2 and requests.count("UpdateItem") == 3, requests
    assert requests.count("GetItem") == 1, requests  # n-ahead-2's fee again, after a2 changed it
    assert env.fee("n-ahead-1")["status"]["S"] == "delivered"
    assert env.fee("n-ahead-2")["status"]["S"] == "delivered"


def test_failed_and_expired_parts(env: Env) -> None:
    env.notice("n-failed", ["c1", "c2"])
    env.invoke(receipt("c1", "UNDELIV"), receipt("c2"))
    fee = env.fee("n-failed")
    assert fee["status"]["S"] == "failed" and fee["failure_reason"]["S"] == "receipt UNDELIV"
    env.notice("n-expired", ["d1"])
    env.invoke(receipt("d1", "EXPIRED"))
    assert env.fee("n-expired")["status"]["S"] == "expired"


def test_unknown_id_counted_or_retried_while_young(env: Env) -> None:
    old = env.invoke(receipt("nobody-knows", age_s=600))
    assert old["results"][0]["outcome"] == "unknown"
    young = env.invoke(receipt("not-yet-recorded"), receipt("nobody-knows", age_s=600))
    assert [r["outcome"] for r in young["results"]] == ["retry", "unknown"]
    env.notice("n-late", ["not-yet-recorded"])  # the fee record arrives; the resent batch succeeds
    assert env.invoke(receipt("not-yet-recorded"))["results"][0]["status"] == "delivered"


def test_concurrent_receipts_lose_nothing(env: Env) -> None:
    from mcn_core.dal.receipts import DynamoReceiptStore
    from mcn_core.logic.receipts import ReceiptChange

    env.notice("n-race", ["e1", "e2"])
    with _aws_env(env.stack):
        store = DynamoReceiptStore(env.fees_table, env.ids_table, env.subscribers_table)
        ref = store.notice_for("e1")
        assert ref is not None
        stale = store.fee_state(ref)
        assert store.record_receipt(stale, ReceiptChange("e1", True, None, None), datetime.now(UTC))
        # a second writer that read before the first wrote must re-read
        assert not store.record_receipt(stale, ReceiptChange("e2", True, None, None), datetime.now(UTC))
        assert store.fee_state(ref).version == 1  # type: ignore[union-attr]
    env.invoke(receipt("e2"))
    assert env.fee("n-race")["status"]["S"] == "delivered"


def test_keywords_update_the_subscriber_and_reply_through_the_smsc(env: Env) -> None:
    subscriber = "+447911200010"
    result = env.invoke(mo("447911200010", "Stop"), mo("447911200010", "LANG de"), mo("447911200010", "ruhe 23-6"))
    assert [(r["outcome"], r["keyword"], r["reply"]) for r in result["results"]] == [
        # handed to the Send function, the only one holding SMSC binds (asynchronous invoke)
        ("applied", "STOP", "queued"),
        ("applied", "LANG", "queued"),
        ("applied", "QUIET", "queued"),
    ]
    item = env.subscriber(subscriber)
    assert item["opted_out"]["BOOL"] is True
    assert item["language"]["S"] == "de" and item["quiet_hours"]["S"] == "23:00-06:00"
    replies = _replies_to(env, subscriber[1:], 3)
    assert {s.text for s in replies} == {
        "You will no longer get missed call alerts. Text START to 62226 to get them again.",
        "Die Anruf-Info kommt jetzt auf Deutsch.",
        "Keine Anruf-Info zwischen 23:00-06:00; sie kommt danach.",
    }
    assert {s.source_addr for s in replies} == {"62226"}
    logs = "\n".join(env.stack.runtime.logs["ReceiptsFunction"])
    leaks = [line for line in logs.splitlines() if "447911200010" in line]
    assert not leaks and "44*******010" in logs


def test_resent_mo_batch_is_not_answered_twice(env: Env) -> None:
    event = mo("447911200011", "help")
    env.invoke(event)
    again = env.invoke(event)
    assert again["results"][0]["outcome"] == "duplicate"
    assert len(_replies_to(env, "447911200011", 1)) == 1
    env.invoke(mo("447911200099", "help"))  # a later reply through the same function has arrived...
    _replies_to(env, "447911200099", 1)
    assert len(_replies_to(env, "447911200011", 1)) == 1  # ...and no second answer to the resent one


def _replies_to(env: Env, destination: str, count: int, deadline_s: float = 30.0) -> list:
    """Replies go out asynchronously (through the Send function): wait for them, generously."""
    limit = time.monotonic() + deadline_s
    while True:
        replies = [s for s in env.smsc.submits if s.destination_addr == destination]
        if len(replies) >= count or time.monotonic() > limit:
            return replies
        time.sleep(0.05)


def test_malformed_input(env: Env) -> None:
    response = env.stack.invoke("ReceiptsFunction", ["not", "an", "event"])
    assert response["results"][0]["outcome"] == "rejected"
    response = env.invoke({"kind": "receipt"}, receipt("old-unknown", age_s=900))
    assert [r["outcome"] for r in response["results"]] == ["rejected", "unknown"]


class _aws_env:
    """The stack's AWS_* variables for PynamoDB used directly by a test."""

    def __init__(self, stack: EmbeddedStack) -> None:
        self.values = stack.env

    def __enter__(self) -> None:
        import os

        self.saved = {k: os.environ.get(k) for k in self.values}
        os.environ.update(self.values)

    def __exit__(self, *exc: object) -> None:
        import os

        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_store_unavailable_fails_the_invocation_so_the_batch_is_resent(env: Env) -> None:
    """Last in this module: it removes the message-id table."""
    from mcn_devkit.lambda_runtime import FunctionError

    env.dynamodb.delete_table(TableName=env.ids_table)
    with pytest.raises(FunctionError, match=r"RetryBatchError: event 1: .*ResourceNotFound.*events from 1 on"):
        env.invoke(mo("447911200012", "START"), receipt("a1"), mo("447911200012", "STOP"))
    item = env.subscriber("+447911200012")
    assert item["opted_out"]["BOOL"] is False  # the event before the failure was applied, the one after was not
