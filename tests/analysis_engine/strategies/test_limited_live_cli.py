"""The limited-live command line: real money needs both the profile and --confirm-live."""
from __future__ import annotations

import json
from pathlib import Path

from tasks.options_trading_system.analysis_engine.strategies.shadow_cli import main


def _live_profile(tmp_path: Path) -> Path:
    path = tmp_path / "live.json"
    path.write_text(json.dumps({"description": "Tradovate live (test)", "extends": "limited_live",
                                "broker": {"name": "tradovate", "environment": "live"}}))
    return path


def test_a_live_broker_without_confirm_live_exits_2_before_anything_is_created(
        small_recording: Path, tmp_path: Path, capsys) -> None:
    code = main(["--limited-live", "--profile", str(_live_profile(tmp_path)), "--days", "1",
                 "--output-dir", str(tmp_path / "out"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "REAL MONEY" in err and "--confirm-live" in err
    assert not (tmp_path / "out" / "runs").exists()


def test_broker_options_without_limited_live_are_refused(tmp_path: Path, capsys) -> None:
    assert main(["--broker", "tradovate", "--output-dir", str(tmp_path)]) == 2
    assert "--limited-live" in capsys.readouterr().err


def test_a_replay_cannot_trade_the_live_environment_even_when_confirmed(
        small_recording: Path, tmp_path: Path, capsys) -> None:
    code = main(["--limited-live", "--confirm-live", "--profile", str(_live_profile(tmp_path)), "--replay",
                 str(small_recording), "--days", "1", "--output-dir", str(tmp_path / "out"), "--no-progress"])
    assert code == 2
    assert "replay" in capsys.readouterr().err
