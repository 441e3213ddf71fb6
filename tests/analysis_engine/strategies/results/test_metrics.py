"""Outcome metrics on small hand-made tables, every expected number worked out below."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.results import metrics


def test_signal_metrics_count_accuracy_validation_and_false_positives_from_outcomes() -> None:
    # 5 signals; the last is unresolved. passed: rows 0,1,2. flagged: rows 2,3.
    table = pd.DataFrame({"passed": [1, 1, 1, 0, 0], "false_positive": [0, 0, 1, 1, 0],
                          "correct": [1, 0, 1, 0, None]})
    m = metrics.signal_metrics(table)
    assert m["signals"] == 5
    assert m["resolved"] == 4 and m["correct"] == 2
    assert m["accuracy"] == pytest.approx(0.5)            # 2 of 4 resolved
    assert m["validated"] == 3 and m["validation_rate"] == pytest.approx(0.6)
    assert m["false_positives"] == 1                       # row 1: passed and wrong
    assert m["false_positive_rate"] == pytest.approx(1 / 3)
    assert m["flagged"] == 2
    assert m["flag_precision"] == pytest.approx(0.5)       # row 3 wrong, row 2 right


def test_signal_metrics_without_signals_are_missing_not_zero() -> None:
    m = metrics.signal_metrics(pd.DataFrame({"passed": [], "false_positive": [], "correct": []}))
    assert m["signals"] == 0
    assert m["accuracy"] is None and m["validation_rate"] is None and m["false_positive_rate"] is None


def test_trade_metrics_win_rate_profit_factor_and_drawdown() -> None:
    trades = pd.DataFrame({"signal_id": ["a", "b", "c", "d"], "pnl_usd": [100.0, -50.0, 30.0, -80.0],
                           "pnl_points": [50.0, -25.0, 15.0, -40.0], "costs_usd": [1.0, 1.0, 1.0, 1.0],
                           "exit_time": ["2025-06-02T14:00", "2025-06-02T15:00", "2025-06-02T16:00",
                                         "2025-06-02T17:00"]})
    m = metrics.trade_metrics(trades)
    assert (m["trades"], m["wins"], m["losses"]) == (4, 2, 2)
    assert m["win_rate"] == pytest.approx(0.5)
    assert m["pnl_usd"] == pytest.approx(0.0) and m["pnl_points"] == pytest.approx(0.0)
    assert m["gross_profit_usd"] == pytest.approx(130.0) and m["gross_loss_usd"] == pytest.approx(130.0)
    assert m["profit_factor"] == pytest.approx(1.0)
    # equity 0 -> 100 -> 50 -> 80 -> 0: the peak 100 falls to 0
    assert m["max_drawdown_usd"] == pytest.approx(100.0)
    assert m["costs_usd"] == pytest.approx(4.0)


def test_profit_factor_is_missing_without_a_loss() -> None:
    trades = pd.DataFrame({"signal_id": ["a"], "pnl_usd": [40.0], "pnl_points": [20.0], "costs_usd": [1.0],
                           "exit_time": ["2025-06-02T14:00"]})
    assert metrics.trade_metrics(trades)["profit_factor"] is None


def test_drawdown_counts_a_loss_from_the_start() -> None:
    # equity 0 -> -30 -> -10: the fall from the starting 0 is 30
    assert metrics.max_drawdown(pd.Series([-30.0, 20.0]).to_numpy()) == pytest.approx(30.0)


def test_sharpe_of_daily_pnl() -> None:
    # mean 80/3 = 26.667; deviations 73.333, -76.667, 3.333; variance 11266.67/2 = 5633.33; sd 75.055
    # 26.667 / 75.055 * sqrt(252) = 0.35530 * 15.8745 = 5.640
    assert metrics.sharpe([100.0, -50.0, 30.0]) == pytest.approx(5.640, abs=0.001)
    assert metrics.sharpe([100.0]) is None          # one day says nothing about variation
    assert metrics.sharpe([10.0, 10.0]) is None     # no variation


def test_percentiles_of_latency_samples() -> None:
    p = metrics.percentiles([10, 20, 30, 40, 50])
    # linear interpolation: p95 at rank 3.8 -> 40 + 0.8 x 10 = 48; p99 at 3.96 -> 49.6
    assert (p["count"], p["p50"], p["p95"], p["p99"], p["max"]) == (5, 30.0, pytest.approx(48.0),
                                                                    pytest.approx(49.6), 50.0)
    assert metrics.percentiles([])["p50"] is None
    assert math.isfinite(metrics.percentiles([1.5])["p99"])


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))


def test_sortino_divides_by_the_downside_deviation_only():
    from tasks.options_trading_system.analysis_engine.strategies.results.metrics import sortino
    daily = [100.0, -50.0, 200.0, -50.0]
    downside = ((50.0 ** 2 + 50.0 ** 2) / 4) ** 0.5
    assert sortino(daily) == pytest.approx(50.0 / downside * 252 ** 0.5)
    assert sortino([10.0, 20.0]) is None  # no losing day: undefined, not infinite


def test_calmar_is_annualised_pnl_over_max_drawdown():
    from tasks.options_trading_system.analysis_engine.strategies.results.metrics import calmar
    daily = [100.0, -150.0, 50.0, 100.0]  # equity 100, -50, 0, 100: drawdown 150
    assert calmar(daily) == pytest.approx(25.0 * 252 / 150.0)
    assert calmar([10.0, 20.0]) is None
