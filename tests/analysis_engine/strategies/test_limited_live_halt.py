"""The low daily-loss cap: a limited-live run halts mid-day, flattens, and stays halted after a
restart until a person resumes it; the emergency stop (--flatten) halts a run from outside."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from tasks.options_trading_system.analysis_engine.strategies.shadow_run import (RunHooks, ShadowRunRequest,
                                                                                emergency_flatten, start_run)
from tasks.options_trading_system.state.ledger import Ledger


def _profile(tmp_path: Path, **risk: object) -> Path:
    path = tmp_path / "low_cap.json"
    path.write_text(json.dumps({"description": "limited live with a low daily loss cap (test)",
                                "extends": "limited_live", "limited_live": {"risk": risk}}))
    return path


def _gapped(recording: Path, tmp_path: Path) -> Path:
    """The recording with a 200-point gap down at 10:35 New York on its first day: the guards
    allow for 1 tick of slippage, so only a gap through a stop can take a day past its cap."""
    copy = tmp_path / "gapped"
    shutil.copytree(recording, copy)
    bars = pd.read_csv(copy / "futures" / "NQ_1min.csv")
    after = (bars["timestamp"] >= "2025-06-02 10:35:00") & (bars["timestamp"] < "2025-06-02 17:00:00")
    bars.loc[after, ["open", "high", "low", "close"]] -= 200.0
    bars.to_csv(copy / "futures" / "NQ_1min.csv", index=False, float_format="%.2f")
    return copy


def test_a_low_daily_loss_cap_halts_mid_day_and_stays_halted_after_a_restart(
        small_recording: Path, tmp_path: Path) -> None:
    profile = _profile(tmp_path, max_daily_loss={"limit_usd": 50, "reduce_at_fraction": 1},
                       cost_per_signal={"enabled": False})
    request = ShadowRunRequest(profile=str(profile), replay=_gapped(small_recording, tmp_path), days=2,
                               output_dir=tmp_path,
                               run_id="lowcap", limited_live=True)
    result = start_run(request, RunHooks())
    ledger = Ledger.open_existing(result.run_dir / "ledger.sqlite")
    try:
        state = ledger.rows("SELECT state, guard, code, changed_at FROM risk_state")[0]
        assert (state["state"], state["guard"], state["code"]) == ("HALTED", "max_daily_loss", "DAILY_LOSS_HIT")
        halted_at = state["changed_at"]
        assert "2025-06-02T14:35" <= halted_at < "2025-06-02T20:00"   # mid-day, at the gap
        loss = -ledger.scalar("SELECT SUM(pnl_usd) FROM outcomes WHERE day = '2025-06-02' AND position_id IS NOT NULL")
        assert loss >= 50                                        # the gapped stop took the day past the cap
        # nothing is open after the halt (HALTED is flat; a halt with a position open flattens it:
        # test_shadow_orchestrator's halt test)
        assert ledger.scalar("SELECT COUNT(*) FROM positions WHERE status = 'open'") == 0
        assert ledger.scalar("SELECT COUNT(*) FROM positions WHERE exit_time > ?", (halted_at,)) == 0
        # after the halt every entry was refused, and no new signals were generated
        late = ledger.rows("SELECT status, reason FROM orders WHERE purpose = 'entry' AND sim_time > ?",
                           (halted_at,))
        assert all(o["status"] == "refused" for o in late)
        assert ledger.scalar("SELECT COUNT(*) FROM signals WHERE sim_time > ?", (halted_at,)) == 0
    finally:
        ledger.close()

    # a restart (a new process on the same ledger) still finds it HALTED
    again = emergency_flatten(ShadowRunRequest(profile=str(profile), output_dir=tmp_path, limited_live=True), "lowcap",
                              now=pd.Timestamp("2025-06-10", tz="UTC"))
    assert "HALTED" in again
    ledger = Ledger.open_existing(result.run_dir / "ledger.sqlite")
    try:
        assert ledger.rows("SELECT state FROM risk_state")[0]["state"] == "HALTED"
        control = ledger.rows("SELECT command, requested_by, status FROM controls")[-1]
        assert control == {"command": "flatten", "requested_by": "command line", "status": "pending"}
    finally:
        ledger.close()


def test_a_resume_control_brings_a_halted_run_back_to_active(small_recording: Path, tmp_path: Path) -> None:
    profile = _profile(tmp_path, max_daily_loss={"limit_usd": 50, "reduce_at_fraction": 1},
                       cost_per_signal={"enabled": False})
    request = ShadowRunRequest(profile=str(profile), replay=small_recording, days=1, output_dir=tmp_path,
                               run_id="resumed", limited_live=True)
    run_dir = tmp_path / "runs" / "resumed"

    def halt_then_resume(count: int) -> None:
        if count == 3:
            emergency_flatten(request, "resumed", now=pd.Timestamp("2025-06-02 14:00", tz="UTC"))
        if count == 6:
            control = Ledger.open_existing(run_dir / "ledger.sqlite")
            control.request_control("resume", reason="cause understood", requested_by="dashboard user",
                                    requested_at=pd.Timestamp("2025-06-02 15:00", tz="UTC"))
            control.close()

    result = start_run(request, RunHooks(after_commit=halt_then_resume))
    ledger = Ledger.open_existing(result.run_dir / "ledger.sqlite")
    try:
        changes = ledger.rows("SELECT state_to, by FROM risk_events WHERE kind = 'state_change' ORDER BY id")
        assert changes[:2] == [{"state_to": "HALTED", "by": "flatten command"},
                               {"state_to": "ACTIVE", "by": "dashboard user"}]
    finally:
        ledger.close()


def test_the_final_report_lists_refusals_by_guard_halts_and_sortino_calmar(small_recording: Path, tmp_path: Path) -> None:
    from tasks.options_trading_system.output_generation import shadow_report_writer
    profile = _profile(tmp_path, max_daily_loss={"limit_usd": 50, "reduce_at_fraction": 1},
                       cost_per_signal={"enabled": False})
    result = start_run(ShadowRunRequest(profile=str(profile), replay=_gapped(small_recording, tmp_path), days=2,
                                        output_dir=tmp_path, run_id="report", limited_live=True),
                       RunHooks(reports=shadow_report_writer))
    final = json.loads((result.run_dir / "final_results.json").read_text())
    assert {"sortino", "calmar", "sharpe", "profit_factor", "max_drawdown_usd"} <= set(final["trades"])
    risk = final["risk"]
    assert risk["state"]["state"] == "HALTED"
    assert [c["code"] for c in risk["state_changes"]] == ["DAILY_LOSS_HIT"]
    assert risk["refusals_by_guard"] == []         # halted: no signal, so nothing was even asked of the guards
    assert risk["entry_slippage_points"]["fills"] >= 1
    assert "DAILY_LOSS_HIT" in (result.run_dir / "final_results.html").read_text()
    # the execution section: the halt (when, why), the day's loss against its cap, every fill's twin
    execution = final["execution"]
    halts = execution["halts"]
    assert [(h["kind"], h["to"], h["code"]) for h in halts] == [("halt", "HALTED", "DAILY_LOSS_HIT")]
    assert "2025-06-02T14:35" <= halts[0]["at"] < "2025-06-02T20:00" and "loss" in halts[0]["reason"]
    loss = {c["name"]: c for c in execution["caps"]["2025-06-02"]}["loss"]
    assert loss["limit"] == 50 and loss["used"] >= 50
    assert execution["state_now"]["state"] == "HALTED"
    assert all(f["slippage_vs_paper_points"] is not None for f in execution["fills"])
    # the gapped stop: the real exit is worse than the paper twin's price only by what the broker filled
    assert execution["pnl"]["compared"] == execution["pnl"]["trades"] >= 1


def test_a_halted_run_stopped_and_resumed_stays_halted_for_the_rest_of_the_run(
        small_recording: Path, tmp_path: Path) -> None:
    """A restart of the run itself: stopped after the mid-day halt, resumed from its ledger, it
    trades nothing more (no signal, no filled entry) on that day or the next."""
    import threading
    profile = _profile(tmp_path, max_daily_loss={"limit_usd": 50, "reduce_at_fraction": 1},
                       cost_per_signal={"enabled": False})
    stop = threading.Event()
    request = ShadowRunRequest(profile=str(profile), replay=_gapped(small_recording, tmp_path), days=2,
                               output_dir=tmp_path, run_id="restart", limited_live=True)
    first = start_run(request, RunHooks(stop=stop, on_event=lambda e: stop.set()
                                        if e.time >= pd.Timestamp("2025-06-02 16:00", tz="UTC") else None))
    assert first.status == "interrupted"
    ledger = Ledger.open_existing(first.run_dir / "ledger.sqlite")
    try:
        halted_at = ledger.rows("SELECT state, changed_at FROM risk_state")[0]
        assert halted_at["state"] == "HALTED"
    finally:
        ledger.close()
    again = start_run(ShadowRunRequest(profile=str(profile), output_dir=tmp_path, resume="restart",
                                       limited_live=True), RunHooks())
    assert again.status == "completed"
    ledger = Ledger.open_existing(again.run_dir / "ledger.sqlite")
    try:
        assert ledger.rows("SELECT state, changed_at FROM risk_state")[0] == halted_at
        assert ledger.scalar("SELECT COUNT(*) FROM signals WHERE sim_time > ?", (halted_at["changed_at"],)) == 0
        assert ledger.scalar("SELECT COUNT(*) FROM orders WHERE purpose = 'entry' AND status = 'filled' "
                             "AND sim_time > ?", (halted_at["changed_at"],)) == 0
        assert ledger.scalar("SELECT COUNT(*) FROM positions WHERE status = 'open'") == 0
        assert ledger.scalar("SELECT COUNT(*) FROM daily_summaries") == 2     # both days still closed and reported
    finally:
        ledger.close()
