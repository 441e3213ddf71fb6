"""Flow per contract in rolling windows: aggressor volume by side, trade count, notional.

The window (default 5 minutes) is a ring of slices (default 10 s) per instrument: a trade adds to
the slice of its time; moving to a later slice clears the slices that fell out of the window. Sums
are recomputed from the ring when read (no running totals, so nothing drifts). A ring shared by all
instruments holds the market's total aggressor volume, the denominator of `concentration` (the
engine feeds only scored options, so a future or another product in the same feed is not in it).

Measurements (per window):
- buy / sell volume: trades whose aggressor side is B / A; side N goes to `unknown`;
- pressure ratio: the dominant side's share of buy + sell volume, in [0.5, 1];
- net: buy - sell; its sign is the flow's direction;
- notional: price x size x the definition's multiplier, dollars;
- book imbalance (from the book at F_LAST, in the engine): (bid resting - ask resting) / total.

`window_samples` computes the same sums over fixed, epoch-aligned windows for the baselines.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from . import counters as C
from ...data_ingestion.mbo.events import SIDE_ASK, SIDE_BID
from .jit import kernel

NO_BUCKET = -1


class FlowState(NamedTuple):
    """Rings [inst, slice] and the market-wide ring [slice]; `bucket` = absolute slice number
    (ts // slice_ns) of each ring's newest slice."""

    buy: np.ndarray        # int64[I, K]
    sell: np.ndarray       # int64[I, K]
    unknown: np.ndarray    # int64[I, K]
    count: np.ndarray      # int64[I, K]
    notional: np.ndarray   # float64[I, K]
    bucket: np.ndarray     # int64[I]
    g_volume: np.ndarray   # int64[K]
    g_bucket: np.ndarray   # int64[1]


def new_flow_state(instruments: int, n_slices: int) -> FlowState:
    return FlowState(
        buy=np.zeros((instruments, n_slices), np.int64), sell=np.zeros((instruments, n_slices), np.int64),
        unknown=np.zeros((instruments, n_slices), np.int64), count=np.zeros((instruments, n_slices), np.int64),
        notional=np.zeros((instruments, n_slices), np.float64), bucket=np.full(instruments, NO_BUCKET, np.int64),
        g_volume=np.zeros(n_slices, np.int64), g_bucket=np.full(1, NO_BUCKET, np.int64))


def grow_flow_state(f: FlowState, instruments: int) -> FlowState:
    n_old, k = f.buy.shape
    if instruments <= n_old:
        return f

    def grow(a: np.ndarray, fill: object) -> np.ndarray:
        out = np.empty((instruments,) + a.shape[1:], a.dtype)
        out[:n_old] = a
        out[n_old:] = fill
        return out

    return f._replace(buy=grow(f.buy, 0), sell=grow(f.sell, 0), unknown=grow(f.unknown, 0),
                      count=grow(f.count, 0), notional=grow(f.notional, 0.0), bucket=grow(f.bucket, NO_BUCKET))


@kernel
def advance(f: FlowState, inst: int, bucket: np.int64) -> None:
    """Move instrument `inst`'s ring forward to `bucket`, clearing slices that left the window."""
    k = f.buy.shape[1]
    cur = f.bucket[inst]
    if cur != NO_BUCKET and bucket <= cur:
        return
    steps = k if cur == NO_BUCKET or bucket - cur >= k else bucket - cur
    for s in range(1, steps + 1):
        pos = (bucket - steps + s) % k
        f.buy[inst, pos] = 0
        f.sell[inst, pos] = 0
        f.unknown[inst, pos] = 0
        f.count[inst, pos] = 0
        f.notional[inst, pos] = 0.0
    f.bucket[inst] = bucket


@kernel
def advance_market(f: FlowState, bucket: np.int64) -> None:
    k = f.g_volume.shape[0]
    cur = f.g_bucket[0]
    if cur != NO_BUCKET and bucket <= cur:
        return
    steps = k if cur == NO_BUCKET or bucket - cur >= k else bucket - cur
    for s in range(1, steps + 1):
        f.g_volume[(bucket - steps + s) % k] = 0
    f.g_bucket[0] = bucket


@kernel
def add_trade(f: FlowState, inst: int, bucket: np.int64, side_code: int, size: np.int64,
              notional: float, counters: np.ndarray) -> None:
    """Count one trade print in its slice (a late print counts in the newest slice)."""
    k = f.buy.shape[1]
    advance(f, inst, bucket)
    if bucket < f.bucket[inst]:
        counters[C.LATE_TRADES] += 1
    pos = f.bucket[inst] % k
    if side_code == SIDE_BID:
        f.buy[inst, pos] += size
    elif side_code == SIDE_ASK:
        f.sell[inst, pos] += size
    else:
        f.unknown[inst, pos] += size
        counters[C.TRADE_SIDE_NONE] += 1
    f.count[inst, pos] += 1
    f.notional[inst, pos] += notional
    if side_code == SIDE_BID or side_code == SIDE_ASK:
        advance_market(f, bucket)
        f.g_volume[f.g_bucket[0] % k] += size


@kernel
def window_sums(f: FlowState, inst: int) -> tuple[np.int64, np.int64, np.int64, np.int64, float]:
    """(buy, sell, unknown, trades, notional) over the whole window (ring already advanced)."""
    k = f.buy.shape[1]
    buy = np.int64(0)
    sell = np.int64(0)
    unknown = np.int64(0)
    trades = np.int64(0)
    notional = 0.0
    for pos in range(k):
        buy += f.buy[inst, pos]
        sell += f.sell[inst, pos]
        unknown += f.unknown[inst, pos]
        trades += f.count[inst, pos]
        notional += f.notional[inst, pos]
    return buy, sell, unknown, trades, notional


@kernel
def recent_sums(f: FlowState, inst: int, n: int) -> tuple[np.int64, np.int64]:
    """(buy, sell) over the newest `n` slices."""
    k = f.buy.shape[1]
    cur = f.bucket[inst]
    buy = np.int64(0)
    sell = np.int64(0)
    for j in range(n):
        pos = (cur - j) % k
        buy += f.buy[inst, pos]
        sell += f.sell[inst, pos]
    return buy, sell


@kernel
def slices_with_direction(f: FlowState, inst: int, n: int, direction: int) -> int:
    """How many of the newest `n` slices had net flow (buy - sell) of sign `direction`."""
    k = f.buy.shape[1]
    cur = f.bucket[inst]
    hits = 0
    for j in range(n):
        pos = (cur - j) % k
        net = f.buy[inst, pos] - f.sell[inst, pos]
        if (direction > 0 and net > 0) or (direction < 0 and net < 0):
            hits += 1
    return hits


@kernel
def market_volume(f: FlowState) -> np.int64:
    total = np.int64(0)
    for pos in range(f.g_volume.shape[0]):
        total += f.g_volume[pos]
    return total


def pressure_ratio(buy: np.ndarray | float, sell: np.ndarray | float) -> np.ndarray:
    """Dominant side's share of buy + sell volume (0.5 balanced, 1 one-sided); NaN without volume."""
    buy, sell = np.asarray(buy, dtype=float), np.asarray(sell, dtype=float)
    total = buy + sell
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, np.maximum(buy, sell) / total, np.nan)


