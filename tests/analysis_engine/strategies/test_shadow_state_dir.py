"""`run_shadow_trading.py` honours the profile's `state_dir` as `run_pipeline.py` does: the machine's
data spend ledger the data_cost guard reads is the one in that folder (unless NQ_STATE_DIR is set)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from tasks.options_trading_system.analysis_engine.strategies.shadow_cli import main
from tasks.options_trading_system.data_ingestion.data_budget import SPEND_DB, SpendLedger
from tasks.options_trading_system.state.ledger import Ledger
from tasks.options_trading_system.state.state_dir import STATE_DIR_ENV


def test_a_limited_live_run_reads_the_spend_ledger_in_the_profiles_state_dir(
        small_recording: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(STATE_DIR_ENV)                     # restored after the test, whatever the run set
    state = tmp_path / "desk_state"
    # $9 already spent on the replay's first day, in the profile's state folder only: over the $8 daily cap
    SpendLedger(state / SPEND_DB).append("databento", 9.0, "statistics (earlier run)",
                                         pd.Timestamp("2025-06-02T13:00:00Z"))
    profile = tmp_path / "desk.json"
    profile.write_text(json.dumps({"description": "limited live with its own state folder", "extends": "limited_live",
                                   "state_dir": str(state)}))
    code = main(["--limited-live", "--profile", str(profile), "--replay", str(small_recording), "--days", "1",
                 "--output-dir", str(tmp_path / "out"), "--run-id", "desk", "--no-progress", "-q"])
    assert code == 0
    assert os.environ[STATE_DIR_ENV] == str(state.resolve())
    ledger = Ledger.open_existing(tmp_path / "out" / "runs" / "desk" / "ledger.sqlite")
    try:
        state_row = ledger.rows("SELECT state, code FROM risk_state")[0]
        sent = ledger.scalar("SELECT COUNT(*) FROM orders WHERE status != 'refused' AND purpose = 'entry'")
    finally:
        ledger.close()
    assert (state_row["state"], state_row["code"]) == ("HALTED", "DATA_COST_DAILY")
    assert sent == 0                                      # halted before its first entry
