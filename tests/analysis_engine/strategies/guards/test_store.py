"""A halt lives in the run's ledger: a new engine (a restarted process) finds it until a person
resumes; the store's writes are transactions, and join the ledger's own when inside one."""
from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pandas as pd

from tasks.options_trading_system.analysis_engine.strategies.guards import (EventKind, Figure, RiskEvent,
                                                                            RiskState, RiskStatus, SqliteRiskStore)
from tasks.options_trading_system.state.ledger import Ledger

from .builders import MARK, NOW, bracket, engine, filled, snapshot


def test_a_halt_survives_a_new_engine_until_a_person_resumes(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    first = engine(store=SqliteRiskStore(ledger))
    position, legs = filled(bracket("a", stop_points=30), MARK)
    first.on_price("MNQ", MARK - 20, snapshot(positions=[position], working=legs, realized=-15.0))
    assert first.state is RiskState.HALTED
    first.store.close()

    restarted = engine(store=SqliteRiskStore(ledger))
    assert restarted.state is RiskState.HALTED and restarted.status.code == "DAILY_LOSS_HIT"
    assert restarted.status.changed_at == NOW
    decision = restarted.check(bracket("b", stop_points=5), snapshot())
    assert decision.refusal.code == "HALTED" and "DAILY_LOSS_HIT" in decision.refusal.detail
    # the new day does not lift a halt: only a person does
    assert restarted.evaluate(snapshot(now=NOW + pd.Timedelta(days=1))).state is RiskState.HALTED
    restarted.resume(by="trader", token_ok=True, now=NOW + pd.Timedelta(days=1), reason="reviewed")
    restarted.store.close()

    again = engine(store=SqliteRiskStore(ledger))
    assert again.state is RiskState.ACTIVE and again.status.changed_by == "trader"
    kinds = [(e.kind, e.code) for e in again.store.events()]
    assert kinds == [(EventKind.STATE_CHANGE, "DAILY_LOSS_HIT"), (EventKind.REFUSAL, "HALTED"),
                     (EventKind.STATE_CHANGE, "RESUME")]


def test_a_halt_written_by_another_process_is_seen_at_the_next_check(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    orchestrator = engine(store=SqliteRiskStore(ledger))
    dashboard = engine(store=SqliteRiskStore(ledger))
    dashboard.halt(by="trader", reason="emergency stop", now=NOW)
    assert orchestrator.check(bracket(), snapshot()).refusal.code == "HALTED"


def test_an_automatic_escalation_never_overwrites_a_halt_recorded_meanwhile(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    store = SqliteRiskStore(ledger)
    store.record(RiskEvent(at=NOW, kind=EventKind.STATE_CHANGE, code="MANUAL_HALT"),
                 RiskStatus(state=RiskState.HALTED, code="MANUAL_HALT", changed_by="trader", changed_at=NOW))
    after = store.record(RiskEvent(at=NOW, kind=EventKind.STATE_CHANGE, code="DAILY_LOSS_REDUCING"),
                         RiskStatus(state=RiskState.REDUCING, code="DAILY_LOSS_REDUCING"), escalate_only=True)
    assert after.state is RiskState.HALTED and store.load().code == "MANUAL_HALT"
    assert [e.code for e in store.events()] == ["MANUAL_HALT"]


def test_the_tables_live_in_the_run_ledger_and_join_its_transaction(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path)
    store = SqliteRiskStore(ledger.connection)
    risk = engine(store=store)
    try:
        with ledger.transaction(day="2025-06-03", event_index=0, sim_time=NOW):
            risk.check(bracket(stop_points=40), snapshot())  # refused, recorded inside the ledger's transaction
        try:
            with ledger.transaction(day="2025-06-03", event_index=1, sim_time=NOW):
                risk.check(bracket("b", stop_points=45), snapshot())
                raise RuntimeError("the state change failed")
        except RuntimeError:
            pass
    finally:
        ledger.close()
    connection = sqlite3.connect(path)
    codes = [r[0] for r in connection.execute("SELECT client_order_id FROM risk_events ORDER BY id")]
    connection.close()
    assert codes == ["s1/entry"]  # the second refusal rolled back with the ledger's failed transaction


def test_figures_round_trip_including_unbounded_ones(tmp_path: Path) -> None:
    store = SqliteRiskStore(tmp_path / "ledger.sqlite")
    figures = (Figure("loss", math.inf, "USD"), Figure("limit", 50.0, "USD"))
    store.record(RiskEvent(at=NOW, kind=EventKind.REFUSAL, guard="max_daily_loss", code="MAX_DAILY_LOSS",
                           figures=figures, client_order_id="x"))
    [event] = store.events(since=NOW, kinds=(EventKind.REFUSAL,))
    assert event.figures == figures and event.at == NOW
    assert store.events(since=NOW + pd.Timedelta(seconds=1)) == []
