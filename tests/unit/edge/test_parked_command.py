"""`mcn-gateway parked` and `mcn-receiver parked`: list, retry and purge the dead letters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcn_edge.spool import Spool
from mcn_gateway.cli import main as gateway_main
from mcn_receiver.cli import main as receiver_main


def _spool_with_parked(path: Path) -> list[int]:
    spool = Spool(path)
    ids = spool.append(
        [
            ("missed_call", {"call_ref": "c-1", "subscriber": "+447911123456"}),
            ("attach", {"event_ref": "a-1", "subscriber": "+447911123457"}),
        ]
    )
    for event_id in ids:
        assert spool.park(event_id, "ingest: FunctionError Unhandled: KeyError 'x'")
    spool.close()
    return ids


def _gateway_config(tmp_path: Path, spool: Path) -> Path:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f"""
[signalling]
point_code = 1
platform_gt = "447000000000"

[forwarding]
ingest_target = "file:{tmp_path / "ingest.jsonl"}"
attach_target = "file:{tmp_path / "attach.jsonl"}"
spool_path = "{spool}"
"""
    )
    return config


def test_gateway_lists_retries_and_purges_parked_events(tmp_path: Path, capsys) -> None:
    spool_path = tmp_path / "spool.sqlite3"
    call_id, attach_id = _spool_with_parked(spool_path)
    config = str(_gateway_config(tmp_path, spool_path))

    assert gateway_main(["--config", config, "parked", "list"]) == 0
    listing = capsys.readouterr().out
    assert "c-1" in listing and "a-1" in listing and "FunctionError" in listing
    assert "447911123456" not in listing  # masked

    assert gateway_main(["--config", config, "parked", "retry"]) == 2  # neither --id nor --all
    assert gateway_main(["--config", config, "parked", "retry", "--id", str(call_id)]) == 0
    spool = Spool(spool_path)
    assert [e.body["call_ref"] for e in spool.peek("missed_call", 10)] == ["c-1"]
    assert [p.id for p in spool.parked()] == [attach_id]
    spool.close()

    assert gateway_main(["--config", config, "parked", "purge", "--all", "--kind", "attach"]) == 0
    assert Spool(spool_path).parked() == []
    assert gateway_main(["--config", config, "parked", "purge", "--all"]) == 1  # nothing left


def test_receiver_lists_parked_events_as_json_without_smsc_settings(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool_path = tmp_path / "receiver.sqlite3"
    _spool_with_parked(spool_path)
    monkeypatch.delenv("SMPP_HOST", raising=False)
    monkeypatch.setenv("MCN_RECEIVER_SPOOL", str(spool_path))
    assert receiver_main(["parked", "list", "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["body"].get("call_ref") or r["body"].get("event_ref") for r in records] == ["c-1", "a-1"]
    assert receiver_main(["parked", "retry", "--all", "--spool-path", str(spool_path)]) == 0
    assert Spool(spool_path).depth() == 2


def test_a_missing_spool_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert receiver_main(["parked", "list", "--spool-path", str(tmp_path / "nope.sqlite3")]) == 2
    assert "spool not found" in capsys.readouterr().err
