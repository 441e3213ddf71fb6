"""A consistent sample week for shadow-trading replays: price path + chain snapshots (+ MBO) per day.

Nothing here is market data; every file is flagged as sample. What one day holds, and how:

- **Price path**: 1-minute NQ bars over the whole CME Globex session (exchange calendar `CMES`),
  from a seeded random walk in points (`annual_vol`), each bar built from `substeps` sub-steps so
  highs and lows are real extremes of the path; prices on the 0.25 tick. Written as the real FirstRate
  sample is: `timestamp,open,high,low,close,volume`, naive America/New_York times.
  With `price_path` given (e.g. the real NQ bars in ../shared/data) that file is the price path,
  read in place, and only the chains (and MBO) are generated around it.
- **Planted flow episodes** (`episodes_per_day`): at a snapshot inside the window a near-the-money
  front-expiry option (call or put, `episode_distance` points out of the money) trades a burst of
  `spike_volume` contracts at volume/OI of one of `spike_ratios`: what IFD v1.0 looks for. On a
  generated path the price then drifts past the strike (with probability `episode_success`) or
  the other way past the stop, over `episode_minutes`; on a real path nothing is changed, so
  whatever the market did decides. The manifest lists every episode (the answer key).
- **Chain snapshots** every `snapshot_minutes` from the window open: the day's contracts, open
  interest and smile come from `sample_data/chain.py` at the day's open (so the day is one
  consistent chain); each snapshot re-prices them with Black-76 at the futures price of that
  minute, quotes them on CME's option ticks, and carries the day's cumulative volume (a U-shaped
  intraday profile with noise, plus the planted bursts), last trades inside the quotes.
- **MBO** (when `sample_data/mbo.py` is available): the options' order-by-order stream of the day
  with the planted episodes as aggressive flow (IFD v3.0's input).

Layout: `<out>/manifest.json`, `<out>/futures/NQ_1min.csv`, `<out>/chains/YYYY-MM-DD/HHMMSS.json`
(New York time), `<out>/mbo/YYYY-MM-DD.mbo.dbn.zst` (the recording format of
`analysis_engine/strategies/feeds/recording.py`). One seeded generator: same arguments, same files.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..analysis_engine import black76
from ..analysis_engine.strategies.feeds.price_path import PricePath, load_price_path
from ..analysis_engine.strategies.feeds.recording import CHAIN_DIR, MANIFEST, MBO_DIR, PRICE_DIR, RECORDING_FORMAT
from ..analysis_engine.strategies.shadow_config import WindowConfig
from ..analysis_engine.strategies.feeds.trading_calendar import TradingCalendar, TradingDay
from ..data_ingestion.canonical import ChainMeta, OptionsChain, build_chain_frame, compute_mark, empty_chain
from ..data_ingestion.saved.snapshot_format import write_snapshot
from ..state.atomic import atomic_write_text
from .chain import SampleChainParams, generate_chain, smile, tick_for, years_to_settlement

log = logging.getLogger(__name__)

PRICE_FILE = "NQ_1min.csv"
LOCAL_TZ = "America/New_York"
BAR_SECONDS = 60
TRADING_MINUTES_PER_YEAR = 252 * 1380  # Globex minutes in a trading year (23 h a day)

#: (snapshot time, years to each row's expiration) -> that expiration's ATM volatility
AtmVol = Callable[[pd.Timestamp, np.ndarray], np.ndarray]


@dataclass(frozen=True, kw_only=True)
class SampleWeekParams:
    """Every knob of the sample week, with the values `make_sample_data.py week` uses."""

    days: int = 5
    start: date = date(2025, 6, 2)            # first session on or after this date
    open_price: float = 21500.0               # NQ at the first session's open (generated path)
    annual_vol: float = 0.20                  # of the generated path
    substeps: int = 4                         # path points per 1-minute bar
    snapshot_minutes: int = 15                # chain snapshots from the window open, this far apart
    contracts: int | None = None              # contracts per snapshot (None: the chain's natural schedule)
    episodes_per_day: int = 4
    episode_success: float = 0.6             # generated path: share of episodes the price then follows
    episode_distance: tuple[float, float] = (30.0, 90.0)   # points out of the money of the planted strike
    episode_minutes: tuple[int, int] = (30, 120)          # how long the drift after an episode lasts
    episode_overshoot: float = 1.2           # the drift carries the price this far past the level
    quiet_open_minutes: int = 30             # no episode in the window's first minutes...
    quiet_close_minutes: int = 120           # ... nor in its last ones
    spike_volume: tuple[float, float] = (800.0, 2500.0)
    spike_ratios: tuple[float, ...] = (12.0, 24.0, 36.0, 60.0)
    volume_noise: float = 0.5                # lognormal sigma of each interval's ordinary volume
    mbo_events: int = 60_000                  # MBO records per day (IFD v3.0's input)
    mbo_history_days: int = 5                 # episode-free MBO days before the week (v3 baselines)
    seed: int = 20250602
    chain: SampleChainParams = field(default_factory=lambda: SampleChainParams(
        n_daily=2, n_weekly=1, n_quarterly=1, min_half_range=400.0))  # ~1,000 contracts, +-400 points 0DTE
    window: WindowConfig = field(default_factory=WindowConfig)
    calendar: str = "CMES"


@dataclass(frozen=True)
class Episode:
    """One planted flow burst: when, which option, and what the generated path was told to do."""

    time: pd.Timestamp
    contract: str
    strike: float
    right: str
    direction: str
    volume: float
    open_interest: float
    planned: str  # "follow", "reverse" (generated path) or "market" (real path: nothing planted)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["time"] = self.time.isoformat()
        return out


def write_sample_week(out_dir: Path, params: SampleWeekParams = SampleWeekParams(), *,
                      price_path: Path | None = None, with_mbo: bool = True, atm_vol: AtmVol | None = None,
                      price_description: str = "real NQ bars") -> Path:
    """Write a sample week under `out_dir`; returns the manifest path. `atm_vol(time, years)`: the
    ATM volatility of each expiration at a snapshot (a term structure), instead of the chain
    parameters' flat `atm_vol`; `price_description` says what a given `price_path` is."""
    out_dir = Path(out_dir)
    calendar = TradingCalendar(params.calendar, params.window)
    real = None
    if price_path is not None:
        real = load_price_path(price_path, csv_timezone=LOCAL_TZ, bar_seconds=BAR_SECONDS)
        days = _days_with_bars(calendar, real, params)
    else:
        days = calendar.days(params.start, params.days)
    if not days:
        raise ValueError(f"no trading session with price bars from {params.start} (price path: {price_path})")
    manifest_days = []
    generated: list[pd.DataFrame] = []
    price = params.open_price
    mbo_writer = _mbo_writer() if with_mbo else None
    for day in days:
        day_rng = np.random.default_rng([params.seed, day.session.toordinal()])
        times = _snapshot_times(day, params)
        episodes_at = _episode_slots(times, day, params, day_rng)
        if real is not None:
            bars = real.between(day.session_open, day.session_close)
            episodes = _plan_episodes(episodes_at, bars, params, day_rng, planted=False)
        else:
            bars, episodes = _generate_day(day, price, episodes_at, params, day_rng)
            price = float(bars.close[-1])
            generated.append(bars.to_frame())
        snapshots = _write_day_chains(out_dir, day, times, bars, episodes, params, day_rng, atm_vol)
        entry: dict[str, Any] = {"date": day.label, "snapshots": snapshots,
                                 "episodes": [e.to_dict() for e in episodes]}
        if mbo_writer is not None:
            entry["mbo"] = mbo_writer(out_dir / MBO_DIR, day, bars, episodes, params.seed, params)
        manifest_days.append(entry)
        log.info("sample week: %s, %d snapshots, %d episodes", day.label, len(snapshots), len(episodes))
    if real is None:
        price_file = out_dir / PRICE_DIR / PRICE_FILE
        write_bars_csv(pd.concat(generated, ignore_index=True), price_file)
        price_entry = f"{PRICE_DIR}/{PRICE_FILE}"
    else:
        resolved = Path(price_path).resolve()   # inside the folder: relative, so the folder can move
        inside = resolved.is_relative_to(out_dir.resolve())
        price_entry = resolved.relative_to(out_dir.resolve()).as_posix() if inside else str(resolved)
    manifest = {
        "format": RECORDING_FORMAT,
        "description": "SAMPLE DATA generated by tasks/options_trading_system/sample_data/week.py "
                       f"(seed {params.seed}): not market data"
                       + (f"; price path: {price_description}" if real is not None else "; price path generated"),
        "is_sample": True,
        "generator": "tasks/options_trading_system/sample_data/week.py",
        "seed": params.seed,
        "price_path": price_entry,
        "price_timezone": LOCAL_TZ,
        "price_generated": real is None,
        "snapshot_minutes": params.snapshot_minutes,
        "days": manifest_days,
    }
    path = out_dir / MANIFEST
    atomic_write_text(path, json.dumps(manifest, indent=1) + "\n")
    return path


