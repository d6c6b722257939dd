"""How the fee table is keyed: the tenant first, so finance access can be limited to one tenant.

Every fee record lives under partition key `fee_partition` = "<tenant>#<period>#<shard>" (e.g.
"acme#2026-11#07") with the notification id as sort key. A tenant's period is PERIOD_SHARDS
partitions (no hot partition at millions of fees a month), read by one Query each; every read
finance makes names a partition key that starts with "<tenant>#", which is what an IAM condition
on `dynamodb:LeadingKeys` checks (template.yaml, FinanceTenantReadPolicy).

Which tenants have fees in a period is kept in the same table, under "#tenants#<period>" (sort key
the tenant): a tenant id never starts with "#", so no tenant's key prefix reaches it. It is
written once per tenant and period by each warm Record, before the first fee of that tenant and
period, so an operator-wide report finds every tenant with fees, configured or not.

Every reader and writer of fee keys (Record, NotifyMe, receipts, reports, the migration) uses
these helpers and nothing else.
"""

from __future__ import annotations

import hashlib
import re

from mcn_core.models.fees import PERIOD_SHARDS, validate_period

_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TENANT_REGISTRY_PREFIX = "#tenants#"


def validate_tenant(tenant: str) -> str:
    """Tenant ids go into keys and IAM patterns: letters, digits, '_', '.', '-' (never '#', '*', '?')."""
    if not _TENANT.match(tenant):
        raise ValueError(
            f"tenant id must be 1-64 letters, digits, '_', '.' or '-' starting with a letter or digit, got {tenant!r}"
        )
    return tenant


def shard_of(notification_id: str) -> int:
    return hashlib.sha256(notification_id.encode()).digest()[0] % PERIOD_SHARDS


def fee_partition(tenant: str, period: str, notification_id: str) -> str:
    """The partition key of one fee record."""
    return f"{validate_tenant(tenant)}#{validate_period(period)}#{shard_of(notification_id):02d}"


def tenant_partitions(tenant: str, period: str) -> list[str]:
    """Every partition key of a tenant's period (one Query each)."""
    prefix = f"{validate_tenant(tenant)}#{validate_period(period)}"
    return [f"{prefix}#{shard:02d}" for shard in range(PERIOD_SHARDS)]


def tenant_registry_partition(period: str) -> str:
    return f"{TENANT_REGISTRY_PREFIX}{validate_period(period)}"


def tenant_of_partition(partition: str) -> str:
    return partition.split("#", 1)[0]
