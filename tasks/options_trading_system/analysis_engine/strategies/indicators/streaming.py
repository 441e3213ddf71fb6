"""Streaming wrappers: one object per indicator, one call per observation, O(1) each.

Each holds its kernel's state array; `update` returns the current value (NaN until defined).
The replay path calls the `*_batch` kernels on arrays instead; both run the same update rule.
"""
from __future__ import annotations

import math

import numpy as np

from . import bars as B
from . import kernels as K


class EMA:
    def __init__(self, period: int) -> None:
        self.period = period
        self.state = K.ema_new(period)
        self.value = math.nan

    def update(self, x: float) -> float:
        self.value = K.ema_update(self.state, x)
        return self.value


class RollingStats:
    """Mean and sample standard deviation of the last `period` values."""

    def __init__(self, period: int) -> None:
        self.period = period
        self.state = K.rolling_new(period)
        self.mean = math.nan
        self.std = math.nan

    def update(self, x: float) -> tuple[float, float]:
        self.mean, self.std = K.rolling_update(self.state, x)
        return self.mean, self.std


class RSI:
    def __init__(self, period: int = 14) -> None:
        self.period = period
        self.state = K.rsi_new(period)
        self.value = math.nan

    def update(self, x: float) -> float:
        self.value = K.rsi_update(self.state, x)
        return self.value


class ATR:
    def __init__(self, period: int = 14) -> None:
        self.period = period
        self.state = K.atr_new(period)
        self.value = math.nan

    def update(self, high: float, low: float, close: float) -> float:
        self.value = K.atr_update(self.state, high, low, close)
        return self.value


class VWAP:
    """Volume-weighted average price since the last `reset` (call it at each session's start)."""

    def __init__(self) -> None:
        self.state = K.vwap_new()
        self.value = math.nan

    def update(self, price: float, size: float) -> float:
        self.value = K.vwap_update(self.state, price, size)
        return self.value

    def reset(self) -> None:
        K.vwap_reset(self.state)
        self.value = math.nan


class RealisedVol:
    """Sample standard deviation of the last `period` log returns of successive closes."""

    def __init__(self, period: int) -> None:
        self.period = period
        self.state = K.realised_vol_new(period)
        self.value = math.nan

    def update(self, close: float) -> float:
        self.value = K.realised_vol_update(self.state, close)
        return self.value


class BarBuilder:
    """Ticks in, closed bars out (rows of `bars.BAR_FIELDS`), on exchange-time boundaries."""

    def __init__(self, period_s: int, max_gap_bars: int = 24 * 60) -> None:
        self.period_s = period_s
        self.state = B.bar_state(period_s)
        self._out = np.empty((max_gap_bars + 2, 7))

    def on_tick(self, ts_ns: int, price: float, size: float) -> np.ndarray:
        """The bars this tick closed (usually none; an empty (0, 7) view)."""
        n = B.bar_on_tick(self.state, np.int64(ts_ns), float(price), float(size), self._out)
        return self._out[:n]

    def close_until(self, ts_ns: int) -> np.ndarray:
        """The bars that ended by `ts_ns` although no tick arrived (the clock moved on)."""
        n = B.bar_close_until(self.state, np.int64(ts_ns), self._out)
        return self._out[:n]
