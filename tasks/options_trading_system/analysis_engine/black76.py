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


def delta_gamma(forward: ArrayLike, strike: ArrayLike, years: ArrayLike, vol: ArrayLike, is_call: ArrayLike,
                rate: ArrayLike = 0.0) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """`delta` and `gamma` together, sharing d1 and the discount factor (the greeks stage needs both)."""
    d1, _, sd = _d1_d2(forward, strike, years, vol)
    df = np.exp(-np.asarray(rate, dtype=np.float64) * np.asarray(years, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma_ = df * norm_pdf(d1) / (np.asarray(forward, dtype=np.float64) * sd)
    delta_ = np.where(np.asarray(is_call, dtype=bool), df * ndtr(d1), -df * ndtr(-d1))
    return delta_, gamma_


def vega(forward: ArrayLike, strike: ArrayLike, years: ArrayLike, vol: ArrayLike,
         rate: ArrayLike = 0.0) -> NDArray[np.float64]:
    """dPrice/dsigma: e^{-rT} F n(d1) sqrt(T)."""
    d1, _, _ = _d1_d2(forward, strike, years, vol)
    t = np.asarray(years, dtype=np.float64)
    df = np.exp(-np.asarray(rate, dtype=np.float64) * t)
    return df * np.asarray(forward, dtype=np.float64) * norm_pdf(d1) * np.sqrt(t)


# --- implied volatility ---------------------------------------------------------------------

# Why an implied volatility could not be solved; `implied_vol_status` returns one code per option.
IV_SOLVED = 0
IV_NO_PRICE = 1         # price missing, not a number, or not positive
IV_BAD_INPUT = 2        # forward or strike missing or not positive
IV_EXPIRED = 3          # time to expiry missing or <= 0
IV_NO_TIME_VALUE = 4    # time value below the minimum: deep ITM (or worthless) carries no vol information
IV_ARBITRAGE = 5        # price below intrinsic value or above the no-arbitrage upper bound
IV_ABOVE_MAX = 6        # the price needs a volatility above `max_iv`
IV_STATUS_TEXT: dict[int, str] = {
    IV_SOLVED: "solved",
    IV_NO_PRICE: "no usable price",
    IV_BAD_INPUT: "forward or strike missing",
    IV_EXPIRED: "expired (time to expiry <= 0)",
    IV_NO_TIME_VALUE: "time value below min_time_value",
    IV_ARBITRAGE: "price outside no-arbitrage bounds",
    IV_ABOVE_MAX: "implied volatility above max_iv",
}

_NEWTON_ITERATIONS = 12     # Newton converges in 3-7 steps from the start below; more means a hard case
_BISECTION_ITERATIONS = 64  # halves the bracket to ~1e-19 of its width: below double precision
_STEP_TOLERANCE = 1e-13     # relative change of sigma*sqrt(T) at which Newton has converged
_LOG_PRICE_TOLERANCE = 2e-15  # |ln(model/market)|: the model price equals the market to rounding
_START_FLOOR = 1e-6         # smallest start, relative to max_iv*sqrt(T) (s_c is 0 at the money)
_AT_BOUND = 1e-12           # a root this close (relative) to max_iv*sqrt(T) means "the search hit the cap"


def implied_vol(price: ArrayLike, forward: ArrayLike, strike: ArrayLike, years: ArrayLike,
                is_call: ArrayLike, rate: ArrayLike = 0.0, max_iv: float = 5.0, *,
                min_time_value: float = 0.0) -> NDArray[np.float64]:
    """Black-76 implied volatility of option prices (vectorized); NaN where it cannot be solved.

    See `implied_vol_status` for the method and for why an entry is NaN.
    """
    return implied_vol_status(price, forward, strike, years, is_call, rate, max_iv,
                              min_time_value=min_time_value)[0]


def implied_vol_status(price: ArrayLike, forward: ArrayLike, strike: ArrayLike, years: ArrayLike,
                       is_call: ArrayLike, rate: ArrayLike = 0.0, max_iv: float = 5.0, *,
                       min_time_value: float = 0.0) -> tuple[NDArray[np.float64], NDArray[np.int8]]:
    """Implied volatility and a status code per option (`IV_STATUS_TEXT` says what each means).

    Method, all steps vectorized over the arrays:
    1. Price the out-of-the-money side: an ITM price becomes the OTM price of the other right at the
       same strike by put-call parity, C - P = e^{-rT}(F - K). That OTM price is the time value;
       below `min_time_value` (index points) or outside (0, e^{-rT}F) for calls / (0, e^{-rT}K) for
       puts nothing is solved: deep ITM quotes carry no volatility information.
    2. Solve for s = sigma*sqrt(T) with x = ln(F/K) on the undiscounted OTM price q. The price is
       convex in s below the inflection point s_c = sqrt(2|x|) and concave above it. The first
       evaluation, at s_c, says on which side the root lies:
       - model above market: the root is left of s_c; Newton on ln(price) in the variable
         v = 1/s^2, where ln(price) ~ -x^2 v / 2 is nearly linear;
       - otherwise Newton on ln(price) in s (concave: converges monotonically from the left); the
         first step is at least the Corrado-Miller estimate (Brenner-Subrahmanyam when F = K).
       Every step is safeguarded by a bracket [0, max_iv*sqrt(T)] that each evaluation narrows;
       a step leaving the bracket becomes a bisection.
    3. Entries Newton has not settled after a dozen steps are finished by bisection of their bracket;
       a root that ends on the upper end of the bracket means the price needs more than `max_iv`.
    The result reproduces the price to ~1e-15 relative (round trip well inside 1e-8 points).
    """
    p, f, k, t, r = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64)
                                          for v in (price, forward, strike, years, rate)))
    call = np.broadcast_to(np.asarray(is_call, dtype=bool), p.shape)
    shape = p.shape
    p, f, k, t, r, call = (a.ravel() for a in (p, f, k, t, r, call))
    iv = np.full(p.shape, np.nan)
    status = np.full(p.shape, IV_SOLVED, dtype=np.int8)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        df = np.exp(-r * t)
        theta = np.where(call, 1.0, -1.0)
        otm_discounted = p - df * np.maximum(theta * (f - k), 0.0)  # the time value, index points
        call_side = k >= f
        upper = np.where(call_side, f, k)                            # undiscounted bound of the OTM price
        q = otm_discounted / df
        noise = 64.0 * np.finfo(np.float64).eps * np.maximum(np.abs(p), df * np.maximum(f, k))
        status[~(np.isfinite(t) & (t > 0))] = IV_EXPIRED
        status[(~np.isfinite(r))] = IV_BAD_INPUT
        status[~(np.isfinite(f) & (f > 0) & np.isfinite(k) & (k > 0))] = IV_BAD_INPUT
        status[~(np.isfinite(p) & (p > 0))] = IV_NO_PRICE
        pending = status == IV_SOLVED
        status[pending & ((otm_discounted < -noise) | (q >= upper))] = IV_ARBITRAGE
        pending = status == IV_SOLVED
        status[pending & ~((otm_discounted > 0) & (otm_discounted >= min_time_value))] = IV_NO_TIME_VALUE
        pending = status == IV_SOLVED
        idx = np.flatnonzero(pending)
        if idx.size:
            root_t = np.sqrt(t[idx])
            s_max = max_iv * root_t
            side = np.where(call_side[idx], 1.0, -1.0)
            s = _solve_normalized(q[idx], f[idx], k[idx], side, s_max)
            too_high = ~(s < s_max * (1.0 - _AT_BOUND))  # the search ran into max_iv
            status[idx[too_high]] = IV_ABOVE_MAX
            iv[idx] = np.where(too_high, np.nan, s / root_t)
    return iv.reshape(shape), status.reshape(shape)


