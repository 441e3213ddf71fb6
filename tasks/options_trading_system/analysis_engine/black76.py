"""Black-76: prices and greeks of options on futures, vectorized over numpy arrays.

`forward` F and `strike` K in index points, `years` T to expiry, `vol` sigma annualized,
`rate` r continuously compounded (discount factor e^{-rT}); `is_call` boolean per option.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

from . import kernels

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)


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
    if _chain_columns((strike, years, vol), is_call) and isinstance(forward, (float, int, np.floating, np.integer)) \
            and isinstance(rate, (float, int, np.floating, np.integer)):
        # a chain's columns: the arithmetic in compiled passes, numpy's log/exp and scipy's ndtr between
        k, t, s, call = strike, years, vol, is_call
        f_value = float(forward)
        with np.errstate(divide="ignore", invalid="ignore"):
            sd, d1, minus_d1, exponent = kernels.d1_terms(np.log(f_value / k), t, s)
        # e^{-rT}: with no rate exactly 1 (exp(-0) = 1 in every library)
        df = np.ones(t.size) if float(rate) == 0.0 else np.exp(-float(rate) * t)
        return kernels.delta_gamma_from(df, np.exp(exponent), f_value, sd, ndtr(d1), ndtr(minus_d1), call,
                                        float(_INV_SQRT_2PI))
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
_QUADRATIC_STOP = 1e-8      # ... or a Newton step this small: the error left is about its square (1e-16)
_CUBIC_STOP = 1e-6          # ... or a Halley step this small: the error left is about its cube (1e-18)
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

    Method (per option, in one compiled pass over the arrays, `_implied_vol_all`):
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
       When the option before it in the arrays (the last one solved) has the same time to expiry,
       its volatility is the start instead: a chain lists an expiration's strikes in order and the
       smile moves little from one strike to the next, so the solve starts next to the root, where
       Halley's step (Newton's with the second derivative, cubic convergence) needs about 1.8
       evaluations an option instead of 7. Which variable each step takes then follows from where s
       lies against s_c. The answer agrees with the unseeded solve to ~1e-13 relative; both
       reproduce the price to rounding.
    3. Options Newton has not settled after a dozen steps are finished by bisection of their bracket;
       a root that ends on the upper end of the bracket means the price needs more than `max_iv`.
    The result reproduces the price to ~1e-15 relative (round trip well inside 1e-8 points).
    """
    flat = _flat_inputs((price, forward, strike, years, rate), is_call)
    if flat is not None:  # 1-D arrays of one length and scalars (a chain's columns): no broadcasting needed
        shape, (p, f, k, t, r), call = flat
    else:
        arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (price, forward, strike, years, rate)),
                                     np.asarray(is_call, dtype=bool))
        shape = arrays[0].shape
        p, f, k, t, r = (np.ascontiguousarray(a, dtype=np.float64).ravel() for a in arrays[:5])
        call = np.ascontiguousarray(arrays[5]).ravel()
    iv = np.empty(p.shape)
    status = np.empty(p.shape, dtype=np.int8)
    _implied_vol_all(p, f, k, t, r, call, float(max_iv), float(min_time_value), _NEWTON_ITERATIONS, iv, status)
    return iv.reshape(shape), status.reshape(shape)


def _chain_columns(numbers: tuple[ArrayLike, ...], is_call: ArrayLike) -> bool:
    """Whether these are a chain's columns as they come: contiguous 1-D float64 arrays and a bool
    mask, all of one length."""
    if type(is_call) is not np.ndarray or is_call.dtype != np.bool_ or is_call.ndim != 1:
        return False
    return all(type(a) is np.ndarray and a.dtype == np.float64 and a.ndim == 1 and a.size == is_call.size
               and a.flags.c_contiguous for a in numbers)


