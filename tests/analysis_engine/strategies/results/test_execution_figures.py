"""Execution figures: the paper twin is the paper broker on the same path, caps' peaks as counted."""
from __future__ import annotations

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.feeds.price_path import PricePath
from tasks.options_trading_system.analysis_engine.strategies.guards.config import RiskConfig
from tasks.options_trading_system.analysis_engine.strategies.results import execution_figures as ef
from tasks.options_trading_system.analysis_engine.strategies.shadow_config import ExecutionConfig

EXECUTION = ExecutionConfig(instrument="MNQ", quantity=1, slippage_ticks=1)
OPEN = pd.Timestamp("2025-06-02 13:30", tz="UTC")
CLOSE = pd.Timestamp("2025-06-02 20:00", tz="UTC")


def _path(closes: list[float]) -> PricePath:
    starts = [OPEN + pd.Timedelta(minutes=i) for i in range(len(closes))]
    frame = pd.DataFrame({"start": starts, "open": closes, "high": [c + 1 for c in closes],
                          "low": [c - 1 for c in closes], "close": closes, "volume": 1.0})
    return PricePath.from_frame(frame, bar_seconds=60)


def _position(signal: str, direction: str, entry_minute: int, *, exit_minute: int | None = None,
              exit_reason: str | None = None, stop: float = 90.0, target: float = 120.0, **extra) -> dict:
    entry = OPEN + pd.Timedelta(minutes=entry_minute)
    return {"position_id": f"{signal}/position", "signal_id": signal, "source": "s", "day": "2025-06-02",
            "instrument": "MNQ", "contract": None, "direction": direction, "quantity": 1, "multiplier": 2.0,
            "entry_time": entry.isoformat(), "entry_price": 100.25, "target": target, "stop": stop,
            "status": "closed" if exit_minute is not None else "open",
            "exit_time": (OPEN + pd.Timedelta(minutes=exit_minute)).isoformat() if exit_minute is not None else None,
            "exit_price": None, "exit_reason": exit_reason, "entry_reference": 100.0,
            "expected_value_points": None, "pnl_usd": extra.get("pnl_usd"), "costs_usd": None}


def test_the_twin_follows_its_own_target_and_a_flatten_is_mirrored_at_the_same_time() -> None:
    path = _path([100.0] * 5 + [125.0] * 5 + [100.0] * 400)
    positions = pd.DataFrame([_position("a", "LONG", 0, exit_minute=9, exit_reason="stop"),
                              _position("b", "LONG", 0, exit_minute=2, exit_reason="flatten")])
    twins = ef.paper_twins(positions, path, EXECUTION, {"2025-06-02": CLOSE})
    # entry at the reference plus 1 tick; a's twin reaches its target at 120 whatever the real fill did
    assert (twins["a"].entry_price, twins["a"].exit_price, twins["a"].exit_reason) == (100.25, 120.0, "target")
    # b was flattened at minute 2: its twin is flattened there too, at the last close less 1 tick
    assert (twins["b"].exit_price, twins["b"].exit_reason) == (99.75, "flatten")
    assert twins["a"].pnl_usd == pytest.approx((120.0 - 100.25) * 2 - 2 * EXECUTION.commission)


def test_slippage_is_positive_when_the_fill_is_worse_for_us() -> None:
    assert ef.against_us("BUY", 100.5, 100.0) == 0.5 and ef.against_us("SELL", 99.5, 100.0) == 0.5
    assert ef.against_us("SELL", 100.5, 100.0) == -0.5


def test_cap_peaks_count_contracts_as_the_netting_says_and_approvals_in_a_sliding_window() -> None:
    positions = pd.DataFrame([_position("a", "LONG", 0, exit_minute=30, pnl_usd=-20.0),
                              _position("b", "SHORT", 10, exit_minute=40, stop=110.0, pnl_usd=-30.0),
                              _position("c", "LONG", 50, exit_minute=60, pnl_usd=25.0)])
    approvals = [(OPEN + pd.Timedelta(seconds=s)).isoformat() for s in (0, 20, 50, 61, 200)]
    def peak(config: RiskConfig) -> dict:
        return {(c["guard"], c["name"]): c["used"] for c in ef.cap_usage(
            positions, config, approvals=approvals, data_day_usd=1.0, data_month_usd=3.0, signals=4,
            commissions_usd=3.0, in_replay=True)}
    account = peak(RiskConfig())
    books = peak(RiskConfig.from_dict({"max_position": {"netting": "per_signal", "max_contracts": 3}}))
    assert account[("max_position", "contracts")] == 1               # one account: the long and the short net
    assert books[("max_position", "contracts")] == 2                 # paper books: both held at once
    assert account[("order_rate", "orders")] == 3                    # 0, 20, 50 s inside one 60 s window
    assert account[("max_daily_loss", "loss")] == 50.0               # -20 then -30 before the +25
    # entries at 100.25: the long's stop 10.25 points away, the short's 9.75, each plus 1 tick, MNQ $2/point
    assert account[("max_total_risk", "risk")] == pytest.approx(((10.25 + 0.25) + (9.75 + 0.25)) * 2)
    assert account[("cost_per_signal", "per_signal")] == 1.0 and account[("data_cost", "month")] == 3.0
