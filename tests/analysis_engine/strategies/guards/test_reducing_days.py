"""REDUCING across trading days: the daily loss's REDUCING is today's and lapses with the next
trading day (in the exchange's clock), across restarts too; a person's REDUCING and every HALT
stay until a person resumes."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.options_trading_system.analysis_engine.strategies.guards import (EventKind, RiskEngine, RiskState,
                                                                            SqliteRiskStore)

from .builders import NOW, bracket, engine, snapshot

NEXT_DAY = NOW + pd.Timedelta(days=1)                       # Wednesday 10:00 New York
SAME_EVENING = pd.Timestamp("2025-06-04 01:00", tz="UTC")   # Tuesday 21:00 New York: still Tuesday's day


def reduced(risk: RiskEngine) -> RiskEngine:
    risk.evaluate(snapshot(realized=-42.0))                 # $42 of $50: past the 0.8 REDUCING level
    assert risk.state is RiskState.REDUCING and risk.status.code == "DAILY_LOSS_REDUCING"
    return risk


def test_the_daily_loss_reducing_holds_for_the_rest_of_its_day() -> None:
    risk = reduced(engine())
    assert risk.check(bracket("late"), snapshot(now=NOW + pd.Timedelta(hours=2), realized=-42.0)
                      ).refusal.code == "REDUCING"
    risk.evaluate(snapshot(now=SAME_EVENING, realized=-42.0))
    assert risk.state is RiskState.REDUCING


def test_the_daily_loss_reducing_lapses_when_the_next_trading_day_starts() -> None:
    risk = reduced(engine())
    decision = risk.check(bracket("tomorrow"), snapshot(now=NEXT_DAY))
    assert decision.approved and risk.state is RiskState.ACTIVE
    change = risk.store.events(kinds=(EventKind.STATE_CHANGE,))[-1]
    assert (change.state_from, change.state_to, change.code, change.by) == \
        (RiskState.REDUCING, RiskState.ACTIVE, "NEW_TRADING_DAY", "engine")
    assert change.message == ("NEW_TRADING_DAY: max_daily_loss's REDUCING of 2025-06-03 (DAILY_LOSS_REDUCING) "
                              "lapses on 2025-06-04")


def test_the_lapse_survives_a_restart_on_the_same_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    reduced(engine(store=SqliteRiskStore(path)))
    restarted = engine(store=SqliteRiskStore(path))     # a new process, the next morning
    assert restarted.state is RiskState.REDUCING
    restarted.evaluate(snapshot(now=NEXT_DAY))
    assert restarted.state is RiskState.ACTIVE
    assert engine(store=SqliteRiskStore(path)).state is RiskState.ACTIVE


def test_a_persons_reducing_and_a_halt_do_not_lapse_overnight() -> None:
    person = engine()
    person.reduce(by="trader", reason="news at 14:00", now=NOW)
    assert person.check(bracket("tomorrow"), snapshot(now=NEXT_DAY)).refusal.code == "REDUCING"
    halted = engine()
    halted.evaluate(snapshot(realized=-60.0))
    assert halted.state is RiskState.HALTED
    assert halted.check(bracket("tomorrow"), snapshot(now=NEXT_DAY)).refusal.code == "HALTED"
    assert halted.evaluate(snapshot(now=NEXT_DAY)).state is RiskState.HALTED
