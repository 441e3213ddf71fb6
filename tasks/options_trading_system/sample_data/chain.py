"""A realistic, seeded, synthetic NQ options chain: the bundled sample and the benchmark input.

Nothing here is market data; every chain is flagged `is_sample` and says so in its notes.
What the generator reproduces, and the conventions it follows:

- **Expirations** (CME NQ options; exchange holidays ignored): daily expiries on the next
  `n_daily` weekdays (CME lists Monday-to-Friday NQ weeklies, so every weekday expires), then
  the next `n_weekly` Friday weeklies, then the next `n_quarterly` quarterly options (3rd Friday
  of Mar/Jun/Sep/Dec). Today counts when `as_of` is before the 16:00 New York settlement.
  More contracts than that schedule lists (`n_contracts`) add further Friday expiries.
- **Strikes**: CME lists NQ option strikes at 10-point intervals over a wide band around the
  settlement price; chains as shown by vendors thin out further away. The grid used here,
  by distance from the futures price, is `strike_bands`: every 10 points within 600, 50 within
  2000, 250 within 3500, 500 within 7500 (the spacing of the strikes Barchart showed for the real
  June 2025 Monday weekly, `barchart_api_MC6M5`). Each expiry lists the strikes within
  `range_sd` standard deviations (at least `min_half_range` points).
- **Prices**: Black-76 (`analysis_engine.black76.price`, rate 0) on a volatility smile in
  standardized moneyness x = ln(K/F)/sqrt(T): sigma = atm_vol + skew*x + curvature*x^2, clipped.
  The `iv`, `delta` and `gamma` columns are that sigma and its Black-76 greeks (as a vendor that
  publishes greeks would send them).
- **Quotes**: bid/ask around the model price, width max(`min_spread_ticks` ticks,
  `spread_fraction` x price), bid rounded down and ask up to the tick. CME's NQ option tick is
  0.25 points above a 5.00 premium and 0.05 at or below it (cabinet trades 0.05 too; not
  modelled). A bid that would be <= 0 is absent (NaN). The last trade lies inside the spread.
- **Open interest / volume**: peak at the money, larger on the out-of-the-money side and at round
  strikes (x `round_bonus` at multiples of 500/100/50), scaled by expiry; volume is OI times a
  turnover that is higher for short expiries and fades away from the money (`volume_width_sd`),
  capped at `max_turnover` (well below the IFD threshold, so only planted spikes trip it). Rounded volume 0 means no trade: volume, last and
  trade time are missing (NaN), as Barchart shows N/A; rounded OI 0 (new strike) is NaN too.
- **Planted volume spikes** (`n_spikes`): near-the-money front-expiry contracts given volume/OI
  of `spike_ratios`, volume >= `spike_min_volume` and notional >= `spike_min_notional`, i.e.
  what IFD v1.0 looks for; the chain's notes name them.

Everything is vectorized over numpy arrays and driven by one seeded `numpy.random.Generator`,
so the same arguments give the same chain, byte for byte.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Iterator

import numpy as np
import pandas as pd

from ..analysis_engine import black76
from ..data_ingestion.canonical import ChainMeta, OptionsChain, build_chain_frame
from ..data_ingestion.contract_names import globex_name, proxy_name
from ..data_ingestion.saved.barchart_symbols import (FRIDAY, QUARTERLY_MONTHS, decode_root, encode_root,
                                                      quarterly_expiration, underlying_future)

log = logging.getLogger(__name__)

SOURCE_NAME = "sample"
SETTLEMENT_TZ = "America/New_York"
SETTLEMENT_HOUR = 16                 # NQ options settle on the 4 p.m. New York fixing
YEAR_SECONDS = 365.0 * 24 * 3600     # calendar-time year, as AnalysisContext.years_to counts
DEFAULT_AS_OF = "2025-06-02T18:30:00+00:00"
DEFAULT_SEED = 20250602
MAX_EXPIRATIONS = 600                # bounds the search for very large chains (~11 years of Fridays)
GREEK_DECIMALS = {"iv": 6, "delta": 6, "gamma": 9}  # published precision of the vendor-style columns


@dataclass(frozen=True, kw_only=True)
class SampleChainParams:
    """Every knob of the generator, with the values the bundled sample uses."""

    underlying: float = 21500.0                    # NQ futures price, index points (mid-2025 level)
    multiplier: float = 20.0                       # dollars per point (CME NQ)
    atm_vol: float = 0.20                          # at-the-money volatility, annualized
    skew: float = -0.25                            # d sigma / d x (puts richer than calls)
    curvature: float = 0.12                        # smile convexity in x^2
    min_vol: float = 0.08
    max_vol: float = 1.50
    n_daily: int = 3                               # weekday expiries from today
    n_weekly: int = 2                              # Friday weeklies after the dailies
    n_quarterly: int = 1                           # quarterly (3rd Friday of Mar/Jun/Sep/Dec)
    range_sd: float = 2.0                          # listed strikes within this many std devs
    min_half_range: float = 200.0                  # ... but at least this many points
    strike_bands: tuple[tuple[float, float], ...] = ((600.0, 10.0), (2000.0, 50.0), (3500.0, 250.0),
                                                     (7500.0, 500.0))  # (max distance, spacing)
    tick: float = 0.25                             # premium above small_tick_max
    small_tick: float = 0.05                       # premium at or below small_tick_max
    small_tick_max: float = 5.0
    min_spread_ticks: int = 2
    spread_fraction: float = 0.01
    oi_peak: float = 2500.0                        # at-the-money OI of a one-month expiry
    oi_width_sd: float = 1.2                       # OI profile width in std devs
    oi_wing: float = 0.02                          # OI floor far from the money, relative to the peak
    otm_bias: float = 1.4                          # OI multiplier on the out-of-the-money side
    round_bonus: tuple[tuple[float, float], ...] = ((500.0, 3.0), (100.0, 2.0), (50.0, 1.4))
    oi_noise: float = 0.35                         # lognormal sigma of OI
    turnover: float = 0.25                         # volume / OI near the money, one-week expiry
    volume_width_sd: float = 0.6                   # trading fades this fast (std devs) away from the money
    max_turnover: float = 3.0                      # cap on volume / OI of ordinary contracts
    volume_noise: float = 0.5                      # lognormal sigma of volume
    trade_window_hours: float = 4.0                # last trades fall this long before as_of
    n_spikes: int = 4
    spike_ratios: tuple[float, ...] = (12.0, 24.0, 36.0, 60.0)  # volume / OI of planted spikes
    spike_min_volume: float = 600.0
    spike_max_volume: float = 2500.0
    spike_min_notional: float = 125000.0          # dollars, above IFD v1's $100k
    spike_max_distance: float = 0.01               # |K - F| / F of planted spikes


def generate_chain(n_contracts: int | None = None, *, as_of: pd.Timestamp | str = DEFAULT_AS_OF,
                   seed: int = DEFAULT_SEED, params: SampleChainParams = SampleChainParams()) -> OptionsChain:
    """A synthetic NQ chain. `n_contracts=None` lists the natural schedule (see module docstring);
    a number gives exactly that many contracts, nearest the money first."""
    as_of = _utc(as_of)
    if n_contracts is not None and n_contracts <= 0:
        raise ValueError(f"n_contracts must be positive, got {n_contracts}")
    rng = np.random.default_rng(seed)
    expirations = expiration_schedule(as_of, params)
    if not expirations:
        raise ValueError("the sample schedule lists no expiration (n_daily, n_weekly and n_quarterly are all 0)")
    grid = _grid(expirations, as_of, params)
    extra = _further_fridays(expirations[-1])
    while n_contracts is not None and len(grid["strike"]) < n_contracts:
        if len(expirations) >= MAX_EXPIRATIONS:
            raise ValueError(f"{n_contracts} contracts need more than {MAX_EXPIRATIONS} expirations "
                             f"with these strike bands ({len(grid['strike'])} listed)")
        more = [next(extra) for _ in range(8)]
        expirations = expirations + more
        grid = _concat(grid, _grid(more, as_of, params))
    if n_contracts is not None:
        grid = _nearest(grid, n_contracts, params.underlying)
    columns, spikes = _market(grid, as_of, rng, params)
    notes = ["SAMPLE DATA generated by tasks/options_trading_system/sample_data/chain.py "
             f"(seed {seed}): not market data"]
    if spikes:
        notes.append(f"sample: {len(spikes)} planted volume spikes (volume/OI >= 10) at " + ", ".join(spikes))
    meta = ChainMeta(underlying_symbol=underlying_future(min(expirations)), source=SOURCE_NAME, as_of=as_of,
                     multiplier=params.multiplier, underlying_price=params.underlying, is_sample=True,
                     notes=tuple(notes))
    return OptionsChain(frame=build_chain_frame(columns), meta=meta)


def expiration_schedule(as_of: pd.Timestamp, params: SampleChainParams) -> list[date]:
    """Daily, weekly-Friday and quarterly expiries after `as_of` (weekdays; holidays ignored)."""
    local = _utc(as_of).tz_convert(SETTLEMENT_TZ)
    day = local.date() if local.hour < SETTLEMENT_HOUR else local.date() + timedelta(days=1)
    dailies: list[date] = []
    while len(dailies) < params.n_daily:
        if day.weekday() <= FRIDAY:
            dailies.append(day)
        day += timedelta(days=1)
    fridays: list[date] = []
    while len(fridays) < params.n_weekly:
        if day.weekday() == FRIDAY:
            fridays.append(day)
        day += timedelta(days=1)
    quarterlies: list[date] = []
    year, month = local.year, local.month
    while len(quarterlies) < params.n_quarterly:
        if month in QUARTERLY_MONTHS and quarterly_expiration(year, month) >= (dailies or [local.date()])[0]:
            quarterlies.append(quarterly_expiration(year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return sorted(set(dailies + fridays + quarterlies))


def strike_grid(forward: float, half_range: float, bands: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Strikes within `half_range` of `forward`: each band's multiples of its spacing."""
    parts = []
    inner = 0.0
    for max_distance, spacing in bands:
        outer = min(max_distance, half_range)
        if outer <= inner:
            break
        low = math.ceil((forward - outer) / spacing) * spacing
        high = math.floor((forward + outer) / spacing) * spacing
        ks = np.arange(low, high + spacing / 2, spacing)
        distance = np.abs(ks - forward)
        parts.append(ks[(distance <= outer) & ((distance > inner) | (inner == 0.0))])
        inner = outer
    return np.unique(np.concatenate(parts)) if parts else np.empty(0)


