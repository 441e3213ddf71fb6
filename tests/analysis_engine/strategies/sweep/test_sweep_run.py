"""A small sweep end to end: every variant replays the same days as its own run, the comparison
ranks them exactly as their ledgers say (recomputed here straight from the SQLite files), and a
sweep run again skips what is done and resumes what was stopped."""
from __future__ import annotations

import json
import math
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from tasks.options_trading_system.analysis_engine.strategies.shadow_run import RunHooks
from tasks.options_trading_system.analysis_engine.strategies.sweep import SweepRequest, run_sweep
from tasks.options_trading_system.analysis_engine.strategies.sweep import runner as runner_module
from tasks.options_trading_system.output_generation import shadow_report_writer, sweep_report_writer

pytestmark = pytest.mark.slow

GRID = {"id": "small", "days": 2, "rank_by": "sharpe",
        "grid": {"shadow_trading.validation.min_score": [0.6, 0.85],
                 "shadow_trading.execution.slippage_ticks": [0, 4]}}


def _sweep(folder: Path, document: dict) -> Path:
    path = folder / "sweep.json"
    path.write_text(json.dumps(document))
    return path


@pytest.fixture(scope="module")
def swept(small_recording: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("sweep")
    request = SweepRequest(sweep_file=_sweep(folder, GRID), replay=small_recording, output_dir=folder / "out")
    return request, run_sweep(request, RunHooks(reports=shadow_report_writer), reports=sweep_report_writer)


def _from_ledger(path: Path) -> dict:
    """The ranked figures, computed here with plain SQL and numpy (not the project's metrics)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        resolved, correct = db.execute("SELECT COUNT(correct), SUM(correct = 1) FROM outcomes").fetchone()
        passed, wrong = db.execute("SELECT COUNT(o.correct), SUM(o.correct = 0) FROM validations v "
                                   "JOIN outcomes o USING (signal_id) WHERE v.passed = 1").fetchone()
        pnl = [r[0] for r in db.execute("SELECT o.pnl_usd FROM outcomes o JOIN positions p USING (position_id) "
                                        "WHERE o.pnl_usd IS NOT NULL ORDER BY p.exit_time, o.signal_id")]
        daily = np.array([r[0] for r in db.execute("SELECT pnl_usd FROM daily_summaries ORDER BY day")], dtype=float)
    finally:
        db.close()
    equity = np.concatenate([[0.0], np.cumsum(pnl)])
    sd = daily.std(ddof=1) if len(daily) > 1 else 0.0
    return {"accuracy": correct / resolved if resolved else None,
            "false_positive_rate": wrong / passed if passed else None,
            "net_pnl_usd": float(np.sum(pnl)),
            "max_drawdown_usd": float(np.max(np.maximum.accumulate(equity) - equity)),
            "sharpe": float(daily.mean() / sd * math.sqrt(252)) if sd else None}


def test_each_variant_replays_the_same_days_as_its_own_completed_run(swept) -> None:
    request, result = swept
    assert result.complete and not result.failed and len(result.outcomes) == 4
    days = set()
    for variant in result.plan.variants:
        run_dir = request.output_dir / "runs" / f"small--{variant.name}"
        assert (run_dir / "final_results.json").is_file()
        days.add(tuple(json.loads((run_dir / "final_results.json").read_text())["trading_days"]))
    assert days == {("2025-06-02", "2025-06-03")}


def test_the_ranking_is_the_one_the_ledgers_give(swept) -> None:
    request, result = swept
    document = json.loads((request.output_dir / "sweeps" / "small" / "comparison.json").read_text())
    assert document == json.loads(json.dumps(result.comparison))
    recomputed = {}
    for row in document["variants"]:
        figures = _from_ledger(request.output_dir / "runs" / row["run_id"] / "ledger.sqlite")
        for key, value in figures.items():
            assert row["figures"][key] == (None if value is None else pytest.approx(value)), (row["name"], key)
        recomputed[row["name"]] = figures
    # Sharpe, best first; missing last; ties by net P&L, then by name
    def key(name: str) -> tuple:
        f = recomputed[name]
        return (f["sharpe"] is None, -round(f["sharpe"] or 0.0, 9), -round(f["net_pnl_usd"], 9), name)
    assert [row["name"] for row in document["variants"]] == sorted(recomputed, key=key)
    # the settings change the outcome on this recording: not every variant is the same
    assert len({(f["net_pnl_usd"], f["false_positive_rate"]) for f in recomputed.values()}) > 1


def test_the_report_has_a_heatmap_a_multiple_testing_note_and_missing_figures_as_missing(swept) -> None:
    request, result = swept
    folder = request.output_dir / "sweeps" / "small"
    document = result.comparison
    heat = document["heatmap"]
    assert heat["x_values"] == [0.6, 0.85] and heat["y_values"] == [0, 4]
    by_name = {row["name"]: row for row in document["variants"]}
    assert heat["cells"]["net_pnl_usd"][1][0] == by_name["min_score=0.6+slippage_ticks=4"]["figures"]["net_pnl_usd"]
    assert document["multiple_testing"]["variants_tried"] == 4
    assert "4 variants were tried" in document["multiple_testing"]["text"]
    assert "biased upward" in document["multiple_testing"]["text"]
    html = (folder / "comparison.html").read_text()
    assert html.count("Plotly.newPlot") == len(document["metrics"])
    assert '<script src="plotly.min.js"' in html and "cdn" not in html.lower()
    assert (folder / "plotly.min.js").is_file() and "SAMPLE DATA" in html
    # a figure that cannot be computed is null in the JSON and n/a on the page, never 0
    missing = [(row["name"], k) for row in document["variants"] for k, v in row["figures"].items() if v is None]
    for name, key in missing:
        assert by_name[name]["ranks"][key] is None
    if missing:
        assert "n/a" in html


def test_the_console_ranking_lists_the_variants_in_report_order_with_missing_as_na(swept) -> None:
    _request, result = swept
    lines = sweep_report_writer.ranking_lines(result.comparison)
    assert lines[0] == "sweep small: 4 variant(s), ranked by Sharpe"
    names = [row["name"] for row in result.comparison["variants"]]
    body = lines[2:]
    assert [line.split()[1] for line in body] == names and [line.split()[0] for line in body] == ["1", "2", "3", "4"]


def test_running_the_sweep_again_skips_every_completed_variant(swept, monkeypatch: pytest.MonkeyPatch) -> None:
    request, first = swept
    started = []
    monkeypatch.setattr(runner_module, "RUNNER_CLASSES", {"serial": "serial:SerialRunner"})
    from tasks.options_trading_system.analysis_engine.strategies.sweep import serial
    monkeypatch.setattr(serial, "start_run", lambda req, hooks: started.append(req))
    again = run_sweep(request, RunHooks(reports=shadow_report_writer), reports=sweep_report_writer)
    assert started == [] and sorted(again.skipped) == sorted(v.name for v in first.plan.variants)
    assert again.comparison["variants"] == first.comparison["variants"]


def test_a_stopped_sweep_resumes_the_stopped_variant_and_starts_the_rest(small_recording: Path, tmp_path: Path) -> None:
    document = {"id": "stop", "days": 1, "variants": [
        {"name": "strict", "overrides": {"shadow_trading": {"validation": {"min_score": 0.85}}}},
        {"name": "loose", "overrides": {"shadow_trading": {"validation": {"min_score": 0.5}}}}]}
    request = SweepRequest(sweep_file=_sweep(tmp_path, document), replay=small_recording, output_dir=tmp_path / "out")
    stop = threading.Event()
    events = []

    def on_event(_event) -> None:
        events.append(1)
        if len(events) == 3:
            stop.set()
    stopped = run_sweep(request, RunHooks(stop=stop, on_event=on_event), reports=sweep_report_writer)
    assert [o.status for o in stopped.outcomes] == ["interrupted"] and not stopped.complete
    assert stopped.comparison["complete"] is False
    assert [r["status"] for r in stopped.comparison["variants"]] == ["interrupted", "not started"]
    assert all(r["figures"] is None for r in stopped.comparison["variants"])

    resumed = run_sweep(request, RunHooks(), reports=sweep_report_writer)
    assert [(o.name, o.status) for o in resumed.outcomes] == [("strict", "completed"), ("loose", "completed")]
    assert resumed.complete and resumed.comparison["complete"] is True
    sessions = sqlite3.connect(tmp_path / "out" / "runs" / "stop--strict" / "ledger.sqlite")
    try:  # the stopped variant was continued in its own ledger, not started again
        assert [r[0] for r in sessions.execute("SELECT resumed FROM perf_sessions ORDER BY id")] == [0, 1]
    finally:
        sessions.close()
    # a changed sweep under the same id is refused rather than mixed with the old runs
    document["variants"][1]["overrides"]["shadow_trading"]["validation"]["min_score"] = 0.55
    _sweep(tmp_path, document)
    from tasks.options_trading_system.errors import ConfigError
    with pytest.raises(ConfigError, match=r"variant 'loose' already has run stop--loose .* different its profile"):
        run_sweep(request, RunHooks(), reports=sweep_report_writer)


def test_a_sweep_on_a_dask_cluster_writes_every_variants_serial_ledger(swept, small_recording: Path,
                                                                        tmp_path: Path) -> None:
    """`--sweep ... --cluster local`: the dask runner sends every variant's days to one cluster; each
    variant's ledger is the serial sweep's row for row (run ids aside: they name the same variants)."""
    from tasks.options_trading_system.state.ledger import dump_state

    serial_request, serial_result = swept
    request = SweepRequest(sweep_file=_sweep(tmp_path, GRID), replay=small_recording, output_dir=tmp_path / "out")
    result = run_sweep(request, RunHooks(), runner="dask", runner_options={"workers": 2})
    assert [o.status for o in result.outcomes] == ["completed"] * 4
    for outcome in result.outcomes:
        ledger = Path("runs") / outcome.run_id / "ledger.sqlite"
        distributed = dump_state(request.output_dir / ledger, ignore_columns={"runs": ["run_id"]})
        serial = dump_state(serial_request.output_dir / ledger, ignore_columns={"runs": ["run_id"]})
        assert distributed["signals"] and distributed["orders"]  # something to compare
        for table in ("observations", "signals", "validations", "orders", "fills", "positions", "outcomes", "costs",
                      "daily_summaries"):  # what a replay's results are (the runs row names its own folders)
            assert distributed[table] == serial[table], (outcome.name, table)


def _assert_serial_ledgers(run_ids: list[str], request, serial_request) -> None:
    from tasks.options_trading_system.state.ledger import dump_state
    assert len(run_ids) == 4
    for run_id in run_ids:
        ledger = Path("runs") / run_id / "ledger.sqlite"
        distributed = dump_state(request.output_dir / ledger, ignore_columns={"runs": ["run_id"]})
        serial = dump_state(serial_request.output_dir / ledger, ignore_columns={"runs": ["run_id"]})
        assert distributed["signals"] and distributed["orders"]
        for table in ("observations", "signals", "validations", "orders", "fills", "positions", "outcomes", "costs",
                      "daily_summaries"):
            assert distributed[table] == serial[table], (run_id, table)


def _has_observations(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return db.execute("SELECT COUNT(*) FROM observations").fetchone()[0] > 0
        finally:
            db.close()
    except sqlite3.Error:  # still being created
        return False


def test_variants_differing_only_in_validation_and_execution_compute_each_day_once_on_the_cluster(
        swept, small_recording: Path, tmp_path: Path) -> None:
    """The grid varies phase-B settings only (validation score, slippage): each variant's run is a task
    on a worker, and the day tasks they ask for are one per day, not one per variant and day."""
    from distributed import get_task_stream

    from tasks.options_trading_system.analysis_engine.strategies.day_executors import DaskExecutor

    serial_request, _ = swept
    request = SweepRequest(sweep_file=_sweep(tmp_path, GRID), replay=small_recording, output_dir=tmp_path / "out")
    with DaskExecutor(workers=2) as executor, get_task_stream(client=executor.client) as stream:
        result = run_sweep(request, RunHooks(), runner="dask", runner_options={"client": executor.client})
    keys = [str(record["key"]) for record in stream.data]
    days = [key for key in keys if key.startswith("shadow-day-")]
    assert len([key for key in keys if key.startswith("shadow-variant-")]) == 4
    assert len(set(days)) == GRID["days"], days  # one result per day, shared by the four variants
    assert len(days) < 4 * GRID["days"]
    assert [o.status for o in result.outcomes] == ["completed"] * 4
    _assert_serial_ledgers([o.run_id for o in result.outcomes], request, serial_request)


def test_a_variant_whose_worker_dies_mid_run_resumes_on_another_and_writes_the_serial_ledger(
        swept, small_recording: Path, tmp_path: Path) -> None:
    import os
    import signal
    import time

    from tasks.options_trading_system.analysis_engine.strategies.day_executors import DaskExecutor

    serial_request, _ = swept
    request = SweepRequest(sweep_file=_sweep(tmp_path, GRID), replay=small_recording, output_dir=tmp_path / "out")
    done: dict = {}
    with DaskExecutor(workers=2) as executor:
        client = executor.client

        def sweep() -> None:
            try:
                done["result"] = run_sweep(request, RunHooks(), runner="dask", runner_options={"client": client})
            except BaseException as exc:  # surfaced below
                done["error"] = exc

        thread = threading.Thread(target=sweep, daemon=True)
        thread.start()
        killed = ""
        deadline = time.monotonic() + 300
        while not killed and time.monotonic() < deadline and thread.is_alive():
            busy = {address: [str(k).rsplit("-", 1)[-1] for k in keys if str(k).startswith("shadow-variant-")]
                    for address, keys in client.processing().items()}
            target = next((address for address, names in busy.items()
                           if any(_has_observations(request.output_dir / "runs" / f"small--{name}" / "ledger.sqlite")
                                  for name in names)), None)
            if target is not None:  # a variant there has started writing its ledger
                os.kill(client.run(os.getpid, workers=[target])[target], signal.SIGKILL)
                killed = target
            time.sleep(0.05)
        thread.join(300)
        assert not thread.is_alive(), "the sweep did not finish after a worker was killed"
    assert killed, "no variant was seen running on a worker"
    assert "error" not in done, done.get("error")
    assert [o.status for o in done["result"].outcomes] == ["completed"] * 4
    _assert_serial_ledgers([o.run_id for o in done["result"].outcomes], request, serial_request)
    resumed = 0
    for outcome in done["result"].outcomes:  # the killed worker's variants went on in their own ledgers
        db = sqlite3.connect(request.output_dir / "runs" / outcome.run_id / "ledger.sqlite")
        try:
            resumed += db.execute("SELECT COUNT(*) FROM perf_sessions WHERE resumed = 1").fetchone()[0]
        finally:
            db.close()
    assert resumed >= 1


def test_a_stopped_dask_sweep_stops_every_variant_and_running_it_again_finishes_them(
        swept, small_recording: Path, tmp_path: Path) -> None:
    """Ctrl-C (the stop flag) reaches the variants running on workers: each ends after its current
    event, resumable; the same sweep run again completes them with the serial ledgers and reports."""
    import time

    serial_request, _ = swept
    request = SweepRequest(sweep_file=_sweep(tmp_path, GRID), replay=small_recording, output_dir=tmp_path / "out")
    stop = threading.Event()
    ticks: list = []

    def progress(total, unit="event"):
        assert (total, unit) == (4, "variant")
        return ticks.append

    def stop_once_a_ledger_is_written() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not stop.is_set():
            if list(request.output_dir.glob("runs/*/ledger.sqlite")):
                stop.set()
            time.sleep(0.05)

    watcher = threading.Thread(target=stop_once_a_ledger_is_written, daemon=True)
    watcher.start()
    stopped = run_sweep(request, RunHooks(reports=shadow_report_writer, stop=stop, progress=progress),
                        runner="dask", runner_options={"workers": 2})
    watcher.join(5)
    assert len(ticks) == 4 and not stopped.complete
    assert {o.status for o in stopped.outcomes} <= {"interrupted", "completed"}
    assert "interrupted" in {o.status for o in stopped.outcomes}

    resumed = run_sweep(request, RunHooks(reports=shadow_report_writer), runner="dask",
                        runner_options={"workers": 2})
    assert resumed.complete and all(o.status == "completed" for o in resumed.outcomes)
    run_ids = sorted(p.parent.name for p in request.output_dir.glob("runs/*/ledger.sqlite"))
    _assert_serial_ledgers(run_ids, request, serial_request)
    assert all((request.output_dir / "runs" / run_id / "final_results.json").is_file() for run_id in run_ids)
