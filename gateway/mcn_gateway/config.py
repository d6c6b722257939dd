"""Gateway configuration: a TOML/JSON/YAML file plus environment overrides, validated with pydantic
(loading helpers shared with mcn-receiver: mcn_edge.config).

Environment overrides use `MCN_GATEWAY__SECTION__KEY=value` (double underscores
separate levels, values are parsed as JSON when they parse, else taken as strings),
e.g. `MCN_GATEWAY__FORWARDING__ENDPOINT_URL=http://127.0.0.1:4000`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mcn_edge.config import FUNCTION_EVENT_CAP, ConfigError, apply_env_overrides, read_config_file, readable_errors
from mcn_edge.forwarder import DEFAULT_MAX_BATCH_BYTES

ENV_PREFIX = "MCN_GATEWAY__"
ENV_CONFIG_FILE = "MCN_GATEWAY_CONFIG"

PointCode = Annotated[int, Field(ge=0, le=0xFFFFFF)]
Digits = Annotated[str, Field(pattern=r"^[0-9]{1,20}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


IPv4 = Annotated[str, Field(pattern=r"^[0-9]{1,3}(\.[0-9]{1,3}){3}$")]
Port = Annotated[int, Field(ge=0, le=65535)]


class AssociationConfig(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")]
    role: Literal["client", "server"] = Field(
        description="client: the gateway connects to an SG/STP as an ASP; server: it accepts MSC/HLR connections"
    )
    host: str = "127.0.0.1"
    port: Port = 2905
    transport: Literal["auto", "sctp", "tcp"] = Field(
        "auto", description="auto: SCTP when the kernel has it, TCP otherwise"
    )
    local_host: str | None = Field(
        None, description="client: local address the association is opened from (STPs provision ASPs by IP and port)"
    )
    local_port: Port | None = Field(None, description="client: local port the association is opened from")
    local_addresses: list[IPv4] = Field(
        default_factory=list, description="SCTP multi-homing: further local addresses bound to the association"
    )
    remote_addresses: list[IPv4] = Field(
        default_factory=list, description="SCTP multi-homing (client): further addresses of the peer"
    )
    routing_contexts: list[Annotated[int, Field(ge=0, le=0xFFFFFFFF)]] = []
    traffic_mode: Literal["override", "loadshare", "broadcast"] = "loadshare"
    asp_id: Annotated[int, Field(ge=0, le=0xFFFFFFFF)] | None = None
    network_appearance: Annotated[int, Field(ge=0, le=0xFFFFFFFF)] | None = Field(
        None, description="M3UA Network Appearance sent in ASPAC and DATA when the SG asks for one"
    )
    traffic_requires_ntfy: bool = Field(
        True,
        description="client: traffic flows only once the SG notifies AS-ACTIVE (NTFY); false for SGs that send no NTFY",
    )
    heartbeat_interval_s: Annotated[float, Field(gt=0)] | None = Field(
        30.0, description="BEAT every this many seconds (None: off)"
    )
    heartbeat_timeout_s: Annotated[float, Field(gt=0)] = Field(
        10.0, description="a BEAT unanswered this long declares the association down (it is closed and reopened)"
    )
    handshake_timeout_s: Annotated[float, Field(gt=0)] = Field(
        10.0, description="a connection must reach ASP-ACTIVE within this time, else it is closed"
    )
    max_connections: Annotated[int, Field(ge=1, le=10_000)] = Field(
        64, description="server: connections accepted at once; more are closed at once"
    )
    reconnect_initial_s: Annotated[float, Field(gt=0)] = 0.5
    reconnect_max_s: Annotated[float, Field(gt=0)] = 30.0
    reconnect_reset_after_s: Annotated[float, Field(ge=0)] = Field(
        30.0,
        description="client: the reconnect backoff starts again from reconnect_initial_s only after the "
        "association carried traffic (AS active) this long",
    )
    shutdown_timeout_s: Annotated[float, Field(gt=0)] = Field(
        2.0, description="on SIGTERM: how long to wait for each of ASPIA_ACK and ASPDN_ACK"
    )

    @model_validator(mode="after")
    def _local_binding(self) -> AssociationConfig:
        if self.role == "server" and (self.local_host or self.local_port):
            raise ValueError("local_host/local_port are for client associations (a server binds host/port)")
        if self.remote_addresses and self.role == "server":
            raise ValueError("remote_addresses are for client associations")
        if (self.local_addresses or self.remote_addresses) and self.transport == "tcp":
            raise ValueError("local_addresses/remote_addresses (multi-homing) need SCTP (transport sctp or auto)")
        return self


class SignallingConfig(_Strict):
    point_code: PointCode = Field(description="The gateway's own signalling point code")
    platform_gt: Digits = Field(description="The platform's global title (service-centre address)")
    msc_names: dict[str, str] = Field(
        default_factory=dict, description="OPC (as a string) -> MSC name used in events; default 'pc:<opc>'"
    )
    clir_policy: Literal["withhold", "drop"] = Field(
        "withhold", description="withhold: count the call as from a private number; drop: no event at all"
    )
    ready_for_sm: bool = False
    release_cause: Annotated[int, Field(ge=1, le=127)] = 20
    platform_numbers: list[Digits] = Field(
        default_factory=list,
        description="The platform's routing numbers: an IAM without redirection information whose called number "
        "starts with one is a call diverted to the platform; digits after it are the subscriber "
        "(MSCs that forward to <routing number><MSISDN>)",
    )
    not_diverted_release_cause: Annotated[int, Field(ge=1, le=127)] = Field(
        31, description="REL cause for an IAM that was not diverted to the platform (not recorded, counted)"
    )


class FirewallConfig(_Strict):
    allowed_opcodes: list[int] = [64, 49]
    allowed_calling_gt_prefixes: list[Digits] = Field(
        default_factory=list, description="Empty: any calling GT (not recommended in production)"
    )
    allowed_opcs: list[PointCode] = Field(default_factory=list, description="Empty: any originating point code")


class ForwardingConfig(_Strict):
    ingest_target: str = Field(description="lambda:<function name> or file:<path>")
    attach_target: str = Field(description="lambda:<function name> or file:<path>")
    outcome_target: str | None = Field(
        None, description="Flash call outcomes: lambda:<function name> or file:<path> (needed with [origination])"
    )
    endpoint_url: str | None = None
    region: str = "eu-west-1"
    batch_size: Annotated[int, Field(ge=1, le=FUNCTION_EVENT_CAP)] = 50
    in_flight: Annotated[int, Field(ge=1, le=64)] = Field(4, description="batches in flight at once per target")
    max_batch_bytes: Annotated[int, Field(ge=1024, le=6_000_000)] = Field(
        DEFAULT_MAX_BATCH_BYTES, description="largest batch payload (Lambda's synchronous limit is 6 MB)"
    )
    poison_attempts: Annotated[int, Field(ge=1, le=100)] = Field(
        3, description="a batch failing in the function is bisected; an event failing alone this often is parked"
    )
    batch_max_wait_s: Annotated[float, Field(gt=0, le=60)] = 0.5
    spool_path: str = "mcn-gateway-spool.sqlite3"
    retry_initial_s: Annotated[float, Field(gt=0)] = 0.5
    retry_max_s: Annotated[float, Field(gt=0)] = 30.0
    invoke_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    drain_timeout_s: Annotated[float, Field(ge=0, le=600)] = Field(
        10.0, description="on SIGTERM: how long forwarding may go on; what is left stays spooled"
    )

    @field_validator("ingest_target", "attach_target", "outcome_target")
    @classmethod
    def _target_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return value
        scheme, _, rest = value.partition(":")
        if scheme not in ("lambda", "file") or not rest:
            raise ValueError("must be 'lambda:<function name or ARN>' or 'file:<path>'")
        return value


class RegistrationConfig(_Strict):
    """MAP client side: register the platform's GT in the subscriber's Message Waiting Data at the HLR
    (sendRoutingInfoForSM, then reportSM-DeliveryStatus with absentSubscriber) on the first missed call
    of an absence, so that the HLR sends alertServiceCentre when the subscriber attaches again."""

    enabled: bool = False
    dpc: PointCode | None = Field(
        None, description="DPC of the MAP DATA toward the HLR: the STP doing GTT on the MSISDN (or the HLR itself)"
    )
    network_indicator: Annotated[int, Field(ge=0, le=3)] = Field(2, description="MTP3 NI: 0 international, 2 national")
    associations: list[str] = Field(
        default_factory=list,
        description="Associations (config names) that carry the HLR dialogues; empty = any active one, clients first",
    )
    hlr_ssn: Annotated[int, Field(ge=1, le=254)] = 6
    platform_ssn: Annotated[int, Field(ge=1, le=254)] = 8
    country_code: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,2}$")] | None = Field(
        None, description="Prefix that turns national subscriber numbers into E.164 (else they are not registered)"
    )
    ac_version: Literal[2, 3] = Field(3, description="shortMsgGatewayContext version tried first (v3 falls back to v2)")
    hlr_version_memory_s: Annotated[float, Field(ge=0)] = Field(
        86400.0, description="How long an HLR that refused v3 is asked in v2 directly (per HLR GT)"
    )
    sm_rp_pri: bool = Field(False, description="sendRoutingInfoForSM sm-RP-PRI (false: the HLR reports absence)")
    dialogue_timeout_s: Annotated[float, Field(gt=0, le=120)] = 15.0
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    retry_initial_s: Annotated[float, Field(gt=0, le=600)] = 2.0
    registration_ttl_s: Annotated[int, Field(ge=60)] = Field(
        259200, description="How long a confirmed registration stands without an alert (should match retention)"
    )
    claim_ttl_s: Annotated[int, Field(ge=10)] = Field(
        300, description="How long an unfinished registration blocks others (an instance died mid-dialogue)"
    )
    failure_holdoff_s: Annotated[int, Field(ge=0)] = Field(
        300, description="After a failed registration, later calls wait this long before trying again"
    )
    reachable_holdoff_s: Annotated[int, Field(ge=0)] = Field(
        60, description="After the HLR said the subscriber is reachable, no new SRI-SM for this long"
    )
    local_cache_s: Annotated[float, Field(ge=0)] = Field(
        30.0, description="How long this instance trusts its own knowledge of a registration without the table"
    )
    table_name: str | None = Field(
        None, description="DynamoDB table shared by all instances (MwdRegistrationsTable); unset = in-memory"
    )
    region: str = "eu-west-1"
    endpoint_url: str | None = None
    store_timeout_s: Annotated[float, Field(gt=0, le=30)] = 3.0

    @model_validator(mode="after")
    def _routable(self) -> RegistrationConfig:
        if self.enabled and self.dpc is None:
            raise ValueError("registration.dpc is required when registration is enabled")
        # two operations, each up to max_attempts dialogues and the backoff between them
        longest = 2 * (
            self.max_attempts * self.dialogue_timeout_s + self.retry_initial_s * (2 ** (self.max_attempts - 1) - 1)
        )
        if self.claim_ttl_s < longest:
            raise ValueError(f"registration.claim_ttl_s must cover a whole registration ({longest:.0f} s or more)")
        return self


class OriginationConfig(_Strict):
    """Flash calls: the gateway places short ISUP calls (A presented to B, released after B's phone rang) on a
    trunk toward an MSC, for requests it long-polls from the cloud's origination SQS queue. Absent = off."""

    queue_url: str = Field(description="The stack's origination queue (SQS URL)")
    region: str = "eu-west-1"
    endpoint_url: str | None = Field(None, description="SQS endpoint (the embedded AWS when running locally)")
    associations: list[str] = Field(
        default_factory=list,
        description="Associations (config names) carrying the trunk's ISUP; empty = any active one, clients first",
    )
    opc: PointCode | None = Field(
        None, description="The platform's point code on the trunk (default: signalling.point_code)"
    )
    dpc: PointCode = Field(description="The MSC's point code: the other end of the trunk")
    network_indicator: Annotated[int, Field(ge=0, le=3)] = Field(2, description="MTP3 NI: 0 international, 2 national")
    cic_first: Annotated[int, Field(ge=0, le=0xFFF)] = Field(description="First CIC of the trunk's circuits")
    cic_last: Annotated[int, Field(ge=0, le=0xFFF)] = Field(description="Last CIC of the trunk's circuits")
    nai: Literal["international", "national"] = Field(
        "international", description="Nature of address of the called and calling numbers in the IAM"
    )
    country_code: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,2}$")] | None = Field(
        None, description="nai = national: the country code stripped from E.164 numbers (others are not called)"
    )
    ring_time_s: Annotated[float, Field(gt=0, le=30)] = Field(
        3.0, description="How long B's phone rings (after ACM/CPG alerting) before the REL"
    )
    t7_s: Annotated[float, Field(gt=0, le=60)] = Field(20.0, description="Q.764 T7: IAM sent, no ACM (20-30 s)")
    t1_s: Annotated[float, Field(gt=0, le=60)] = Field(15.0, description="Q.764 T1: REL sent, no RLC: REL again")
    t5_s: Annotated[float, Field(gt=0, le=900)] = Field(
        300.0, description="Q.764 T5: REL unanswered this long: RSC instead (maintenance alerted)"
    )
    t16_s: Annotated[float, Field(gt=0, le=60)] = Field(15.0, description="Q.764 T16: RSC sent, no RLC: RSC again")
    t17_s: Annotated[float, Field(gt=0, le=900)] = Field(300.0, description="Q.764 T17: RSC unanswered: alerted")
    t22_s: Annotated[float, Field(gt=0, le=60)] = Field(15.0, description="Q.764 T22: GRS sent, no GRA: GRS again")
    t23_s: Annotated[float, Field(gt=0, le=900)] = Field(300.0, description="Q.764 T23: GRS unanswered: alerted")
    t12_s: Annotated[float, Field(gt=0, le=60)] = Field(15.0, description="Q.764 T12: BLO sent, no BLA: BLO again")
    t13_s: Annotated[float, Field(gt=0, le=900)] = Field(
        300.0, description="Q.764 T13: BLO unacknowledged: alerted, then BLO every T13"
    )
    t14_s: Annotated[float, Field(gt=0, le=60)] = Field(15.0, description="Q.764 T14: UBL sent, no UBA: UBL again")
    t15_s: Annotated[float, Field(gt=0, le=900)] = Field(
        300.0, description="Q.764 T15: UBL unacknowledged: alerted, then UBL every T15"
    )
    t18_s: Annotated[float, Field(gt=0, le=60)] = Field(15.0, description="Q.764 T18: CGB sent, no CGBA: CGB again")
    t19_s: Annotated[float, Field(gt=0, le=900)] = Field(
        300.0, description="Q.764 T19: CGB unacknowledged: alerted, then CGB every T19"
    )
    t20_s: Annotated[float, Field(gt=0, le=60)] = Field(15.0, description="Q.764 T20: CGU sent, no CGUA: CGU again")
    t21_s: Annotated[float, Field(gt=0, le=900)] = Field(
        300.0, description="Q.764 T21: CGU unacknowledged: alerted, then CGU every T21"
    )
    grs_on_route_return: bool = Field(
        True,
        description="Reset the whole range (GRS) when the route to the MSC comes back after it was lost; calls "
        "wait for the GRA",
    )
    max_calls: Annotated[int, Field(ge=1, le=4096)] = Field(10, description="Calls in progress at once")
    poll_concurrency: Annotated[int, Field(ge=1, le=16)] = Field(1, description="Long polls of the queue at once")
    wait_time_s: Annotated[int, Field(ge=1, le=20)] = Field(20, description="SQS long-poll wait per receive")
    visibility_timeout_s: Annotated[int, Field(ge=1, le=43200)] | None = Field(
        None, description="How long a received request stays invisible (default: twice a call's worst case)"
    )
    request_memory_days: Annotated[float, Field(gt=0, le=30)] = Field(
        14.0, description="How long a request id is remembered (duplicates); at least the queue's retention"
    )
    grs_at_start: bool = Field(True, description="Reset the whole range (GRS) before the first call")
    poll_timeout_s: Annotated[float, Field(gt=0, le=120)] = 30.0

    @property
    def call_worst_case_s(self) -> float:
        """From the IAM to the outcome: an ACM without alerting just before T7, then a CPG alerting just
        before T7 again, then the ring time."""
        return 2 * self.t7_s + self.ring_time_s

    @property
    def visibility_s(self) -> int:
        return self.visibility_timeout_s or int(2 * self.call_worst_case_s + 30)

    @model_validator(mode="after")
    def _coherent(self) -> OriginationConfig:
        if self.cic_last < self.cic_first:
            raise ValueError("origination.cic_last must not be below cic_first")
        if self.nai == "national" and self.country_code is None:
            raise ValueError("origination.country_code is required with nai = national")
        if self.visibility_timeout_s is not None and self.visibility_timeout_s <= self.call_worst_case_s + 5:
            raise ValueError(
                f"origination.visibility_timeout_s must exceed a call's worst case (2 × t7_s + ring_time_s + 5 = "
                f"{self.call_worst_case_s + 5:.0f} s), or a request would be delivered again during its call"
            )
        if not self.queue_url.startswith(("https://", "http://")):
            raise ValueError("origination.queue_url must be the queue's URL (https://sqs.<region>.amazonaws.com/...)")
        return self