def years_to_settlement(expiration: np.ndarray, as_of: pd.Timestamp) -> np.ndarray:
    """Calendar years from `as_of` to 16:00 New York on each expiration date (>= 0)."""
    settle = pd.to_datetime(pd.Series(expiration)).dt.tz_localize(SETTLEMENT_TZ) + pd.Timedelta(hours=SETTLEMENT_HOUR)
    seconds = (settle - as_of).dt.total_seconds().to_numpy()
    return np.maximum(seconds, 0.0) / YEAR_SECONDS


def smile(forward: float, strike: np.ndarray, years: np.ndarray, params: SampleChainParams) -> np.ndarray:
    """The generator's volatility smile: atm + skew*x + curvature*x^2, x = ln(K/F)/sqrt(T)."""
    x = np.log(strike / forward) / np.sqrt(np.maximum(years, 1e-8))
    return np.clip(params.atm_vol + params.skew * x + params.curvature * x * x, params.min_vol, params.max_vol)


def tick_for(price: np.ndarray, params: SampleChainParams) -> np.ndarray:
    """CME NQ option tick at a premium level: 0.05 at or below 5.00 points, else 0.25."""
    return np.where(price <= params.small_tick_max, params.small_tick, params.tick)


# --- building blocks ------------------------------------------------------------------------

