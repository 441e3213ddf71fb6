"""Market-making filter: call and put activity at one strike inside a short interval.

A dealer quoting (or a trader buying) a straddle trades both rights of the same strike within
moments; that is volatility business, not a directional bet. When the other right of the same
strike and expiration traded at least `min_ratio` times this contract's volume inside the last
`interval_s`, the window is straddle-like and its confidence is multiplied by (1 - discount).
The reason (both volumes, the interval) goes into the signal, so a discount is never silent.
"""
from __future__ import annotations

import numpy as np

from .flow_metrics import FlowState, advance
from .jit import kernel

NO_PAIR = -1


@kernel
def interval_volume(f: FlowState, inst: int, n_slices: int) -> np.int64:
    """Aggressor volume (buy + sell + unknown) of `inst` over its newest `n_slices` slices."""
    k = f.buy.shape[1]
    cur = f.bucket[inst]
    total = np.int64(0)
    if cur < 0:
        return total
    for j in range(n_slices):
        pos = (cur - j) % k
        total += f.buy[inst, pos] + f.sell[inst, pos] + f.unknown[inst, pos]
    return total


@kernel
def straddle_like(f: FlowState, inst: int, pair: int, bucket: np.int64, n_slices: int,
                  min_ratio: float) -> tuple[bool, np.int64, np.int64]:
    """(straddle-like?, this contract's volume, the other right's volume) over the interval
    ending at `bucket`. Both rings are moved to `bucket` first so stale slices do not count."""
    if pair == NO_PAIR:
        return False, np.int64(0), np.int64(0)
    advance(f, inst, bucket)
    advance(f, pair, bucket)
    own = interval_volume(f, inst, n_slices)
    other = interval_volume(f, pair, n_slices)
    if own <= 0:
        return False, own, other
    return other >= min_ratio * own, own, other


def pair_index(strike: np.ndarray, right: np.ndarray, expiration: np.ndarray, root: np.ndarray) -> np.ndarray:
    """For each instrument, the index of the other right at the same strike, expiration and
    underlying root (NO_PAIR when none). Inputs are aligned per instrument index."""
    n = len(strike)
    out = np.full(n, NO_PAIR, np.int64)
    lookup: dict[tuple, int] = {}
    for i in range(n):
        if right[i] in ("C", "P") and np.isfinite(strike[i]):
            lookup[(root[i], expiration[i], float(strike[i]), right[i])] = i
    for i in range(n):
        if right[i] in ("C", "P") and np.isfinite(strike[i]):
            other = "P" if right[i] == "C" else "C"
            out[i] = lookup.get((root[i], expiration[i], float(strike[i]), other), NO_PAIR)
    return out


def reason(own: float, other: float, other_right: str, strike: float, interval_s: int, discount: float) -> str:
    """Sentence recorded with a discounted signal."""
    name = "put" if other_right == "P" else "call"
    return (f"market-making filter: the {name} at strike {strike:g} traded {other:.0f} contracts against "
            f"{own:.0f} here within {interval_s} s (straddle-like); confidence cut by {discount:.0%}")
