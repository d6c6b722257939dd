"""Which tenant (the operator or a hosted brand) a subscriber belongs to.

A subscriber's own override wins (`mcn subscriber set --tenant`); otherwise the longest configured
number range (E.164 prefix) that starts their number; otherwise the operator ("default").
Resolved at ingest (stored on the call, for the record) and again at compose, whose answer
decides the notice: a range changed while calls wait applies to the next notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mcn_core.models.config import NotifyConfig
from mcn_core.models.types import DEFAULT_TENANT

#: E.164 numbers have at most 15 digits after the '+'
_MAX_PREFIX = 16


@dataclass(frozen=True)
class TenantResolution:
    tenant: str
    #: override: the subscriber's own setting; range: a configured number range; default: neither
    source: Literal["override", "range", "default"]
    #: the range that matched (source "range")
    prefix: str | None = None
    #: an override naming a tenant the configuration no longer has (ignored, ranges decided)
    unknown_override: str | None = None

    def describe(self) -> str:
        if self.source == "override":
            return f"tenant {self.tenant} (the subscriber's override)"
        if self.source == "range":
            return f"tenant {self.tenant} (number range {self.prefix})"
        ignored = f"; override {self.unknown_override!r} is not a configured tenant" if self.unknown_override else ""
        return f"tenant {self.tenant} (no range matches{ignored})"


def longest_prefix(number: str, ranges: dict[str, str]) -> str | None:
    """The longest key of `ranges` that `number` starts with (at most 16 dictionary lookups)."""
    for length in range(min(len(number), _MAX_PREFIX), 1, -1):
        if number[:length] in ranges:
            return number[:length]
    return None


def resolve_tenant(config: NotifyConfig, msisdn: str, override: str | None = None) -> TenantResolution:
    """The tenant of the subscriber `msisdn` (E.164) under `config` (the operator's, with its tenants)."""
    unknown = None
    if override:
        if override == DEFAULT_TENANT or override in config.tenants:
            return TenantResolution(override, "override")
        unknown = override
    ranges = config.tenant_ranges
    prefix = longest_prefix(msisdn, ranges) if ranges else None
    if prefix is not None:
        return TenantResolution(ranges[prefix], "range", prefix, unknown)
    return TenantResolution(DEFAULT_TENANT, "default", None, unknown)
