"""REDUCING across days in a limited-live run: a day whose losses reach the REDUCING level refuses
new entries for the rest of that day, and the next trading day trades again (a HALT would not)."""
from __future__ import annotations

import json
from pathlib import Path

from tasks.options_trading_system.analysis_engine.strategies.shadow_run import (RunHooks, ShadowRunRequest,
                                                                                start_run)
from tasks.options_trading_system.state.ledger import Ledger


def test_the_daily_loss_reducing_refuses_the_rest_of_its_day_and_lapses_the_next_morning(
        small_recording: Path, tmp_path: Path) -> None:
    profile = tmp_path / "reducing.json"
    # the sample's first day loses $68.48 on its first two trades: past 60% of $100, short of the cap
    profile.write_text(json.dumps({"description": "limited live, REDUCING at $60 of a $100 daily loss (test)",
                                   "extends": "limited_live", "limited_live": {"risk": {
                                       "max_daily_loss": {"limit_usd": 100, "reduce_at_fraction": 0.6},
                                       "cost_per_signal": {"enabled": False}}}}))
    result = start_run(ShadowRunRequest(profile=str(profile), replay=small_recording, days=2, output_dir=tmp_path,
                                        run_id="reducing", limited_live=True), RunHooks())
    ledger = Ledger.open_existing(result.run_dir / "ledger.sqlite")
    try:
        changes = ledger.rows("SELECT at, code, state_from, state_to, by FROM risk_events "
                              "WHERE kind = 'state_change' ORDER BY id")
        assert [(c["code"], c["state_to"], c["by"]) for c in changes] == [
            ("DAILY_LOSS_REDUCING", "REDUCING", "guard:max_daily_loss"),
            ("NEW_TRADING_DAY", "ACTIVE", "engine")]
        reduced_at, lapsed_at = changes[0]["at"], changes[1]["at"]
        assert reduced_at.startswith("2025-06-02") and lapsed_at.startswith("2025-06-03T13:30")   # 09:30 New York
        refused = ledger.rows("SELECT reason FROM orders WHERE purpose = 'entry' AND sim_time > ? AND sim_time < ?",
                              (reduced_at, lapsed_at))
        assert refused and all(r["reason"].startswith("REDUCING") for r in refused)
        assert ledger.scalar("SELECT COUNT(*) FROM orders WHERE purpose = 'entry' AND status = 'filled' "
                             "AND day = '2025-06-03'") >= 1
        assert ledger.rows("SELECT state FROM risk_state")[0]["state"] == "ACTIVE"
    finally:
        ledger.close()
