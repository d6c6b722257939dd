"""`mcn sms send` against the local SMSC (parser built here; the lead wires it into mcn_cli.main)."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from mcn_cli import sms
from mcn_devkit.smsc import LocalSmsc

pytestmark = [pytest.mark.integration, pytest.mark.smsc_only("node-smpp")]


def run(argv: list[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="mcn")
    sms.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    code = args.func(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def smpp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("SMPP_HOST", "SMPP_PORT", "SMPP_SYSTEM_ID", "SMPP_PASSWORD_SECRET_ID"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("OPS_SMPP_PW", "secret")


def test_send_prints_every_part(smsc: LocalSmsc, smpp_env: None) -> None:
    code, out, _ = run(
        [
            "sms",
            "send",
            "--to",
            "+447700900123",
            "--text",
            "x" * 200,
            "--smsc",
            smsc.address,
            "--system-id",
            "mcn",
            "--password-env",
            "OPS_SMPP_PW",
            "--source",
            "MCN",
            "--wait-receipts",
            "0",
        ]
    )
    assert code == 0
    received = smsc.wait_for_submits(2)
    assert "ACCEPTED" in out
    for submit in received:
        assert f"message_id={submit.message_id}" in out
    assert "+447700900123" not in out and "to +44*******123:" in out


def test_send_reports_throttling_with_exit_75(smsc: LocalSmsc, smpp_env: None) -> None:
    smsc.throttle_next(1)
    code, out, _ = run(
        [
            "sms",
            "send",
            "--to",
            "+447700900123",
            "--text",
            "hi",
            "--smsc",
            smsc.address,
            "--system-id",
            "mcn",
            "--password-env",
            "OPS_SMPP_PW",
            "--json",
        ]
    )
    assert code == 75
    document = json.loads(out)
    assert document["parts"][0]["status_name"] == "ESME_RTHROTTLED"


def test_bad_password_and_bad_config_are_clear(
    smsc: LocalSmsc, smpp_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_SMPP_PW", "wrong")
    code, out, _ = run(
        [
            "sms",
            "send",
            "--to",
            "1",
            "--text",
            "hi",
            "--smsc",
            smsc.address,
            "--system-id",
            "mcn",
            "--password-env",
            "OPS_SMPP_PW",
        ]
    )
    assert code == 1 and "ESME_RINVPASWD" in out
    code, _, err = run(["sms", "send", "--to", "1", "--text", "hi", "--smsc", "nohostport"])
    assert code == 2 and "--smsc must be host:port" in err
    code, _, err = run(["sms", "send", "--to", "1", "--text", "hi", "--smsc", smsc.address])
    assert code == 2 and "SMPP_SYSTEM_ID" in err
