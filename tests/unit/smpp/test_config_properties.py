"""Property-based tests for SmppConfig.from_env: any text is a config or a ConfigError naming each bad variable."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mcn_smpp.config import ConfigError, SmppConfig

#: variable: (a good value, a bad one) — bad by type, range, length or choice
CASES: dict[str, tuple[str, str]] = {
    "SMPP_PORT": ("2776", "65536"),
    "SMPP_SYSTEM_TYPE": ("MCN", "x" * 13),
    "SMPP_SOURCE_ADDR_TON": ("1", "seven"),
    "SMPP_DEST_ADDR_NPI": ("1", "19"),
    "SMPP_BIND_MODE": ("transmitter", "receiver"),
    "SMPP_BINDS": ("2", "0"),
    "SMPP_WINDOW": ("20", "1.5"),
    "SMPP_TPS": ("50", "-1"),
    "SMPP_TPS_BURST": ("2", "0.5"),
    "SMPP_RESPONSE_TIMEOUT_S": ("3", "soon"),
    "SMPP_CONCAT": ("udh16", "udh7"),
    "SMPP_NATIONAL_SHIFT": ("turkish", "greek"),
    "SMPP_REGISTERED_DELIVERY": ("false", "maybe"),
    "SMPP_LOST_RESPONSE_POLICY": ("give_up", "retry"),
}


@settings(max_examples=200, deadline=None)
@given(
    bad=st.sets(st.sampled_from(sorted(CASES))),
    good=st.sets(st.sampled_from(sorted(CASES))),
    required=st.sets(st.sampled_from(["SMPP_HOST", "SMPP_SYSTEM_ID"])),
)
def test_every_bad_variable_is_named_and_only_those(bad: set[str], good: set[str], required: set[str]) -> None:
    env = {name: CASES[name][0] for name in good - bad} | {name: CASES[name][1] for name in bad}
    env |= {name: "smsc" for name in required}
    missing = {"SMPP_HOST", "SMPP_SYSTEM_ID"} - required
    try:
        config = SmppConfig.from_env(env)
    except ConfigError as error:
        lines = str(error).splitlines()
        assert lines[0] == "invalid SMPP configuration:"
        named = {line.strip().split(":", 1)[0] for line in lines[1:]}
        assert named == bad | missing
        assert all(f"{name}: Field required" in str(error) for name in missing)
    else:
        assert not bad and not missing
        assert (config.host, config.system_id) == ("smsc", "smsc")
        if "SMPP_PORT" in good:
            assert config.port == 2776
        if "SMPP_REGISTERED_DELIVERY" in good:
            assert config.registered_delivery is False


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([f"SMPP_{name.upper()}" for name in SmppConfig.__struct_fields__]), st.text()))
def test_any_text_is_a_config_or_a_config_error(env: dict[str, str]) -> None:
    try:
        SmppConfig.from_env(env)
    except ConfigError as error:
        assert str(error).startswith("invalid SMPP configuration:\n  ")
