"""The fleet-wide SMSC budget: a licence (messages/s) and a bind limit shared by the whole deployment.

Lambda scales by adding instances, and each instance holds its own binds and its own rate
limiter; nothing is shared between them. So the budget is kept by construction, not by
coordination: every submit goes through one function whose reserved concurrency caps the
instances, and each instance gets a fixed share of the binds and of the licence:

    instances          = max_binds // binds_per_instance          (the function's reserved concurrency)
    total binds        = instances * binds_per_instance           <= max_binds
    rate per instance  = licence / instances - burst               (token bucket, burst tokens)
    messages in any 1 s <= instances * (rate per instance + burst)  = licence

(A token bucket of rate r and capacity b sends at most r*T + b in any window T; the bursts are
paid out of the licence, so the SMSC never sees more than its licence in any second, however
many of the instances are sending at once.)

The template passes `SmscLicenceTps` and `SmscMaxBinds` to the function unchanged
(`SMPP_FLEET_LICENCE_TPS`, `SMPP_FLEET_MAX_BINDS`) and sets its reserved concurrency to
`SmscMaxBinds` (CloudFormation has no arithmetic: one bind per instance makes the
concurrency the parameter itself); `SmppConfig.from_env` derives the pool's binds and rate
here, and the fleet simulation (benchmarks/fleet_wave.py) uses this same class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

LICENCE_VARIABLE = "SMPP_FLEET_LICENCE_TPS"
MAX_BINDS_VARIABLE = "SMPP_FLEET_MAX_BINDS"


class BudgetError(ValueError):
    """The licence cannot be shared among the binds (too small a licence for that many binds)."""


@dataclass(frozen=True)
class FleetBudget:
    licence_tps: float
    max_binds: int
    binds_per_instance: int = 1
    burst: float = 1.0

    def __post_init__(self) -> None:
        if self.max_binds < 1 or self.binds_per_instance < 1 or self.binds_per_instance > self.max_binds:
            raise BudgetError(
                f"need 1 <= binds per instance ({self.binds_per_instance}) <= max binds ({self.max_binds})"
            )
        if self.instance_tps <= 0:
            raise BudgetError(
                f"a licence of {self.licence_tps:g} msg/s cannot be shared by {self.instances} instances "
                f"(each needs more than its burst of {self.burst:g}); lower SmscMaxBinds or raise SmscLicenceTps"
            )

    @property
    def instances(self) -> int:
        """Most instances that may hold binds at once: the submitting function's reserved concurrency."""
        return self.max_binds // self.binds_per_instance

    @property
    def total_binds(self) -> int:
        return self.instances * self.binds_per_instance

    @property
    def instance_tps(self) -> float:
        """Sustained rate of one instance's token bucket."""
        return self.licence_tps / self.instances - self.burst

    @property
    def worst_second(self) -> float:
        """Most messages the SMSC can see in any one-second window from the whole fleet."""
        return self.instances * (self.instance_tps + self.burst)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FleetBudget | None:
        """The budget the template gave this function, or None when it runs without one (local tools)."""
        licence, binds = env.get(LICENCE_VARIABLE), env.get(MAX_BINDS_VARIABLE)
        if not licence and not binds:
            return None
        if not licence or not binds:
            raise BudgetError(f"set both {LICENCE_VARIABLE} and {MAX_BINDS_VARIABLE}, or neither")
        try:
            return cls(licence_tps=float(licence), max_binds=int(binds))
        except ValueError as exc:
            raise BudgetError(f"{LICENCE_VARIABLE}={licence!r}, {MAX_BINDS_VARIABLE}={binds!r}: {exc}") from None
