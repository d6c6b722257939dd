"""`mcn fees migrate`: fee records from the table keyed by notification id (before tenants) are copied
under the tenant-first key, and receipts for notices sent before the upgrade still find their fee."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mcn_core.dal import fee_keys
from mcn_devkit.embedded import EmbeddedStack
from mcn_devkit.events import delivered_receipt

pytestmark = [pytest.mark.integration]

OLD_TABLE = "mcn-fees-before-tenants"


def _old_fee(notification_id: str, period: str, message_ids: list[str], **extra: Any) -> dict[str, Any]:
    """A fee record as the notification-id-keyed table held it (with its by-period index key)."""
    return {
        "notification_id": {"S": notification_id},
        "subscriber": {"S": "+447911200001"},
        "period": {"S": period},
        "period_shard": {"S": f"{period}#{fee_keys.shard_of(notification_id):02d}"},
        "created_at": {"S": f"{period}-15T12:00:00.000+00:00"},
        "calls_listed": {"N": "2"},
        "callers_listed": {"N": "1"},
        "messages": {"N": "1"},
        "segments": {"N": str(len(message_ids))},
        "fee_minor": {"N": "25"},
        "currency": {"S": "GBP"},
        "tariff_id": {"S": "mcn-standard"},
        "charge_on": {"S": "delivery"},
        "smsc_message_ids": {"L": [{"S": m} for m in message_ids]},
        "status": {"S": "submitted"},
        **extra,
    }


@pytest.fixture(scope="module")
def old_table(stack: EmbeddedStack) -> str:
    dynamodb = stack.client("dynamodb")
    dynamodb.create_table(
        TableName=OLD_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "notification_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "notification_id", "KeyType": "HASH"}],
    )
    items = [
        _old_fee("20261130T235900Z-aaaa", "2026-11", ["old-1", "old-2"]),
        _old_fee("20261101T080000Z-bbbb", "2026-11", ["old-3"], delivered_parts={"SS": ["old-3"]}),
        _old_fee("20261015T080000Z-cccc", "2026-10", ["gone-by-ttl"], tenant={"S": "brand-b"}),
    ]
    for item in items:
        dynamodb.put_item(TableName=OLD_TABLE, Item=item)
    expires = str(int(datetime.now(UTC).timestamp()) + 86400)
    for message_id, notification_id in [("old-1", items[0]), ("old-2", items[0]), ("old-3", items[1])]:
        dynamodb.put_item(
            TableName=stack.resource_name("MessageIdsTable"),
            Item={
                "message_id": {"S": message_id},
                "notification_id": notification_id["notification_id"],
                "part_count": {"N": "2" if message_id != "old-3" else "1"},
                "expires_at": {"N": expires},
            },
        )
    return OLD_TABLE


def _new_fee(stack: EmbeddedStack, tenant: str, period: str, notification_id: str) -> dict[str, Any] | None:
    key = {
        "fee_partition": {"S": fee_keys.fee_partition(tenant, period, notification_id)},
        "notification_id": {"S": notification_id},
    }
    found: dict[str, Any] | None = (
        stack.client("dynamodb").get_item(TableName=stack.resource_name("FeesTable"), Key=key).get("Item")
    )
    return found


def test_dry_run_writes_nothing(
    mcn: Callable[..., Any], local_state: Path, stack: EmbeddedStack, old_table: str
) -> None:
    result = mcn("fees", "migrate", "--from-table", old_table, "--dry-run", "--local-state", str(local_state))
    assert result.code == 0, result.err
    assert "3 fee record(s) in" in result.out and "would be copied" in result.out
    assert stack.client("dynamodb").scan(TableName=stack.resource_name("FeesTable"))["Items"] == []


def test_receipt_before_migration_is_retried_not_lost(stack: EmbeddedStack, old_table: str) -> None:
    response = stack.invoke("ReceiptsFunction", {"events": [delivered_receipt("old-3")]})
    assert response["results"][0]["outcome"] == "retry", response


def test_migrate_copies_under_the_tenant_key_and_receipts_find_the_copies(
    mcn: Callable[..., Any], local_state: Path, stack: EmbeddedStack, old_table: str
) -> None:
    result = mcn("fees", "migrate", "--from-table", old_table, "--local-state", str(local_state))
    assert result.code == 0, result.err
    assert "3 copied, 0 already there; 3 message id(s) pointed at the copies, 1 already expired" in result.out
    copy = _new_fee(stack, "default", "2026-11", "20261130T235900Z-aaaa")
    assert copy is not None and copy["tenant"]["S"] == "default" and "period_shard" not in copy
    assert copy["fee_minor"] == {"N": "25"} and copy["smsc_message_ids"]["L"] == [{"S": "old-1"}, {"S": "old-2"}]
    kept = _new_fee(stack, "default", "2026-11", "20261101T080000Z-bbbb")
    assert kept is not None and kept["delivered_parts"] == {"SS": ["old-3"]}  # receipts' attributes travel too
    assert _new_fee(stack, "brand-b", "2026-10", "20261015T080000Z-cccc") is not None

    # reports see them, per tenant, from the period's tenant list
    report = mcn("fees", "report", "--period", "2026-11", "--by", "tenant", "--format", "json",
                 "--local-state", str(local_state))  # fmt: skip
    assert report.code == 0, report.err
    assert '"tenant": "default"' in report.out and '"notices": 2' in report.out

    # a receipt for a notice sent before the upgrade moves the copy
    for message_id in ("old-1", "old-2"):
        response = stack.invoke("ReceiptsFunction", {"events": [delivered_receipt(message_id)]})
        assert response["results"][0]["outcome"] == "applied", response
    moved = _new_fee(stack, "default", "2026-11", "20261130T235900Z-aaaa")
    assert moved is not None and moved["status"]["S"] == "delivered"


def test_rerun_leaves_changed_copies_alone(
    mcn: Callable[..., Any], local_state: Path, stack: EmbeddedStack, old_table: str
) -> None:
    result = mcn("fees", "migrate", "--from-table", old_table, "--local-state", str(local_state))
    assert result.code == 0, result.err
    assert "0 copied, 3 already there" in result.out
    moved = _new_fee(stack, "default", "2026-11", "20261130T235900Z-aaaa")
    assert moved is not None and moved["status"]["S"] == "delivered"  # not overwritten by the old record


def test_migrating_from_the_current_table_is_refused(
    mcn: Callable[..., Any], local_state: Path, stack: EmbeddedStack
) -> None:
    current = stack.resource_name("FeesTable")
    result = mcn("fees", "migrate", "--from-table", current, "--local-state", str(local_state))
    assert result.code == 2 and "current fee table" in result.err
