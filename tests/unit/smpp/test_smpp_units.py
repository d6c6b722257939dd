"""Config, credentials, outcomes, receipts parsing, token bucket, PDU codec."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from mcn_smpp.config import ConfigError, SmppConfig
from mcn_smpp.connection import make_pdu, parse_pdu
from mcn_smpp.credentials import CredentialsError, EnvCredentials, SecretsManagerCredentials
from mcn_smpp.outcomes import Outcome, PartResult, SendResult, classify_status
from mcn_smpp.ratelimit import TokenBucket
from mcn_smpp.receipts import DeliveryReceipt, InboundMessage, from_deliver_sm, parse_receipt_text


def test_package_import_is_light() -> None:
    code = (
        "import sys, mcn_smpp; mcn_smpp.segments('x'); "
        "print(any(m.startswith(('smpplib', 'boto3', 'pydantic', 'socket')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_lazy_exports_resolve() -> None:
    import mcn_smpp

    assert mcn_smpp.SmppPool.__name__ == "SmppPool"
    assert mcn_smpp.Outcome.ACCEPTED == "accepted"
    with pytest.raises(AttributeError):
        _ = mcn_smpp.DoesNotExist


def test_config_from_env_and_clear_errors() -> None:
    config = SmppConfig.from_env(
        {
            "SMPP_HOST": "smsc.example",
            "SMPP_SYSTEM_ID": "mcn",
            "SMPP_BINDS": "4",
            "SMPP_TPS": "50",
            "SMPP_BIND_MODE": "transmitter",
            "SMPP_NATIONAL_SHIFT": "turkish",
            "SMPP_REGISTERED_DELIVERY": "false",
        }
    )
    assert (config.binds, config.tps, config.bind_mode, config.national_shift) == (4, 50.0, "transmitter", "turkish")
    assert config.registered_delivery is False
    assert isinstance(config.credentials(), EnvCredentials)
    with pytest.raises(ConfigError) as error:
        SmppConfig.from_env({"SMPP_HOST": "h", "SMPP_WINDOW": "0", "SMPP_CONCAT": "udh7"})
    # Every problem at once, one per line, each named by its variable.
    assert str(error.value).splitlines() == [
        "invalid SMPP configuration:",
        "  SMPP_SYSTEM_ID: Field required",
        "  SMPP_WINDOW: Expected `int` >= 1",
        "  SMPP_CONCAT: Invalid enum value 'udh7'",
    ]


def test_config_from_env_names_text_that_is_no_number_or_flag() -> None:
    with pytest.raises(ConfigError) as error:
        SmppConfig.from_env({"SMPP_HOST": "h", "SMPP_SYSTEM_ID": "s", "SMPP_TPS": "fast", "SMPP_BINDS": "two"})
    message = str(error.value)
    assert "SMPP_TPS: Expected `float`, got 'fast'" in message and "SMPP_BINDS: Expected `int`, got 'two'" in message
    with pytest.raises(ConfigError, match="SMPP_RECEIPTS_FROM_TEXT: Expected `bool`, got 'maybe'"):
        SmppConfig.from_env({"SMPP_HOST": "h", "SMPP_SYSTEM_ID": "s", "SMPP_RECEIPTS_FROM_TEXT": "maybe"})


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"port": 0}, "port: Expected `int` >= 1"),
        ({"port": 65536}, "port: Expected `int` <= 65535"),
        ({"system_id": "x" * 16}, "system_id: Expected `str` of length <= 15"),
        ({"system_type": "x" * 13}, "system_type: Expected `str` of length <= 12"),
        ({"source_addr_ton": 7}, "source_addr_ton: Expected `int` <= 6"),
        ({"binds": 65}, "binds: Expected `int` <= 64"),
        ({"tps": 0}, "tps: Expected `float` > 0.0"),
        ({"tps_burst": 0.5}, "tps_burst: Expected `float` >= 1.0"),
        ({"acquire_timeout_s": -1}, "acquire_timeout_s: Expected `float` > 0.0"),
        ({"bind_mode": "receiver"}, "bind_mode: Invalid enum value 'receiver'"),
        ({"windw": 4}, "windw: unknown setting"),
    ],
)
def test_build_checks_every_constraint(values: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        SmppConfig.build(**({"host": "h", "system_id": "s"} | values))
    assert str(error.value) == f"invalid SMPP configuration:\n  {problem}"


def test_build_reports_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        SmppConfig.build(host="", window=0, unknown=1)
    assert str(error.value).splitlines()[1:] == [
        "  host: Expected `str` of length >= 1",
        "  system_id: Field required",
        "  window: Expected `int` >= 1",
        "  unknown: unknown setting",
    ]


def test_config_rejects_two_password_sources_and_hides_password() -> None:
    with pytest.raises(ConfigError, match="config: give only one of password, password_env, password_secret_id"):
        SmppConfig.build(host="h", system_id="s", password="p", password_env="X")
    with pytest.raises(ConfigError, match="config: reconnect_backoff_max_s must be >= reconnect_backoff_initial_s"):
        SmppConfig.build(host="h", system_id="s", reconnect_backoff_initial_s=5, reconnect_backoff_max_s=1)
    config = SmppConfig.build(host="h", system_id="s", password="hunter2")
    assert "hunter2" not in repr(config) and "hunter2" not in str(config) and "hunter2" not in str(config.password)
    assert config.credentials().password() == "hunter2"
    # Built without validation (the constructor), the password is kept out of repr all the same.
    direct = SmppConfig(host="h", system_id="s", password="hunter2")  # type: ignore[arg-type]
    assert "hunter2" not in repr(direct) and direct.credentials().password() == "hunter2"
    assert direct == config  # get_pool compares configs to know whether to rebuild the pool
    with pytest.raises(ConfigError, match="password: Expected `str`"):
        SmppConfig.build(host="h", system_id="s", password=1234)


def test_config_imports_no_pydantic() -> None:
    # The Lambda layers ship msgspec, not pydantic (cold start).
    code = "import sys, mcn_smpp; mcn_smpp.SmppConfig.from_env({'SMPP_HOST': 'h', 'SMPP_SYSTEM_ID': 's'}); "
    code += "print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_env_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SMPP_PW", "pw")
    assert EnvCredentials("MY_SMPP_PW").password() == "pw"
    monkeypatch.delenv("MY_SMPP_PW")
    with pytest.raises(CredentialsError, match="MY_SMPP_PW"):
        EnvCredentials("MY_SMPP_PW").password()


@mock_aws
def test_secrets_manager_credentials_plain_and_json() -> None:
    client = boto3.client("secretsmanager", region_name="eu-west-1")
    client.create_secret(Name="smpp/plain", SecretString="s3cret")
    client.create_secret(Name="smpp/json", SecretString=json.dumps({"password": "j-pw", "system_id": "mcn"}))
    assert SecretsManagerCredentials("smpp/plain", region_name="eu-west-1").password() == "s3cret"
    provider = SecretsManagerCredentials("smpp/json", region_name="eu-west-1")
    assert provider.password() == "j-pw"
    assert "j-pw" not in repr(provider)
    with pytest.raises(CredentialsError) as error:
        SecretsManagerCredentials("smpp/missing", region_name="eu-west-1").password()
    assert "smpp/missing" in str(error.value)


def test_secret_read_through_the_given_fetcher_and_reread_after_invalidate() -> None:
    reads: list[tuple[str, bool]] = []
    values = iter(["old-pw", json.dumps({"password": "new-pw"})])

    def fetch(secret_id: str, bypass_cache: bool) -> str:
        reads.append((secret_id, bypass_cache))
        return next(values)

    provider = SecretsManagerCredentials("smpp/rotating", fetch=fetch)
    assert provider.password() == "old-pw"
    provider.invalidate()  # a bind was refused for a bad password: it may have been rotated
    assert provider.password() == "new-pw"
    assert reads == [("smpp/rotating", False), ("smpp/rotating", True)]


def test_a_failing_fetcher_is_a_credentials_error_without_the_secret() -> None:
    def fetch(secret_id: str, bypass_cache: bool) -> str:
        raise ValueError("response body with s3cret")

    with pytest.raises(CredentialsError) as error:
        SecretsManagerCredentials("smpp/broken", fetch=fetch).password()
    assert "smpp/broken" in str(error.value) and "s3cret" not in str(error.value)


def test_classify_status() -> None:
    assert classify_status(0) is Outcome.ACCEPTED
    assert classify_status(0x58) is Outcome.RETRYABLE
    assert classify_status(0x14) is Outcome.RETRYABLE
    assert classify_status(0x0B) is Outcome.PERMANENT
    assert classify_status(0x45) is Outcome.PERMANENT


def test_send_result_aggregates_parts() -> None:
    ok = PartResult(1, 2, Outcome.ACCEPTED, message_id="a", command_status=0)
    throttled = PartResult(2, 2, Outcome.RETRYABLE, command_status=0x58)
    bad = PartResult(2, 2, Outcome.PERMANENT, command_status=0x0B)
    assert SendResult("***", "gsm7", 2, (ok, throttled)).outcome is Outcome.RETRYABLE
    assert SendResult("***", "gsm7", 2, (ok, bad)).outcome is Outcome.PERMANENT
    result = SendResult("+447700900123", "gsm7", 2, (ok, throttled))
    assert result.message_ids == ["a"] and result.failed_part_numbers == [2]
    document = json.loads(json.dumps(result.to_dict(lambda number: "masked")))
    assert document["parts"][1]["status_name"] == "ESME_RTHROTTLED"
    assert document["destination"] == "masked"  # shown only through the caller's masker


def test_parse_receipt_text() -> None:
    fields = parse_receipt_text(
        "id:0123456789 sub:001 dlvrd:001 submit date:2611291200 done date:2611291201 "
        "stat:DELIVRD err:000 text:Hello world"
    )
    assert fields == {
        "id": "0123456789",
        "sub": "001",
        "dlvrd": "001",
        "submit_date": "2611291200",
        "done_date": "2611291201",
        "stat": "DELIVRD",
        "err": "000",
        "text": "Hello world",
    }


def _deliver_sm(**fields: object) -> SimpleNamespace:
    base: dict[str, object] = {
        "esm_class": 0x04,
        "data_coding": 0,
        "short_message": b"",
        "source_addr": b"447700900123",
        "destination_addr": b"MCN",
        "receipted_message_id": None,
        "message_state": None,
        "message_payload": None,
    }
    base.update(fields)
    return SimpleNamespace(**base)


def test_receipt_tlvs_win_over_text() -> None:
    receipt = from_deliver_sm(
        _deliver_sm(short_message=b"id:X stat:ENROUTE err:000", receipted_message_id=b"abc", message_state=5)
    )
    assert isinstance(receipt, DeliveryReceipt)
    assert (receipt.message_id, receipt.state, receipt.is_final) == ("abc", "UNDELIV", True)


def test_mo_message_decodes_ucs2() -> None:
    message = from_deliver_sm(_deliver_sm(esm_class=0, data_coding=8, short_message="DUR ş".encode("utf-16-be")))
    assert isinstance(message, InboundMessage) and message.text == "DUR ş"


def test_token_bucket_spaces_sends_at_the_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(rate=50, burst=1, clock=lambda: now[0], sleep=sleep)
    for _ in range(101):
        assert bucket.acquire()
    # 1 token up front, then 100 more at 50/s: exactly 2 seconds of waiting.
    assert now[0] == pytest.approx(2.0)
    assert bucket.acquire(timeout=0.001) is False
    with pytest.raises(ValueError):
        TokenBucket(rate=0)


def test_pdu_codec_round_trip_with_unknown_tlv() -> None:
    pdu = make_pdu(
        "submit_sm",
        42,
        source_addr="MCN",
        destination_addr="447700900123",
        short_message=b"hi",
        esm_class=0,
        data_coding=0,
        registered_delivery=1,
    )
    raw = pdu.generate()
    assert int.from_bytes(raw[12:16], "big") == 42
    parsed = parse_pdu(raw)
    assert (parsed.command, parsed.sequence, parsed.short_message) == ("submit_sm", 42, b"hi")
    deliver = make_pdu("deliver_sm", 7, short_message=b"x", esm_class=4).generate()
    vendor_tlv = bytes.fromhex("15010002abcd")
    patched = (len(deliver) + len(vendor_tlv)).to_bytes(4, "big") + deliver[4:] + vendor_tlv
    assert parse_pdu(patched).command == "deliver_sm"


def test_reconnect_backoff_grows_and_is_capped() -> None:
    from mcn_smpp.pool import SmppPool

    config = SmppConfig.build(
        host="127.0.0.1", system_id="s", password="p", reconnect_backoff_initial_s=1, reconnect_backoff_max_s=4
    )
    pool = SmppPool(config)
    delays = []
    for _ in range(5):
        pool._connecting = 1
        before = time.monotonic()
        pool._connect_failed("refused")
        delays.append(pool._next_connect_at - before)
    # jitter keeps each delay within [50%, 100%] of 1, 2, 4, 4, 4 seconds
    for delay, ceiling in zip(delays, [1, 2, 4, 4, 4], strict=True):
        assert ceiling * 0.5 - 0.01 <= delay <= ceiling + 0.01


def _pending(give_up: bool, submitted: bool) -> object:
    from mcn_smpp.connection import PendingSubmit
    from mcn_smpp.gsm0338 import encode_message

    part = encode_message("x").parts[0]
    pending = PendingSubmit(
        part=part, sequence=1, deadline=0.0, bind_id=1, on_complete=lambda _: None, give_up_lost_response=give_up
    )
    pending.submitted = submitted
    return pending


@pytest.mark.parametrize(
    ("give_up", "submitted", "status", "expected", "lost"),
    [
        (False, True, None, Outcome.RETRYABLE, True),  # resubmit: the caller may send it again
        (True, True, None, Outcome.PERMANENT, True),  # give_up: never a second copy
        (True, False, None, Outcome.RETRYABLE, False),  # never sent: always safe to retry
        (True, True, 0x58, Outcome.RETRYABLE, False),  # a response came: the policy does not apply
    ],
)
def test_lost_response_policy(
    give_up: bool, submitted: bool, status: int | None, expected: Outcome, lost: bool
) -> None:
    pending = _pending(give_up, submitted)
    pending.complete(Outcome.RETRYABLE, command_status=status, reason="timeout")  # type: ignore[attr-defined]
    result = pending.result  # type: ignore[attr-defined]
    assert (result.outcome, result.lost_response) == (expected, lost)
    assert SmppConfig.from_env({"SMPP_HOST": "h", "SMPP_SYSTEM_ID": "s", "SMPP_LOST_RESPONSE_POLICY": "give_up"})
    with pytest.raises(ConfigError, match="SMPP_LOST_RESPONSE_POLICY"):
        SmppConfig.from_env({"SMPP_HOST": "h", "SMPP_SYSTEM_ID": "s", "SMPP_LOST_RESPONSE_POLICY": "maybe"})