# --- days and times -------------------------------------------------------------------------

def _days_with_bars(calendar: TradingCalendar, bars: PricePath, params: SampleWeekParams) -> list[TradingDay]:
    """Sessions from `params.start` (or the path's first day) whose window has price bars."""
    first = pd.Timestamp(int(bars.start[0]), tz="UTC").tz_convert(LOCAL_TZ).date() if len(bars) else params.start
    start = max(first, params.start)
    out = []
    for day in calendar.days(start, params.days + 10):
        inside = bars.between(day.window_open, day.window_close)
        if len(inside):
            out.append(day)
        if len(out) == params.days:
            break
    return out


def _snapshot_times(day: TradingDay, params: SampleWeekParams) -> list[pd.Timestamp]:
    step = pd.Timedelta(minutes=params.snapshot_minutes)
    times, t = [], day.window_open
    while t < day.window_close:
        times.append(t)
        t += step
    return times


def _episode_slots(times: list[pd.Timestamp], day: TradingDay, params: SampleWeekParams,
                   rng: np.random.Generator) -> list[pd.Timestamp]:
    quiet_open = day.window_open + pd.Timedelta(minutes=params.quiet_open_minutes)
    quiet_close = day.window_close - pd.Timedelta(minutes=params.quiet_close_minutes)
    slots = [t for t in times if quiet_open <= t <= quiet_close]
    count = min(params.episodes_per_day, len(slots))
    return sorted(rng.choice(np.array(slots, dtype=object), size=count, replace=False).tolist()) if count else []


