"""Flow windows: trades land in their slice, old slices leave the window, sides are kept apart,
and the fixed windows for the baselines add up by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.ifd_v3 import counters as C
from tasks.options_trading_system.analysis_engine.ifd_v3 import flow_metrics as F
from tasks.options_trading_system.data_ingestion.mbo.events import SIDE_ASK, SIDE_BID, SIDE_NONE

SLICES = 30  # a 300 s window of 10 s slices


def trade(f: F.FlowState, counters: np.ndarray, inst: int, second: int, side: int, size: int,
          notional: float = 0.0) -> None:
    F.add_trade(f, inst, np.int64(second // 10), side, np.int64(size), notional, counters)


def sums(f: F.FlowState, inst: int, second: int) -> tuple:
    F.advance(f, inst, np.int64(second // 10))
    return tuple(float(x) for x in F.window_sums(f, inst))


def test_window_keeps_five_minutes_of_trades_by_aggressor_side() -> None:
    f, counters = F.new_flow_state(2, SLICES), C.new_counters()
    trade(f, counters, 0, 1000, SIDE_BID, 10, 20_000.0)
    trade(f, counters, 0, 1100, SIDE_ASK, 4, 8_000.0)
    trade(f, counters, 0, 1250, SIDE_BID, 6, 12_000.0)
    trade(f, counters, 0, 1260, SIDE_NONE, 3, 6_000.0)
    # at 1290 s every trade is inside (1290 - 300, 1290]
    assert sums(f, 0, 1290) == (16.0, 4.0, 3.0, 4.0, 46_000.0)
    # at 1300 s the window is slices 101..130: the trade at 1000 s (slice 100) has left it
    assert sums(f, 0, 1300) == (6.0, 4.0, 3.0, 3.0, 26_000.0)
    # the other contract saw nothing
    assert sums(f, 1, 1300) == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert counters[C.TRADE_SIDE_NONE] == 1


def test_a_long_silence_empties_the_whole_window() -> None:
    f, counters = F.new_flow_state(1, SLICES), C.new_counters()
    trade(f, counters, 0, 50, SIDE_BID, 10)
    assert sums(f, 0, 10_000) == (0.0, 0.0, 0.0, 0.0, 0.0)


def test_a_late_print_counts_in_the_newest_slice_and_is_reported() -> None:
    f, counters = F.new_flow_state(1, SLICES), C.new_counters()
    trade(f, counters, 0, 500, SIDE_BID, 10)
    trade(f, counters, 0, 480, SIDE_ASK, 5)
    assert counters[C.LATE_TRADES] == 1
    assert F.recent_sums(f, 0, 1) == (10, 5)


def test_recent_slices_and_direction_counts() -> None:
    f, counters = F.new_flow_state(1, SLICES), C.new_counters()
    for second, side in ((100, SIDE_BID), (110, SIDE_BID), (120, SIDE_ASK), (130, SIDE_BID)):
        trade(f, counters, 0, second, side, 5)
    assert F.recent_sums(f, 0, 2) == (5, 5)            # slices 13 and 12
    assert F.slices_with_direction(f, 0, 4, 1) == 3    # 10, 11, 13 bought
    assert F.slices_with_direction(f, 0, 4, -1) == 1


def test_market_ring_adds_every_contract_with_a_known_aggressor() -> None:
    f, counters = F.new_flow_state(3, SLICES), C.new_counters()
    trade(f, counters, 0, 100, SIDE_BID, 10)
    trade(f, counters, 1, 105, SIDE_ASK, 7)
    trade(f, counters, 2, 106, SIDE_NONE, 100)
    assert F.market_volume(f) == 17


def test_pressure_ratio_is_the_dominant_share_and_missing_without_volume() -> None:
    ratio = F.pressure_ratio(np.array([30.0, 5.0, 10.0, 0.0]), np.array([10.0, 15.0, 10.0, 0.0]))
    assert ratio[:3].tolist() == [0.75, 0.75, 0.5]
    assert np.isnan(ratio[3])


def test_fixed_windows_for_the_baselines() -> None:
    ns = 1_000_000_000
    trades = pd.DataFrame({
        "ts": np.array([10, 20, 299, 300, 650], np.int64) * ns,
        "inst": [7, 7, 7, 7, 8],
        "side": np.array([SIDE_BID, SIDE_ASK, SIDE_BID, SIDE_ASK, SIDE_NONE], np.uint8),
        "size": [5, 2, 1, 4, 3],
        "price": [10.0, 10.0, 12.0, 11.0, 2.0],
        "multiplier": [20.0] * 5,
    })
    out = F.window_samples(trades, 300)
    assert out[["inst", "window_start", "buy", "sell", "unknown", "trades", "net"]].values.tolist() == [
        [7, 0, 6, 2, 0, 3, 4], [7, 300 * ns, 0, 4, 0, 1, 4], [8, 600 * ns, 0, 0, 3, 1, 0]]
    # 5 x 10 x 20 + 2 x 10 x 20 + 1 x 12 x 20
    assert out["notional"].iloc[0] == 1640.0


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
