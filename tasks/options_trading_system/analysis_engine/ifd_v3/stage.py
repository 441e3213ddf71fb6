"""`institutional_flow_v3`: IFD v3.0 as a stage of the daily pipeline.

Unlike the chain stages, this one brings its own data: the day's MBO file (`mbo_file`, which
`run_pipeline.py --mbo FILE` sets) and the baseline store (`baseline_db`). Those two reads, and
recording the day into the store afterwards, are its only I/O; the scoring is the engine's.
Steps of `candidates`:

1. no `mbo_file`: nothing to replay; the summary says so and the table is empty;
2. days before the file's day found in `history_files` and missing from the store are recorded
   (`replay.record_history`), then the baseline table of the last `lookback_days` is built;
3. the file is replayed (`replay.replay_file`): one row per signal;
4. with `record_baselines`, the day's windows are stored for the days after it.

`summarize` returns the signal list and the engine's figures (events, anomalies, book checks,
baseline coverage): see `SUMMARY_KEYS`.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..pipeline import AnalysisContext, PipelineAnalysis
from ...state.state_dir import state_path
from .baselines import BaselineStore
from ...data_ingestion.mbo.dbn_file import is_sample_day
from .config import IFDv3Config
from .replay import baselines_for, record_history, replay_file
from .signals import SIGNAL_COLUMNS, empty_signals

log = logging.getLogger(__name__)

STATUS_OK = "ok"
STATUS_NO_FILE = "no MBO file given: run with --mbo FILE (a Databento MBO .dbn/.dbn.zst of one day)"
SUMMARY_KEYS = ("status", "mbo_file", "sample_input", "trade_date", "signal_count", "tiers", "signals", "engine",
                "baseline")
# columns of a signal in summarize()["signals"] (the full table is the stage's opportunities)
SUMMARY_SIGNAL_COLUMNS = ("signal_id", "time", "contract", "strike", "right", "aggressor", "direction",
                          "confidence", "tier", "market_making", "buy_volume", "sell_volume", "net_volume",
                          "pressure_ratio", "notional", "z_score", "percentile", "baseline_days",
                          "baseline_quality", "bid", "ask", "distance_points", "reasons")


@dataclass(frozen=True, kw_only=True)
class InstitutionalFlowV3Config:
    """Stage settings (schema: config/schema/stage.institutional_flow_v3.schema.json)."""

    mbo_file: str = ""
    baseline_db: str = "ifd_v3/baselines.sqlite"  # relative: inside the state directory
    history_files: tuple[str, ...] = ()
    record_baselines: bool = True
    chunk_events: int = 1_000_000
    engine: IFDv3Config = field(default_factory=IFDv3Config)


class InstitutionalFlowV3Analysis(PipelineAnalysis):
    """IFD v3.0 over one day of MBO; opportunities = its signals, strongest first."""

    name = "institutional_flow_v3"
    config_class = InstitutionalFlowV3Config

    def __init__(self, config: InstitutionalFlowV3Config | None = None, *,
                 clock: Callable[[], pd.Timestamp] = lambda: pd.Timestamp.now(tz="UTC")) -> None:
        super().__init__(config)
        self.clock = clock
        self._summary: dict[str, Any] = {}

    def candidates(self, chain: pd.DataFrame, ctx: AnalysisContext) -> pd.DataFrame:
        cfg: InstitutionalFlowV3Config = self.config
        if not cfg.mbo_file:
            self._summary = _summary(STATUS_NO_FILE, cfg, None, empty_signals(), {}, {})
            return empty_signals().assign(distance_points=pd.Series(dtype="float64"))
        engine_cfg = cfg.engine
        day = _trade_date_of(cfg.mbo_file)
        with BaselineStore(state_path(cfg.baseline_db)) as store:
            added = record_history(store, history_patterns(cfg), before=day, config=engine_cfg,
                                   recorded_at=self.clock(), chunk_events=cfg.chunk_events)
            table = baselines_for(store, day, engine_cfg)
            result = replay_file(cfg.mbo_file, engine_cfg, baselines=table, chunk_events=cfg.chunk_events)
            if cfg.record_baselines:
                store.record_day(result.day, recorded_at=self.clock())
            baseline = {
                "db": str(store.path),
                "lookback_days": engine_cfg.baseline.lookback_days,
                "days_used": sorted({d.isoformat() for d in store.recorded_days(engine_cfg.window.window_s)
                                     if d < day})[-engine_cfg.baseline.lookback_days:],
                "days_added_from_history_files": [d.isoformat() for d in added],
                "recorded_this_day": bool(cfg.record_baselines),
            }
        baseline["days_available"] = len(baseline["days_used"])
        baseline["data_quality"] = min(1.0, baseline["days_available"] / engine_cfg.baseline.lookback_days)
        signals = result.signals.assign(distance_points=result.signals["strike"].astype(float) - ctx.underlying_price)
        self._summary = _summary(STATUS_OK, cfg, result.trade_date, signals, result.stats, baseline)
        return signals

    def sort(self, kept: pd.DataFrame, ctx: AnalysisContext) -> pd.DataFrame:
        return kept.sort_values(["confidence", "ts"], ascending=[False, True], kind="stable")

    def summarize(self, chain: pd.DataFrame, kept: pd.DataFrame, ctx: AnalysisContext) -> dict[str, Any]:
        return self._summary


def history_patterns(cfg: InstitutionalFlowV3Config) -> list[str]:
    """`history_files` as globs: a relative pattern is relative to the MBO file's folder, where
    earlier days of the same feed sit (wherever the user generated or downloaded them)."""
    folder = Path(cfg.mbo_file).parent
    return [pattern if Path(pattern).is_absolute() else str(folder / pattern) for pattern in cfg.history_files]


def _trade_date_of(path: str) -> date:
    from ...data_ingestion.mbo.dbn_file import MBOFile

    return MBOFile(path).trade_date()


def _summary(status: str, cfg: InstitutionalFlowV3Config, trade_date: date | None, signals: pd.DataFrame,
             stats: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    tiers = signals["tier"].value_counts().to_dict() if len(signals) else {}
    columns = [c for c in SUMMARY_SIGNAL_COLUMNS if c in signals.columns]
    return {
        "status": status,
        "mbo_file": cfg.mbo_file,
        # generated MBO (scripts/make_sample_data.py mbo) is bannered like the sample chain
        "sample_input": bool(cfg.mbo_file) and is_sample_day(cfg.mbo_file),
        "trade_date": trade_date.isoformat() if trade_date else None,
        "signal_count": int(len(signals)),
        "tiers": {str(k): int(v) for k, v in tiers.items()},
        "signals": [_jsonable_row(row) for row in signals[columns].to_dict("records")],
        "engine": stats,
        "baseline": baseline,
    }


def _jsonable_row(row: dict[str, Any]) -> dict[str, Any]:
    """Plain JSON values: timestamps as ISO strings, numpy scalars as Python, NaN as None."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, pd.Timestamp):
            value = value.isoformat()
        elif isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out


__all__ = ["InstitutionalFlowV3Analysis", "InstitutionalFlowV3Config", "SUMMARY_KEYS", "SIGNAL_COLUMNS"]
