"""PynamoDB models for the tables template.yaml declares. Table names come from the environment.

The models are bound to a physical table name at run time (`bind`), because the
name is chosen by CloudFormation and handed to each function through its environment.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TypeVar

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.attributes import TTLAttribute as _TTLAttribute
from pynamodb.models import Model

from mcn_core.models.types import DEFAULT_TENANT


class MissedCallRecord(Model):
    """One item per call attempt; key = subscriber + the call's own reference (idempotent puts)."""

    class Meta:
        table_name = "unbound-missed-calls"

    subscriber = UnicodeAttribute(hash_key=True)
    call_ref = UnicodeAttribute(range_key=True)
    caller = UnicodeAttribute(null=True)
    presentation = UnicodeAttribute()
    call_time = UTCDateTimeAttribute()
    reason = UnicodeAttribute()
    msc = UnicodeAttribute()
    expires_at = _TTLAttribute()
    received_at = UTCDateTimeAttribute()
    withheld_number = UnicodeAttribute(null=True)
    # The subscriber's tenant when the call arrived (ingest's resolution; compose resolves again).
    tenant = UnicodeAttribute(null=True)


class SubscriberRecord(Model):
    """Subscriber preferences and policy, keyed by E.164 MSISDN."""

    class Meta:
        table_name = "unbound-subscribers"

    msisdn = UnicodeAttribute(hash_key=True)
    opted_out = BooleanAttribute(default=False)
    blocked_callers = UnicodeSetAttribute(null=True)
    language = UnicodeAttribute(null=True)
    time_zone = UnicodeAttribute(null=True)
    quiet_hours = UnicodeAttribute(null=True)
    notify_me = BooleanAttribute(null=True)
    # At most one notice in flight per subscriber: the owner's notification id, and until when.
    notify_lock = UnicodeAttribute(null=True)
    notify_lock_until = UTCDateTimeAttribute(null=True)
    # The subscriber's own tenant, over the configured number ranges (`mcn subscriber set --tenant`).
    tenant = UnicodeAttribute(null=True)
    # The daily cap's count: local day (YYYY-MM-DD) of the last notice sent, and notices sent that day.
    notices_day = UnicodeAttribute(null=True)
    notices_on_day = NumberAttribute(null=True)

    # Which stored calls notices cleared (mcn_core.models.clearing.ClearMark): moved by Record in the
    # update that releases the lock; the calls themselves are left to TTL.
    cleared_seq = NumberAttribute(null=True)
    cleared_before = UTCDateTimeAttribute(null=True)
    cleared_refs = UnicodeSetAttribute(null=True)
    recent_clears = ListAttribute(of=UnicodeAttribute, null=True)


class FeeRecord(Model):
    """One record per notice: what finance bills. Money in integer minor units.

    Keyed tenant first (`mcn_core.dal.fee_keys`): partition "<tenant>#<period>#<shard>", sort key the
    notification id. No secondary index: every write is one write unit (a finance read path, not an
    index, spreads a period over shards).
    """

    class Meta:
        table_name = "unbound-fees"

    fee_partition = UnicodeAttribute(hash_key=True)  # "<tenant>#<period>#<shard>" (fee_keys.fee_partition)
    notification_id = UnicodeAttribute(range_key=True)
    tenant = UnicodeAttribute(default=DEFAULT_TENANT)
    subscriber = UnicodeAttribute()
    period = UnicodeAttribute()
    created_at = UnicodeAttribute()  # ISO 8601 UTC
    period_day = UnicodeAttribute(null=True)  # YYYY-MM-DD within `period` (Compose's clock); reports' day
    calls_listed = NumberAttribute()
    callers_listed = NumberAttribute()
    messages = NumberAttribute()
    segments = NumberAttribute()
    fee_minor = NumberAttribute()
    currency = UnicodeAttribute()
    tariff_id = UnicodeAttribute()
    charge_on = UnicodeAttribute()
    promotion_id = UnicodeAttribute(null=True)
    smsc_message_ids = ListAttribute(of=UnicodeAttribute, default=list)
    status = UnicodeAttribute()  # submitted | delivered | failed | expired
    failure_reason = UnicodeAttribute(null=True)
    notified_callers = UnicodeSetAttribute(null=True)  # NotifyMe: at most once per caller per notice
    # Missed calls placed on behalf: requested by Record, counted from the gateway's outcomes
    # (dal.origination); the per-call fee is the tariff's at Compose, like the notice's fee.
    calls_requested = NumberAttribute(null=True)
    fee_minor_per_call = NumberAttribute(null=True)
    calls_placed = NumberAttribute(null=True)
    calls_alerted = NumberAttribute(null=True)
    call_fee_minor = NumberAttribute(null=True)


class FeeTenantRecord(Model):
    """Which tenants have fees in a period: "#tenants#<period>" + tenant, in the fee table itself."""

    class Meta:
        table_name = "unbound-fees"

    fee_partition = UnicodeAttribute(hash_key=True)
    notification_id = UnicodeAttribute(range_key=True)  # the tenant id (the table's sort key name)


_Record = TypeVar("_Record", bound=Model)


def bind(model: type[_Record], table_name: str) -> type[_Record]:
    """A subclass of `model` bound to `table_name` (one class per table, so connections are cached).

    Keyed by endpoint too: a process serving several embedded stacks one after another (tests)
    must not reuse a connection to a stopped endpoint. In Lambda the endpoint never changes.
    """
    return _bind(model, table_name, os.environ.get("AWS_ENDPOINT_URL"))


@lru_cache(maxsize=64)
def _bind(model: type[_Record], table_name: str, endpoint: str | None) -> type[_Record]:
    meta = type("Meta", (), {"table_name": table_name})
    return type(model.__name__, (model,), {"Meta": meta})


class MessageIdRecord(Model):
    """SMSC message id of one submitted part -> its notice (receipts look up here)."""

    class Meta:
        table_name = "unbound-message-ids"

    message_id = UnicodeAttribute(hash_key=True)
    notification_id = UnicodeAttribute()
    part_count = NumberAttribute()  # how many parts the whole notice has: delivered when all are
    expires_at = _TTLAttribute()
    # The fee record's partition key (fee_keys.fee_partition): receipts address the fee with it.
    # Items written before the tenant-first fee table have none until `mcn fees migrate` adds it.
    fee_partition = UnicodeAttribute(null=True)
