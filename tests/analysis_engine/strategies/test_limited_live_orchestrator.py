"""The documented limited-live entry point, verbatim, and what its guards do with handed-in signals."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tasks.options_trading_system.analysis_engine.strategies.limited_live_trading_orchestrator import (
    LimitedLiveTradingConfig, LimitedLiveTradingOrchestrator)
from tasks.options_trading_system.errors import ConfigError


def _signal(n: int, *, minute: int = 0, direction: str = "LONG") -> dict:
    sign = 1 if direction == "LONG" else -1
    return {"signal_id": f"demo-{n}", "direction": direction, "entry_price": 21500.0,
            "target_price": 21500.0 + sign * 20, "stop_loss": 21500.0 - sign * 10,
            "timestamp": f"2025-06-02T14:{minute:02d}:00Z"}


def test_the_documented_example_places_one_bracket_and_prints_its_status(tmp_path: Path, capsys) -> None:
    # docs/limited_live.md, "The Python entry point" (only output_dir added, to keep the test's files apart)
    config = LimitedLiveTradingConfig(start_date="2025-06-02", duration_days=5, max_position_size=1,
                                      daily_cost_limit=8.0, monthly_budget_limit=200.0, auto_shutoff_enabled=True,
                                      output_dir=str(tmp_path))
    orchestrator = LimitedLiveTradingOrchestrator(config)
    orchestrator.start_live_trading()
    accepted = orchestrator.process_signal_for_live_trading({
        "signal_id": "demo-1", "direction": "LONG", "entry_price": 21500.0, "target_price": 21520.0,
        "stop_loss": 21490.0, "timestamp": "2025-06-02T14:00:00Z"})
    status = orchestrator.get_trading_status()
    print(status["status_line"])
    assert accepted is True
    assert status["open_positions"] == 1
    # MNQ: (10 points to the stop + 2 ticks of slippage) x $2 = $21.00 at risk
    assert status["total_risk"] == pytest.approx(21.0)
    assert "ACTIVE: 1 open position(s), total risk $21.00" in capsys.readouterr().out


def test_a_second_contract_is_refused_by_max_position_and_recorded_with_its_numbers(tmp_path: Path) -> None:
    orchestrator = LimitedLiveTradingOrchestrator(LimitedLiveTradingConfig(start_date="2025-06-02",
                                                                           output_dir=str(tmp_path)))
    run_id = orchestrator.start_live_trading()
    assert orchestrator.process_signal_for_live_trading(_signal(1)) is True
    assert orchestrator.process_signal_for_live_trading(_signal(2, minute=1)) is False
    # the same signal again is not sent twice (its client order id is taken)
    assert orchestrator.process_signal_for_live_trading(_signal(1)) is True
    orchestrator.stop_live_trading()
    ledger = sqlite3.connect(tmp_path / "runs" / run_id / "ledger.sqlite")
    orders = ledger.execute("SELECT order_id, status, reason FROM orders ORDER BY order_id").fetchall()
    assert [o[:2] for o in orders] == [("demo-1/entry", "filled"), ("demo-2/entry", "refused")]
    assert orders[1][2].startswith("MAX_POSITION: open=1 contracts") and "[guard max_position]" in orders[1][2]
    event = ledger.execute("SELECT guard, code FROM risk_events WHERE kind = 'refusal'").fetchall()
    assert event == [("max_position", "MAX_POSITION")]


def test_a_stop_wider_than_the_total_risk_cap_is_refused(tmp_path: Path) -> None:
    orchestrator = LimitedLiveTradingOrchestrator(LimitedLiveTradingConfig(start_date="2025-06-02",
                                                                           output_dir=str(tmp_path)))
    orchestrator.start_live_trading()
    wide = _signal(3) | {"stop_loss": 21380.0, "target_price": 21700.0}   # 120 points x $2 = $240 > $200
    assert orchestrator.process_signal_for_live_trading(wide) is False
    status = orchestrator.get_trading_status()
    assert status["open_positions"] == 0 and status["refused"] == 1


def test_bad_settings_and_bad_signals_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="max_position_size"):
        LimitedLiveTradingConfig(max_position_size=0)
    with pytest.raises(ConfigError, match="daily_cost_limit"):
        LimitedLiveTradingConfig(daily_cost_limit=300.0, monthly_budget_limit=200.0)
    orchestrator = LimitedLiveTradingOrchestrator(LimitedLiveTradingConfig(output_dir=str(tmp_path)))
    orchestrator.start_live_trading()
    with pytest.raises(ConfigError, match="stop < entry < target"):
        orchestrator.process_signal_for_live_trading(_signal(4) | {"stop_loss": 21510.0})