def _grid(expirations: list[date], as_of: pd.Timestamp, params: SampleChainParams) -> dict[str, np.ndarray]:
    """One row per (expiration, strike, right) of the listed strikes."""
    f = params.underlying
    years = years_to_settlement(np.array(expirations, dtype="datetime64[D]"), as_of)
    exp_parts, strike_parts = [], []
    for expiration, t in zip(expirations, years):
        half_range = max(params.min_half_range, params.range_sd * f * params.atm_vol * math.sqrt(t))
        ks = strike_grid(f, half_range, params.strike_bands)
        exp_parts.append(np.full(len(ks), np.datetime64(expiration, "D")))
        strike_parts.append(ks)
    expiration = np.concatenate(exp_parts) if exp_parts else np.empty(0, dtype="datetime64[D]")
    strike = np.concatenate(strike_parts) if strike_parts else np.empty(0)
    return {"expiration": np.repeat(expiration, 2), "strike": np.repeat(strike, 2),
            "is_call": np.tile([True, False], len(strike))}


def _concat(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([a[key], b[key]]) for key in a}


def _further_fridays(after: date) -> Iterator[date]:
    """Fridays after `after`, forever (the caller takes as many as it needs)."""
    day = after + timedelta(days=1)
    while True:
        if day.weekday() == FRIDAY:
            yield day
        day += timedelta(days=1)


