"""The futures price path: time-ordered bars a replay (or a live run) follows positions along.

A bar is [start, end) with open/high/low/close/volume; a bar is known only at its `end`. So at a
decision time t the market price is the close of the last bar that ended at or before t, and a
position opened at t is followed on the bars that start at or after t.

Loaders: 1-minute bar CSV (`timestamp,open,high,low,close,volume`, naive times in a given zone,
as the real FirstRate NQ sample), DBN `ohlcv-1m/1s/1h` and DBN `trades` (aggregated to bars).
Arrays are numpy (int64 nanoseconds UTC, float64 prices) so slicing and hit tests are vectorized.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ....errors import InputFileError

log = logging.getLogger(__name__)

BAR_COLUMNS = ("open", "high", "low", "close", "volume")
DBN_SUFFIXES = (".dbn", ".dbn.zst")
OHLCV_SECONDS = {"ohlcv-1s": 1, "ohlcv-1m": 60, "ohlcv-1h": 3600}


@dataclass(frozen=True)
class PricePath:
    """Bars sorted by start; `start`/`end` int64 ns UTC; prices float64 index points."""

    start: np.ndarray
    end: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    source: str = ""

    def __len__(self) -> int:
        return int(self.start.size)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, bar_seconds: int, source: str = "") -> "PricePath":
        """`frame` has a tz-aware `start` column (or index) and the bar columns."""
        if "start" not in frame.columns:
            frame = frame.rename_axis("start").reset_index()
        frame = frame.dropna(subset=["start", "close"]).sort_values("start", kind="stable")
        frame = frame.drop_duplicates("start", keep="last")
        start = pd.to_datetime(frame["start"], utc=True).to_numpy(dtype="datetime64[ns]").astype("int64")
        arrays = {c: pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype="float64") for c in BAR_COLUMNS}
        return cls(start=start, end=start + np.int64(bar_seconds) * 1_000_000_000, source=source, **arrays)

    @classmethod
    def empty(cls, source: str = "") -> "PricePath":
        z = np.zeros(0, dtype="int64")
        f = np.zeros(0, dtype="float64")
        return cls(start=z, end=z.copy(), open=f, high=f.copy(), low=f.copy(), close=f.copy(),
                   volume=f.copy(), source=source)

    def between(self, start: pd.Timestamp, end: pd.Timestamp) -> "PricePath":
        """Bars with start >= `start` and end <= `end` (both known by `end`)."""
        lo = int(np.searchsorted(self.start, _ns(start), side="left"))
        hi = int(np.searchsorted(self.end, _ns(end), side="right"))
        hi = max(hi, lo)
        return self._slice(lo, hi)

    def last_close(self, at: pd.Timestamp) -> tuple[float, pd.Timestamp | None]:
        """(close, end) of the last bar that ended at or before `at`; (NaN, None) if none."""
        i = int(np.searchsorted(self.end, _ns(at), side="right")) - 1
        if i < 0:
            return float("nan"), None
        return float(self.close[i]), pd.Timestamp(int(self.end[i]), tz="UTC")

    def append(self, other: "PricePath") -> "PricePath":
        """Bars of `other` that start after this path's last bar, appended (live feeds grow)."""
        if len(self) == 0:
            return other
        keep = other.start > self.start[-1]
        return PricePath(*(np.concatenate([getattr(self, f), getattr(other, f)[keep]])
                           for f in ("start", "end", "open", "high", "low", "close", "volume")),
                         source=self.source or other.source)

    def _slice(self, lo: int, hi: int) -> "PricePath":
        return PricePath(self.start[lo:hi], self.end[lo:hi], self.open[lo:hi], self.high[lo:hi],
                         self.low[lo:hi], self.close[lo:hi], self.volume[lo:hi], source=self.source)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"start": pd.to_datetime(self.start, utc=True), "end": pd.to_datetime(self.end, utc=True),
                             "open": self.open, "high": self.high, "low": self.low, "close": self.close,
                             "volume": self.volume})


