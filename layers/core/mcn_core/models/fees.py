"""How fee records are keyed for reports: a month spread over shards of the by-period index."""

from __future__ import annotations

import hashlib

PERIOD_SHARDS = 16


def period_shard(period: str, notification_id: str) -> str:
    """Spread a month's fees over shards of the by-period index (no hot partition at millions a month)."""
    digest = hashlib.sha256(notification_id.encode()).digest()
    return f"{period}#{digest[0] % PERIOD_SHARDS:02d}"
