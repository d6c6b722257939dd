"""The fleet-wide SMSC budget: the arithmetic, and the pool configuration derived from it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcn_smpp import SmppConfig
from mcn_smpp.budget import BudgetError, FleetBudget
from mcn_smpp.config import ConfigError
from mcn_smpp.ratelimit import TokenBucket


def test_one_bind_per_instance_and_a_share_of_the_licence() -> None:
    budget = FleetBudget(licence_tps=50, max_binds=4)
    assert budget.instances == 4 and budget.total_binds == 4
    assert budget.instance_tps == pytest.approx(11.5)  # 50/4 minus the burst each instance may spend
    assert budget.worst_second == pytest.approx(50)


@given(licence=st.floats(min_value=2, max_value=10_000), binds=st.integers(min_value=1, max_value=64))
def test_never_above_the_licence_or_the_binds(licence: float, binds: int) -> None:
    try:
        budget = FleetBudget(licence_tps=licence, max_binds=binds)
    except BudgetError:
        assert licence / binds <= 1.0  # too small to share: refused, never silently exceeded
        return
    assert budget.total_binds <= binds
    assert budget.worst_second <= licence * (1 + 1e-9)


@given(
    licence=st.integers(min_value=20, max_value=2_000),
    binds=st.integers(min_value=1, max_value=8),
    starts=st.lists(st.floats(min_value=0, max_value=0.5), min_size=8, max_size=8),
)
def test_token_buckets_of_all_instances_stay_inside_any_one_second_window(
    licence: int, binds: int, starts: list[float]
) -> None:
    """Every instance sending flat out, each starting when it likes: no second exceeds the licence."""
    budget = FleetBudget(licence_tps=licence, max_binds=binds)
    sends: list[float] = []
    for instance in range(budget.instances):
        clock = [starts[instance]]
        bucket = TokenBucket(
            budget.instance_tps,
            budget.burst,
            clock=lambda c=clock: c[0],
            sleep=lambda s, c=clock: c.__setitem__(0, c[0] + s),
        )
        while clock[0] < 3.0:
            bucket.acquire()
            sends.append(clock[0])
    sends.sort()
    start = 0
    for end, at in enumerate(sends):
        while sends[start] <= at - 1.0:
            start += 1
        assert end - start + 1 <= licence


def test_too_small_a_licence_is_refused_with_what_to_change() -> None:
    with pytest.raises(BudgetError, match="SmscMaxBinds"):
        FleetBudget(licence_tps=4, max_binds=4)


def test_the_pool_takes_its_share_from_the_environment() -> None:
    env = {
        "SMPP_HOST": "smsc",
        "SMPP_SYSTEM_ID": "mcn",
        "SMPP_BINDS": "8",  # a per-pool setting the fleet budget overrides
        "SMPP_TPS": "500",
        "SMPP_FLEET_LICENCE_TPS": "50",
        "SMPP_FLEET_MAX_BINDS": "4",
    }
    config = SmppConfig.from_env(env)
    assert config.binds == 1 and config.tps == pytest.approx(11.5) and config.tps_burst == 1
    without = SmppConfig.from_env({k: v for k, v in env.items() if "FLEET" not in k})
    assert without.binds == 8 and without.tps == 500


@pytest.mark.parametrize(
    "fleet",
    [
        {"SMPP_FLEET_LICENCE_TPS": "50"},
        {"SMPP_FLEET_MAX_BINDS": "4"},
        {"SMPP_FLEET_LICENCE_TPS": "x", "SMPP_FLEET_MAX_BINDS": "4"},
    ],
)
def test_half_a_budget_is_a_configuration_error(fleet: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="SMPP_FLEET"):
        SmppConfig.from_env({"SMPP_HOST": "smsc", "SMPP_SYSTEM_ID": "mcn", **fleet})
