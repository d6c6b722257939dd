"""Prometheus metrics. One registry per Gateway instance so tests can run several side by side."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from mcn_edge.metrics import EdgeMetrics

ASSOCIATION_STATES = {"down": 0, "up": 1, "asp-active": 1, "active": 2}


class Metrics(EdgeMetrics):
    """The gateway's metrics: signalling, associations, MWD registrations, plus the shared spool/forwarding ones."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__("mcn_gateway", registry)
        r = self.registry
        self.messages = Counter(
            "mcn_gateway_messages",
            "Signalling messages received, by protocol and type",
            ["protocol", "type"],
            registry=r,
        )
        self.decode_errors = Counter(
            "mcn_gateway_decode_errors", "Messages that failed to decode, by layer", ["layer"], registry=r
        )
        self.firewall_rejects = Counter(
            "mcn_gateway_firewall_rejects", "Messages rejected by the SS7 firewall, by reason", ["reason"], registry=r
        )
        self.events = Counter("mcn_gateway_events", "Events produced, by kind", ["kind"], registry=r)
        self.events_suppressed = Counter(
            "mcn_gateway_events_suppressed",
            "Calls not turned into events (policy), by reason",
            ["reason"],
            registry=r,
        )
        self.replies = Counter("mcn_gateway_replies", "Answers sent back, by type", ["type"], registry=r)
        self.association_state = Gauge(
            "mcn_gateway_association_state",
            "M3UA association state: 0 down, 1 ASP up but no traffic can reach it (ASP inactive, or AS not active), "
            "2 carrying traffic (ASP active and, toward an SG, AS-ACTIVE notified)",
            ["association"],
            registry=r,
        )
        self.as_state = Gauge(
            "mcn_gateway_as_state",
            "AS state per routing context as notified by the SG (NTFY): 0 inactive, 1 pending, 2 active",
            ["association", "routing_context"],
            registry=r,
        )
        self.destinations_unavailable = Gauge(
            "mcn_gateway_destinations_unavailable",
            "Point codes (or clusters) the SG reported unavailable (DUNA, until DAVA)",
            ["association"],
            registry=r,
        )
        self.association_failures = Counter(
            "mcn_gateway_association_failures",
            "Associations the gateway declared dead and closed, by reason (heartbeat_timeout, handshake_timeout, ...)",
            ["association", "reason"],
            registry=r,
        )
        self.connections_refused = Counter(
            "mcn_gateway_connections_refused",
            "Connections closed on accept, by reason (max_connections, shutting_down)",
            ["association", "reason"],
            registry=r,
        )
        self.association_errors = Counter(
            "mcn_gateway_association_errors",
            "M3UA ERR sent or received, by direction and code",
            ["association", "direction", "code"],
            registry=r,
        )

        # MAP client side: registrations of the platform in subscribers' Message Waiting Data at the HLR
        self.mwd_sent = Counter(
            "mcn_gateway_mwd_registrations_sent",
            "Registrations started (first missed call of an absence: SRI-SM dialogue opened)",
            registry=r,
        )
        self.mwd_confirmed = Counter(
            "mcn_gateway_mwd_registrations_confirmed",
            "Registrations confirmed by the HLR (reportSM-DeliveryStatus result)",
            registry=r,
        )
        self.mwd_failed = Counter(
            "mcn_gateway_mwd_registrations_failed",
            "Registrations given up after the bounded retries, by reason",
            ["reason"],
            registry=r,
        )
        self.mwd_timeouts = Counter(
            "mcn_gateway_mwd_timeouts",
            "HLR dialogues that timed out (each attempt), by operation",
            ["operation"],
            registry=r,
        )
        self.mwd_not_needed = Counter(
            "mcn_gateway_mwd_registrations_not_needed",
            "Registrations not made: the HLR reported the subscriber reachable",
            registry=r,
        )
        self.mwd_skipped = Counter(
            "mcn_gateway_mwd_registrations_skipped",
            "Missed calls that started no registration, by reason (registered, in_progress, holdoff, not_e164)",
            ["reason"],
            registry=r,
        )
        self.mwd_cleared = Counter(
            "mcn_gateway_mwd_registrations_cleared", "Registrations cleared by an attach alert", registry=r
        )
        self.mwd_dialogues = Counter(
            "mcn_gateway_mwd_dialogues",
            "HLR dialogue attempts by operation and outcome (result, error, abort, ac_refused, timeout, ...)",
            ["operation", "outcome"],
            registry=r,
        )
        self.mwd_retries = Counter("mcn_gateway_mwd_retries", "HLR dialogue attempts repeated", registry=r)
        self.mwd_store_errors = Counter(
            "mcn_gateway_mwd_store_errors",
            "Registration table calls that failed, by operation",
            ["operation"],
            registry=r,
        )
        self.mwd_in_progress = Gauge(
            "mcn_gateway_mwd_registrations_in_progress", "Registrations with an HLR dialogue under way", registry=r
        )

        # flash calls: ISUP calls the gateway places on the trunk toward an MSC ([origination])
        self.flash_calls = Counter(
            "mcn_gateway_flash_calls",
            "Flash call requests settled (outcome spooled for the cloud), by outcome",
            ["outcome"],
            registry=r,
        )
        self.circuits = Gauge(
            "mcn_gateway_circuits",
            "Circuits of the origination trunk by state (idle, outgoing_busy, incoming_busy, resetting, "
            "locally_blocked, remotely_blocked)",
            ["state"],
            registry=r,
        )
        self.flash_calls_in_progress = Gauge(
            "mcn_gateway_flash_calls_in_progress", "Flash calls placed and not yet released", registry=r
        )
        self.origination_queue_errors = Counter(
            "mcn_gateway_origination_queue_errors",
            "Origination queue calls that failed, by operation (receive, delete, release)",
            ["operation"],
            registry=r,
        )
        self.origination_requests_rejected = Counter(
            "mcn_gateway_origination_requests_rejected",
            "Queue messages not worked on, by reason (duplicate, unreadable: left for the queue's redrive policy)",
            ["reason"],
            registry=r,
        )
        self.circuit_alerts = Counter(
            "mcn_gateway_circuit_maintenance_alerts",
            "Circuit supervision timers that expired without an answer, by timer (t5, t17, t23; blocking: t13, t15, "
            "t19, t21)",
            ["timer"],
            registry=r,
        )
        self.circuit_blocking_unacknowledged = Gauge(
            "mcn_gateway_circuit_blocking_unacknowledged",
            "Circuits whose BLO, UBL, CGB or CGU the MSC has not acknowledged yet",
            registry=r,
        )
