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


def test_circuits_command_errors_name_what_to_fix(tmp_path: Path, capsys):
    import pytest

    from mcn_devkit.ports import free_port
    from mcn_gateway.circuit_cli import CircuitCommandError, parse_cics

    assert parse_cics("7") == [7] and parse_cics("3-5") == [3, 4, 5]
    for wrong in ("x", "5-3", "-2", "1-"):
        with pytest.raises(CircuitCommandError):
            parse_cics(wrong)
    config = loopback_config(tmp_path).model_dump(mode="json")
    no_trunk = tmp_path / "no-trunk.json"
    no_trunk.write_text(json.dumps(config))
    assert main(["--config", str(no_trunk), "circuits", "show"]) == 2
    assert "no [origination] trunk" in capsys.readouterr().err
    config["forwarding"]["outcome_target"] = f"file:{tmp_path / 'outcomes.jsonl'}"
    config["origination"] = {"queue_url": "http://127.0.0.1:1/q", "dpc": 2001, "cic_first": 1, "cic_last": 4}
    config["http"] = {"host": "0.0.0.0", "port": free_port()}
    trunk = tmp_path / "trunk.json"
    trunk.write_text(json.dumps(config))
    assert main(["--config", str(trunk), "circuits", "block"]) == 2
    assert "give --cic N or --cic N-M" in capsys.readouterr().err
    assert main(["--config", str(trunk), "circuits", "unblock", "--cic", "3-9"]) == 2
    assert "outside the trunk's range 1-4" in capsys.readouterr().err
    assert main(["--config", str(trunk), "circuits", "block", "--cic", "2"]) == 1
    err = capsys.readouterr().err
    assert "the gateway is not running" in err and f"http://127.0.0.1:{config['http']['port']}/circuits" in err
