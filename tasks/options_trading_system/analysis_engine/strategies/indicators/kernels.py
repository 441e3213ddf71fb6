"""Indicator update rules as numba kernels over float64 state arrays.

Each indicator is a pair: `<name>_new(...)` makes its state array, `<name>_update(state, ...)`
folds in one observation and returns the indicator's current value (NaN until it is defined).
`<name>_batch(values...)` runs the same update over whole arrays (replay); the streaming classes
call `_update` once per observation, so both paths give bit-identical results.

Definitions (the batch references in the tests compute these with pandas):
- EMA(n): alpha = 2 / (n + 1), seeded with the first value (pandas `ewm(span=n, adjust=False)`).
- Rolling mean / standard deviation over the last n values (sample std, ddof = 1), NaN until n
  values are in: a ring buffer with Welford's add/remove updates, recomputed exactly from the
  ring each time it wraps (once per n values, so still O(1) amortised), so rounding left by a
  huge value that has left the window cannot linger.
- RSI(n), Wilder: gains and losses of successive values smoothed with alpha = 1 / n seeded with
  the first change (pandas `ewm(alpha=1/n, adjust=False)`); RSI = 100 - 100 / (1 + gain / loss),
  100 when there were no losses, NaN before the first change.
- ATR(n), Wilder: true range = max(high - low, |high - previous close|, |low - previous close|)
  (the first bar: high - low), smoothed with alpha = 1 / n seeded with the first range.
- VWAP: sum(price x size) / sum(size) since the last reset (a session); NaN before any size.
- Realised volatility(n): rolling sample standard deviation of log returns of successive closes
  over the last n returns.
"""
from __future__ import annotations

import math

import numpy as np

from ...ifd_v3.jit import kernel

# --- EMA ------------------------------------------------------------------------------------

EMA_VALUE, EMA_ALPHA, EMA_SEEN = 0, 1, 2


def ema_new(period: int) -> np.ndarray:
    if period < 1:
        raise ValueError(f"EMA period must be >= 1, got {period}")
    return np.array([math.nan, 2.0 / (period + 1.0), 0.0])


@kernel
def ema_update(state: np.ndarray, x: float) -> float:
    if state[EMA_SEEN] == 0.0:
        state[EMA_VALUE] = x
        state[EMA_SEEN] = 1.0
    else:
        state[EMA_VALUE] = state[EMA_VALUE] + state[EMA_ALPHA] * (x - state[EMA_VALUE])
    return state[EMA_VALUE]


@kernel
def ema_batch(state: np.ndarray, xs: np.ndarray, out: np.ndarray) -> None:
    for i in range(xs.shape[0]):
        out[i] = ema_update(state, xs[i])


# --- rolling mean and standard deviation ----------------------------------------------------
# state: [n, count, pos, mean, m2, ring...]

RM_N, RM_COUNT, RM_POS, RM_MEAN, RM_M2, RM_RING = 0, 1, 2, 3, 4, 5


def rolling_new(period: int) -> np.ndarray:
    if period < 2:
        raise ValueError(f"rolling window must be >= 2 values, got {period}")
    state = np.zeros(RM_RING + period)
    state[RM_N] = period
    return state


@kernel
def rolling_update(state: np.ndarray, x: float) -> tuple[float, float]:
    """Fold in x; returns (mean, sample std) of the last n values, NaN until n are in."""
    n = int(state[RM_N])
    count = int(state[RM_COUNT])
    pos = int(state[RM_POS])
    mean = state[RM_MEAN]
    m2 = state[RM_M2]
    if count < n:
        count += 1
        delta = x - mean
        mean += delta / count
        m2 += delta * (x - mean)
    else:
        old = state[RM_RING + pos]
        new_mean = mean + (x - old) / n
        m2 += (x - old) * (x - new_mean + old - mean)
        mean = new_mean
        if m2 < 0.0:
            m2 = 0.0
    state[RM_RING + pos] = x
    pos = (pos + 1) % n
    state[RM_POS] = pos
    if pos == 0 and count == n:
        mean = 0.0
        for i in range(n):
            mean += state[RM_RING + i]
        mean /= n
        m2 = 0.0
        for i in range(n):
            d = state[RM_RING + i] - mean
            m2 += d * d
    state[RM_COUNT] = count
    state[RM_MEAN] = mean
    state[RM_M2] = m2
    if count < n:
        return math.nan, math.nan
    return mean, math.sqrt(m2 / (n - 1))


@kernel
def rolling_batch(state: np.ndarray, xs: np.ndarray, mean_out: np.ndarray, std_out: np.ndarray) -> None:
    for i in range(xs.shape[0]):
        m, s = rolling_update(state, xs[i])
        mean_out[i] = m
        std_out[i] = s


