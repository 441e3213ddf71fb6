"""The documented limited-live entry point, verbatim, and what its guards do with handed-in signals."""
from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies import limited_live_trading_orchestrator as direct
from tasks.options_trading_system.analysis_engine.strategies.feeds.price_path import PricePath
from tasks.options_trading_system.analysis_engine.strategies.limited_live_trading_orchestrator import (
    LimitedLiveTradingConfig, LimitedLiveTradingOrchestrator)
from tasks.options_trading_system.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def _signal(n: int, *, minute: int = 0, direction: str = "LONG") -> dict:
    sign = 1 if direction == "LONG" else -1
    return {"signal_id": f"demo-{n}", "direction": direction, "entry_price": 21500.0,
            "target_price": 21500.0 + sign * 20, "stop_loss": 21500.0 - sign * 10,
            "timestamp": f"2025-06-02T14:{minute:02d}:00Z"}


def test_the_documented_example_places_one_bracket_closes_it_at_its_target_and_prints_its_status(
        tmp_path: Path, capsys) -> None:
    # docs/limited_live.md, "The Python entry point" (only output_dir added, to keep the test's files apart)
    config = LimitedLiveTradingConfig(start_date="2025-06-02", duration_days=5, max_position_size=1,
                                      daily_cost_limit=8.0, monthly_budget_limit=200.0, auto_shutoff_enabled=True,
                                      output_dir=str(tmp_path))
    orchestrator = LimitedLiveTradingOrchestrator(config)
    orchestrator.start_live_trading()
    accepted = orchestrator.process_signal_for_live_trading({
        "signal_id": "demo-1", "direction": "LONG", "entry_price": 21500.0, "target_price": 21520.0,
        "stop_loss": 21490.0, "timestamp": "2025-06-02T14:00:00Z"})
    print(orchestrator.get_trading_status()["status_line"])  # "... ACTIVE: 1 open position(s), total risk $21.00, ..."
    orchestrator.update_market(21520.0, "2025-06-02T14:07:00Z")   # the market reaches the target
    print(orchestrator.get_trading_status()["status_line"])  # "... ACTIVE: 0 open position(s), ..., P&L today $38.26, ..."
    orchestrator.stop_live_trading()
    assert accepted is True
    opened, closed = capsys.readouterr().out.splitlines()
    # MNQ: (10 points to the stop + 2 ticks of slippage) x $2 = $21.00 at risk
    assert opened == ("limited live [paper] ACTIVE: 1 open position(s), total risk $21.00, P&L today $0.00, "
                      "1 order(s), 0 refused")
    # bought at 21500.25 (1 tick of slippage), sold at the target's level: (21520 - 21500.25) x $2 - 2 x $0.62
    assert closed == ("limited live [paper] ACTIVE: 0 open position(s), total risk $0.00, P&L today $38.26, "
                      "2 order(s), 0 refused")


def _docs_example() -> tuple[str, str]:
    """The entry point's example in docs/limited_live.md: its code and what it prints."""
    text = (ROOT / "docs" / "limited_live.md").read_text()
    section = text[text.index("### The Python entry point"):]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    printed = section.split("prints\n\n```\n", 1)[1].split("```", 1)[0]
    return code, printed


def test_the_docs_example_is_the_module_docstrings_and_runs_as_written_in_a_fresh_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    code, printed = _docs_example()
    docstring = textwrap.dedent(direct.__doc__.split("::\n\n", 1)[1].split("\nprints", 1)[0])
    assert docstring.strip() == code.strip()
    assert textwrap.dedent(direct.__doc__.split("::\n\n")[2]).strip() == printed.strip()
    monkeypatch.chdir(tmp_path)                     # a user's fresh directory
    exec(compile(code, "docs/limited_live.md", "exec"), {})
    assert capsys.readouterr().out == printed
    assert (tmp_path / "outputs" / "limited_live" / "runs" / "limited-20250602-paper" / "ledger.sqlite").is_file()


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


