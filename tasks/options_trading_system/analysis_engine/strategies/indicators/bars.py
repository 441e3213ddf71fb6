"""Ticks -> time bars, closed on exchange time.

A bar covers [start, start + period) with start a multiple of the period since the epoch (UTC);
for 1m..1h periods that is also the exchange's (New York) minute/half-hour/hour grid, since New
York is a whole number of hours from UTC. A bar closes when the first tick of a later bar
arrives, or when the clock passes its end (`close_until`), so a bar closes on time even when no
tick follows. A period with no ticks still produces a bar: open = high = low = close = the last
close, volume 0 (indicators see time passing, as they would on a chart).

Bars are rows of `BAR_FIELDS`: end time (ns since the epoch, UTC), open, high, low, close, volume,
trade count.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ...ifd_v3.jit import kernel

BAR_FIELDS = ("end_ns", "open", "high", "low", "close", "volume", "trades")
B_END, B_OPEN, B_HIGH, B_LOW, B_CLOSE, B_VOLUME, B_TRADES = range(7)

# state: [period_ns, bucket (-1 = none yet), open, high, low, close, volume, trades, last_close]
S_PERIOD, S_BUCKET, S_OPEN, S_HIGH, S_LOW, S_CLOSE, S_VOLUME, S_TRADES, S_LAST = range(9)

PERIODS = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600}


def period_seconds(label: str) -> int:
    """Seconds of a bar period label ('1m', '5m', '15m', '30m', '1h')."""
    try:
        return PERIODS[label]
    except KeyError:
        raise ValueError(f"unknown bar period {label!r}: expected one of {', '.join(PERIODS)}") from None


def bar_state(period_s: int) -> np.ndarray:
    state = np.full(9, math.nan)
    state[S_PERIOD] = float(period_s) * 1e9
    state[S_BUCKET] = -1.0
    return state


@kernel
def _emit(state: np.ndarray, out: np.ndarray, k: int) -> int:
    period = state[S_PERIOD]
    out[k, B_END] = (state[S_BUCKET] + 1.0) * period
    out[k, B_OPEN] = state[S_OPEN]
    out[k, B_HIGH] = state[S_HIGH]
    out[k, B_LOW] = state[S_LOW]
    out[k, B_CLOSE] = state[S_CLOSE]
    out[k, B_VOLUME] = state[S_VOLUME]
    out[k, B_TRADES] = state[S_TRADES]
    state[S_LAST] = state[S_CLOSE]
    return k + 1


@kernel
def _roll_to(state: np.ndarray, bucket: float, out: np.ndarray, k: int) -> int:
    """Close the current bar and any empty bars before `bucket`; returns the new row count."""
    current = state[S_BUCKET]
    if current < 0.0 or bucket <= current:
        return k
    k = _emit(state, out, k)
    b = current + 1.0
    while b < bucket and k < out.shape[0]:
        state[S_BUCKET] = b
        last = state[S_LAST]
        state[S_OPEN] = last
        state[S_HIGH] = last
        state[S_LOW] = last
        state[S_CLOSE] = last
        state[S_VOLUME] = 0.0
        state[S_TRADES] = 0.0
        k = _emit(state, out, k)
        b += 1.0
    state[S_BUCKET] = bucket
    state[S_OPEN] = math.nan
    state[S_TRADES] = 0.0
    return k


@kernel
def bar_on_tick(state: np.ndarray, ts_ns: int, price: float, size: float, out: np.ndarray) -> int:
    """Add one trade; returns how many bars closed (written to out[0:n])."""
    bucket = float(ts_ns // np.int64(state[S_PERIOD]))
    k = 0
    if state[S_BUCKET] < 0.0:
        state[S_BUCKET] = bucket
        state[S_TRADES] = 0.0
        state[S_OPEN] = math.nan
    elif bucket > state[S_BUCKET]:
        k = _roll_to(state, bucket, out, 0)
    if state[S_TRADES] == 0.0:
        state[S_OPEN] = price
        state[S_HIGH] = price
        state[S_LOW] = price
        state[S_VOLUME] = 0.0
    else:
        if price > state[S_HIGH]:
            state[S_HIGH] = price
        if price < state[S_LOW]:
            state[S_LOW] = price
    state[S_CLOSE] = price
    state[S_VOLUME] += size
    state[S_TRADES] += 1.0
    return k


@kernel
def bar_close_until(state: np.ndarray, ts_ns: int, out: np.ndarray) -> int:
    """The clock reached `ts_ns`: close every bar that ended at or before it."""
    if state[S_BUCKET] < 0.0:
        return 0
    bucket = float(ts_ns // np.int64(state[S_PERIOD]))
    if bucket <= state[S_BUCKET]:
        return 0
    k = _roll_to(state, bucket, out, 0)
    # the new bucket has no tick yet: it opens at the last close if nothing trades in it
    last = state[S_LAST]
    state[S_OPEN] = last
    state[S_HIGH] = last
    state[S_LOW] = last
    state[S_CLOSE] = last
    state[S_VOLUME] = 0.0
    return k


@kernel
def bars_batch(state: np.ndarray, ts_ns: np.ndarray, price: np.ndarray, size: np.ndarray,
               out: np.ndarray, scratch: np.ndarray) -> int:
    """Every bar the ticks close, in order (the streaming rule run over arrays)."""
    n = 0
    for i in range(ts_ns.shape[0]):
        k = bar_on_tick(state, ts_ns[i], price[i], size[i], scratch)
        for j in range(k):
            if n < out.shape[0]:
                for f in range(7):
                    out[n, f] = scratch[j, f]
            n += 1
    return n


def bars_from_ticks(ts_ns: np.ndarray, price: np.ndarray, size: np.ndarray, period_s: int,
                    until_ns: int | None = None) -> pd.DataFrame:
    """All bars of a tick series (the bar still open at the end is closed only when `until_ns`
    passes its end), as a frame with `BAR_FIELDS` columns."""
    ts = np.asarray(ts_ns, dtype=np.int64)
    state = bar_state(period_s)
    if ts.size == 0:
        return pd.DataFrame(np.empty((0, 7)), columns=list(BAR_FIELDS))
    span = int((ts[-1] - ts[0]) // (period_s * 1e9)) + 2
    if until_ns is not None:
        span += int(max(until_ns - ts[-1], 0) // (period_s * 1e9)) + 1
    out = np.empty((span, 7))
    scratch = np.empty((span, 7))
    n = bars_batch(state, ts, np.asarray(price, np.float64), np.asarray(size, np.float64), out, scratch)
    if until_ns is not None:
        k = bar_close_until(state, np.int64(until_ns), scratch)
        out[n:n + k] = scratch[:k]
        n += k
    return pd.DataFrame(out[:n], columns=list(BAR_FIELDS))