# --- RSI (Wilder) ---------------------------------------------------------------------------

RSI_ALPHA, RSI_PREV, RSI_GAIN, RSI_LOSS, RSI_SEEN = 0, 1, 2, 3, 4


def rsi_new(period: int) -> np.ndarray:
    if period < 1:
        raise ValueError(f"RSI period must be >= 1, got {period}")
    return np.array([1.0 / period, math.nan, math.nan, math.nan, 0.0])


@kernel
def rsi_update(state: np.ndarray, x: float) -> float:
    seen = state[RSI_SEEN]
    if seen == 0.0:
        state[RSI_PREV] = x
        state[RSI_SEEN] = 1.0
        return math.nan
    change = x - state[RSI_PREV]
    state[RSI_PREV] = x
    gain = change if change > 0.0 else 0.0
    loss = -change if change < 0.0 else 0.0
    if seen == 1.0:
        state[RSI_GAIN] = gain
        state[RSI_LOSS] = loss
        state[RSI_SEEN] = 2.0
    else:
        a = state[RSI_ALPHA]
        state[RSI_GAIN] += a * (gain - state[RSI_GAIN])
        state[RSI_LOSS] += a * (loss - state[RSI_LOSS])
    if state[RSI_LOSS] == 0.0:
        return 100.0 if state[RSI_GAIN] > 0.0 else 50.0
    return 100.0 - 100.0 / (1.0 + state[RSI_GAIN] / state[RSI_LOSS])


@kernel
def rsi_batch(state: np.ndarray, xs: np.ndarray, out: np.ndarray) -> None:
    for i in range(xs.shape[0]):
        out[i] = rsi_update(state, xs[i])


# --- ATR (Wilder) ---------------------------------------------------------------------------

ATR_ALPHA, ATR_PREV_CLOSE, ATR_VALUE, ATR_SEEN = 0, 1, 2, 3


def atr_new(period: int) -> np.ndarray:
    if period < 1:
        raise ValueError(f"ATR period must be >= 1, got {period}")
    return np.array([1.0 / period, math.nan, math.nan, 0.0])


@kernel
def atr_update(state: np.ndarray, high: float, low: float, close: float) -> float:
    if state[ATR_SEEN] == 0.0:
        tr = high - low
        state[ATR_VALUE] = tr
        state[ATR_SEEN] = 1.0
    else:
        prev = state[ATR_PREV_CLOSE]
        tr = max(high - low, abs(high - prev), abs(low - prev))
        state[ATR_VALUE] += state[ATR_ALPHA] * (tr - state[ATR_VALUE])
    state[ATR_PREV_CLOSE] = close
    return state[ATR_VALUE]


@kernel
def atr_batch(state: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, out: np.ndarray) -> None:
    for i in range(high.shape[0]):
        out[i] = atr_update(state, high[i], low[i], close[i])


# --- VWAP -----------------------------------------------------------------------------------

VWAP_PV, VWAP_V = 0, 1


def vwap_new() -> np.ndarray:
    return np.zeros(2)


@kernel
def vwap_update(state: np.ndarray, price: float, size: float) -> float:
    state[VWAP_PV] += price * size
    state[VWAP_V] += size
    if state[VWAP_V] <= 0.0:
        return math.nan
    return state[VWAP_PV] / state[VWAP_V]


@kernel
def vwap_reset(state: np.ndarray) -> None:
    state[VWAP_PV] = 0.0
    state[VWAP_V] = 0.0


@kernel
def vwap_batch(state: np.ndarray, price: np.ndarray, size: np.ndarray, out: np.ndarray) -> None:
    for i in range(price.shape[0]):
        out[i] = vwap_update(state, price[i], size[i])


# --- realised volatility --------------------------------------------------------------------
# state: [prev_close, seen, rolling state...]

RV_PREV, RV_SEEN, RV_ROLLING = 0, 1, 2


def realised_vol_new(period: int) -> np.ndarray:
    state = np.zeros(RV_ROLLING + RM_RING + period)
    state[RV_PREV] = math.nan
    state[RV_ROLLING:] = rolling_new(period)
    return state


@kernel
def realised_vol_update(state: np.ndarray, close: float) -> float:
    if state[RV_SEEN] == 0.0:
        state[RV_PREV] = close
        state[RV_SEEN] = 1.0
        return math.nan
    r = math.log(close / state[RV_PREV])
    state[RV_PREV] = close
    _, std = rolling_update(state[RV_ROLLING:], r)
    return std


@kernel
def realised_vol_batch(state: np.ndarray, closes: np.ndarray, out: np.ndarray) -> None:
    for i in range(closes.shape[0]):
        out[i] = realised_vol_update(state, closes[i])
