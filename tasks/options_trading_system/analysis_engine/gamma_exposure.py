"""Dealer gamma exposure re-priced at hypothetical underlying prices, and the zero-gamma level.

The way GEX practitioners find the level where dealers' hedging flips from damping moves (long
gamma) to amplifying them (short gamma): move the underlying to each price S of a grid around the
money, re-price every contract's Black-76 gamma there with its own implied volatility and time to
expiry, and sum

    GEX(S) = sum_i sign_i x gamma_i(S) x OI_i x multiplier x S^2 x 0.01      (calls +, puts -)

in dollars per 1% move. The zero-gamma level is where GEX(S) changes sign nearest the money
(linear between the two grid prices around the change). With gamma_i(S) = D_i n(d1) / (S s_i),
s_i = sigma_i sqrt(T_i), d1 = (ln(S/K_i) + s_i^2/2) / s_i and D_i = e^{-r T_i}:

    GEX(S) = 0.01 x multiplier x S x sum_i sign_i OI_i D_i n(d1_i(S)) / s_i,

one matrix (grid x contracts) of n(d1) times a vector: vectorized over both, in bounded chunks. A
density below the smallest normal double (2.2e-308: a contract's term under 1e-290 dollars) counts
as 0.
Pure functions on numpy arrays; the risk stage picks the contracts and the grid.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernels

GEX_PER_PERCENT = 0.01  # GEX is quoted in dollars per 1% move of the underlying
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)
_CHUNK_CELLS = 2_000_000  # grid x contracts cells per block: bounds memory at ~16 MB per temporary


@dataclass(frozen=True)
class ZeroGamma:
    """Where a GEX curve changes sign: the crossing nearest the money, all crossings, and why there is
    none when there is none (`note`)."""

    level: float
    crossings: tuple[float, ...]
    note: str


def price_grid(spot: float, span: float, step: float) -> np.ndarray:
    """Hypothetical underlying prices spot x (1 + j x step) for |j x step| <= span, ascending; the spot
    itself is a grid price. `span` and `step` are fractions of the spot (0.10 and 0.001 = +/-10% in
    0.1% steps)."""
    count = int(np.floor(span / step + 1e-9))
    return spot * (1.0 + step * np.arange(-count, count + 1, dtype=np.float64))


def total_gex(prices: np.ndarray, strike: np.ndarray, years: np.ndarray, iv: np.ndarray,
              signed_oi: np.ndarray, multiplier: float, discount: np.ndarray | float = 1.0) -> np.ndarray:
    """Dealer GEX (dollars per 1% move) at each of `prices`, every contract re-priced there with its
    own IV and time to expiry. `signed_oi` is +OI for calls, -OI for puts. Contracts must have a
    positive strike, IV and time (the caller leaves the others out)."""
    prices = np.asarray(prices, dtype=np.float64)
    sd = np.asarray(iv, dtype=np.float64) * np.sqrt(np.asarray(years, dtype=np.float64))
    weight = np.asarray(signed_oi, dtype=np.float64) * np.broadcast_to(discount, sd.shape) / sd * _INV_SQRT_2PI
    log_k = np.log(np.asarray(strike, dtype=np.float64))
    half_sd = 0.5 * sd
    inv_sd = 1.0 / sd
    log_s = np.log(prices)
    out = np.zeros(prices.shape)
    block = max(1, _CHUNK_CELLS // max(prices.size, 1))
    for start in range(0, sd.size, block):
        part = slice(start, start + block)
        # -d1^2/2 with d1 = (ln S - ln K) / s + s / 2 in one compiled pass, numpy's vectorized exp
        # of it, the weighted sum per grid price in another; a density too small for a normal
        # double (below 2.2e-308) counts as 0: it would take exp off its fast path
        densities = kernels.gex_exponents(log_s, log_k[part], inv_sd[part], half_sd[part])
        np.exp(densities, out=densities)
        kernels.gex_totals(densities, weight[part], out)
    return out * prices * (multiplier * GEX_PER_PERCENT)


def sign_changes(x: np.ndarray, y: np.ndarray, reference: float, *, what: str) -> ZeroGamma:
    """Where y(x) changes sign (x ascending): linear between the two points around each change; a
    point exactly at zero between two signs is the crossing itself. The crossing nearest `reference`
    is the level; NaN with a note saying how y stays (`what` names y in the note) when there is none.
    Points where y is NaN are skipped."""
    levels, last_sign = kernels.crossings(np.ascontiguousarray(x, dtype=np.float64),
                                          np.ascontiguousarray(y, dtype=np.float64))
    if levels.size == 0:
        stays = "positive" if last_sign > 0 else "negative" if last_sign < 0 else "zero"
        return ZeroGamma(float("nan"), (), f"{what} never changes sign (stays {stays})")
    nearest = float(levels[np.argmin(np.abs(levels - reference))])
    return ZeroGamma(nearest, tuple(levels.tolist()), "")
