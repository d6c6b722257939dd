"""mcn-receiver's Prometheus metrics (`mcn_receiver_*`): the shared spool/forwarding ones plus its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from mcn_edge.metrics import EdgeMetrics


class ReceiverMetrics(EdgeMetrics):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__("mcn_receiver", registry)
        r = self.registry
        self.events = Counter(
            "mcn_receiver_events", "Inbound events spooled, by kind (receipt, mo)", ["kind"], registry=r
        )
        self.invalid_events = Counter(
            "mcn_receiver_invalid_events",
            "Inbound deliver_sm that make no valid event (e.g. a receipt without a message id), by kind; "
            "acknowledged and logged, not forwarded",
            ["kind"],
            registry=r,
        )
        self.duplicates = Counter(
            "mcn_receiver_duplicates",
            "deliver_sm resent by the SMSC (lost deliver_sm_resp) and recognised: answered, not spooled again",
            ["kind"],
            registry=r,
        )
        self.spool_errors = Counter(
            "mcn_receiver_spool_errors",
            "Inbound events that could not be spooled (refused: the SMSC redelivers)",
            registry=r,
        )
        self.deferred = Counter(
            "mcn_receiver_deferred", "Receipts the function answered 'retry', re-spooled in the retry lane", registry=r
        )
        self.bind_failures = Counter("mcn_receiver_bind_failures", "Failed attempts to bind to the SMSC", registry=r)
        self.binds = Gauge("mcn_receiver_binds", "Live SMPP binds to the SMSC", registry=r)
