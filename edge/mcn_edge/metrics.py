"""Prometheus metrics every edge service has (spool and forwarding), under the service's own prefix.

One registry per service instance, so tests can run several side by side. A service subclasses
EdgeMetrics and adds its own metrics to `self.registry` under the same prefix.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class EdgeMetrics:
    def __init__(self, prefix: str, registry: CollectorRegistry | None = None) -> None:
        self.prefix = prefix
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.spool_depth = Gauge(f"{prefix}_spool_depth", "Events waiting in the spool", ["kind"], registry=r)
        self.forward_latency = Histogram(
            f"{prefix}_forward_latency_seconds",
            "Time to forward one batch",
            ["target"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.forward_failures = Counter(
            f"{prefix}_forward_failures", "Batches that failed to forward (retried)", ["target"], registry=r
        )
        self.forward_outcomes = Counter(
            f"{prefix}_forward_outcomes",
            "Per-event outcomes reported by the target",
            ["target", "outcome"],
            registry=r,
        )

        self.forward_splits = Counter(
            f"{prefix}_forward_splits",
            "Batches the function failed on (FunctionError), split in halves to isolate the cause",
            ["target"],
            registry=r,
        )
        self.parked = Counter(
            f"{prefix}_parked_events",
            "Events parked in the dead letters: the function kept failing on them alone",
            ["kind"],
            registry=r,
        )
        self.dead_letters = Gauge(
            f"{prefix}_dead_letters", "Events parked in the dead letters (list/retry/purge: parked)", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Current value of a sample (tests, the demo)."""
        return self.registry.get_sample_value(name, labels or {}) or 0.0
