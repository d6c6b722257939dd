"""The commands the README promises, run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcn_devkit.template import PROJECT_ROOT

pytestmark = pytest.mark.e2e
MCN = str(Path(sys.executable).with_name("mcn"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MCN, *args], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300)


def test_mcn_invoke_prints_the_handler_response() -> None:
    result = run("invoke", "ingest", "events/ingest/duplicate.json")
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert [r["outcome"] for r in response["results"]] == ["accepted", "duplicate"]


def test_mcn_invoke_unknown_function_is_a_clear_error() -> None:
    result = run("invoke", "nosuch", "events/ingest/single.json")
    assert result.returncode != 0
    assert "unknown function 'nosuch'" in result.stderr


def test_mcn_invoke_missing_file_is_a_clear_error() -> None:
    result = run("invoke", "ingest", "events/ingest/missing.json")
    assert result.returncode != 0
    assert "event file not found" in result.stderr


def test_demo_runs_the_story_and_exits_zero() -> None:
    # faulthandler: if the demo ever dies of a signal again (it did, until the local runtime stopped
    # swapping sys.stdout per invocation), the thread dump is in the failure message.
    result = subprocess.run(
        [MCN, "demo"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=300,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "4 x ISUP REL (cause 20, subscriber absent)" in out
    assert "stored in DynamoDB (4 items, one per attempt; TTL)" in out
    assert "| You missed 4 call(s) while unreachable:" in out
    assert "| Private number at " in out
    assert "receipt for ['0000000001']: DELIVRD" in out
    assert "Fee records (1; one per notice)" in out and "status delivered  fee 10 GBP" in out
    assert "reply from 62226: 'Die Anruf-Info kommt jetzt auf Deutsch.'" in out
    assert "reconciled: the rows add up to the fee records" in out
    assert "missed calls left pending for +44*******456: 0" in out
    # a hosted brand's notice: its sender, language and currency
    assert "from Brava (TON 5) to +44*******001\n   | Brava: Sie hatten 1 Anruf(e) in Abwesenheit:" in out
    assert "fee record: 9 EUR (tariff brava-2026)" in out
    # issue 15: missed calls placed on behalf, on the wire at the MSC, then on the fee record
    assert out.count("(presentation allowed, screening network provided) -> called +44*******456") == 2
    assert out.count("cause 16 (normal clearing)") == 2
    assert "the handset's call log now shows a missed call from +44*******457" in out
    assert "calls requested 2, placed 2, rang 2; status delivered; fee 10 + calls 4 GBP" in out
    # libraries' warnings go to the log file, not into the story
    assert "Unknown optional parameter" not in out + result.stderr and "bind 1 down" not in out + result.stderr
