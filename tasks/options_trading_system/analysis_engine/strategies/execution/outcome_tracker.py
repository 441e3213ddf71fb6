"""Following signals along the real price path: which came first, the target or the stop?

Pure and vectorized over (open signals x bars). A signal decided at time t is followed on the
bars that start at or after t (a bar is known only when it ends, so its high and low may not be
used for a decision inside it). Long: target hit when high >= target, stop when low <= stop;
short the mirror. When one bar touches both, `stop_first` (the default) takes the stop: the
conservative reading of a bar whose inside order is unknown. A stop gapped through fills at the
bar's open (worse than the stop); a target fills at the target. At the session end whatever is
still open is closed at the last close at or before the window's end.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..feeds.price_path import PricePath

EXIT_TARGET = "target"
EXIT_STOP = "stop"
EXIT_SESSION_END = "session_end"

FOLLOWER_COLUMNS = ("signal_id", "sign", "target", "stop", "start_ns")
RESOLUTION_COLUMNS = ("signal_id", "exit_reason", "exit_ns", "exit_reference")


def resolve(followers: pd.DataFrame, bars: PricePath, *, stop_first: bool = True) -> pd.DataFrame:
    """Signals among `followers` (signal_id, sign +1/-1, target, stop, start_ns) that hit their
    target or stop on `bars`, with the exit time (end of the hitting bar, ns UTC) and the exit
    reference price; sorted by exit time, then signal id (the order they are recorded in)."""
    if followers.empty or len(bars) == 0:
        return _resolutions(Hits.none())
    hits = resolve_arrays(followers["signal_id"].to_numpy(dtype="object"),
                          followers["sign"].to_numpy(dtype="float64"), followers["target"].to_numpy(dtype="float64"),
                          followers["stop"].to_numpy(dtype="float64"), followers["start_ns"].to_numpy(dtype="int64"),
                          bars, stop_first=stop_first)
    return _resolutions(hits)


@dataclass(frozen=True)
class Hits:
    """`resolve`'s answer as arrays (what a caller walking the exits one by one reads without a table)."""

    signal_id: np.ndarray
    exit_reason: np.ndarray
    exit_ns: np.ndarray
    exit_reference: np.ndarray

    @staticmethod
    def none() -> "Hits":
        return Hits(np.empty(0, dtype="object"), np.empty(0, dtype="object"), np.empty(0, dtype="int64"),
                    np.empty(0, dtype="float64"))

    def __len__(self) -> int:
        return len(self.signal_id)


def resolve_arrays(signal_id: np.ndarray, sign: np.ndarray, target: np.ndarray, stop: np.ndarray,
                   start_ns: np.ndarray, bars: PricePath, *, stop_first: bool = True) -> Hits:
    """`resolve` on plain arrays (one entry per open signal), in the same order and with the same
    numbers: what the paper broker and the orchestrator call on every event."""
    if len(signal_id) == 0 or len(bars) == 0:
        return Hits.none()
    sign, target, stop, start = sign[:, None], target[:, None], stop[:, None], start_ns[:, None]
    high, low = bars.high[None, :], bars.low[None, :]
    eligible = bars.start[None, :] >= start
    long = sign > 0
    hit_target = eligible & np.where(long, high >= target, low <= target)
    hit_stop = eligible & np.where(long, low <= stop, high >= stop)
    n_bars = len(bars)
    first_target = np.where(hit_target.any(axis=1), hit_target.argmax(axis=1), n_bars)
    first_stop = np.where(hit_stop.any(axis=1), hit_stop.argmax(axis=1), n_bars)
    hit = np.minimum(first_target, first_stop) < n_bars
    if not hit.any():
        return Hits.none()
    stop_wins = (first_stop < first_target) | ((first_stop == first_target) & stop_first)
    index = np.where(stop_wins, first_stop, first_target)[hit]
    rows = np.flatnonzero(hit)
    sign_h, stop_h, target_h = sign[rows, 0], stop[rows, 0], target[rows, 0]
    bar_open = bars.open[index]
    gapped = np.where(sign_h > 0, np.minimum(bar_open, stop_h), np.maximum(bar_open, stop_h))
    stopped = stop_wins[hit]
    ids = np.asarray(signal_id, dtype="object")[rows]
    exit_ns = np.asarray(bars.end[index], dtype="int64")
    # by exit time, then signal id; ties keep the followers' order (a stable sort, as the table's was)
    order = np.array(sorted(range(len(rows)), key=lambda k: (exit_ns[k], ids[k])), dtype="int64")
    return Hits(signal_id=ids[order],
                exit_reason=np.where(stopped, EXIT_STOP, EXIT_TARGET).astype("object")[order],
                exit_ns=exit_ns[order],
                exit_reference=np.where(stopped, gapped, target_h)[order])


def _resolutions(hits: Hits) -> pd.DataFrame:
    if not len(hits):
        return pd.DataFrame({c: pd.Series(dtype="object" if c in ("signal_id", "exit_reason") else "float64")
                             for c in RESOLUTION_COLUMNS})
    return pd.DataFrame({"signal_id": hits.signal_id, "exit_reason": hits.exit_reason, "exit_ns": hits.exit_ns,
                         "exit_reference": hits.exit_reference})


def close_at_session_end(followers: pd.DataFrame, bars: PricePath, window_close: pd.Timestamp) -> pd.DataFrame:
    """Everything in `followers` closed at the last price at or before `window_close`
    (exit reference NaN when the path has no bar by then: the outcome is then missing)."""
    price, _ = bars.last_close(window_close)
    return pd.DataFrame({
        "signal_id": followers["signal_id"].to_numpy(),
        "exit_reason": EXIT_SESSION_END,
        "exit_ns": np.full(len(followers), pd.Timestamp(window_close).value, dtype="int64"),
        "exit_reference": np.full(len(followers), price, dtype="float64"),
    }).sort_values("signal_id", kind="stable").reset_index(drop=True)


def move_points(sign: np.ndarray | float, entry: np.ndarray | float, exit_reference: np.ndarray | float) -> np.ndarray:
    """Points the market moved in the signal's favour from its entry reference to the exit."""
    return (np.asarray(exit_reference, dtype="float64") - np.asarray(entry, dtype="float64")) * np.asarray(sign, dtype="float64")
