"""The ledger: one transaction per state change with the cursor, rollback on failure, NULL for
missing, and the "same ledger" view that leaves the wall-clock perf tables out."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.state.ledger import Ledger, dump_state, iso

T = pd.Timestamp("2025-06-02 14:30", tz="UTC")


def _cost(cost_id: str, amount: float) -> dict:
    return {"cost_id": cost_id, "day": "2025-06-02", "sim_time": iso(T), "kind": "commission",
            "amount_usd": amount, "ref": "", "note": ""}


def test_a_transaction_commits_its_rows_and_moves_the_cursor(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    with ledger.transaction(day="2025-06-02", event_index=7, sim_time=T) as tx:
        tx.insert("costs", _cost("a", 1.24))
    assert ledger.progress() == {"day": "2025-06-02", "event_index": 7, "sim_time": "2025-06-02T14:30:00.000000Z",
                                 "transactions": 1}
    assert ledger.scalar("SELECT amount_usd FROM costs") == 1.24
    assert ledger.scalar("PRAGMA journal_mode") == "wal"


def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    with pytest.raises(sqlite3.IntegrityError):
        with ledger.transaction(day="2025-06-02", event_index=1, sim_time=T) as tx:
            tx.insert("costs", _cost("a", 1.0))
            tx.insert("costs", _cost("a", 2.0))  # duplicate id: the whole change is refused
    assert ledger.scalar("SELECT COUNT(*) FROM costs") == 0
    assert ledger.transactions() == 0


def test_after_commit_sees_every_transaction_count(tmp_path: Path) -> None:
    seen: list[int] = []
    ledger = Ledger(tmp_path / "ledger.sqlite", after_commit=seen.append)
    for i in range(3):
        with ledger.transaction(day="d", event_index=i, sim_time=T) as tx:
            tx.insert("costs", _cost(str(i), 1.0))
    assert seen == [1, 2, 3]


def test_missing_numbers_are_stored_as_null(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    with ledger.transaction(day="d", event_index=0, sim_time=T) as tx:
        tx.insert("observations", {"event_key": "d#00000", "day": "d", "event_index": 0, "sim_time": iso(T),
                                   "kind": "chain", "input": "x", "halted": 0, "contracts": None, "quarantined": None,
                                   "missing_share": float("nan"), "underlying_price": None, "price": float("nan"),
                                   "price_staleness_s": None, "signals": 0, "notes": ""})
    assert ledger.scalar("SELECT COUNT(*) FROM observations WHERE price IS NULL AND missing_share IS NULL") == 1


def test_the_same_ledger_view_ignores_wall_clock_tables(tmp_path: Path) -> None:
    states = []
    for name, latency in (("a", 3.0), ("b", 99.0)):
        ledger = Ledger(tmp_path / f"{name}.sqlite")
        with ledger.transaction(day="d", event_index=0, sim_time=T) as tx:
            tx.insert("costs", _cost("x", 1.0))
        ledger.add_latency("d", "d#00000", "cycle", latency)
        ledger.start_session(pd.Timestamp.now(tz="UTC"), resumed=False)
        ledger.close()
        states.append(dump_state(tmp_path / f"{name}.sqlite"))
    assert states[0] == states[1]
    assert "perf_latency" not in states[0] and states[0]["costs"]


def test_controls_are_queued_for_the_orchestrator(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    control_id = ledger.request_control("halt", reason="news", requested_by="monitor", requested_at=T)
    row = ledger.rows("SELECT command, status, applied_at FROM controls WHERE control_id = ?", (control_id,))[0]
    assert row == {"command": "halt", "status": "pending", "applied_at": None}
    ledger.request_control("flatten", reason="emergency", requested_at=T)   # the emergency stop is a control too
    with pytest.raises(ValueError, match="expected one of halt, resume, stop, flatten"):
        ledger.request_control("liquidate", requested_at=T)


def test_times_are_fixed_width_utc_text() -> None:
    assert iso(pd.Timestamp("2025-06-02 10:30", tz="America/New_York")) == "2025-06-02T14:30:00.000000Z"
    assert iso(None) is None


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
