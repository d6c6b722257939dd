"""`mcn-receiver` as a real process: SIGTERM unbinds from the SMSC (unbind, unbind_resp) before the process
exits, and what was spooled is forwarded within the drain time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from receiver_kit import PASSWORD

from mcn_devkit.smsc import LocalSmsc

pytestmark = pytest.mark.integration

SYSTEM_TYPE = "MCNSIGT"
#: generous bounds for a process that starts and imports under a loaded CI machine (2 cores shared by
#: the whole suite; a first receipt also builds the event models): waits, never timing assertions
START_S = 180
ANSWER_S = 120


def test_sigterm_unbinds_then_exits(tmp_path: Path):
    with LocalSmsc(system_id="mcn", password=PASSWORD) as smsc:
        env = {
            **os.environ,
            "SMPP_HOST": smsc.host,
            "SMPP_PORT": str(smsc.port),
            "SMPP_SYSTEM_ID": "mcn",
            "SMPP_PASSWORD": PASSWORD,
            "SMPP_SYSTEM_TYPE": SYSTEM_TYPE,
            "MCN_RECEIVER_TARGET": f"file:{tmp_path / 'out.jsonl'}",
            "MCN_RECEIVER_SPOOL": str(tmp_path / "spool.sqlite3"),
            "MCN_RECEIVER_BATCH_WAIT_S": "30",  # a receipt waits in the spool: only the drain forwards it
            "MCN_RECEIVER_DRAIN_TIMEOUT_S": "10",
        }
        log = tmp_path / "receiver.log"
        with log.open("w") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "mcn_receiver"], env=env, stdout=output, stderr=subprocess.STDOUT
            )
        try:
            bind = smsc.wait_for_event(lambda e: e["event"] == "bind" and e.get("system_type") == SYSTEM_TYPE, START_S)
            assert bind is not None, log.read_text()
            session = bind["session"]
            smsc.send_receipt("0123abcd", stat="DELIVRD", session=session)
            answered = smsc.wait_for_event(
                lambda e: e["event"] == "deliver_sm_resp" and e["session"] == session, ANSWER_S
            )
            assert answered is not None and answered["status"] == 0  # spooled
            process.send_signal(signal.SIGTERM)
            assert smsc.wait_for_event(lambda e: e["event"] == "unbind" and e["session"] == session, ANSWER_S)
            assert process.wait(timeout=ANSWER_S) == 0, log.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        kinds = [e["event"] for e in smsc.events() if e.get("session") == session]
        assert kinds.index("unbind") < kinds.index("close")  # a polite unbind, not just a dropped socket
    assert "Traceback" not in log.read_text()
    [receipt] = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert receipt["message_id"] == "0123abcd"
