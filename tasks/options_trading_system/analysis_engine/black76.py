"""Black-76: prices and greeks of options on futures, vectorized over numpy arrays.

`forward` F and `strike` K in index points, `years` T to expiry, `vol` sigma annualized,
`rate` r continuously compounded (discount factor e^{-rT}); `is_call` boolean per option.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def _d1_d2(forward: ArrayLike, strike: ArrayLike, years: ArrayLike, vol: ArrayLike
           ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    f, k, t, s = (np.asarray(x, dtype=np.float64) for x in (forward, strike, years, vol))
    sd = s * np.sqrt(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = (np.log(f / k) + 0.5 * sd * sd) / sd
    return d1, d1 - sd, sd


def norm_pdf(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


def price(forward: ArrayLike, strike: ArrayLike, years: ArrayLike, vol: ArrayLike,
          is_call: ArrayLike, rate: ArrayLike = 0.0) -> NDArray[np.float64]:
    """Black-76 option price."""
    d1, d2, _ = _d1_d2(forward, strike, years, vol)
    f, k = np.asarray(forward, dtype=np.float64), np.asarray(strike, dtype=np.float64)
    df = np.exp(-np.asarray(rate, dtype=np.float64) * np.asarray(years, dtype=np.float64))
    call = df * (f * ndtr(d1) - k * ndtr(d2))
    put = df * (k * ndtr(-d2) - f * ndtr(-d1))
    return np.where(np.asarray(is_call, dtype=bool), call, put)


def delta(forward: ArrayLike, strike: ArrayLike, years: ArrayLike, vol: ArrayLike,
          is_call: ArrayLike, rate: ArrayLike = 0.0) -> NDArray[np.float64]:
    """dPrice/dF: e^{-rT} N(d1) for calls, -e^{-rT} N(-d1) for puts."""
    d1, _, _ = _d1_d2(forward, strike, years, vol)
    df = np.exp(-np.asarray(rate, dtype=np.float64) * np.asarray(years, dtype=np.float64))
    return np.where(np.asarray(is_call, dtype=bool), df * ndtr(d1), -df * ndtr(-d1))


def gamma(forward: ArrayLike, strike: ArrayLike, years: ArrayLike, vol: ArrayLike,
          rate: ArrayLike = 0.0) -> NDArray[np.float64]:
    """d2Price/dF2 (same for calls and puts): e^{-rT} n(d1) / (F sigma sqrt(T))."""
    d1, _, sd = _d1_d2(forward, strike, years, vol)
    df = np.exp(-np.asarray(rate, dtype=np.float64) * np.asarray(years, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        return df * norm_pdf(d1) / (np.asarray(forward, dtype=np.float64) * sd)


def vega(forward: ArrayLike, strike: ArrayLike, years: ArrayLike, vol: ArrayLike,
         rate: ArrayLike = 0.0) -> NDArray[np.float64]:
    """dPrice/dsigma: e^{-rT} F n(d1) sqrt(T)."""
    d1, _, _ = _d1_d2(forward, strike, years, vol)
    t = np.asarray(years, dtype=np.float64)
    df = np.exp(-np.asarray(rate, dtype=np.float64) * t)
    return df * np.asarray(forward, dtype=np.float64) * norm_pdf(d1) * np.sqrt(t)