class HttpConfig(_Strict):
    host: str = "0.0.0.0"
    port: Annotated[int, Field(ge=0, le=65535)] = 9102
    require_traffic: bool = Field(
        True,
        description="/healthz is 503 while no client association (toward an STP) carries traffic; false: it "
        "stays 200 and only reports it (for orchestrators that would restart the container during an STP outage)",
    )


class GatewayConfig(_Strict):
    signalling: SignallingConfig
    associations: list[AssociationConfig] = []
    firewall: FirewallConfig = FirewallConfig()
    forwarding: ForwardingConfig
    http: HttpConfig = HttpConfig()
    registration: RegistrationConfig = RegistrationConfig()
    origination: OriginationConfig | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _unique_names(self) -> GatewayConfig:
        names = [a.name for a in self.associations]
        if len(names) != len(set(names)):
            raise ValueError("association names must be unique")
        unknown = set(self.registration.associations) - set(names)
        if unknown:
            raise ValueError(f"registration.associations names unknown associations: {sorted(unknown)}")
        if self.origination is not None:
            unknown = set(self.origination.associations) - set(names)
            if unknown:
                raise ValueError(f"origination.associations names unknown associations: {sorted(unknown)}")
            if self.forwarding.outcome_target is None:
                raise ValueError("forwarding.outcome_target is required when origination is configured")
        return self


def load_config(path: str | Path | None = None, environ: dict[str, str] | None = None) -> GatewayConfig:
    environ = dict(os.environ if environ is None else environ)
    path = path or environ.get(ENV_CONFIG_FILE)
    data = read_config_file(path) if path else {}
    data = apply_env_overrides(data, environ, ENV_PREFIX)
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {line}" for line in readable_errors(exc)]
        raise ConfigError("invalid gateway configuration:\n" + "\n".join(lines)) from None