def window_samples(trades: pd.DataFrame, window_s: int) -> pd.DataFrame:
    """Fixed windows per contract from a day's trades, for the baselines.

    `trades` has ts (ns), inst, side ('B'/'A'/'N' codes as uint8), size, price (points), multiplier.
    Returns one row per (inst, window_start) with buy, sell, unknown, trades, notional and
    net = |buy - sell|, the pressure metric the baselines describe.
    """
    cols = ["inst", "window_start", "buy", "sell", "unknown", "trades", "notional", "net"]
    if trades.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c != "notional" else "float64") for c in cols})
    window_ns = np.int64(window_s) * 1_000_000_000
    side = trades["side"].to_numpy()
    size = trades["size"].to_numpy(np.int64)
    frame = pd.DataFrame({
        "inst": trades["inst"].to_numpy(np.int64),
        "window_start": (trades["ts"].to_numpy(np.int64) // window_ns) * window_ns,
        "buy": np.where(side == SIDE_BID, size, 0),
        "sell": np.where(side == SIDE_ASK, size, 0),
        "unknown": np.where((side != SIDE_BID) & (side != SIDE_ASK), size, 0),
        "trades": np.ones(len(trades), np.int64),
        "notional": trades["price"].to_numpy(float) * size * trades["multiplier"].to_numpy(float),
    })
    out = frame.groupby(["inst", "window_start"], as_index=False, sort=True).sum()
    out["net"] = (out["buy"] - out["sell"]).abs()
    return out[cols]
