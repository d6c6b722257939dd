"""Reading a period's fee records for finance: the `by-period` index, shard by shard, page by page.

A period's records are spread over PERIOD_SHARDS index partitions ("2026-11#00".."2026-11#15")
so that millions of writes a month never land on one hot partition. Reading them back is one
Query per shard, followed through LastEvaluatedKey (PynamoDB's result iterator); everything
here is a generator, so a period is never held in memory.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from mcn_core.dal.tables import FeeRecord, bind
from mcn_core.logic.finance import FeeRow, validate_period
from mcn_core.models.fees import PERIOD_SHARDS

BY_PERIOD_INDEX = "by-period"
DEFAULT_PAGE_SIZE = 500


def period_shards(period: str) -> list[str]:
    return [f"{validate_period(period)}#{shard:02d}" for shard in range(PERIOD_SHARDS)]


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
        calls_placed=record.calls_placed or 0,  # type: ignore[arg-type]  # PynamoDB NumberAttribute: an int here
        calls_alerted=record.calls_alerted or 0,  # type: ignore[arg-type]  # PynamoDB NumberAttribute: an int here
        call_fee_minor=record.call_fee_minor or 0,  # type: ignore[arg-type]  # PynamoDB NumberAttribute: an int here
    )


class FeesReader:
    def __init__(self, fees_table: str, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        self._model = bind(FeeRecord, fees_table)
        self._page_size = page_size

    def shard_rows(self, shard: str) -> Iterator[FeeRow]:
        """One shard in created_at order; the iterator fetches the next page when the last is used up."""
        index = self._model.by_period
        for record in index.query(shard, page_size=self._page_size):
            yield to_row(record)

    def period_rows(self, period: str) -> Iterator[FeeRow]:
        """Every fee of the period, shard after shard (the cheapest order: one open query at a time)."""
        for shard in period_shards(period):
            yield from self.shard_rows(shard)

    def period_rows_in_time_order(self, period: str) -> Iterator[FeeRow]:
        """Every fee of the period in created_at order: a k-way merge of the shards' sorted queries.

        Holds at most one page per shard.
        """
        return heapq.merge(
            *(self.shard_rows(shard) for shard in period_shards(period)),
            key=lambda row: (row.created_at, row.notification_id),
        )
