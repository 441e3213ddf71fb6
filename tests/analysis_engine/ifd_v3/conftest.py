"""Fixtures of the IFD v3.0 tests: a small seeded sample day with planted episodes and five
episode-free days before it, and the engine settings the tests run with."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from tasks.options_trading_system.analysis_engine.ifd_v3.config import BaselineConfig, IFDv3Config
from tasks.options_trading_system.sample_data.mbo import MBOSampleParams, SampleDay, write_sample_set

SAMPLE_DATE = date(2025, 6, 2)
HISTORY_DAYS = 5
SAMPLE_EVENTS = 40_000


@dataclass(frozen=True)
class SampleSet:
    folder: Path
    day: SampleDay
    history: list[SampleDay]
    trade_date: date = SAMPLE_DATE
    history_days: int = HISTORY_DAYS

    @property
    def history_pattern(self) -> str:
        return str(self.folder / "nq_mbo_*.mbo.dbn.zst")


@pytest.fixture(scope="session")
def sample_set(tmp_path_factory: pytest.TempPathFactory) -> SampleSet:
    """40,000-record day (6 institutional episodes, 2 straddle decoys) + 5 history days."""
    folder = tmp_path_factory.mktemp("mbo_sample")
    params = MBOSampleParams(trade_date=SAMPLE_DATE, n_events=SAMPLE_EVENTS, seed=20250602)
    day, history = write_sample_set(folder, params, history_days=HISTORY_DAYS)
    return SampleSet(folder, day, history)


@pytest.fixture(scope="session")
def ifd_config() -> IFDv3Config:
    """Defaults, with a lookback equal to the history the sample set has."""
    return IFDv3Config(baseline=BaselineConfig(lookback_days=HISTORY_DAYS))
