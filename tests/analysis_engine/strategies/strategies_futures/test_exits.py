"""Brackets leave the market on the tick that reaches their stop or target, or at the session end."""
from __future__ import annotations

import numpy as np
import pytest

from tasks.options_trading_system.analysis_engine.strategies.strategies_futures.exits import simulate_exits

TS = np.arange(10, dtype=np.int64) * 1_000


def run(prices, sign, stop, target, trail=0.0, decided=0):
    [fill] = simulate_exits(TS[:len(prices)], np.array(prices, float), np.array([decided]), np.array([sign]),
                            np.array([stop]), np.array([target]), np.array([trail]), slippage=0.25)
    return fill


def test_a_long_reaching_its_target_fills_at_the_target():
    fill = run([100, 101, 103, 105, 104], +1, stop=98, target=104)
    assert (fill.exit_reason, fill.exit_ns, fill.exit_price, fill.entry_price) == ("target", 3_000, 104.0, 100.25)


def test_a_short_stopped_out_pays_slippage_at_the_stop_tick():
    fill = run([100, 99, 101, 102.5, 90], -1, stop=102, target=95)
    assert (fill.exit_reason, fill.exit_ns, fill.exit_price, fill.entry_price) == ("stop", 3_000, 102.75, 99.75)


def test_neither_level_exits_at_the_last_tick():
    fill = run([100, 100.5, 99.5, 100.25], +1, stop=95, target=110)
    assert (fill.exit_reason, fill.exit_ns, fill.exit_price) == ("session_end", 3_000, 100.0)


def test_a_trailing_stop_follows_the_best_price():
    # long from 100.25 (slipped), trail 2: best 106 -> stop 104; 103.5 exits
    fill = run([100, 102, 106, 105, 103.5, 120], +1, stop=97, target=200, trail=2.0)
    assert (fill.exit_reason, fill.exit_ns, fill.exit_price) == ("stop", 4_000, 103.25)


def test_entry_is_the_first_tick_at_or_after_the_decision():
    fill = run([100, 101, 102, 103, 110], +1, stop=90, target=109, decided=1_500)
    assert fill.entry_ns == 2_000 and fill.entry_price == 102.25


def test_no_tick_after_the_decision_means_no_trade():
    assert run([100, 101], +1, stop=90, target=110, decided=5_000) is None
