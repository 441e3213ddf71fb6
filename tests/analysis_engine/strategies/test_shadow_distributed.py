"""A replay whose days are computed on a dask cluster writes the serial run's ledger row for row,
survives a worker killed mid-task without a duplicate row, and reports a day that fails while the
other days go on (docs/shadow_trading.md, "Distributed replay")."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tasks.options_trading_system.analysis_engine.strategies.day_executors import DaskExecutor, SerialExecutor
from tasks.options_trading_system.analysis_engine.strategies.shadow_run import (RunHooks, ShadowRunRequest,
                                                                               run_replay, start_run)
from tasks.options_trading_system.analysis_engine.strategies.signals.ev_source import EvSignalSource
from tasks.options_trading_system.state.ledger import dump_state

IGNORE = {"runs": ["run_id"]}
RUN_TIMEOUT_S = 300
#: tables a replay's results live in: each must hold rows, so "equal" compares something
RESULT_TABLES = ("observations", "signals", "validations", "orders", "fills", "positions", "outcomes", "costs",
                 "daily_summaries")

pytestmark = pytest.mark.slow


def _request(recording: Path, out: Path, run_id: str) -> ShadowRunRequest:
    return ShadowRunRequest(replay=recording, days=2, output_dir=out, run_id=run_id)


def _state(out: Path, run_id: str) -> dict[str, list[tuple]]:
    return dump_state(out / "runs" / run_id / "ledger.sqlite", ignore_columns=IGNORE)


@pytest.fixture(scope="module")
def serial(small_recording: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple]]:
    out = tmp_path_factory.mktemp("serial")
    result = start_run(_request(small_recording, out, "serial"), RunHooks())
    assert result.status == "completed" and result.days_closed == 2
    state = _state(out, "serial")
    assert all(state[table] for table in RESULT_TABLES), {t: len(state[t]) for t in RESULT_TABLES}
    return state


def test_a_replay_on_a_local_cluster_writes_the_serial_ledger_row_for_row(
        small_recording: Path, serial: dict, tmp_path: Path) -> None:
    with DaskExecutor(workers=2, processes=True, task_timeout_s=RUN_TIMEOUT_S) as executor:
        result = run_replay(_request(small_recording, tmp_path, "cluster"), executor)
    assert result.status == "completed" and result.days_closed == 2 and not result.failed_days
    state = _state(tmp_path, "cluster")
    for table in serial:
        assert state[table] == serial[table], table


def test_the_serial_executor_is_the_default_replay(small_recording: Path, serial: dict, tmp_path: Path) -> None:
    result = run_replay(_request(small_recording, tmp_path, "explicit"), SerialExecutor())
    assert result.status == "completed"
    assert _state(tmp_path, "explicit") == serial


def test_a_worker_killed_mid_task_is_retried_and_no_row_is_duplicated(
        small_recording: Path, serial: dict, tmp_path: Path) -> None:
    with DaskExecutor(workers=2, processes=True, task_timeout_s=RUN_TIMEOUT_S) as executor:
        client = executor.client
        done: dict[str, Any] = {}

        def replay() -> None:
            try:
                done["result"] = run_replay(_request(small_recording, tmp_path, "killed"), executor)
            except BaseException as exc:  # surfaced below
                done["error"] = exc

        thread = threading.Thread(target=replay, daemon=True)
        thread.start()
        killed = _kill_a_busy_worker(client, deadline=time.monotonic() + RUN_TIMEOUT_S)
        thread.join(RUN_TIMEOUT_S)
        assert not thread.is_alive(), "the replay did not finish after a worker was killed"
    assert "error" not in done, done.get("error")
    assert killed, "no day task was seen running on a worker"
    result = done["result"]
    assert result.status == "completed" and result.days_closed == 2 and not result.failed_days
    state = _state(tmp_path, "killed")
    for table in serial:
        assert state[table] == serial[table], table


def _kill_a_busy_worker(client: Any, *, deadline: float) -> str:
    """SIGKILL the process of a worker while it is running a day task; the task's key, or ''."""
    while time.monotonic() < deadline:
        for address, keys in client.processing().items():
            busy = [k for k in keys if str(k).startswith("shadow-day-")]
            if busy:
                pid = client.run(os.getpid, workers=[address])[address]
                os.kill(pid, signal.SIGKILL)
                return str(busy[0])
        time.sleep(0.02)
    return ""


@pytest.mark.parametrize("executor", ["serial", "dask threads"])
def test_a_day_that_fails_is_reported_and_the_other_days_go_on(
        small_recording: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, executor: str,
        capsys: pytest.CaptureFixture) -> None:
    original = EvSignalSource.generate
    manifest = json.loads((small_recording / "manifest.json").read_text())
    first, second = manifest["days"][0]["date"], manifest["days"][1]["date"]

    def broken_on_the_second_day(self: EvSignalSource, event: Any) -> Any:
        if event.chain is not None and event.chain.meta.as_of.date().isoformat() == second:
            raise ValueError(f"snapshot of {second} unreadable")
        return original(self, event)

    monkeypatch.setattr(EvSignalSource, "generate", broken_on_the_second_day)
    runner = SerialExecutor() if executor == "serial" else \
        DaskExecutor(workers=1, processes=False, retries=0, task_timeout_s=RUN_TIMEOUT_S)
    with runner:
        result = run_replay(_request(small_recording, tmp_path, "failing"), runner)
    assert result.status == "completed" and result.days_closed == 2
    assert list(result.failed_days) == [second]
    assert "unreadable" in result.failed_days[second]
    state = _state(tmp_path, "failing")
    days_with_signals = {row[2] for row in state["signals"]}
    assert days_with_signals == {first}
    summaries = {row[0]: json.loads(row[-1]) for row in state["daily_summaries"]}
    assert summaries[second]["signals"]["signals"] == 0
    assert any("failed" in note and "unreadable" in note for note in summaries[second]["notes"])


def test_the_command_line_replays_on_a_local_cluster(small_recording: Path, serial: dict, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    from tasks.options_trading_system.analysis_engine.strategies.shadow_cli import main
    code = main(["--replay", str(small_recording), "--days", "2", "--output-dir", str(tmp_path), "--run-id", "cli",
                 "--cluster", "local", "--workers", "1", "--no-progress"])
    assert code == 0
    assert "run cli: completed, 2 day(s) closed" in capsys.readouterr().out
    assert _state(tmp_path, "cli") == serial
