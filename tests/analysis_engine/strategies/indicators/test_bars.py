"""Ticks become time bars that close on exchange time, empty periods included; the streaming
builder and the replay function give the same bars."""
from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.options_trading_system.analysis_engine.strategies.indicators import bars as B
from tasks.options_trading_system.analysis_engine.strategies.indicators.streaming import BarBuilder

NS = 1_000_000_000
T0 = pd.Timestamp("2025-06-02 13:30:00", tz="UTC").value  # 09:30 New York, a minute boundary


def _ticks(*rows: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    seconds, price, size = zip(*rows)
    return (T0 + (np.array(seconds) * NS).astype(np.int64), np.array(price, float), np.array(size, float))


def test_a_bar_closes_when_the_next_period_trades():
    b = BarBuilder(60)
    assert len(b.on_tick(T0 + 1 * NS, 100.0, 1)) == 0
    assert len(b.on_tick(T0 + 20 * NS, 102.0, 2)) == 0
    assert len(b.on_tick(T0 + 59 * NS, 99.0, 3)) == 0
    closed = b.on_tick(T0 + 61 * NS, 101.0, 1)
    assert closed.tolist() == [[T0 + 60 * NS, 100.0, 102.0, 99.0, 99.0, 6.0, 3.0]]


def test_a_period_without_trades_is_an_empty_bar_at_the_last_close():
    b = BarBuilder(60)
    b.on_tick(T0 + 5 * NS, 100.0, 1)
    closed = b.on_tick(T0 + 185 * NS, 103.0, 1)  # minutes 1 and 2 had no trade
    assert closed[:, B.B_END].tolist() == [T0 + 60 * NS, T0 + 120 * NS, T0 + 180 * NS]
    assert closed[1:, B.B_CLOSE].tolist() == [100.0, 100.0]
    assert closed[1:, B.B_VOLUME].tolist() == [0.0, 0.0]


def test_the_clock_closes_a_bar_without_a_following_tick():
    b = BarBuilder(300)
    b.on_tick(T0 + 10 * NS, 100.0, 4)
    assert len(b.close_until(T0 + 299 * NS)) == 0
    closed = b.close_until(T0 + 300 * NS)
    assert closed[:, B.B_END].tolist() == [T0 + 300 * NS]
    assert closed[0, B.B_VOLUME] == 4.0


def test_bars_match_a_pandas_resample_of_the_same_ticks():
    rng = np.random.default_rng(7)  # generated test input, not a measurement
    seconds = np.sort(rng.uniform(0, 3600, 5000))
    seconds = seconds[(seconds < 600) | (seconds > 1200)]  # a 10-minute hole: empty bars
    price = 20000 + np.cumsum(rng.normal(0, 0.5, seconds.size))
    size = rng.integers(1, 5, seconds.size).astype(float)
    ts = T0 + (seconds * NS).astype(np.int64)
    got = B.bars_from_ticks(ts, price, size, 300, until_ns=T0 + 3600 * NS)
    frame = pd.DataFrame({"price": price, "size": size}, index=pd.to_datetime(ts, utc=True))
    ohlc = frame["price"].resample("5min").ohlc()
    volume = frame["size"].resample("5min").sum()
    ohlc["close"] = ohlc["close"].ffill()
    for col in ("open", "high", "low"):
        ohlc[col] = ohlc[col].fillna(ohlc["close"])
    assert len(got) == len(ohlc) == 12
    np.testing.assert_array_equal(got[["open", "high", "low", "close"]].to_numpy(), ohlc.to_numpy())
    np.testing.assert_array_equal(got["volume"].to_numpy(), volume.to_numpy())
    np.testing.assert_array_equal(got["end_ns"].to_numpy().astype(np.int64),
                                  (ohlc.index + pd.Timedelta(minutes=5)).as_unit("ns").asi8)
    streamed = BarBuilder(300)
    rows = [r for t, p, s in zip(ts, price, size) for r in streamed.on_tick(t, p, s).tolist()]
    rows += streamed.close_until(T0 + 3600 * NS).tolist()
    np.testing.assert_array_equal(np.array(rows), got.to_numpy())


def test_unknown_period_label_is_refused():
    import pytest
    with pytest.raises(ValueError, match="expected one of 1m, 5m, 15m, 30m, 1h"):
        B.period_seconds("2m")
