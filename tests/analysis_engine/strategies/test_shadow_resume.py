"""A replay killed with SIGKILL at any point and resumed ends with exactly the ledger of a run never
interrupted (every table but the wall-clock perf_* ones; the run id differs by construction).

Kill points are exact: a child process runs the replay with a ledger hook that SIGKILLs itself right
after its n-th committed transaction (after the run row; between an event's signals and its orders;
right after a day's summary, before its reports). One more kill comes from outside, at whatever
point a paced replay has reached. Each killed run is resumed with `run_shadow_trading.py --resume`.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks.options_trading_system.output_generation import shadow_report_writer
from tasks.options_trading_system.analysis_engine.strategies.shadow_run import RunHooks, ShadowRunRequest, start_run
from tasks.options_trading_system.state.ledger import Ledger, dump_state

PROJECT_ROOT = Path(__file__).resolve().parents[3]
IGNORE = {"runs": ["run_id"]}
CHILD_TIMEOUT_S = 240
KILL_AT = """
import os, signal, sys
from pathlib import Path
from tasks.options_trading_system.analysis_engine.strategies.shadow_run import RunHooks, ShadowRunRequest, start_run
from tasks.options_trading_system.output_generation import shadow_report_writer
kill_at = int(sys.argv[1])
def hook(count):
    if count == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
start_run(ShadowRunRequest(replay=Path(sys.argv[2]), days=2, output_dir=Path(sys.argv[3]), run_id=sys.argv[4]),
          RunHooks(reports=shadow_report_writer, after_commit=hook))
"""

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}


@pytest.fixture(scope="module")
def uninterrupted(small_recording: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The reference run, with what each transaction added (to choose kill points)."""
    out = tmp_path_factory.mktemp("reference")
    counts: list[tuple[int, int, int, int]] = []
    path = out / "runs" / "reference" / "ledger.sqlite"

    def watch(count: int) -> None:
        db = sqlite3.connect(path)
        try:
            counts.append(tuple(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                                for t in ("signals", "orders", "outcomes", "daily_summaries")))
        finally:
            db.close()

    result = start_run(ShadowRunRequest(replay=small_recording, days=2, output_dir=out, run_id="reference"),
                       RunHooks(reports=shadow_report_writer, after_commit=watch))
    assert result.status == "completed"
    return {"state": dump_state(path, ignore_columns=IGNORE), "counts": counts}


def _kill_points(counts: list[tuple[int, int, int, int]]) -> dict[str, int]:
    between = next(n for n in range(1, len(counts))
                   if counts[n][0] > counts[n - 1][0] and counts[n + 1][1] > counts[n][1]) + 1
    first_summary = next(n for n in range(len(counts)) if counts[n][3] == 1) + 1
    return {"after the run row": 1, "between signals and their orders": between,
            "after day 1's summary, before its reports": first_summary}


def _resume(out: Path, run_id: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run_shadow_trading.py", "--resume", run_id, "--output-dir", str(out),
                           "--no-progress", "-q"], cwd=PROJECT_ROOT, env=_env(), capture_output=True, text=True,
                          timeout=CHILD_TIMEOUT_S)


def test_kill_at_exact_transactions_then_resume_gives_the_same_ledger(
        small_recording: Path, uninterrupted: dict, tmp_path: Path) -> None:
    points = _kill_points(uninterrupted["counts"])
    assert len(set(points.values())) == 3
    for label, n in points.items():
        out = tmp_path / f"kill{n}"
        run_id = f"killed{n}"
        child = subprocess.run([sys.executable, "-c", KILL_AT, str(n), str(small_recording), str(out), run_id],
                               cwd=PROJECT_ROOT, env=_env(), capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
        assert child.returncode == -signal.SIGKILL, f"{label}: {child.stderr[-2000:]}"
        ledger = Ledger.open_existing(out / "runs" / run_id / "ledger.sqlite")
        assert ledger.transactions() == n and ledger.run()["status"] == "running"
        ledger.close()
        resumed = _resume(out, run_id)
        assert resumed.returncode == 0, f"{label}: {resumed.stderr[-2000:]}"
        state = dump_state(out / "runs" / run_id / "ledger.sqlite", ignore_columns=IGNORE)
        assert state == uninterrupted["state"], f"ledger differs after a kill {label} (transaction {n})"
        for day in ("2025-06-02", "2025-06-03"):
            assert (out / day / "paper_trading" / f"daily_report_{run_id}.json").is_file()


def test_kill_from_outside_mid_replay_then_resume_gives_the_same_ledger(
        small_recording: Path, uninterrupted: dict, tmp_path: Path) -> None:
    total = len(uninterrupted["counts"])
    out, run_id = tmp_path / "outside", "outside"
    path = out / "runs" / run_id / "ledger.sqlite"
    # paced so the whole replay (about 30 simulated hours) would take about 9 s: the kill lands while it runs
    child = subprocess.Popen([sys.executable, "run_shadow_trading.py", "--replay", str(small_recording), "--days", "2",
                              "--output-dir", str(out), "--run-id", run_id, "--speed", "12000", "--no-progress", "-q"],
                             cwd=PROJECT_ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + CHILD_TIMEOUT_S
        reached = 0
        while time.monotonic() < deadline and child.poll() is None:
            if path.is_file():
                try:
                    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
                    reached = db.execute("SELECT transactions FROM progress").fetchone()[0]
                    db.close()
                except sqlite3.Error:
                    reached = 0
            if reached >= total // 2:
                break
            time.sleep(0.05)
        assert child.poll() is None, "the paced replay finished before it could be killed"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    resumed = _resume(out, run_id)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert dump_state(path, ignore_columns=IGNORE) == uninterrupted["state"]


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
