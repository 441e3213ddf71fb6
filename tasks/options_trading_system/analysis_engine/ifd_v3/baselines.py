"""Baselines: each strike and right against its own previous N days, kept in SQLite.

What is stored, per recorded day (`BaselineStore.record_day`, one transaction, a re-run replaces
the day): the day's number of windows, the (underlying root, strike, right) keys listed that day,
and every window in which a key traded, with buy/sell/unknown volume, trades, notional and
net = |buy - sell|, the pressure metric. Windows without trades are zeros: they are counted, not
stored.

What is computed (`baseline_table`, pure): over the last `lookback_days` recorded days before the
analysed day, per key: days listed, windows, mean, standard deviation and percentiles (50/90/99)
of net, and the sorted nonzero values so a window can be ranked (its percentile) exactly. The
data-quality weight is days listed / lookback_days: stated in every signal, and it scales the
anomaly component of the confidence, so a short history lowers confidence visibly instead of
pretending.
"""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ...errors import DataSourceError
from .jit import kernel

log = logging.getLogger(__name__)

KEY = ["underlying_root", "strike", "right"]
WINDOW_COLUMNS = ["window_start", "buy", "sell", "unknown", "trades", "notional", "net"]
PERCENTILES = (0.5, 0.9, 0.99)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS days (
    trade_date TEXT PRIMARY KEY, n_windows INTEGER NOT NULL, window_s INTEGER NOT NULL,
    source TEXT NOT NULL, recorded_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS listed (
    trade_date TEXT NOT NULL, underlying_root TEXT NOT NULL, strike REAL NOT NULL, right TEXT NOT NULL,
    PRIMARY KEY (trade_date, underlying_root, strike, right));
CREATE TABLE IF NOT EXISTS windows (
    trade_date TEXT NOT NULL, underlying_root TEXT NOT NULL, strike REAL NOT NULL, right TEXT NOT NULL,
    window_start INTEGER NOT NULL, buy INTEGER NOT NULL, sell INTEGER NOT NULL, unknown INTEGER NOT NULL,
    trades INTEGER NOT NULL, notional REAL, net INTEGER NOT NULL,
    PRIMARY KEY (trade_date, underlying_root, strike, right, window_start));
"""


@dataclass(frozen=True)
class DayRecord:
    """One day as the baseline store keeps it."""

    trade_date: date
    n_windows: int
    window_s: int
    source: str
    listed: pd.DataFrame    # KEY columns
    windows: pd.DataFrame   # KEY + WINDOW_COLUMNS


class BaselineStore:
    """The SQLite file of recorded days (WAL; each day is one transaction)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path))
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise DataSourceError(f"baseline store {self.path}: cannot open ({exc}); check the "
                                  f"`baseline_db` setting and that the folder is writable") from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "BaselineStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def recorded_days(self, window_s: int | None = None) -> list[date]:
        query = "SELECT trade_date FROM days" + (" WHERE window_s = ?" if window_s else "") + " ORDER BY trade_date"
        rows = self._db.execute(query, (window_s,) if window_s else ()).fetchall()
        return [date.fromisoformat(r[0]) for r in rows]

    def record_day(self, day: DayRecord, *, recorded_at: pd.Timestamp) -> None:
        """Store (or replace) one day's windows and listed keys."""
        key = day.trade_date.isoformat()
        with self._db:
            for table in ("days", "listed", "windows"):
                self._db.execute(f"DELETE FROM {table} WHERE trade_date = ?", (key,))
            self._db.execute("INSERT INTO days VALUES (?, ?, ?, ?, ?)",
                             (key, int(day.n_windows), int(day.window_s), day.source, recorded_at.isoformat()))
            listed = day.listed[KEY].drop_duplicates()
            self._db.executemany("INSERT INTO listed VALUES (?, ?, ?, ?)",
                                 [(key, r, float(k), c) for r, k, c in listed.itertuples(index=False)])
            rows = day.windows[KEY + WINDOW_COLUMNS]
            self._db.executemany(
                "INSERT INTO windows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(key, r, float(k), c, int(ws), int(b), int(s), int(u), int(t), float(n), int(net))
                 for r, k, c, ws, b, s, u, t, n, net in rows.itertuples(index=False)])
        log.info("baseline store %s: recorded %s (%d windows with trades, %d keys listed)",
                 self.path, key, len(rows), len(listed))

    def history(self, before: date, lookback_days: int, window_s: int) -> "BaselineHistory":
        """The last `lookback_days` recorded days strictly before `before` (same window length)."""
        days = pd.read_sql_query(
            "SELECT trade_date, n_windows FROM days WHERE trade_date < ? AND window_s = ? "
            "ORDER BY trade_date DESC LIMIT ?", self._db, params=(before.isoformat(), window_s, lookback_days))
        if days.empty:
            return BaselineHistory(days=days, listed=pd.DataFrame(columns=["trade_date", *KEY]),
                                   windows=pd.DataFrame(columns=["trade_date", *KEY, *WINDOW_COLUMNS]))
        marks = ",".join("?" * len(days))
        params = tuple(days["trade_date"])
        listed = pd.read_sql_query(f"SELECT * FROM listed WHERE trade_date IN ({marks})", self._db, params=params)
        windows = pd.read_sql_query(f"SELECT * FROM windows WHERE trade_date IN ({marks})", self._db, params=params)
        return BaselineHistory(days=days, listed=listed, windows=windows)


