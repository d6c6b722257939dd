"""Copy fee records from the fee table keyed by notification id (before tenants) to the tenant-first one.

The upgrade replaces the fee table (its key changed); the old one is kept by its Retain policy. This
copies every record, as stored (receipt parts and NotifyMe marks included), under
`fee_keys.fee_partition(tenant, period, notification_id)` (records without a tenant belong to the
default tenant), registers each period's tenants, and points the message-id index at the copies so
that receipts for notices sent before the upgrade still find their fee.

Idempotent and safe to rerun: a record already in the new table is not overwritten (a receipt may
have changed it there); the registry puts and the index updates write the same values again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mcn_core.dal import fee_keys
from mcn_core.models.notice import DEFAULT_TENANT

_OLD_ONLY = ("period_shard",)  # the old by-period index's key: no meaning in the new table


@dataclass
class MigrationResult:
    read: int = 0
    copied: int = 0
    already_there: int = 0
    message_ids_pointed: int = 0
    message_ids_expired: int = 0
    per_tenant_period: Counter[tuple[str, str]] = field(default_factory=Counter)


def migrate_fees(
    client: Any, old_table: str, fees_table: str, message_ids_table: str, *, dry_run: bool = False
) -> MigrationResult:
    """`client` is a boto3 DynamoDB client for the stack's account and region."""
    result = MigrationResult()
    registered: set[tuple[str, str]] = set()
    for page in client.get_paginator("scan").paginate(TableName=old_table, ConsistentRead=True):
        for item in page.get("Items", []):
            result.read += 1
            notification_id = item["notification_id"]["S"]
            tenant = fee_keys.validate_tenant(item.get("tenant", {}).get("S", DEFAULT_TENANT))
            period = item["period"]["S"]
            partition = fee_keys.fee_partition(tenant, period, notification_id)
            result.per_tenant_period[(tenant, period)] += 1
            if dry_run:
                continue
            if (tenant, period) not in registered:
                key = {
                    "fee_partition": {"S": fee_keys.tenant_registry_partition(period)},
                    "notification_id": {"S": tenant},
                }
                client.put_item(TableName=fees_table, Item=key)
                registered.add((tenant, period))
            copy = {k: v for k, v in item.items() if k not in _OLD_ONLY}
            copy |= {"fee_partition": {"S": partition}, "tenant": {"S": tenant}}
            try:
                client.put_item(
                    TableName=fees_table, Item=copy, ConditionExpression="attribute_not_exists(notification_id)"
                )
                result.copied += 1
            except client.exceptions.ConditionalCheckFailedException:
                result.already_there += 1
            for message_id in item.get("smsc_message_ids", {}).get("L", []):
                try:
                    client.update_item(
                        TableName=message_ids_table,
                        Key={"message_id": message_id},
                        UpdateExpression="SET fee_partition = :p",
                        ConditionExpression="attribute_exists(message_id)",
                        ExpressionAttributeValues={":p": {"S": partition}},
                    )
                    result.message_ids_pointed += 1
                except client.exceptions.ConditionalCheckFailedException:
                    result.message_ids_expired += 1  # gone by TTL: no receipt can come for it any more
    return result
