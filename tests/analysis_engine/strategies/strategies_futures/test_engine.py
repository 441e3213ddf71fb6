"""The tick decision engine makes the same decisions streaming tick by tick as replaying arrays."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.sizing import build_sizer
from tasks.options_trading_system.analysis_engine.strategies.strategies_futures import build_strategies
from tasks.options_trading_system.analysis_engine.strategies.strategies_futures.aggregator import (
    AggregatorSettings, SignalAggregator)
from tasks.options_trading_system.analysis_engine.strategies.strategies_futures.engine import (
    SizingInputs, TickDecisionEngine)
from tasks.options_trading_system.data_ingestion.ticks.dbn_ticks import read_ticks
from tasks.options_trading_system.sample_data.ticks import TickSampleParams, write_sample_ticks

SETTINGS = {"mean_reversion": {"period": "5m", "lookback": 10, "vwap_atr_distance": 1.0},
            "momentum": {"period": "5m", "fast": 5, "slow": 13, "min_strength": 0.3},
            "volatility_breakout": {"period": "1m", "vol_period": 10, "baseline_period": 30, "cooldown_bars": 5}}


def engine() -> TickDecisionEngine:
    return TickDecisionEngine(build_strategies(SETTINGS), SignalAggregator(AggregatorSettings(cooldown_minutes=5)),
                              build_sizer("fixed_fractional"), sizing=SizingInputs(equity_usd=100_000, multiplier=2))


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ticks")
    manifest = write_sample_ticks(folder, TickSampleParams(days=1, trades_per_day=60_000, seed=11))
    ticks = read_ticks(next(folder.glob("*.dbn.zst")))
    end = pd.Timestamp("2025-06-02 16:00", tz="America/New_York").value
    return ticks, end


def _key(d):
    return (d.time_ns, d.intent, tuple((v.intent.strategy, v.verdict) for v in d.verdicts),
            d.size.contracts if d.size else None)


def test_streaming_and_replay_make_identical_decisions(session):
    ticks, end = session
    streamed = engine()
    live = []
    for t, p, s in zip(ticks.ts_ns.tolist(), ticks.price.tolist(), ticks.size.tolist()):
        live.extend(streamed.on_tick(t, p, s))
    live.extend(streamed.end_session(end))
    replayed = engine().replay(ticks.ts_ns, ticks.price, ticks.size, end)
    assert len(live) > 3, "the sample session should make the strategies decide a few times"
    assert [_key(d) for d in live] == [_key(d) for d in replayed]
    taken = [d for d in live if d.intent is not None]
    assert taken and all(d.size is not None for d in taken)


def test_decisions_are_at_bar_ends_in_time_order(session):
    ticks, end = session
    decisions = engine().replay(ticks.ts_ns, ticks.price, ticks.size, end)
    times = [d.time_ns for d in decisions]
    assert times == sorted(times)
    assert all(t % 60_000_000_000 == 0 for t in times)