# --- the price path -------------------------------------------------------------------------

def _generate_day(day: TradingDay, open_price: float, slots: list[pd.Timestamp], params: SampleWeekParams,
                  rng: np.random.Generator) -> tuple[PricePath, list[Episode]]:
    """The session's bars with each episode's drift applied from its time on."""
    minutes = int((day.session_close - day.session_open).total_seconds() // 60)
    k = params.substeps
    step_sd = open_price * params.annual_vol / math.sqrt(TRADING_MINUTES_PER_YEAR * k)
    noise = rng.normal(0.0, step_sd, minutes * k)
    drift = np.zeros(minutes * k)
    episodes: list[Episode] = []
    for slot in slots:
        at = int((slot - day.session_open).total_seconds() // 60) * k
        level = open_price + float(np.sum(noise[:at] + drift[:at]))
        episode = _episode(slot, level, params, rng, planted=True)
        episodes.append(episode)
        sign = 1.0 if episode.direction == "LONG" else -1.0
        distance = abs(episode.strike - level)
        move = distance * params.episode_overshoot if episode.planned == "follow" \
            else -0.5 * distance * params.episode_overshoot
        length = int(rng.integers(params.episode_minutes[0], params.episode_minutes[1] + 1)) * k
        end = min(at + length, drift.size)
        if end > at:
            drift[at:end] += sign * move / (end - at)
    path = open_price + np.cumsum(noise + drift)
    points = np.concatenate([[open_price], path]).reshape(-1)
    opens = points[:-1:k][:minutes]
    grid = path.reshape(minutes, k)
    highs = np.maximum(grid.max(axis=1), opens)
    lows = np.minimum(grid.min(axis=1), opens)
    closes = grid[:, -1]
    tick = 0.25
    start = day.session_open + pd.to_timedelta(np.arange(minutes), unit="min")
    volume = np.round(rng.lognormal(5.5, 0.6, minutes))
    frame = pd.DataFrame({"start": start, "open": _tick(opens, tick), "high": _tick(highs, tick),
                          "low": _tick(lows, tick), "close": _tick(closes, tick), "volume": volume})
    return PricePath.from_frame(frame, bar_seconds=BAR_SECONDS, source="sample"), episodes


def _plan_episodes(slots: list[pd.Timestamp], bars: PricePath, params: SampleWeekParams,
                   rng: np.random.Generator, *, planted: bool) -> list[Episode]:
    episodes = []
    for slot in slots:
        level, _ = bars.last_close(slot)
        if np.isfinite(level):
            episodes.append(_episode(slot, level, params, rng, planted=planted))
    return episodes


def _episode(slot: pd.Timestamp, level: float, params: SampleWeekParams, rng: np.random.Generator,
             *, planted: bool) -> Episode:
    is_call = bool(rng.random() < 0.5)
    distance = float(rng.uniform(*params.episode_distance))
    strike = round((level + distance if is_call else level - distance) / 10.0) * 10.0
    volume = float(math.ceil(rng.uniform(*params.spike_volume)))
    ratio = float(rng.choice(np.array(params.spike_ratios)))
    planned = ("follow" if rng.random() < params.episode_success else "reverse") if planted else "market"
    return Episode(time=slot, contract="", strike=strike, right="C" if is_call else "P",
                   direction="LONG" if is_call else "SHORT", volume=volume,
                   open_interest=float(max(1, math.floor(volume / ratio))), planned=planned)


def _tick(values: np.ndarray, tick: float) -> np.ndarray:
    return np.round(values / tick) * tick


def write_bars_csv(frame: pd.DataFrame, path: Path) -> None:
    """1-minute bars (`start` tz-aware, OHLCV) as the FirstRate-style CSV, naive New York times."""
    local = frame["start"].dt.tz_convert(LOCAL_TZ).dt.strftime("%Y-%m-%d %H:%M:%S")
    out = pd.DataFrame({"timestamp": local, "open": frame["open"].map("{:.2f}".format),
                        "high": frame["high"].map("{:.2f}".format), "low": frame["low"].map("{:.2f}".format),
                        "close": frame["close"].map("{:.2f}".format),
                        "volume": frame["volume"].astype("int64")})
    atomic_write_text(path, out.to_csv(index=False))


# --- chains ---------------------------------------------------------------------------------

def _write_day_chains(out_dir: Path, day: TradingDay, times: list[pd.Timestamp], bars: PricePath,
                      episodes: list[Episode], params: SampleWeekParams, rng: np.random.Generator,
                      atm_vol: AtmVol | None = None) -> list[dict[str, str]]:
    first_price, _ = bars.last_close(times[0]) if times else (float("nan"), None)
    if not np.isfinite(first_price):
        first_price = float(bars.open[0]) if len(bars) else params.open_price
    chain_params = dataclasses.replace(params.chain, underlying=float(first_price), n_spikes=0)
    base = generate_chain(params.contracts, as_of=times[0], seed=int(rng.integers(2**31)), params=chain_params).frame
    base = base.reset_index(drop=True)
    strike = base["strike"].to_numpy(dtype="float64")
    is_call = (base["right"] == "C").to_numpy()
    expirations = np.sort(base["expiration"].unique())
    oi = base["open_interest"].to_numpy(dtype="float64").copy()
    day_volume = np.nan_to_num(base["volume"].to_numpy(dtype="float64"))
    bursts: dict[int, list[tuple[int, float]]] = {}
    placed: list[Episode] = []
    used: set[int] = set()
    for episode in episodes:
        row = _episode_row(base, strike, is_call, expirations, episode, used)
        if row is None:
            log.warning("sample week %s: no listed contract near %s %g; episode at %s skipped", day.label,
                        episode.right, episode.strike, episode.time)
            continue
        used.add(row)
        oi[row] = episode.open_interest
        day_volume[row] = min(day_volume[row], 2.0 * episode.open_interest)  # its ordinary flow stays ordinary
        slot = times.index(episode.time)
        bursts.setdefault(slot, []).append((row, episode.volume))
        placed.append(dataclasses.replace(episode, contract=str(base["contract"].iat[row]), strike=float(strike[row])))
    episodes[:] = placed
    share = _intraday_share(times, day)
    contracts = None  # the day's canonical frame (the contracts never change within a day)
    no_quarantine = empty_chain().assign(reason=pd.Series(dtype="str"))
    cumulative = np.zeros(len(base))
    last = np.full(len(base), np.nan)
    traded_at = np.full(len(base), np.nan)
    written = []
    for i, t in enumerate(times):
        interval = np.round(day_volume * share[i] * rng.lognormal(0.0, params.volume_noise, len(base)))
        for row, volume in bursts.get(i, []):
            interval[row] += volume
        cumulative += interval
        price, _ = bars.last_close(t)
        if not np.isfinite(price):
            price = float(first_price)
        years = years_to_settlement(base["expiration"].to_numpy(), t)
        sigma = smile(price, strike, years, params.chain)
        if atm_vol is not None:   # the term structure moves the whole smile of each expiration
            sigma = np.clip(sigma + atm_vol(t, years) - params.chain.atm_vol, params.chain.min_vol, params.chain.max_vol)
        theo = black76.price(price, strike, years, sigma, is_call)
        bid, ask = _quotes(theo, params.chain)
        fresh = interval > 0
        last = np.where(fresh, _tick_nearest(bid + rng.random(len(base)) * (ask - np.nan_to_num(bid)), params.chain),
                        last)
        last = np.where(np.isnan(bid) & fresh, ask, last)
        traded_at = np.where(fresh, t.timestamp(), traded_at)
        volume = np.where(cumulative > 0, cumulative, np.nan)
        quotes = {"bid": bid, "ask": ask, "last": last, "volume": volume, "open_interest": oi,
                  "iv": np.round(sigma, 6), "source_ts": traded_at}
        if contracts is None:
            contracts = build_chain_frame({
                "contract": base["contract"].to_numpy(), "root": base["root"].to_numpy(),
                "expiration": base["expiration"].to_numpy(), "strike": strike, "right": base["right"].to_numpy(),
                **quotes})
            frame = contracts
        else:
            frame = _requoted(contracts, quotes)
        notes = ("SAMPLE DATA generated by tasks/options_trading_system/sample_data/week.py: not market data",)
        meta = ChainMeta(underlying_symbol=_underlying_symbol(base), source="sample", as_of=t,
                         multiplier=params.chain.multiplier, underlying_price=float(price), is_sample=True, notes=notes)
        name = t.tz_convert(LOCAL_TZ).strftime("%H%M%S") + ".json"
        relative = Path(CHAIN_DIR) / day.label / name
        write_snapshot(OptionsChain(frame=frame, meta=meta, quarantine=no_quarantine), out_dir / relative)
        written.append({"as_of": t.isoformat(), "file": relative.as_posix()})
    return written


def _requoted(contracts: pd.DataFrame, quotes: dict[str, np.ndarray]) -> pd.DataFrame:
    """The day's canonical frame with a snapshot's numbers: what `build_chain_frame` makes of the
    same columns (numbers as float64, `source_ts` from epoch seconds, `mark` recomputed), without
    rebuilding the contracts' text columns for every snapshot."""
    frame = contracts.copy()
    for name, values in quotes.items():
        if name == "source_ts":
            frame[name] = pd.to_datetime(pd.Series(values, index=frame.index), unit="s", utc=True,
                                         errors="coerce").astype("datetime64[ns, UTC]")
        else:
            frame[name] = np.asarray(values, dtype="float64")
    frame["mark"] = compute_mark(frame)
    return frame


def _episode_row(base: pd.DataFrame, strike: np.ndarray, is_call: np.ndarray, expirations: np.ndarray,
                 episode: Episode, used: set[int]) -> int | None:
    """The contract of the nearest expiration listing the episode's strike (within 5 points) and
    right, not already used by another episode of the day."""
    for expiration in expirations:
        rows = np.flatnonzero((base["expiration"] == expiration).to_numpy() & (is_call == (episode.right == "C"))
                              & (np.abs(strike - episode.strike) <= 5.0))
        rows = [int(r) for r in rows if int(r) not in used]
        if rows:
            return min(rows, key=lambda r: abs(strike[r] - episode.strike))
    return None


def _intraday_share(times: list[pd.Timestamp], day: TradingDay) -> np.ndarray:
    """Share of the day's volume traded in each snapshot's interval: a U-shaped profile
    (intensity 1 + 2(2f - 1)^2 over the window fraction f), integrated between snapshots."""
    span = (day.window_close - day.window_open).total_seconds()
    f = np.array([(t - day.window_open).total_seconds() / span for t in times] + [1.0])
    cumulative = (f + ((2 * f - 1) ** 3 + 1) / 3.0) / (5.0 / 3.0)
    first = cumulative[1] if len(times) else 0.0
    return np.concatenate([[first], np.diff(cumulative[1:])]) if len(times) else np.zeros(0)


def _quotes(theo: np.ndarray, params: SampleChainParams) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask around the model price on CME's option ticks (as `sample_data/chain.py` quotes)."""
    width = np.maximum(params.min_spread_ticks * tick_for(theo, params), params.spread_fraction * theo)
    low = np.maximum(theo - width / 2.0, 0.0)
    tick_low = tick_for(low, params)
    bid = np.round(np.floor(low / tick_low) * tick_low, 2)
    high = theo + width / 2.0
    tick_high = tick_for(high, params)
    ask = np.maximum(np.round(np.ceil(high / tick_high) * tick_high, 2), params.small_tick)
    return np.where(bid > 0, bid, np.nan), ask


def _tick_nearest(price: np.ndarray, params: SampleChainParams) -> np.ndarray:
    tick = tick_for(np.maximum(np.nan_to_num(price), 0.0), params)
    return np.maximum(np.round(np.round(price / tick) * tick, 2), params.small_tick)


def _underlying_symbol(base: pd.DataFrame) -> str:
    from ..data_ingestion.saved.barchart_symbols import underlying_future
    return underlying_future(pd.Timestamp(base["expiration"].min()).date())


# --- MBO ---------------------------------------------------------------------------------

def _mbo_writer():
    """Writes a day's options MBO with `sample_data/mbo.py` (and, before the first day, the
    episode-free history days the IFD v3.0 baselines need)."""
    from . import mbo
    from ..data_ingestion.saved.barchart_symbols import quarterly_expiration, underlying_future

    state = {"history": False}

    def write(folder: Path, day: TradingDay, bars: PricePath, episodes: list[Episode], seed: int,
              params: SampleWeekParams) -> str:
        price, _ = bars.last_close(day.window_open)
        if not np.isfinite(price):
            price = float(bars.open[0]) if len(bars) else params.open_price
        expiry = _next_quarterly(day.session, quarterly_expiration)
        base = mbo.MBOSampleParams()
        session_s = (day.window_close - day.window_open).total_seconds()
        room = max(0, int((session_s - 2 * base.edge_s) // base.episode_spacing_s))  # early closes fit fewer
        specials = min(base.n_episodes + base.n_straddles, room)
        straddles = min(base.n_straddles, specials // 4)
        mbo_params = dataclasses.replace(
            base, n_episodes=specials - straddles, n_straddles=straddles, seed=int(seed) + day.session.toordinal(),
            trade_date=day.session, session_open=day.window_open.time(), session_close=day.window_close.time(),
            underlying_symbol=underlying_future(expiry), expiration=expiry,
            underlying=float(round(price / 0.25) * 0.25), n_events=params.mbo_events)
        if not state["history"] and params.mbo_history_days:
            mbo.write_history(folder / "history", mbo_params, params.mbo_history_days, prefix="history")
            state["history"] = True
        relative = Path(MBO_DIR) / f"{day.label}.mbo.dbn.zst"
        mbo.write_sample_day(folder.parent / relative, mbo_params)
        return relative.as_posix()

    return write


def _next_quarterly(day: date, quarterly_expiration: Any) -> date:
    year, month = day.year, day.month
    while True:
        if month in (3, 6, 9, 12) and quarterly_expiration(year, month) > day:
            return quarterly_expiration(year, month)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


# --- command line (`scripts/make_sample_data.py week`) ----------------------------------------

DEFAULT_WEEK_DIR = Path("outputs") / "sample_week"


def add_week_command(subparsers: Any) -> None:
    """Register `week` on `make_sample_data.py` (`--days N` alone also means `week`)."""
    defaults = SampleWeekParams()
    parser = subparsers.add_parser(
        "week", help="a consistent sample week for shadow-trading replays (price path, chains, MBO)",
        description="Write a sample week in the replay layout (manifest.json, futures/, chains/YYYY-MM-DD/, mbo/): "
                    "tasks/options_trading_system/sample_data/week.py says how it is built.")
    parser.add_argument("--days", type=int, default=defaults.days,
                        help=f"trading days on the exchange calendar, any number: a week, or months for long replays "
                             f"(default: {defaults.days})")
    parser.add_argument("--output", type=Path, default=DEFAULT_WEEK_DIR, help=f"folder (default: {DEFAULT_WEEK_DIR})")
    parser.add_argument("--start", type=date.fromisoformat, default=None,
                        help=f"first session on or after this date (default: {defaults.start}; with --price-path "
                             f"the file's first day)")
    parser.add_argument("--price-path", type=Path, default=None,
                        help="follow a real bar file instead of generating prices, e.g. "
                             "../shared/data/futures/NQ_1min_sample.csv (read in place, not copied)")
    parser.add_argument("--snapshot-minutes", type=int, default=defaults.snapshot_minutes,
                        help=f"minutes between chain snapshots (default: {defaults.snapshot_minutes})")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"random seed (default: {defaults.seed})")
    parser.add_argument("--no-mbo", action="store_true", help="no MBO files (IFD v3.0 then has no input)")
    parser.set_defaults(handler=run_week_command)


def run_week_command(args: Any) -> int:
    if args.days < 1:
        raise ValueError(f"--days {args.days}: a sample recording has at least 1 trading day")
    start = args.start or (date(1900, 1, 1) if args.price_path else SampleWeekParams().start)
    params = dataclasses.replace(SampleWeekParams(), days=args.days, start=start, seed=args.seed,
                                 snapshot_minutes=args.snapshot_minutes)
    manifest = write_sample_week(args.output, params, price_path=args.price_path, with_mbo=not args.no_mbo)
    days = json.loads(manifest.read_text())["days"]
    log.info("wrote a sample week of %d day(s) (%s .. %s) to %s", len(days), days[0]["date"], days[-1]["date"],
             args.output)
    print(f"sample week: {len(days)} day(s) {days[0]['date']} .. {days[-1]['date']} in {args.output}; replay it with "
          f"python3 run_shadow_trading.py --replay {args.output} --days {len(days)}")
    return 0