# the limited_live profile's MNQ: $2 a point, $0.62 commission a side, 1 tick (0.25 point) of slippage
MULTIPLIER, COMMISSION, SLIPPAGE = 2.0, 0.62, 0.25


def _ledger_rows(run_dir: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(run_dir / "ledger.sqlite")
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def _low_cap_profile(tmp_path: Path, limit_usd: float) -> str:
    path = tmp_path / "low_cap.json"
    path.write_text(json.dumps({"description": "limited live with a low daily loss cap (test)",
                                "extends": "limited_live",
                                "limited_live": {"risk": {"max_daily_loss": {"limit_usd": limit_usd,
                                                                             "reduce_at_fraction": 1}}}}))
    return str(path)


def test_a_price_through_the_stop_closes_the_position_at_the_stop_and_books_the_loss(tmp_path: Path) -> None:
    orchestrator = LimitedLiveTradingOrchestrator(LimitedLiveTradingConfig(start_date="2025-06-02",
                                                                           output_dir=str(tmp_path), run_id="stop"))
    orchestrator.start_live_trading()
    assert orchestrator.process_signal_for_live_trading(_signal(1)) is True    # LONG 21500, stop 21490
    assert orchestrator.update_market(21495.0, "2025-06-02T14:03:00Z") == []   # above the stop: still open
    assert orchestrator.update_market(21490.0, "2025-06-02T14:05:00Z") == ["demo-1"]
    status = orchestrator.get_trading_status()
    orchestrator.stop_live_trading()

    entry = 21500.0 + SLIPPAGE                 # bought at the market plus slippage
    exit_price = 21490.0 - SLIPPAGE            # the stop is a market order: its level less slippage
    pnl = (exit_price - entry) * MULTIPLIER - 2 * COMMISSION
    assert pnl == pytest.approx(-22.24)
    assert status["open_positions"] == 0 and status["state"] == "ACTIVE"
    assert status["realized_pnl_usd"] == pytest.approx(pnl)
    assert status["status_line"] == ("limited live [paper] ACTIVE: 0 open position(s), total risk $0.00, "
                                     "P&L today -$22.24, 2 order(s), 0 refused")
    run_dir = tmp_path / "runs" / "stop"
    assert _ledger_rows(run_dir, "SELECT order_id, side, order_type, purpose, status FROM orders "
                                 "WHERE purpose != 'entry'") == [("demo-1/exit", "SELL", "market", "exit:stop", "filled")]
    assert _ledger_rows(run_dir, "SELECT price, reference_price, slippage_points, commission_usd, sim_time FROM fills "
                                 "WHERE order_id = 'demo-1/exit'") == [
        (pytest.approx(exit_price), 21490.0, pytest.approx(SLIPPAGE), pytest.approx(COMMISSION),
         "2025-06-02T14:05:00.000000Z")]
    assert _ledger_rows(run_dir, "SELECT amount_usd FROM costs WHERE ref = 'demo-1/exit' AND kind = 'commission'") \
        == [(pytest.approx(COMMISSION),)]
    assert _ledger_rows(run_dir, "SELECT status, exit_price, exit_reason FROM positions") == [
        ("closed", pytest.approx(exit_price), "stop")]
    assert _ledger_rows(run_dir, "SELECT exit_reason, pnl_usd, costs_usd FROM outcomes") == [
        ("stop", pytest.approx(pnl), pytest.approx(2 * COMMISSION))]


def test_a_short_reaching_its_target_books_the_profit(tmp_path: Path) -> None:
    orchestrator = LimitedLiveTradingOrchestrator(LimitedLiveTradingConfig(start_date="2025-06-02",
                                                                           output_dir=str(tmp_path)))
    orchestrator.start_live_trading()
    assert orchestrator.process_signal_for_live_trading(_signal(5, direction="SHORT")) is True  # target 21480
    assert orchestrator.update_market(21478.5, "2025-06-02T14:09:00Z") == ["demo-5"]
    status = orchestrator.get_trading_status()
    (position,) = orchestrator.ledger.rows("SELECT exit_price, exit_reason FROM positions")
    orchestrator.stop_live_trading()
    entry = 21500.0 - SLIPPAGE                 # sold at the market less slippage
    # the target is a resting limit: bought back at its level even though the market went through it
    pnl = (entry - 21480.0) * MULTIPLIER - 2 * COMMISSION
    assert position == {"exit_price": 21480.0, "exit_reason": "target"}
    assert pnl == pytest.approx(38.26)
    assert status["open_positions"] == 0 and status["realized_pnl_usd"] == pytest.approx(pnl)
    assert "0 open position(s), total risk $0.00, P&L today $38.26, 2 order(s)" in status["status_line"]


def test_a_gap_through_the_stop_past_the_daily_loss_cap_halts_and_the_halt_survives_a_restart(
        tmp_path: Path) -> None:
    config = LimitedLiveTradingConfig(start_date="2025-06-02", output_dir=str(tmp_path), run_id="capped",
                                      profile=_low_cap_profile(tmp_path, 25.0))
    orchestrator = LimitedLiveTradingOrchestrator(config)
    orchestrator.start_live_trading()
    # to its stop the entry could lose (10 + 2 ticks) x $2 + $1.24 = $22.24: inside the $25 cap
    assert orchestrator.process_signal_for_live_trading(_signal(1)) is True
    # the market gaps from 21500 to 21480, through the stop: it fills there, less slippage
    orchestrator.update_market(21480.0, "2025-06-02T14:04:00Z")
    pnl = (21480.0 - SLIPPAGE - (21500.0 + SLIPPAGE)) * MULTIPLIER - 2 * COMMISSION
    assert pnl == pytest.approx(-42.24)
    status = orchestrator.get_trading_status()
    assert status["state"] == "HALTED" and status["open_positions"] == 0
    assert status["realized_pnl_usd"] == pytest.approx(pnl)
    assert status["state_reason"] == "DAILY_LOSS_HIT: loss=42.24 USD, limit=25.00 USD"
    assert orchestrator.process_signal_for_live_trading(_signal(2, minute=10)) is False
    orchestrator.stop_live_trading()

    again = LimitedLiveTradingOrchestrator(config)       # the restart: same run, same ledger
    again.start_live_trading()
    assert again.get_trading_status()["state"] == "HALTED"
    assert again.process_signal_for_live_trading(_signal(3, minute=20)) is False
    again.stop_live_trading()
    run_dir = tmp_path / "runs" / "capped"
    assert _ledger_rows(run_dir, "SELECT state, guard, code FROM risk_state") == [
        ("HALTED", "max_daily_loss", "DAILY_LOSS_HIT")]
    refused = _ledger_rows(run_dir, "SELECT order_id, reason FROM orders WHERE status = 'refused' ORDER BY order_id")
    assert [r[0] for r in refused] == ["demo-2/entry", "demo-3/entry"]
    assert all(r[1].startswith("HALTED") for r in refused)


def test_a_halt_with_a_position_open_flattens_it_at_the_next_price(tmp_path: Path) -> None:
    orchestrator = LimitedLiveTradingOrchestrator(LimitedLiveTradingConfig(start_date="2025-06-02",
                                                                           output_dir=str(tmp_path), run_id="halt"))
    orchestrator.start_live_trading()
    assert orchestrator.process_signal_for_live_trading(_signal(1)) is True
    orchestrator.risk.halt(by="a trader", reason="emergency stop (test)",
                           now=pd.Timestamp("2025-06-02T14:02:00Z"))
    assert orchestrator.update_market(21505.0, "2025-06-02T14:03:00Z") == ["demo-1"]
    status = orchestrator.get_trading_status()
    orchestrator.stop_live_trading()
    pnl = (21505.0 - SLIPPAGE - (21500.0 + SLIPPAGE)) * MULTIPLIER - 2 * COMMISSION
    assert status["state"] == "HALTED" and status["open_positions"] == 0
    assert status["realized_pnl_usd"] == pytest.approx(pnl)
    assert _ledger_rows(tmp_path / "runs" / "halt", "SELECT exit_price, exit_reason FROM positions") == [
        (pytest.approx(21505.0 - SLIPPAGE), "flatten")]


def test_a_restart_hands_the_open_position_to_a_new_paper_broker_and_its_target_still_closes_it(
        tmp_path: Path) -> None:
    config = LimitedLiveTradingConfig(start_date="2025-06-02", output_dir=str(tmp_path), run_id="restart")
    first = LimitedLiveTradingOrchestrator(config)
    first.start_live_trading()
    assert first.process_signal_for_live_trading(_signal(1)) is True
    first.stop_live_trading()

    again = LimitedLiveTradingOrchestrator(config)      # a new process: a new paper broker holding nothing
    again.start_live_trading()
    assert again.get_trading_status()["state"] == "ACTIVE"
    assert again.get_trading_status()["open_positions"] == 1
    assert again.update_market(21521.0, "2025-06-02T14:30:00Z") == ["demo-1"]
    status = again.get_trading_status()
    again.stop_live_trading()
    assert status["state"] == "ACTIVE" and status["open_positions"] == 0
    assert status["realized_pnl_usd"] == pytest.approx((21520.0 - 21500.25) * MULTIPLIER - 2 * COMMISSION)


def test_a_stop_the_paper_broker_filled_while_the_process_was_down_is_recorded_at_the_next_start(
        tmp_path: Path) -> None:
    config = LimitedLiveTradingConfig(start_date="2025-06-02", output_dir=str(tmp_path), run_id="kept")
    first = LimitedLiveTradingOrchestrator(config)
    paper = first.broker                                  # the broker outlives the process here
    first.start_live_trading()
    assert first.process_signal_for_live_trading(_signal(1)) is True
    first.stop_live_trading()
    # while no orchestrator watches, the broker's market trades through the stop
    down = pd.Timestamp("2025-06-02T14:05:00Z")
    path = PricePath.from_frame(pd.DataFrame({"start": [down], "open": [21490.0], "high": [21490.0],
                                              "low": [21490.0], "close": [21490.0], "volume": [1.0]}), bar_seconds=0)
    (stop_fill,) = paper.advance(path, down)

    again = LimitedLiveTradingOrchestrator(config, broker=paper)
    again.start_live_trading()
    status = again.get_trading_status()
    again.stop_live_trading()
    assert status["state"] == "ACTIVE" and status["open_positions"] == 0
    assert status["realized_pnl_usd"] == pytest.approx((stop_fill.price - 21500.25) * MULTIPLIER - 2 * COMMISSION)
    assert _ledger_rows(tmp_path / "runs" / "kept", "SELECT exit_time, exit_price, exit_reason FROM positions") == [
        ("2025-06-02T14:05:00.000000Z", pytest.approx(21490.0 - SLIPPAGE), "stop")]


def test_market_updates_must_come_in_time_order_with_a_real_price(tmp_path: Path) -> None:
    orchestrator = LimitedLiveTradingOrchestrator(LimitedLiveTradingConfig(start_date="2025-06-02",
                                                                           output_dir=str(tmp_path)))
    orchestrator.start_live_trading()
    orchestrator.update_market(21500.0, "2025-06-02T14:05:00Z")
    with pytest.raises(ConfigError, match="before the previous update"):
        orchestrator.update_market(21501.0, "2025-06-02T14:04:00Z")
    with pytest.raises(ConfigError, match="finite price"):
        orchestrator.update_market(float("nan"), "2025-06-02T14:06:00Z")
    orchestrator.stop_live_trading()
