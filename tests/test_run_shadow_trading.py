"""run_shadow_trading.py as a user runs it: replays of the sample recording and of the real NQ bars,
Ctrl-C and --resume, and the errors a trader can make on the command line."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.sample_data.week import SampleWeekParams, write_sample_week
from tasks.options_trading_system.state.ledger import Ledger

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 240
SMALL = dict(days=2, snapshot_minutes=60, episodes_per_day=2, mbo_events=20_000, mbo_history_days=1)

pytestmark = pytest.mark.slow


def _cli(*args: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run_shadow_trading.py", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli") / "week"
    write_sample_week(folder, SampleWeekParams(**SMALL))
    return folder


@pytest.fixture(scope="module")
def real_recording(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    folder = tmp_path_factory.mktemp("cli_real") / "week"
    write_sample_week(folder, SampleWeekParams(**{**SMALL, "start": date(2023, 11, 20)}),
                      price_path=shared_data / "futures" / "NQ_1min_sample.csv")
    return folder


def test_a_replay_writes_daily_reports_and_a_final_verdict(recording: Path, tmp_path: Path) -> None:
    done = _cli("--replay", str(recording), "--days", "2", "--output-dir", str(tmp_path), "--run-id", "cli",
                "--no-progress")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "run cli: completed, 2 day(s) closed" in done.stdout and "verdict " in done.stdout
    for day in ("2025-06-02", "2025-06-03"):
        daily = json.loads((tmp_path / day / "paper_trading" / "daily_report_cli.json").read_text())
        assert daily["day"] == day and daily["is_sample"] is True
        assert "SAMPLE DATA" in (tmp_path / day / "paper_trading" / "daily_report_cli.html").read_text()
    final = json.loads((tmp_path / "runs" / "cli" / "final_results.json").read_text())
    assert final["verdict"] in ("PASS", "FAIL", "INCONCLUSIVE") and final["days_closed"] == 2
    ledger = Ledger.open_existing(tmp_path / "runs" / "cli" / "ledger.sqlite")
    try:
        assert final["signals"]["signals"] == ledger.scalar("SELECT COUNT(*) FROM signals")
        assert final["trades"]["trades"] == ledger.scalar("SELECT COUNT(*) FROM outcomes WHERE position_id IS NOT NULL")
    finally:
        ledger.close()


def test_the_real_nq_bars_drive_a_replay_as_the_price_path(real_recording: Path, shared_data: Path,
                                                           tmp_path: Path) -> None:
    bars_file = shared_data / "futures" / "NQ_1min_sample.csv"
    done = _cli("--replay", str(real_recording), "--price-path", str(bars_file), "--days", "2",
                "--output-dir", str(tmp_path), "--run-id", "real", "--no-progress")
    assert done.returncode == 0, done.stderr[-3000:]
    ledger = Ledger.open_existing(tmp_path / "runs" / "real" / "ledger.sqlite")
    try:
        assert ledger.run()["price_path"] == str(bars_file)
        assert ledger.run()["trading_days"] == ["2023-11-20", "2023-11-21"]
        # the decision at 10:30 New York used the close of the real 10:29 bar
        price = ledger.scalar("SELECT price FROM observations WHERE sim_time = '2023-11-20T15:30:00.000000Z' "
                              "AND kind = 'chain'")
    finally:
        ledger.close()
    real = pd.read_csv(bars_file)
    assert price == float(real.loc[real["timestamp"] == "2023-11-20 10:29:00", "close"].iloc[0])


def test_ctrl_c_stops_cleanly_and_resume_finishes(recording: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    child = subprocess.Popen([sys.executable, "run_shadow_trading.py", "--replay", str(recording), "--days", "2",
                              "--output-dir", str(tmp_path), "--run-id", "ctrlc", "--speed", "12000",
                              "--no-progress"], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    ledger_file = tmp_path / "runs" / "ctrlc" / "ledger.sqlite"
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline and child.poll() is None and not ledger_file.is_file():
        time.sleep(0.05)
    time.sleep(1.0)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=TIMEOUT_S)
    assert child.returncode == 130, err[-3000:]
    assert "interrupted" in out and "--resume ctrlc" in out
    resumed = _cli("--resume", "ctrlc", "--output-dir", str(tmp_path), "--no-progress")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "run ctrlc: completed, 2 day(s) closed" in resumed.stdout


@pytest.mark.parametrize("args, message", [
    (["--days", "9"], "a live shadow run covers 1 to 7 trading days"),
    (["--days", "0"], "expected at least 1 trading day"),
    (["--replay", "/nonexistent/recording"], "no such directory"),
    (["--resume", "no-such-run"], "no such file"),
    (["--profile", "no_such_profile"], "profile 'no_such_profile' not found"),
    (["--price-path", "x.csv"], "--price-path needs --replay"),
])
def test_command_line_mistakes_exit_2_with_a_message(args: list[str], message: str, tmp_path: Path) -> None:
    done = _cli(*args, "--output-dir", str(tmp_path), "--no-progress", timeout=60)
    assert done.returncode == 2
    assert message in done.stderr


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
