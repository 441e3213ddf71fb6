"""Run IFD v3.0 over MBO files: replay a day, stream a day record by record, feed the baselines.

The functions here are the edge between files and the pure engine: they open DBN files (through
`data_ingestion.mbo.MBOFile`), hand the engine arrays or records, and turn a day's trades into the
windows the baseline store keeps.

- `replay_file`: definitions, then MBO in chunks through `IFDv3Engine.process_batch`;
- `stream_file`: every record, one at a time, through `IFDv3Engine.on_record` (the live code path,
  used to prove replay and streaming agree);
- `day_record` / `record_history`: a day's fixed windows per strike and right for the baselines.
"""
from __future__ import annotations

import glob
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ...errors import InputFileError
from ...data_ingestion.mbo.dbn_file import MBOFile
from .baselines import KEY, BaselineStore, DayRecord, baseline_table
from .config import NS_PER_S, IFDv3Config
from ...data_ingestion.mbo.definitions import future_root, options_on
from .engine import IFDv3Engine
from ...data_ingestion.mbo.events import ACTION_TRADE, PRICE_UNIT
from .flow_metrics import window_samples

log = logging.getLogger(__name__)

TRADE_FIELDS = ("ts_recv", "instrument_id", "side", "size", "price")
TRADE_DTYPE = np.dtype([("ts_recv", "i8"), ("instrument_id", "i8"), ("side", "u1"), ("size", "i8"), ("price", "i8")])


@dataclass(frozen=True)
class ReplayResult:
    """One replayed day: its signals, the engine's figures and what the baselines need."""

    path: Path
    trade_date: date
    signals: pd.DataFrame
    stats: dict[str, Any]
    day: DayRecord
    engine: IFDv3Engine


def replay_file(path: Path | str, config: IFDv3Config, *, baselines: pd.DataFrame | None = None,
                chunk_events: int = 1_000_000) -> ReplayResult:
    """Replay one MBO file through a fresh engine (definitions first, then MBO in chunks)."""
    mbo = MBOFile(path)
    definitions = mbo.definitions()
    engine = IFDv3Engine(config, definitions=definitions, baselines=baselines)
    trades: list[np.ndarray] = []
    bounds: list[int] = []
    for chunk in mbo.iter_mbo(chunk_events):
        engine.process_batch(chunk)
        trades.append(_trades_of(chunk))
        bounds.extend((int(chunk["ts_recv"][0]), int(chunk["ts_recv"][-1])))
    trade_date = mbo.trade_date()
    day = day_record(trade_date, definitions, _concat(trades), bounds, config, source=str(mbo.path.name))
    log.info("IFD v3.0 replay of %s: %d events, %d signals", mbo.path.name, engine.stats()["events"],
             int(engine.out.n[0]))
    return ReplayResult(path=mbo.path, trade_date=trade_date, signals=engine.signals(), stats=engine.stats(),
                        day=day, engine=engine)


def stream_file(path: Path | str, config: IFDv3Config, *, baselines: pd.DataFrame | None = None) -> IFDv3Engine:
    """Feed every record of a file to a fresh engine one at a time (the live path)."""
    engine = IFDv3Engine(config, baselines=baselines)
    for record in MBOFile(path).records():
        engine.on_record(record)
    return engine