@dataclass(frozen=True)
class BaselineHistory:
    """Raw rows of the days a baseline is built from."""

    days: pd.DataFrame      # trade_date, n_windows
    listed: pd.DataFrame    # trade_date + KEY
    windows: pd.DataFrame   # trade_date + KEY + WINDOW_COLUMNS

    @property
    def n_days(self) -> int:
        return len(self.days)


def baseline_table(history: BaselineHistory, lookback_days: int) -> pd.DataFrame:
    """Per (underlying_root, strike, right): days listed, windows, mean/std/p50/p90/p99 of net
    (zero-trade windows included as zeros), quality = days listed / lookback_days, and `values`:
    the sorted net of every window that traded (for exact percentiles)."""
    columns = [*KEY, "days", "windows", "mean", "std", "p50", "p90", "p99", "quality", "values"]
    if history.listed.empty:
        return pd.DataFrame(columns=columns)
    listed = history.listed.merge(history.days, on="trade_date")
    per_key = listed.groupby(KEY, as_index=False).agg(days=("trade_date", "nunique"), windows=("n_windows", "sum"))
    traded = history.windows.merge(history.listed, on=["trade_date", *KEY])
    grouped = {k: np.sort(g["net"].to_numpy(np.float64)) for k, g in traded.groupby(KEY)}
    means, stds, quantiles, values = [], [], [], []
    for row in per_key.itertuples(index=False):
        vals = grouped.get((row.underlying_root, row.strike, row.right), np.zeros(0))
        n = float(row.windows)
        mean = vals.sum() / n if n else np.nan
        var = (vals ** 2).sum() / n - mean ** 2 if n else np.nan
        means.append(mean)
        stds.append(float(np.sqrt(max(var, 0.0))) if n else np.nan)
        quantiles.append([_quantile_with_zeros(vals, int(n), q) for q in PERCENTILES])
        values.append(vals)
    per_key["mean"] = means
    per_key["std"] = stds
    for i, q in enumerate(PERCENTILES):
        per_key[f"p{int(round(q * 100))}"] = [qs[i] for qs in quantiles]
    per_key["quality"] = np.minimum(per_key["days"] / float(lookback_days), 1.0)
    per_key["values"] = values
    return per_key[columns]


def _quantile_with_zeros(sorted_nonzero: np.ndarray, n_total: int, q: float) -> float:
    """Quantile q (linear interpolation) of n_total values: zeros plus `sorted_nonzero`."""
    if n_total <= 0:
        return float("nan")
    n_zero = n_total - len(sorted_nonzero)
    position = q * (n_total - 1)
    lo, hi = int(np.floor(position)), int(np.ceil(position))

    def value(i: int) -> float:
        return 0.0 if i < n_zero else float(sorted_nonzero[i - n_zero])

    return value(lo) + (value(hi) - value(lo)) * (position - lo)


class BaselineArrays(NamedTuple):
    """Per instrument index, for the kernel: moments, counts and the CSR of sorted values."""

    mean: np.ndarray      # float64[I] NaN = no history
    std: np.ndarray       # float64[I]
    windows: np.ndarray   # float64[I] windows in the history (zeros included)
    days: np.ndarray      # float64[I] days listed
    quality: np.ndarray   # float64[I] days / lookback, 0 without history
    offsets: np.ndarray   # int64[I + 1]
    values: np.ndarray    # float64[sum of lengths] sorted nonzero-window nets per instrument


def baseline_arrays(table: pd.DataFrame, keys: pd.DataFrame, n_instruments: int) -> BaselineArrays:
    """Arrays indexed by instrument: `keys` has inst + KEY for the defined options; instruments
    without a baseline row get NaN moments and quality 0."""
    mean = np.full(n_instruments, np.nan)
    std = np.full(n_instruments, np.nan)
    windows = np.zeros(n_instruments)
    days = np.zeros(n_instruments)
    quality = np.zeros(n_instruments)
    lengths = np.zeros(n_instruments, np.int64)
    chunks: dict[int, np.ndarray] = {}
    if not table.empty and not keys.empty:
        joined = keys.merge(table, on=KEY, how="inner")
        for row in joined.itertuples(index=False):
            i = int(row.inst)
            mean[i], std[i], windows[i], days[i], quality[i] = row.mean, row.std, row.windows, row.days, row.quality
            chunks[i] = np.asarray(row.values, np.float64)
            lengths[i] = len(chunks[i])
    offsets = np.zeros(n_instruments + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = np.zeros(int(offsets[-1]), np.float64)
    for i, vals in chunks.items():
        values[offsets[i]:offsets[i + 1]] = vals
    return BaselineArrays(mean, std, windows, days, quality, offsets, values)


@kernel
def zscore(b: BaselineArrays, inst: int, value: float, min_std: float) -> float:
    """(value - mean) / max(std, min_std); NaN without history."""
    if b.windows[inst] <= 0:
        return np.nan
    return (value - b.mean[inst]) / max(b.std[inst], min_std)


@kernel
def percentile(b: BaselineArrays, inst: int, value: float) -> float:
    """Share of historical windows whose net is at or below `value` (zeros included); NaN without
    history."""
    n_total = b.windows[inst]
    if n_total <= 0:
        return np.nan
    lo, hi = b.offsets[inst], b.offsets[inst + 1]
    n_zero = n_total - (hi - lo)
    first, last = lo, hi  # binary search: first index in [lo, hi) whose value exceeds `value`
    while first < last:
        mid = (first + last) // 2
        if b.values[mid] <= value:
            first = mid + 1
        else:
            last = mid
    at_or_below_zero = n_zero if value >= 0 else 0.0
    return (at_or_below_zero + (first - lo)) / n_total