def _nearest(grid: dict[str, np.ndarray], n: int, forward: float) -> dict[str, np.ndarray]:
    """Keep the n rows nearest the money in points, front expiries first on ties; original order."""
    distance = np.abs(grid["strike"] - forward)
    order = np.lexsort((~grid["is_call"], grid["expiration"], distance))
    keep = np.sort(order[:n])
    return {key: value[keep] for key, value in grid.items()}


def _market(grid: dict[str, np.ndarray], as_of: pd.Timestamp, rng: np.random.Generator,
            params: SampleChainParams) -> tuple[dict[str, object], list[str]]:
    f = params.underlying
    strike, is_call, expiration = grid["strike"], grid["is_call"], grid["expiration"]
    n = len(strike)
    years = years_to_settlement(expiration, as_of)
    sigma = smile(f, strike, years, params)
    theo = black76.price(f, strike, years, sigma, is_call)
    sd_points = f * params.atm_vol * np.sqrt(np.maximum(years, 1.0 / (365 * 24)))
    z = (strike - f) / sd_points

    bid, ask, width = _quotes(theo, params)
    oi = _open_interest(strike, is_call, z, years, rng, params)
    turnover = np.minimum(params.turnover * np.sqrt(7.0 / np.maximum(years * 365.0, 0.25))
                          * np.exp(-0.5 * (z / params.volume_width_sd) ** 2)
                          * rng.lognormal(0.0, params.volume_noise, n), params.max_turnover)
    volume = np.round(np.nan_to_num(oi) * turnover)
    last = _round_to_tick(theo + rng.uniform(-0.5, 0.5, n) * width, params, side="nearest")
    last = np.maximum(last, params.small_tick)
    trade_age = rng.uniform(0.0, params.trade_window_hours * 3600.0, n)

    spikes: list[str] = []
    unique_expirations, position = np.unique(expiration, return_inverse=True)
    series_names = np.array([_globex_series(d) for d in unique_expirations.astype(object)], dtype=object)
    series = series_names[position]
    expiration_days = unique_expirations.astype(object)[position]
    contract = np.array([globex_name(g, "C" if c else "P", k) if g else proxy_name("NQ", d, "C" if c else "P", k)
                         for g, d, k, c in zip(series, expiration_days, strike, is_call)], dtype=object)
    roots = np.array([g[:-2] if g else "NQ" for g in series], dtype=object)  # the Globex product (Q1A, QN1, NQ)
    chosen = _spike_rows(strike, expiration, last, oi, rng, params)
    for row, ratio in zip(chosen, params.spike_ratios):
        spike_volume = max(rng.uniform(params.spike_min_volume, params.spike_max_volume),
                           math.ceil(params.spike_min_notional / (last[row] * params.multiplier)))
        volume[row] = float(math.ceil(spike_volume))
        oi[row] = float(max(1, math.floor(volume[row] / ratio)))
        spikes.append(f"{contract[row]} ({volume[row]:g}/{oi[row]:g})")

    traded = volume > 0
    volume = np.where(traded, volume, np.nan)
    last = np.where(traded, last, np.nan)
    source_ts = np.where(traded, as_of.timestamp() - trade_age, np.nan)
    columns: dict[str, object] = {
        "contract": contract, "root": roots, "expiration": expiration.astype("datetime64[ns]"),
        "strike": strike, "right": np.where(is_call, "C", "P"), "bid": bid, "ask": ask, "last": last,
        "volume": volume, "open_interest": oi, "iv": np.round(sigma, GREEK_DECIMALS["iv"]),
        "delta": np.round(black76.delta(f, strike, years, sigma, is_call), GREEK_DECIMALS["delta"]),
        "gamma": np.round(black76.gamma(f, strike, years, sigma), GREEK_DECIMALS["gamma"]),
        "source_ts": np.round(source_ts),
    }
    return columns, spikes


