"""The documented entry point (`LimitedLiveTradingOrchestrator`) with Tradovate: on start it
reconciles with the broker, adopting a bracket of ours that a crash kept out of the ledger,
recording the exit of a bracket whose stop or target filled while it was down, and halting on an
order that is not ours; while running, `update_market` records the exits the broker fills."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies import limited_live_trading_orchestrator as direct
from tasks.options_trading_system.analysis_engine.strategies.limited_live_trading_orchestrator import (
    LimitedLiveTradingConfig, LimitedLiveTradingOrchestrator)
from tests.vendor_servers.tradovate_server import TradovateStandIn

from .conftest import SESSION_OPEN
from .test_tradovate_faults import assert_protected, entries_at_standin

DECISION = SESSION_OPEN + pd.Timedelta(minutes=20)


def _orchestrator(make_broker, tmp_path: Path) -> LimitedLiveTradingOrchestrator:
    config = LimitedLiveTradingConfig(start_date="2023-11-20", output_dir=str(tmp_path), run_id="direct")
    orchestrator = LimitedLiveTradingOrchestrator(config, broker=make_broker())
    orchestrator.start_live_trading()
    return orchestrator


def _signal(price: float) -> dict:
    return {"signal_id": "direct-1", "direction": "LONG", "entry_price": price, "target_price": price + 20,
            "stop_loss": price - 10, "timestamp": DECISION.isoformat()}


def test_a_bracket_placed_before_a_crash_is_adopted_at_the_next_start_and_not_sent_again(
        make_broker, standin: TradovateStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    standin.advance_to(DECISION)
    signal = _signal(standin.engine.last_close())
    first = _orchestrator(make_broker, tmp_path)

    def crash(*_args, **_kwargs):
        raise KeyboardInterrupt("the process dies between the broker's answer and the ledger's commit")
    monkeypatch.setattr(direct, "write_fill", crash)
    with pytest.raises(KeyboardInterrupt):
        first.process_signal_for_live_trading(signal)
    first.stop_live_trading()
    monkeypatch.undo()
    assert entries_at_standin(standin, "direct-1/entry") == 1
    assert_protected(standin)

    again = _orchestrator(make_broker, tmp_path)           # the restart
    status = again.get_trading_status()
    assert status["state"] == "ACTIVE" and status["open_positions"] == 1
    assert again.process_signal_for_live_trading(signal) is True   # recorded: not sent a second time
    assert entries_at_standin(standin, "direct-1/entry") == 1 and standin.count("/v1/order/placeoso") == 1
    (reason,) = again.ledger.rows("SELECT reason FROM orders WHERE order_id = 'direct-1/entry'")[0].values()
    assert reason.startswith("ADOPTED: placed before a restart, found at tradovate") and "recorded before" not in reason
    again.stop_live_trading()


def test_an_order_not_ours_halts_the_start_naming_it(make_broker, standin: TradovateStandIn, tmp_path: Path) -> None:
    standin.advance_to(DECISION)
    engine = standin.engine
    engine.place(contract_id=engine.find_contract("MNQZ3")["id"], action="Buy", qty=1, order_type="Limit",
                 price=1_000.0, stop_price=None, cl_ord_id="someone-else-1")
    orchestrator = _orchestrator(make_broker, tmp_path)
    status = orchestrator.get_trading_status()
    assert status["state"] == "HALTED"
    assert "unknown order at the broker, not placed by this run: someone-else-1" in status["state_reason"]
    assert orchestrator.process_signal_for_live_trading(_signal(engine.last_close())) is False
    orchestrator.stop_live_trading()


#: the limited_live profile's MNQ: $2 a point, $0.62 commission a side
MULTIPLIER, COMMISSION = 2.0, 0.62


def _until_flat(standin: TradovateStandIn, start: pd.Timestamp) -> pd.Timestamp:
    """Move the stand-in's clock a minute at a time (at most a session) until its book is flat."""
    at = start
    for _ in range(390):
        at += pd.Timedelta(minutes=1)
        standin.advance_to(at)
        if all(p.net_pos == 0 for p in standin.engine.positions.values()):
            return at
    raise AssertionError("neither the stop nor the target filled within a session")


def _leg_fills(standin: TradovateStandIn) -> tuple[dict, dict]:
    """The stand-in's entry fill and the fill that closed it."""
    engine = standin.engine
    entry, exit_fill = sorted(engine.fills, key=lambda f: f["id"])
    assert engine.orders[entry["orderId"]].parent_id is None and engine.orders[exit_fill["orderId"]].parent_id
    return entry, exit_fill


def test_an_exit_filled_at_the_broker_while_the_process_was_down_is_recorded_at_the_next_start(
        make_broker, standin: TradovateStandIn, tmp_path: Path) -> None:
    standin.advance_to(DECISION)
    first = _orchestrator(make_broker, tmp_path)
    assert first.process_signal_for_live_trading(_signal(standin.engine.last_close())) is True
    first.stop_live_trading()
    _until_flat(standin, DECISION)                          # the bracket's stop or target fills meanwhile
    entry, exit_fill = _leg_fills(standin)

    again = _orchestrator(make_broker, tmp_path)           # the restart records the exit, no halt
    status = again.get_trading_status()
    (position,) = again.ledger.rows("SELECT status, exit_price, exit_reason, exit_time FROM positions")
    (fill,) = again.ledger.rows("SELECT price, sim_time FROM fills WHERE order_id = 'direct-1/exit'")
    again.stop_live_trading()
    reason = "target" if exit_fill["price"] > entry["price"] else "stop"
    pnl = (exit_fill["price"] - entry["price"]) * MULTIPLIER - 2 * COMMISSION
    assert status["state"] == "ACTIVE" and status["open_positions"] == 0
    assert status["realized_pnl_usd"] == pytest.approx(pnl)
    assert position["status"] == "closed" and position["exit_reason"] == reason
    assert position["exit_price"] == pytest.approx(exit_fill["price"])
    assert fill["price"] == pytest.approx(exit_fill["price"])
    assert pd.Timestamp(fill["sim_time"]) == pd.Timestamp(exit_fill["timestamp"])


def test_update_market_records_the_exit_tradovate_filled_on_its_own_market(
        make_broker, standin: TradovateStandIn, tmp_path: Path) -> None:
    standin.advance_to(DECISION)
    orchestrator = _orchestrator(make_broker, tmp_path)
    assert orchestrator.process_signal_for_live_trading(_signal(standin.engine.last_close())) is True
    flat_at = _until_flat(standin, DECISION)
    entry, exit_fill = _leg_fills(standin)
    closed = orchestrator.update_market(standin.engine.last_close(), flat_at)
    status = orchestrator.get_trading_status()
    orchestrator.stop_live_trading()
    assert closed == ["direct-1"]
    assert status["state"] == "ACTIVE" and status["open_positions"] == 0
    assert status["realized_pnl_usd"] == pytest.approx((exit_fill["price"] - entry["price"]) * MULTIPLIER
                                                       - 2 * COMMISSION)
