"""The documented entry point (`LimitedLiveTradingOrchestrator`) with Tradovate: on start it
reconciles with the broker, adopting a bracket of ours that a crash kept out of the ledger and
halting on an order that is not ours."""
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
