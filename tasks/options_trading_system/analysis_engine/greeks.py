"""Greeks stage: Black-76 implied volatility, delta and gamma for every contract with a usable price.

Every later stage that needs a volatility or a gamma reads these columns, so one model with one
forward prices the whole chain whichever vendor served it (a vendor's own iv/delta/gamma, if any,
are replaced: they use other forwards, rates and clocks).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from . import black76, kernels
from .pipeline import AnalysisContext, PipelineAnalysis, run_tables
from .stage_tools import add_columns, empty_rows, json_value
from ..errors import ConfigError

IV_STATUS_CATEGORIES = [black76.IV_STATUS_TEXT[code] for code in sorted(black76.IV_STATUS_TEXT)]
_IV_STATUS_DTYPE = pd.CategoricalDtype(IV_STATUS_CATEGORIES)  # built once: its string index is costly


@dataclass(frozen=True, kw_only=True)
class GreeksConfig:
    """`pipeline.greeks` (config/schema/stage.greeks.schema.json)."""

    risk_free_rate: float = 0.0   # continuously compounded; 0 = undiscounted futures options
    min_time_value: float = 0.05  # index points of time value below which no IV is solved
    max_iv: float = 5.0           # upper end of the IV search (5.0 = 500%)
    skew_delta: float = 0.25      # |delta| of the wings in the skew figure (25-delta risk reversal)

    def __post_init__(self) -> None:
        if not 0.0 < self.skew_delta < 0.5:
            raise ConfigError(f"`pipeline.greeks.skew_delta`: {self.skew_delta!r} must lie between 0 and 0.5 "
                              f"(a wing's |delta|, e.g. 0.25)")


class GreeksAnalysis(PipelineAnalysis):
    """Fills `iv`, `delta`, `gamma` (NaN where no IV can be solved) and adds `years_to_expiry`,
    `discount` (e^{-rT}, for stages that re-price), `iv_status` (why an IV is missing) and `atm_iv` (the row's expiration's IV at the forward, see
    `atm_iv_from_smile`). Ranks nothing: it enriches the chain for the others."""

    name: ClassVar[str] = "greeks"
    config_class: ClassVar[type] = GreeksConfig
    config: GreeksConfig

    def enrich(self, chain: pd.DataFrame, ctx: AnalysisContext) -> pd.DataFrame:
        cfg = self.config
        tables = run_tables(chain, ctx)
        years = tables.years_to_expiry(ctx)
        strike, is_call = tables.strike, tables.is_call
        forward = ctx.underlying_price
        iv, status = black76.implied_vol_status(tables.quoted(chain, "mark"), forward, strike,
                                                years, is_call, cfg.risk_free_rate, cfg.max_iv,
                                                min_time_value=cfg.min_time_value)
        delta, gamma = black76.delta_gamma(forward, strike, years, iv, is_call, cfg.risk_free_rate)
        status_text = pd.Categorical.from_codes(status, dtype=_IV_STATUS_DTYPE, validate=False)
        smile = strike_smile(tables.expiration, strike, iv, is_call, tables.is_put, forward)
        tables.smile = (iv, smile)  # the risk stage's re-pricing reads its expirations' part of it
        per_code = atm_per_expiration(smile, forward, tables.expirations, tables.expiration_ticks)
        codes = tables.expiration_codes
        atm_column = np.where(codes >= 0, per_code[np.maximum(codes, 0)], np.nan)
        added = {"iv": iv, "delta": delta, "gamma": gamma, "years_to_expiry": years,
                 "discount": np.exp(-cfg.risk_free_rate * years), "iv_status": status_text, "atm_iv": atm_column}
        tables.provide(added)  # later stages read these arrays, not the new frame's columns
        return with_columns(chain, added)

    def select(self, chain: pd.DataFrame, ctx: AnalysisContext) -> tuple[pd.DataFrame, int, dict[str, int]]:
        return empty_rows(chain), 0, {}  # no candidates: the stage fills columns for the others

    def summarize(self, chain: pd.DataFrame, kept: pd.DataFrame, ctx: AnalysisContext) -> dict[str, Any]:
        forward = ctx.underlying_price
        tables = run_tables(chain, ctx)
        iv = tables.floats(chain, "iv")
        solved = ~np.isnan(iv)
        status = np.asarray(tables.column(chain, "iv_status").codes)
        counts = np.bincount(status[~solved], minlength=len(IV_STATUS_CATEGORIES))
        front = tables.select((), ctx.front_expiration).positions
        atm_column = tables.floats(chain, "atm_iv")
        atm = float(atm_column[front[0]]) if front.size else float("nan")
        atm_note = ""
        if np.isnan(atm):
            smile = strike_smile(tables.expiration[front], tables.strike[front], iv[front],
                                        tables.is_call[front], tables.is_put[front], forward)
            atm_note = next(iter(atm_iv_from_smile(smile, forward).values()),
                            (np.nan, "no contract of this expiration has an implied volatility"))[1]
        delta = tables.floats(chain, "delta")
        skew, skew_note = wing_skew(kernels.wing_points(front, tables.strike, iv, delta, tables.is_call,
                                                        tables.is_put, float(forward)), self.config.skew_delta)
        by_expiration = dict(zip(tables.expirations, atm_column[tables.first_rows()].tolist()))
        return {
            "contracts": int(len(chain)),
            "contracts_with_iv": int(solved.sum()),
            "no_iv_reasons": {IV_STATUS_CATEGORIES[code]: int(n) for code, n in
                              sorted(enumerate(counts), key=lambda kv: -kv[1]) if n},
            "front_expiration": json_value(ctx.front_expiration),
            "atm_iv": json_value(atm),
            "atm_iv_note": atm_note,
            "skew": json_value(skew),
            "skew_definition": f"IV of the {self.config.skew_delta:g}-delta put minus IV of the "
                               f"{self.config.skew_delta:g}-delta call, front expiration",
            "skew_note": skew_note,
            "atm_iv_by_expiration": {json_value(k): json_value(v) for k, v in by_expiration.items()
                                     if not np.isnan(v)},
        }


def with_columns(chain: pd.DataFrame, added: dict[str, Any]) -> pd.DataFrame:
    """The chain with `added` columns (replacing any of the same name, in place in the column order),
    built in one go without copying the rest: `DataFrame.assign` inserts one column at a time."""
    return add_columns(chain, added)


def atm_iv_from_smile(smile: tuple[np.ndarray, np.ndarray, np.ndarray], forward: float
                      ) -> dict[pd.Timestamp, tuple[float, str]]:
    """Per expiration with any IV: the IV at the forward, linear in strike between the two strikes
    around it, and a note when it cannot be had (NaN: F not bracketed by strikes with an IV).

    Per strike the out-of-the-money contract's IV is used (the call at or above F, the put at or
    below; their mean at F itself), the other right's when the OTM one has none (`strike_smile`).
    """
    expirations, strikes, ivs = smile
    out: dict[pd.Timestamp, tuple[float, str]] = {}
    starts = np.flatnonzero(np.r_[True, expirations[1:] != expirations[:-1]]) if expirations.size else []
    for start, stop in zip(starts, [*starts[1:], expirations.size]):  # one pass per expiration
        k, v = strikes[start:stop], ivs[start:stop]
        exact = np.flatnonzero(k == forward)
        if exact.size:
            value, note = float(v[exact[0]]), ""
        elif k[0] < forward < k[-1]:
            value, note = float(np.interp(forward, k, v)), ""
        else:
            value, note = float("nan"), f"the forward {forward:g} is outside the strikes with an IV ({k[0]:g}..{k[-1]:g})"
        out[pd.Timestamp(expirations[start])] = (value, note)
    return out


def atm_per_expiration(smile: tuple[np.ndarray, np.ndarray, np.ndarray], forward: float,
                       expirations: list[pd.Timestamp], listed: np.ndarray | None = None) -> np.ndarray:
    """`atm_iv_from_smile`'s IV for each of `expirations` (ascending), NaN where there is none; [NaN]
    for no expiration. `listed`: the expirations as int64 ticks of the smile's dates (None: the
    general path). The exact hits found in one compiled pass, np.interp where F lies between two
    strikes."""
    out = np.full(max(len(expirations), 1), np.nan)
    smile_exp, strikes, ivs = smile
    if listed is None or not smile_exp.size or smile_exp.dtype.kind != "M" or np.isnat(smile_exp).any():
        atm = atm_iv_from_smile(smile, forward)
        return np.array([atm.get(e, (np.nan, ""))[0] for e in expirations] or [np.nan])
    ticks = smile_exp.view(np.int64)
    starts, stops, exact = kernels.exact_points(ticks, strikes, float(forward))
    codes = np.searchsorted(listed, ticks[starts])
    for code, start, stop, hit in zip(codes.tolist(), starts.tolist(), stops.tolist(), exact.tolist()):
        if code >= len(expirations) or listed[code] != ticks[start]:
            continue
        if hit >= 0:
            out[code] = ivs[hit]
        elif strikes[start] < forward < strikes[stop - 1]:
            out[code] = np.interp(forward, strikes[start:stop], ivs[start:stop])
    return out


def strike_smile(expiration: np.ndarray, strike: np.ndarray, iv: np.ndarray, call: np.ndarray,
                        put: np.ndarray, forward: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(expiration, strike, IV) per strike with an IV, sorted by expiration then strike; the mean
    over the OTM right(s) where one has an IV, else over the others (one entry per contract in)."""
    known = ~np.isnan(iv)
    strike, expiration, iv = strike[known], expiration[known], iv[known]
    call, put = call[known], put[known]
    otm = (call & (strike >= forward)) | (put & (strike <= forward))
    # dates sort as their int64 ticks: half the time of sorting datetime64, the same order without NaT
    ticks = expiration.view(np.int64) if expiration.dtype.kind == "M" and not np.isnat(expiration).any() \
        else expiration
    if ticks is not expiration and kernels.in_order(ticks, strike):
        order = None  # a chain listed by expiration and strike: the sort would keep every row in place
    else:
        order = np.lexsort((strike, ticks))
        strike, expiration, iv, otm = strike[order], expiration[order], iv[order], otm[order]
    if iv.size == 0:
        return expiration, strike, iv
    if ticks is not expiration:  # dates without NaT: the groups' means in one compiled pass
        first, smile, done = kernels.smile_means(strike, ticks if order is None else ticks[order], iv, otm)
        if done:
            return expiration[first], strike[first], smile
    first = np.flatnonzero(np.r_[True, (strike[1:] != strike[:-1]) | (expiration[1:] != expiration[:-1])])
    otm_sum = np.add.reduceat(np.where(otm, iv, 0.0), first)
    otm_n = np.add.reduceat(otm.astype(np.float64), first)
    other_sum = np.add.reduceat(np.where(otm, 0.0, iv), first)
    other_n = np.add.reduceat((~otm).astype(np.float64), first)
    with np.errstate(invalid="ignore", divide="ignore"):
        smile = np.where(otm_n > 0, otm_sum / otm_n, other_sum / other_n)
    return expiration[first], strike[first], smile