def _flat_inputs(numbers: tuple[ArrayLike, ...], is_call: ArrayLike
                 ) -> tuple[tuple[int, ...], list[NDArray[np.float64]], NDArray[np.bool_]] | None:
    """The solver's inputs as contiguous 1-D arrays when they already are such arrays (float64, one
    length) or Python/numpy scalars (repeated to that length), which is what `np.broadcast_arrays`
    would give them; None for anything else (the general path broadcasts)."""
    size = None
    for value in (*numbers, is_call):
        if type(value) is np.ndarray:
            if value.ndim != 1 or not value.flags.c_contiguous or (size is not None and value.size != size):
                return None
            size = value.size
        elif not isinstance(value, (float, int, np.floating, np.integer, bool, np.bool_)):
            return None
    if size is None or type(is_call) is not np.ndarray or is_call.dtype != np.bool_:
        return None
    out = []
    for value in numbers:
        if type(value) is np.ndarray:
            if value.dtype != np.float64:
                return None
            out.append(value)
        else:
            out.append(np.full(size, float(value)))
    return (size,), out, is_call


@nb.njit(cache=True, nogil=True)
def _ndtr(x: float) -> float:
    return 0.5 * math.erfc(-x * _INV_SQRT_2)


@nb.njit(cache=True, nogil=True)
def _otm_price(f: float, k: float, x: float, s: float, side: float) -> float:
    """Undiscounted Black price with total volatility s; side +1 call, -1 put."""
    d1 = x / s + 0.5 * s
    return side * (f * _ndtr(side * d1) - k * _ndtr(side * (d1 - s)))


@nb.njit(cache=True, nogil=True)
def _solve_one(q: float, f: float, k: float, side: float, s_max: float, newton_iterations: int,
               seed: float = 0.0) -> float:
    """s = sigma*sqrt(T) with _otm_price(s) = q (see implied_vol_status for the method); `seed`: a
    start near the root (a neighbouring strike's s), 0 for none."""
    x = math.log(f / k)
    s_c = math.sqrt(2.0 * abs(x))
    seeded = 0.0 < seed < s_max
    if seeded:
        s, corrado = seed, 0.0
    else:
        # Corrado-Miller on the call-equivalent price (parity), Brenner-Subrahmanyam when F = K
        call_equiv = q + max(f - k, 0.0)
        half = call_equiv - 0.5 * (f - k)
        corrado = math.sqrt(2.0 * math.pi) / (f + k) * (half + math.sqrt(max(half * half - (f - k) ** 2 / math.pi,
                                                                              0.0)))
        s = min(max(s_c, _START_FLOOR * s_max), s_max)  # at the money s_c = 0: start just above
    lo, hi = 0.0, s_max
    log_q = math.log(q)
    left = True
    for iteration in range(newton_iterations):
        d1 = x / s + 0.5 * s
        model = side * (f * _ndtr(side * d1) - k * _ndtr(side * (d1 - s)))
        if model > 0:
            g = math.log(model) - log_q
            slope = f * _INV_SQRT_2PI * math.exp(-0.5 * d1 * d1) / model  # d ln(price) / ds
            if not slope > 0:  # the density underflowed: no step to take (NaN, not a division by 0)
                slope = math.nan
        else:  # the price underflows here (a start far below the root): no step, the bracket bisects
            g, slope = -math.inf, math.nan
        above = g > 0
        if seeded:  # started near the root: the step suits the side of s_c this s lies on
            left = s < s_c
        elif iteration == 0:  # at s_c: a model price above the market puts the root in the convex part
            left = above
        if above:
            hi = s
        else:
            lo = s
        if left:
            new = 1.0 / math.sqrt(1.0 / (s * s) + 2.0 * g / (slope * s ** 3))
        else:
            new = s - g / slope
        stop_below = _QUADRATIC_STOP
        if seeded:  # next to the root: Halley's step (cubic), from the second derivative in s
            curvature = slope * d1 * (d1 - s) / s - slope * slope  # d2 ln(price) / ds2
            if left:  # in v = 1/s^2: dg/dv = -slope s^3 / 2, d2g/dv2 = curvature s^6 / 4 + 3 slope s^5 / 4
                gv = -0.5 * slope * s ** 3
                denominator = 2.0 * gv * gv - g * (0.25 * curvature * s ** 6 + 0.75 * slope * s ** 5)
                v = 1.0 / (s * s) - 2.0 * g * gv / denominator if denominator > 0 else -1.0
                halley = 1.0 / math.sqrt(v) if v > 0 else math.nan
            else:
                denominator = 2.0 * slope * slope - g * curvature
                halley = s - 2.0 * g * slope / denominator if denominator > 0 else math.nan
            if halley == halley:
                new, stop_below = halley, _CUBIC_STOP
        newton = True  # a pure Newton (or Halley) step, not a floor or a bisection
        if iteration == 0 and not left and not seeded:
            floor = min(corrado, s_max)
            if new != new or new < floor:
                new, newton = floor, False
        if not (new >= lo and new <= hi):
            new, newton = 0.5 * (lo + hi), False
        if abs(g) <= _LOG_PRICE_TOLERANCE:
            return s
        step = abs(new - s)
        if step <= _STEP_TOLERANCE * new or (newton and step <= stop_below * new):
            return new
        s = new
    for _ in range(_BISECTION_ITERATIONS):  # Newton did not settle: bisection of the bracket
        mid = 0.5 * (lo + hi)
        if _otm_price(f, k, x, mid, side) > q:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


