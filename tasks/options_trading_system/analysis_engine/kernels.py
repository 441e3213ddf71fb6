"""Compiled passes (numba, cached on disk) that stand in for runs of small numpy calls in the stages.

On a chain of a few hundred contracts each numpy call costs more in its fixed overhead than in its
arithmetic, and a stage's tests, masks and per-strike sums are dozens of such calls. Each kernel here
does one of those runs in a single pass, with the same arithmetic in the same order as the numpy
expressions it replaces (the docstrings quote them): comparisons, +, -, *, / and sums accumulated in
row order, as `np.bincount` accumulates; no exp, log or erfc (numpy's and the C library's may differ
in the last bit), and no reordered sums (numpy's `sum` is pairwise). So the figures are the same to
the last bit, which the stages' tests check against the numpy forms.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np
from numpy.typing import NDArray


@nb.njit(cache=True, nogil=True)
def spike_tests(volume: NDArray[np.float64], oi: NDArray[np.float64], last: NDArray[np.float64],
                multiplier: float, min_vol_oi: float, min_volume: float, min_notional: float
                ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Per contract (vol_oi, notional, code) as the volume-spike stage's numpy forms give them:
    vol_oi = where((oi > 0) & (volume > 0), volume / oi, nan); notional = volume * last * multiplier;
    code = the first failing test, in order: not oi > 0 (1), not volume > 0 (2), vol_oi < min_vol_oi
    (3), volume < min_volume (4), last is NaN (5), notional < min_notional (6); 0 = a spike."""
    n = volume.size
    vol_oi = np.empty(n)
    notional = np.empty(n)
    code = np.zeros(n, dtype=np.int64)
    for i in range(n):
        v, o, p = volume[i], oi[i], last[i]
        ratio = v / o if (o > 0 and v > 0) else math.nan
        dollars = v * p * multiplier
        vol_oi[i] = ratio
        notional[i] = dollars
        if not o > 0:
            code[i] = 1
        elif not v > 0:
            code[i] = 2
        elif ratio < min_vol_oi:
            code[i] = 3
        elif v < min_volume:
            code[i] = 4
        elif p != p:
            code[i] = 5
        elif dollars < min_notional:
            code[i] = 6
    return vol_oi, notional, code


@nb.njit(cache=True, nogil=True)
def strike_sums(codes: NDArray[np.int64], n: int, strike: NDArray[np.float64], is_call: NDArray[np.bool_],
                is_put: NDArray[np.bool_], oi: NDArray[np.float64], mark: NDArray[np.float64],
                gamma: NDArray[np.float64], forward: float, multiplier: float, forward_squared: float,
                per_percent: float
                ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64],
                           NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The risk stage's per-strike sums (`risk.strike_table`) over contracts with a strike code each:
    call OI, put OI, OTM call dollars, OTM put dollars (0 where that side has no OTM contract), OTM
    call and put counts, GEX; each a `stage_tools.group_sum` (NaN where no contract has the figure)
    of dollars = oi * mark * multiplier and gex = sign * gamma * oi * multiplier * forward_squared *
    per_percent (sign +1 call, -1 put, NaN otherwise), accumulated in row order."""
    sums = np.zeros((5, n))
    counts = np.zeros((5, n), dtype=np.int64)
    otm_calls = np.zeros(n)
    otm_puts = np.zeros(n)
    for i in range(codes.size):
        c = codes[i]
        o = oi[i]
        dollars = o * mark[i] * multiplier
        call, put = is_call[i], is_put[i]
        sign = 1.0 if call else (-1.0 if put else math.nan)
        gex = sign * gamma[i] * o * multiplier * forward_squared * per_percent
        otm_call = call and strike[i] > forward
        otm_put = put and strike[i] < forward
        if call and o == o:
            sums[0, c] += o
            counts[0, c] += 1
        if put and o == o:
            sums[1, c] += o
            counts[1, c] += 1
        if otm_call:
            otm_calls[c] += 1.0
            if dollars == dollars:
                sums[2, c] += dollars
                counts[2, c] += 1
        if otm_put:
            otm_puts[c] += 1.0
            if dollars == dollars:
                sums[3, c] += dollars
                counts[3, c] += 1
        if gex == gex:
            sums[4, c] += gex
            counts[4, c] += 1
    out = np.where(counts > 0, sums, math.nan)
    call_dollars = np.where(otm_calls > 0, out[2], 0.0)
    put_dollars = np.where(otm_puts > 0, out[3], 0.0)
    return out[0].copy(), out[1].copy(), call_dollars, put_dollars, otm_calls, otm_puts, out[4].copy()


@nb.njit(cache=True, nogil=True)
def crossings(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    """Where y(x) changes sign (`gamma_exposure.sign_changes`' levels, NaN points of y skipped):
    between two nonzero points of opposite sign next to each other, x[i] + (x[j] - x[i]) * y[i] /
    (y[i] - y[j]); with zeros between them, the x of the first zero. Also the sign of the last
    nonzero point (0.0 when there is none)."""
    xs = np.empty(x.size)
    ys = np.empty(x.size)
    m = 0
    for i in range(x.size):
        if y[i] == y[i]:
            xs[m] = x[i]
            ys[m] = y[i]
            m += 1
    levels = np.empty(m)
    found = 0
    previous = -1  # the last nonzero point
    last_sign = 0.0
    for j in range(m):
        if ys[j] == 0:
            continue
        sign = 1.0 if ys[j] > 0 else -1.0
        if previous >= 0 and sign != last_sign:
            i = previous
            if j == i + 1:
                before, after = ys[i], ys[j]
                levels[found] = xs[i] + (xs[j] - xs[i]) * before / (before - after)
            else:
                levels[found] = xs[i + 1]
            found += 1
        previous = j
        last_sign = sign
    return levels[:found].copy(), last_sign
