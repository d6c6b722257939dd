"""The console script: config check, passive replay forwarding through the spool to a file target."""

from __future__ import annotations

import json
from pathlib import Path

from mcn_devkit.sigtran.local import loopback_config, read_jsonl
from mcn_gateway.cli import main


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.json"
    path.write_text(loopback_config(tmp_path).model_dump_json())
    return path


def test_check_config_reports_errors_with_exit_code_2(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("MCN_GATEWAY__FORWARDING__INGEST_TARGET", "nowhere")
    assert main(["--config", str(_config(tmp_path)), "check-config"]) == 2
    assert "forwarding.ingest_target" in capsys.readouterr().err


def test_replay_forwards_the_capture_events(tmp_path: Path, map_capture: Path, isup_capture: Path, capsys):
    assert main(["--config", str(_config(tmp_path)), "replay", str(map_capture)]) == 0
    events = read_jsonl(tmp_path / "attach.jsonl")
    assert events and {e["source"] for e in events} == {"updateLocation"}
    assert f"{len(events)} events" in capsys.readouterr().err
    # the ISUP capture's call was answered and never diverted: nothing to forward
    assert main(["--config", str(_config(tmp_path)), "replay", str(isup_capture)]) == 0
    assert read_jsonl(tmp_path / "missed_calls.jsonl") == []
    assert "0 events" in capsys.readouterr().err


def test_replay_print_mode_needs_no_config(map_capture: Path, capsys):
    assert main(["replay", "--print", str(map_capture)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and {json.loads(line)["kind"] for line in lines} == {"attach"}