def smile_part(smile: tuple[np.ndarray, np.ndarray, np.ndarray], expirations: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The entries of a `strike_smile` for these expirations only: the smile `strike_smile` gives for
    their rows alone (its figures per expiration and strike come from that expiration's rows)."""
    smile_exp = smile[0]
    wanted = np.unique(expirations)
    keep = smile_exp == wanted[0] if wanted.size == 1 else np.isin(smile_exp, wanted)
    return smile_exp[keep], smile[1][keep], smile[2][keep]


def smile_iv(expiration: np.ndarray, strike: np.ndarray, smile: tuple[np.ndarray, np.ndarray, np.ndarray]
             ) -> np.ndarray:
    """The smile's IV at each (expiration, strike), linear in strike between the two strikes with an
    IV around it; NaN outside them (no extrapolation) or for an expiration without any IV."""
    out = np.full(strike.shape, np.nan)
    smile_exp, smile_k, smile_v = smile
    if smile_k.size == 0:
        return out
    starts = np.flatnonzero(np.r_[True, smile_exp[1:] != smile_exp[:-1]])
    for start, stop in zip(starts, [*starts[1:], smile_exp.size]):
        rows = np.flatnonzero(expiration == smile_exp[start])
        k, v = smile_k[start:stop], smile_v[start:stop]
        inside = (strike[rows] >= k[0]) & (strike[rows] <= k[-1])
        out[rows[inside]] = np.interp(strike[rows[inside]], k, v)
    return out


def risk_reversal(strike: np.ndarray, iv: np.ndarray, delta: np.ndarray, call: np.ndarray, put: np.ndarray,
                         forward: float, wing_delta: float) -> tuple[float, str]:
    """IV(put at -wing_delta) - IV(call at +wing_delta), each linear in delta among OTM contracts."""
    usable = ~np.isnan(iv) & ~np.isnan(delta)
    calls = usable & call & (strike > forward)
    puts = usable & put & (strike < forward)
    put_order = np.argsort(delta[puts], kind="stable")
    call_order = np.argsort(delta[calls], kind="stable")
    return wing_skew((delta[puts][put_order], iv[puts][put_order], delta[calls][call_order], iv[calls][call_order]),
                     wing_delta)


def wing_skew(points: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], wing_delta: float) -> tuple[float, str]:
    """`risk_reversal` from its points: (put deltas, put IVs, call deltas, call IVs), each side
    sorted by delta (`kernels.wing_points` finds them in one pass)."""
    put_delta, put_ivs, call_delta, call_ivs = points
    put_iv = _interp_bracketed(-wing_delta, put_delta, put_ivs)
    call_iv = _interp_bracketed(wing_delta, call_delta, call_ivs)
    if np.isnan(put_iv) or np.isnan(call_iv):
        side = "puts" if np.isnan(put_iv) else "calls"
        return float("nan"), f"no OTM {side} on both sides of |delta| {wing_delta:g} in the front expiration"
    return float(put_iv - call_iv), ""


def _interp_bracketed(x: float, xs: np.ndarray, ys: np.ndarray) -> float:
    """np.interp, but NaN unless x lies within xs (sorted ascending): no flat extrapolation."""
    if xs.size == 0 or not xs[0] <= x <= xs[-1]:
        return float("nan")
    return float(np.interp(x, xs, ys))
