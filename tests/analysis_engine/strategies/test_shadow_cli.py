"""The shadow command line's distributed-replay options: combinations that cannot work exit 2
before a cluster is started or a run created."""
from __future__ import annotations

from pathlib import Path

import pytest

from tasks.options_trading_system.analysis_engine.strategies.shadow_cli import main


@pytest.mark.parametrize("argv, message", [
    (["--cluster", "local", "--scheduler", "tcp://127.0.0.1:8786"], "give one of them"),
    (["--workers", "2"], "--workers needs --cluster local"),
    (["--scheduler", "tcp://127.0.0.1:8786", "--workers", "2"], "--workers needs --cluster local"),
])
def test_impossible_cluster_options_exit_2_before_anything_runs(
        small_recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture, argv: list[str], message: str) -> None:
    out = tmp_path / "out"
    code = main(["--replay", str(small_recording), "--days", "1", "--output-dir", str(out), "--no-progress", *argv])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (out / "runs").exists()


def test_a_cluster_needs_a_replay(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--cluster", "local", "--days", "1", "--output-dir", str(tmp_path)]) == 2
    assert "--replay" in capsys.readouterr().err


def test_workers_must_be_positive(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--cluster", "local", "--workers", "0"])
    assert exit_.value.code == 2
    assert "at least 1 worker" in capsys.readouterr().err