def day_record(trade_date: date, definitions: pd.DataFrame, trades: np.ndarray, bounds: Sequence[int],
               config: IFDv3Config, *, source: str) -> DayRecord:
    """A day's fixed windows per (underlying root, strike, right) of the scored options, for the
    baseline store. `bounds` are event times; the day spans the windows between the first and last."""
    window_ns = config.window.window_s * NS_PER_S
    n_windows = int(max(bounds) // window_ns - min(bounds) // window_ns + 1) if bounds else 0
    options = options_on(definitions, config.underlying_root)
    keys = options[["instrument_id", "strike", "right", "multiplier"]].assign(
        underlying_root=options["underlying"].map(future_root))
    frame = pd.DataFrame({name: trades[name] for name in TRADE_FIELDS}) if len(trades) else \
        pd.DataFrame(columns=list(TRADE_FIELDS))
    frame = frame.merge(keys, on="instrument_id", how="inner")
    samples = window_samples(pd.DataFrame({
        "ts": frame["ts_recv"].to_numpy(np.int64), "inst": frame["instrument_id"].to_numpy(np.int64),
        "side": frame["side"].to_numpy(np.uint8), "size": frame["size"].to_numpy(np.int64),
        "price": frame["price"].to_numpy(np.int64) / PRICE_UNIT, "multiplier": frame["multiplier"].to_numpy(float),
    }), config.window.window_s)
    windows = samples.merge(keys.rename(columns={"instrument_id": "inst"})[["inst", *KEY]], on="inst")
    # several expirations can share a strike and right: their windows add up
    windows = windows.groupby([*KEY, "window_start"], as_index=False)[
        ["buy", "sell", "unknown", "trades", "notional"]].sum()
    windows["net"] = (windows["buy"] - windows["sell"]).abs()
    listed = keys[KEY].drop_duplicates().reset_index(drop=True)
    return DayRecord(trade_date=trade_date, n_windows=n_windows, window_s=config.window.window_s, source=source,
                     listed=listed, windows=windows)


def file_day_record(path: Path | str, config: IFDv3Config, chunk_events: int = 1_000_000) -> DayRecord:
    """The baseline record of a file without running the engine (decode trades only)."""
    mbo = MBOFile(path)
    trades: list[np.ndarray] = []
    bounds: list[int] = []
    for chunk in mbo.iter_mbo(chunk_events):
        trades.append(_trades_of(chunk))
        bounds.extend((int(chunk["ts_recv"][0]), int(chunk["ts_recv"][-1])))
    return day_record(mbo.trade_date(), mbo.definitions(), _concat(trades), bounds, config, source=mbo.path.name)


def record_history(store: BaselineStore, patterns: Iterable[str], *, before: date, config: IFDv3Config,
                   recorded_at: pd.Timestamp, chunk_events: int = 1_000_000) -> list[date]:
    """Record into `store` every file matching `patterns` whose day is before `before` and not yet
    recorded with this window length. Returns the days added. A file that cannot be read (corrupt,
    truncated) is skipped with a warning: one bad day thins the baseline, it does not stop the
    days after it."""
    have = set(store.recorded_days(config.window.window_s))
    added: list[date] = []
    for file in sorted({f for pattern in patterns for f in glob.glob(pattern)}):
        try:
            mbo = MBOFile(file)
            day = mbo.trade_date()
            if day >= before or day in have:
                continue
            record = file_day_record(file, config, chunk_events)
        except InputFileError as exc:
            log.warning("IFD v3.0 baselines: %s skipped: %s", file, exc)
            continue
        store.record_day(record, recorded_at=recorded_at)
        have.add(day)
        added.append(day)
    return added


def baselines_for(store: BaselineStore, day: date, config: IFDv3Config) -> pd.DataFrame:
    """The baseline table for `day`: the last `lookback_days` recorded days before it."""
    history = store.history(day, config.baseline.lookback_days, config.window.window_s)
    return baseline_table(history, config.baseline.lookback_days)


def _trades_of(chunk: np.ndarray) -> np.ndarray:
    mask = np.ascontiguousarray(chunk["action"]).view(np.uint8) == ACTION_TRADE
    picked = chunk[mask]
    out = np.empty(len(picked), dtype=TRADE_DTYPE)
    out["ts_recv"] = picked["ts_recv"]
    out["instrument_id"] = picked["instrument_id"]
    out["side"] = np.ascontiguousarray(picked["side"]).view(np.uint8)
    out["size"] = picked["size"]
    out["price"] = picked["price"]
    return out


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=TRADE_DTYPE)
