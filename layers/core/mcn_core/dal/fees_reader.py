"""Reading fee records for finance: a tenant's period, partition by partition, page by page.

A tenant's period is spread over PERIOD_SHARDS partitions ("acme#2026-11#00".."acme#2026-11#15",
`mcn_core.dal.fee_keys`) so that millions of writes a month never land on one hot partition.
Reading them back is one Query per partition, followed through LastEvaluatedKey (PynamoDB's
result iterator); every key read starts with the tenant, so a finance role limited to its tenant
by `dynamodb:LeadingKeys` can run every read here for that tenant. Everything is a generator: a
period is never held in memory.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator

from mcn_core.dal import fee_keys
from mcn_core.dal.tables import FeeRecord, FeeTenantRecord, bind
from mcn_core.logic.finance import FeeRow, validate_period
from mcn_core.models.notice import DEFAULT_TENANT

DEFAULT_PAGE_SIZE = 500


def to_row(record: FeeRecord) -> FeeRow:
    return FeeRow(
        notification_id=record.notification_id,
        subscriber=record.subscriber,
        period=record.period,
        created_at=record.created_at,
        calls_listed=record.calls_listed,  # type: ignore[arg-type]  # PynamoDB NumberAttribute: an int here
        callers_listed=record.callers_listed,  # type: ignore[arg-type]  # PynamoDB NumberAttribute: an int here
        messages=record.messages,  # type: ignore[arg-type]  # PynamoDB NumberAttribute: an int here
        segments=record.segments,  # type: ignore[arg-type]  # PynamoDB NumberAttribute: an int here
        fee_minor=record.fee_minor,  # type: ignore[arg-type]  # PynamoDB NumberAttribute: an int here
        currency=record.currency,
        tariff_id=record.tariff_id,
        charge_on=record.charge_on,
        status=record.status,
        promotion_id=record.promotion_id,
        failure_reason=record.failure_reason,
        period_day=record.period_day,
        tenant=record.tenant or DEFAULT_TENANT,
        calls_placed=record.calls_placed or 0,  # type: ignore[arg-type]  # PynamoDB NumberAttribute: an int here
        calls_alerted=record.calls_alerted or 0,  # type: ignore[arg-type]  # PynamoDB NumberAttribute: an int here
        call_fee_minor=record.call_fee_minor or 0,  # type: ignore[arg-type]  # PynamoDB NumberAttribute: an int here
    )


class FeesReader:
    def __init__(self, fees_table: str, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        self._model = bind(FeeRecord, fees_table)
        self._tenants = bind(FeeTenantRecord, fees_table)
        self._page_size = page_size

    def tenants(self, period: str) -> list[str]:
        """The tenants with fees in the period (the operator's view: reads the period's tenant list)."""
        partition = fee_keys.tenant_registry_partition(period)
        return sorted(r.notification_id for r in self._tenants.query(partition, page_size=self._page_size))

    def partition_rows(self, partition: str) -> Iterator[FeeRow]:
        """One partition in notification-id order; the iterator fetches the next page when the last is used up."""
        for record in self._model.query(partition, page_size=self._page_size):
            yield to_row(record)

    def tenant_rows(self, tenant: str, period: str) -> Iterator[FeeRow]:
        """Every fee of one tenant's period, partition after partition (one open query at a time)."""
        for partition in fee_keys.tenant_partitions(tenant, period):
            yield from self.partition_rows(partition)

    def period_rows(self, period: str, tenants: Iterable[str] | None = None) -> Iterator[FeeRow]:
        """Every fee of the period for `tenants` (default: every tenant with fees in it)."""
        for tenant in self.tenants(validate_period(period)) if tenants is None else tenants:
            yield from self.tenant_rows(tenant, period)

    def period_rows_in_time_order(self, period: str, tenants: Iterable[str] | None = None) -> Iterator[FeeRow]:
        """Every fee of the period in notification-id order (ids begin with the UTC second the notice
        started): a k-way merge of the partitions' sorted queries. Holds at most one page per partition.
        """
        chosen = self.tenants(validate_period(period)) if tenants is None else list(tenants)
        return heapq.merge(
            *(
                self.partition_rows(partition)
                for tenant in chosen
                for partition in fee_keys.tenant_partitions(tenant, period)
            ),
            key=lambda row: row.notification_id,
        )
