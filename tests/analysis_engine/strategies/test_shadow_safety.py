"""A shadow run holds under a second process, a shared output folder, a bad day of data, a full
disk, a read-only ledger and a price path that misses the replay's days."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.options_trading_system.analysis_engine.strategies import shadow_run
from tasks.options_trading_system.analysis_engine.strategies.shadow_run import RunHooks, ShadowRunRequest, start_run
from tasks.options_trading_system.errors import InputFileError, LedgerWriteError
from tasks.options_trading_system.output_generation import shadow_report_writer
from tasks.options_trading_system.state.ledger import Ledger, dump_state

ROOT = Path(__file__).resolve().parents[3]
# an interrupted or failed run writes its status changes as transactions of their own
RESUMED = {"runs": ["run_id"], "progress": ["transactions"]}
HOLD_LOCK = """
import sys, time
from pathlib import Path
from tasks.options_trading_system.state.run_lock import RunLock
RunLock(Path(sys.argv[1]), "held").acquire()
print("locked", flush=True)
time.sleep(60)
"""


def _run(recording: Path, out: Path, run_id: str, **hooks) -> object:
    return start_run(ShadowRunRequest(replay=recording, days=2, output_dir=out, run_id=run_id),
                     RunHooks(reports=shadow_report_writer, **hooks))


@pytest.fixture(scope="module")
def reference(small_recording: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("reference")
    result = _run(small_recording, out, "reference")
    return {"out": out}


def _state(run_dir: Path) -> dict:
    return dump_state(run_dir / "ledger.sqlite", ignore_columns=RESUMED)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run_shadow_trading.py", *args, "--no-progress"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_a_second_process_on_a_running_run_is_refused_and_a_dead_ones_lock_is_taken_over(
        small_recording: Path, reference: dict, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_dir = out / "runs" / "busy"
    done = _run(small_recording, out, "busy", stop=_stopped_after_first_event())
    assert done.status == "interrupted"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run_dir)], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        refused = _cli("--resume", "busy", "--output-dir", str(out))
        assert refused.returncode == 2
        assert f"run busy is already running (pid {holder.pid})" in refused.stderr
        assert "Traceback" not in refused.stderr
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    resumed = start_run(ShadowRunRequest(resume="busy", output_dir=out), RunHooks(reports=shadow_report_writer))
    assert resumed.status == "completed"
    assert _state(run_dir) == _state(reference["out"] / "runs" / "reference")


def _stopped_after_first_event():
    import threading
    stop = threading.Event()
    stop.set()
    return stop


def test_runs_sharing_an_output_folder_keep_their_own_daily_reports(small_recording: Path, reference: dict) -> None:
    out = reference["out"]
    _run(small_recording, out, "second")
    for run_id in ("reference", "second"):
        daily = json.loads((out / "2025-06-02" / "paper_trading" / f"daily_report_{run_id}.json").read_text())
        assert daily["day"] == "2025-06-02"


def test_a_truncated_mbo_day_is_refused_and_noted_and_the_run_goes_on(small_recording: Path, tmp_path: Path) -> None:
    import shutil
    copy = tmp_path / "week"
    shutil.copytree(small_recording, copy)
    first = sorted((copy / "mbo").glob("2025-06-02.mbo.dbn.zst"))
    assert first, "the small recording has an MBO file for 2025-06-02"
    data = first[0].read_bytes()
    first[0].write_bytes(data[: len(data) // 3])
    result = _run(copy, tmp_path / "out", "truncated")
    assert result.status == "completed" and result.days_closed == 2
    ledger = Ledger.open_existing(result.run_dir / "ledger.sqlite")
    try:
        note = ledger.scalar("SELECT notes FROM observations WHERE day = '2025-06-02' AND event_index = 0")
        assert "MBO of 2025-06-02 refused" in note
        summary = json.loads(ledger.scalar("SELECT summary_json FROM daily_summaries WHERE day = '2025-06-02'"))
        assert any("refused" in n for n in summary["notes"])
        assert ledger.scalar("SELECT COUNT(*) FROM signals WHERE day = '2025-06-03' AND source = 'ifd_v3'") > 0
    finally:
        ledger.close()


@pytest.mark.parametrize("fault, words", [("PRAGMA max_page_count = {pages}", "full"),
                                           ("PRAGMA query_only = ON", "readonly")])
def test_a_ledger_that_cannot_be_written_fails_cleanly_and_resumes_once_fixed(
        small_recording: Path, reference: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        fault: str, words: str) -> None:
    opened: list[Ledger] = []

    class Breaking(Ledger):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            opened.append(self)

    def break_at(n: int) -> None:
        if n == 25:
            connection = opened[-1].connection
            pages = connection.execute("PRAGMA page_count").fetchone()[0]
            connection.execute(fault.format(pages=pages))

    monkeypatch.setattr(shadow_run, "Ledger", Breaking)
    out = tmp_path / "out"
    with pytest.raises(LedgerWriteError, match=r"cannot be written .* then continue with --resume broken") as info:
        _run(small_recording, out, "broken", after_commit=break_at)
    assert words in str(info.value).replace(" ", "").lower()
    ledger = Ledger.open_existing(out / "runs" / "broken" / "ledger.sqlite")
    try:
        assert ledger.run()["status"] == "failed"      # written through a fresh connection, never left running
    finally:
        ledger.close()
    monkeypatch.undo()
    resumed = start_run(ShadowRunRequest(resume="broken", output_dir=out), RunHooks(reports=shadow_report_writer))
    assert resumed.status == "completed"
    assert _state(out / "runs" / "broken") == _state(reference["out"] / "runs" / "reference")


def test_a_price_path_outside_the_replay_days_is_an_input_error_naming_both(small_recording: Path,
                                                                            shared_data: Path, tmp_path: Path) -> None:
    real = shared_data / "futures" / "NQ_1min_sample.csv"
    with pytest.raises(InputFileError, match=r"its bars cover 2023-11-19 .* 2023-12-0\d .* the replay's days are "
                                             r"2025-06-02 \.\. 2025-06-03"):
        start_run(ShadowRunRequest(replay=small_recording, price_path=real, days=2, output_dir=tmp_path, run_id="x"))