def _quotes(theo: np.ndarray, params: SampleChainParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    width = np.maximum(params.min_spread_ticks * tick_for(theo, params), params.spread_fraction * theo)
    bid = _round_to_tick(theo - width / 2.0, params, side="down")
    ask = _round_to_tick(theo + width / 2.0, params, side="up")
    ask = np.maximum(ask, params.small_tick)
    bid = np.where(bid > 0, bid, np.nan)
    return bid, ask, width


def _round_to_tick(price: np.ndarray, params: SampleChainParams, *, side: str) -> np.ndarray:
    tick = tick_for(np.maximum(price, 0.0), params)
    units = price / tick
    rounded = {"down": np.floor, "up": np.ceil, "nearest": np.round}[side](units + 0.0) * tick
    return np.round(rounded, 2)


def _open_interest(strike: np.ndarray, is_call: np.ndarray, z: np.ndarray, years: np.ndarray,
                   rng: np.random.Generator, params: SampleChainParams) -> np.ndarray:
    """OI peaking at the money and at round strikes, heavier out of the money; NaN where 0."""
    expiry_scale = np.clip(np.sqrt(years * 365.0 / 30.0), 0.15, 1.5)
    shape = np.exp(-0.5 * (z / params.oi_width_sd) ** 2) + params.oi_wing
    otm = np.where(is_call, z > 0, z < 0)
    bonus = np.ones_like(strike)
    for spacing, factor in params.round_bonus:
        bonus = np.where((bonus == 1.0) & (np.mod(strike, spacing) == 0), factor, bonus)
    oi = np.round(params.oi_peak * expiry_scale * shape * np.where(otm, params.otm_bias, 1.0) * bonus
                  * rng.lognormal(0.0, params.oi_noise, len(strike)))
    return np.where(oi > 0, oi, np.nan)


def _spike_rows(strike: np.ndarray, expiration: np.ndarray, last: np.ndarray, oi: np.ndarray,
                rng: np.random.Generator, params: SampleChainParams) -> list[int]:
    """Rows to plant spikes on: front two expiries, within spike_max_distance of the price, priced
    so that spike_max_volume contracts reach spike_min_notional."""
    front = np.unique(expiration)[:2]
    big_enough = last * params.multiplier * params.spike_max_volume >= params.spike_min_notional
    eligible = (np.isin(expiration, front) & (np.abs(strike - params.underlying) / params.underlying
                                               <= params.spike_max_distance) & big_enough)
    rows = np.flatnonzero(eligible)
    count = min(params.n_spikes, len(params.spike_ratios), len(rows))
    if count < params.n_spikes:
        log.warning("sample chain: only %d of %d volume spikes could be planted near the money", count,
                    params.n_spikes)
    return sorted(int(r) for r in rng.choice(rows, size=count, replace=False)) if count else []


def _globex_series(expiration: Any) -> str | None:
    """The CME Globex series (`Q1AM5`, `NQM5`) of the NQ options expiring that day, None when unnamed."""
    day = pd.Timestamp(expiration).date()
    root = encode_root(day)
    decoded = decode_root(root, day) if root else None
    return decoded.globex if decoded else None


def _utc(stamp: pd.Timestamp | str) -> pd.Timestamp:
    value = pd.Timestamp(stamp)
    return value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")