def load_price_path(path: Path, *, csv_timezone: str, bar_seconds: int, root: str = "NQ") -> PricePath:
    """Read a price path file: bar CSV, or DBN ohlcv / trades (the `root` contract with most volume)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"price path {path}: no such file (expected a 1-minute bar CSV or a DBN ohlcv/trades file)")
    name = path.name.lower()
    if name.endswith(DBN_SUFFIXES):
        return _load_dbn(path, bar_seconds=bar_seconds, root=root)
    if name.endswith(".csv"):
        return _load_csv(path, csv_timezone=csv_timezone, bar_seconds=bar_seconds)
    raise InputFileError(f"price path {path}: unknown format (expected .csv, .dbn or .dbn.zst)")


def _load_csv(path: Path, *, csv_timezone: str, bar_seconds: int) -> PricePath:
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"price path {path}: cannot read as CSV: {exc}") from exc
    missing = [c for c in ("timestamp", "open", "high", "low", "close") if c not in frame.columns]
    if missing:
        raise InputFileError(f"price path {path}: missing column(s) {', '.join(missing)} "
                             f"(expected timestamp,open,high,low,close,volume)")
    if "volume" not in frame.columns:
        frame["volume"] = np.nan
    stamps = pd.to_datetime(frame["timestamp"], errors="coerce")
    if stamps.isna().all():
        raise InputFileError(f"price path {path}: no timestamp could be parsed (expected YYYY-MM-DD HH:MM:SS)")
    if stamps.dt.tz is None:
        stamps = stamps.dt.tz_localize(csv_timezone, ambiguous="NaT", nonexistent="NaT")
    dropped = int(stamps.isna().sum())
    if dropped:
        log.warning("price path %s: %d bar(s) dropped (unparseable or ambiguous local time)", path.name, dropped)
    frame = frame.assign(start=stamps.dt.tz_convert("UTC"))
    return PricePath.from_frame(frame, bar_seconds=bar_seconds, source=str(path))


def _load_dbn(path: Path, *, bar_seconds: int, root: str) -> PricePath:
    from ....data_ingestion.mbo.dbn_file import read_dbn_table  # databento: only for DBN bars
    try:
        frame, schema = read_dbn_table(path)
    except Exception as exc:  # the DBN decoder raises several unrelated types
        raise InputFileError(f"price path {path}: cannot decode DBN: {exc}") from exc
    if frame.empty:
        raise InputFileError(f"price path {path}: the DBN file holds no records")
    if "symbol" in frame.columns:
        ours = frame[frame["symbol"].astype("str").str.startswith(root)]
        if ours.empty:
            raise InputFileError(f"price path {path}: no {root} contract in the file "
                                 f"(symbols: {', '.join(sorted(frame['symbol'].astype('str').unique()))})")
        size_column = "volume" if "volume" in ours.columns else "size"
        front = ours.groupby("symbol")[size_column].sum().idxmax()
        frame = ours[ours["symbol"] == front]
        log.info("price path %s: following %s (%s)", path.name, front, schema)
    if schema in OHLCV_SECONDS:
        bars = frame[list(BAR_COLUMNS)].copy()
        bars["start"] = frame.index if "ts_event" not in frame.columns else frame["ts_event"]
        return PricePath.from_frame(bars.reset_index(drop=True), bar_seconds=OHLCV_SECONDS[schema], source=str(path))
    if schema in ("trades", "tbbo", "mbp-1"):
        trades = frame[frame["action"].astype("str") == "T"] if "action" in frame.columns else frame
        stamps = pd.to_datetime(trades["ts_event"] if "ts_event" in trades.columns else trades.index, utc=True)
        series = pd.DataFrame({"price": trades["price"].to_numpy(dtype="float64"),
                               "size": trades["size"].to_numpy(dtype="float64")}, index=stamps)
        grouped = series.resample(f"{bar_seconds}s", label="left", closed="left")
        bars = grouped["price"].ohlc().assign(volume=grouped["size"].sum()).dropna(subset=["close"])
        return PricePath.from_frame(bars, bar_seconds=bar_seconds, source=str(path))
    raise InputFileError(f"price path {path}: DBN schema {schema} is not a price path "
                         f"(expected ohlcv-1s/1m/1h or trades)")


def _ns(ts: pd.Timestamp) -> np.int64:
    ts = pd.Timestamp(ts)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return np.int64(ts.value)
