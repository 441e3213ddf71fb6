"""Sample sessions of the NQ future (generated, small) shared by the tick-feed tests."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.sizing import build_sizer
from tasks.options_trading_system.analysis_engine.strategies.strategies_futures import build_strategies
from tasks.options_trading_system.analysis_engine.strategies.strategies_futures.aggregator import (
    AggregatorSettings, SignalAggregator)
from tasks.options_trading_system.analysis_engine.strategies.strategies_futures.engine import (
    SizingInputs, TickDecisionEngine)
from tasks.options_trading_system.sample_data.ticks import TickSampleParams, write_sample_ticks

#: the regular session's end on the first sample day (2025-06-02), when the last bars close
SESSION_END_NS = pd.Timestamp("2025-06-02 16:00", tz="America/New_York").value
STRATEGIES = {"mean_reversion": {"period": "5m", "lookback": 10, "vwap_atr_distance": 1.0},
              "momentum": {"period": "5m", "fast": 5, "slow": 13, "min_strength": 0.3},
              "volatility_breakout": {"period": "1m", "vol_period": 10, "baseline_period": 30, "cooldown_bars": 5}}


@pytest.fixture(scope="session")
def sample_days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two generated sessions (2025-06-02 and -03) of about 40,000 trades each, one file per day."""
    folder = tmp_path_factory.mktemp("sample_ticks")
    write_sample_ticks(folder, TickSampleParams(days=2, trades_per_day=40_000, seed=11))
    return folder


def decision_engine() -> TickDecisionEngine:
    """Three strategies, the aggregator and a sizer, as the tick orchestrator builds them."""
    return TickDecisionEngine(build_strategies(STRATEGIES), SignalAggregator(AggregatorSettings(cooldown_minutes=5)),
                              build_sizer("fixed_fractional"), sizing=SizingInputs(equity_usd=100_000, multiplier=2))


def decision_key(d) -> tuple:
    """What a decision says, for comparing two runs."""
    return (d.time_ns, d.intent, tuple((v.intent.strategy, v.verdict) for v in d.verdicts),
            d.size.contracts if d.size else None)