def _otm_price(f: NDArray[np.float64], k: NDArray[np.float64], x: NDArray[np.float64],
               s: NDArray[np.float64], side: NDArray[np.float64]) -> NDArray[np.float64]:
    """Undiscounted Black price with total volatility s; side +1 call, -1 put."""
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = x / s + 0.5 * s
    return side * (f * ndtr(side * d1) - k * ndtr(side * (d1 - s)))


def _solve_normalized(q: NDArray[np.float64], f: NDArray[np.float64], k: NDArray[np.float64],
                      side: NDArray[np.float64], s_max: NDArray[np.float64]) -> NDArray[np.float64]:
    """s = sigma*sqrt(T) with _otm_price(s) = q; NaN where q needs s >= s_max (see implied_vol_status).

    The working arrays shrink as entries converge (only when at least half of them have: shrinking
    costs a copy, and a converged entry just stays at its root meanwhile).
    """
    x = np.log(f / k)
    s_c = np.sqrt(2.0 * np.abs(x))
    # Corrado-Miller on the call-equivalent price (parity), Brenner-Subrahmanyam when F = K.
    call_equiv = q + np.maximum(f - k, 0.0)
    half = call_equiv - 0.5 * (f - k)
    corrado = np.sqrt(2.0 * np.pi) / (f + k) * (half + np.sqrt(np.maximum(half * half - (f - k) ** 2 / np.pi, 0.0)))
    result = np.full(q.shape, np.nan)
    where = np.arange(q.size)
    s = np.minimum(np.maximum(s_c, _START_FLOOR * s_max), s_max)  # at the money s_c = 0: start just above
    left = np.ones(q.shape, dtype=bool)      # decided at the first evaluation (at s_c)
    lo, hi = np.zeros_like(q), s_max.copy()
    log_q = np.log(q)
    work = [q, f, k, x, side, log_q, lo, hi, s, left, corrado, s_max]
    settled = np.zeros(q.shape, dtype=bool)
    for iteration in range(_NEWTON_ITERATIONS):
        q, f, k, x, side, log_q, lo, hi, s, left, corrado, s_max = work
        d1 = x / s + 0.5 * s
        model = side * (f * ndtr(side * d1) - k * ndtr(side * (d1 - s)))
        g = np.log(model) - log_q
        slope = f * _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1) / model  # d ln(price) / ds
        above = g > 0
        if iteration == 0:  # at s_c: a model price above the market puts the root in the convex part
            left = above
            work[9] = left
        np.copyto(hi, s, where=above)
        np.copyto(lo, s, where=~above)
        new = np.where(left, 1.0 / np.sqrt(1.0 / (s * s) + 2.0 * g / (slope * s ** 3)), s - g / slope)
        if iteration == 0:
            new = np.where(left, new, np.fmax(new, np.minimum(corrado, s_max)))
        outside = ~((new >= lo) & (new <= hi))
        new = np.where(outside, 0.5 * (lo + hi), new)
        exact = np.abs(g) <= _LOG_PRICE_TOLERANCE
        new = np.where(exact, s, new)
        done = exact | (np.abs(new - s) <= _STEP_TOLERANCE * new)
        s[...] = new
        settled = done
        if done.all():
            break
        if done.mean() >= 0.5:
            result[where[done]] = s[done]
            keep = ~done
            where = where[keep]
            work = [a[keep] for a in work]
            settled = np.zeros(where.shape, dtype=bool)
    q, f, k, x, side, log_q, lo, hi, s, left, corrado, s_max = work
    result[where[settled]] = s[settled]
    rest = ~settled
    if rest.any():
        result[where[rest]] = _bisect(q[rest], f[rest], k[rest], x[rest], side[rest], lo[rest], hi[rest])
    return result


def _bisect(q: NDArray[np.float64], f: NDArray[np.float64], k: NDArray[np.float64], x: NDArray[np.float64],
            side: NDArray[np.float64], lo: NDArray[np.float64], hi: NDArray[np.float64]) -> NDArray[np.float64]:
    """Fallback: bisection of [lo, hi] (bracketing the root) to double precision."""
    lo, hi = lo.copy(), hi.copy()
    for _ in range(_BISECTION_ITERATIONS):
        mid = 0.5 * (lo + hi)
        above = _otm_price(f, k, x, mid, side) > q
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return 0.5 * (lo + hi)