@nb.njit(cache=True, nogil=True)
def _implied_vol_all(p: NDArray[np.float64], f: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
                     r: NDArray[np.float64], call: NDArray[np.bool_], max_iv: float, min_time_value: float,
                     newton_iterations: int, iv: NDArray[np.float64], status: NDArray[np.int8]) -> None:
    """implied_vol_status, one option at a time in one compiled pass (numba, cached on disk): each
    option stops as soon as it has converged and no temporaries are made."""
    eps64 = 64.0 * 2.220446049250313e-16
    seed_t, seed_sigma = -1.0, 0.0  # the last solved option's time to expiry and volatility
    for i in range(p.size):
        iv[i] = math.nan
        pi, fi, ki, ti, ri = p[i], f[i], k[i], t[i], r[i]
        if not (math.isfinite(pi) and pi > 0):
            status[i] = IV_NO_PRICE
            continue
        if not (math.isfinite(fi) and fi > 0 and math.isfinite(ki) and ki > 0) or not math.isfinite(ri):
            status[i] = IV_BAD_INPUT
            continue
        if not (math.isfinite(ti) and ti > 0):
            status[i] = IV_EXPIRED
            continue
        df = math.exp(-ri * ti)
        intrinsic = max((fi - ki) if call[i] else (ki - fi), 0.0)
        otm_discounted = pi - df * intrinsic                 # the time value, index points
        call_side = ki >= fi
        upper = fi if call_side else ki                      # undiscounted bound of the OTM price
        q = otm_discounted / df
        noise = eps64 * max(abs(pi), df * max(fi, ki))
        if otm_discounted < -noise or q >= upper:
            status[i] = IV_ARBITRAGE
            continue
        if not (otm_discounted > 0 and otm_discounted >= min_time_value):
            status[i] = IV_NO_TIME_VALUE
            continue
        root_t = math.sqrt(ti)
        s_max = max_iv * root_t
        seed = seed_sigma * root_t if ti == seed_t else 0.0  # the same expiration's last volatility
        s = _solve_one(q, fi, ki, 1.0 if call_side else -1.0, s_max, newton_iterations, seed)
        if not s < s_max * (1.0 - _AT_BOUND):            # the search ran into max_iv
            status[i] = IV_ABOVE_MAX
            continue
        status[i] = IV_SOLVED
        iv[i] = s / root_t
        seed_t, seed_sigma = ti, iv[i]
