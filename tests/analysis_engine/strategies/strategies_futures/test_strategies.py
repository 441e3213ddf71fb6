"""Each futures strategy on a small hand-built bar series: the bar where it must act, the
direction and the levels, worked out here from the rule in its docstring."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.strategies_futures import (
    STRATEGY_CLASSES, Bar, MarketState, build_strategies)
from tasks.options_trading_system.analysis_engine.strategies.strategies_futures.mean_reversion import (
    MeanReversion, MeanReversionSettings)
from tasks.options_trading_system.analysis_engine.strategies.strategies_futures.momentum import (
    Momentum, MomentumSettings)
from tasks.options_trading_system.analysis_engine.strategies.strategies_futures.volatility_breakout import (
    VolatilityBreakout, VolatilityBreakoutSettings)
from tasks.options_trading_system.analysis_engine.strategies.strategies_futures.volatility_carry import (
    VolatilityCarry, VolatilityCarrySettings)

MIN = 60_000_000_000
T0 = pd.Timestamp("2025-06-02 13:30", tz="UTC").value


def bars(closes, *, period="5m", spread=1.0, volumes=None, opens=None):
    step = {"5m": 5, "30m": 30}[period] * MIN
    out = []
    for i, c in enumerate(closes):
        o = opens[i] if opens is not None else c
        out.append(Bar(period, T0 + (i + 1) * step, o, max(o, c) + spread, min(o, c) - spread, c,
                       volumes[i] if volumes is not None else 100.0, 10))
    return out


def wilder_atr(bs, n):
    h = np.array([b.high for b in bs]); l = np.array([b.low for b in bs]); c = np.array([b.close for b in bs])
    prev = np.r_[np.nan, c[:-1]]
    tr = np.nanmax(np.vstack([h - l, np.abs(h - prev), np.abs(l - prev)]), axis=0)
    return pd.Series(tr).ewm(alpha=1 / n, adjust=False).mean().to_numpy()


def test_mean_reversion_buys_a_new_low_with_higher_rsi_far_below_vwap():
    s = MeanReversionSettings(rsi_period=3, atr_period=3, lookback=4, min_gap=1, vwap_atr_distance=1.0)
    # a sharp fall to 90, a bounce, then a slow drift to a marginally lower low (RSI higher)
    closes = [100, 100, 100, 100, 90, 94, 93, 92, 91, 89.75]
    series = bars(closes, spread=0.5)
    strategy = MeanReversion(s)
    intents = [strategy.on_bar(b, MarketState(vwap=98.0)) for b in series]
    fired = [i for i, x in enumerate(intents) if x is not None]
    assert fired == [9]
    intent = intents[9]
    atr = wilder_atr(series, 3)[9]
    assert intent.direction == "LONG"
    assert intent.entry_reference == 89.75 and intent.target == 98.0
    assert intent.stop == pytest.approx(89.75 - 2 * atr)


def test_mean_reversion_does_nothing_near_vwap():
    s = MeanReversionSettings(rsi_period=3, atr_period=3, lookback=4, min_gap=1, vwap_atr_distance=1.0)
    strategy = MeanReversion(s)
    series = bars([100, 100, 100, 100, 90, 94, 93, 92, 91, 89.75], spread=0.5)
    assert all(strategy.on_bar(b, MarketState(vwap=90.0)) is None for b in series)


def test_momentum_enters_once_per_cross_after_the_duration_filter():
    s = MomentumSettings(fast=2, slow=4, atr_period=2, min_strength=0.3, min_bars=2, volume_period=3,
                         volume_ratio=1.0)
    closes = [100, 99, 98, 97, 98, 100, 102, 104, 106, 108]
    series = bars(closes, period="30m", spread=0.5)
    strategy = Momentum(s)
    intents = [strategy.on_bar(b, MarketState()) for b in series]
    fast = pd.Series(closes).ewm(span=2, adjust=False).mean().to_numpy()
    slow = pd.Series(closes).ewm(span=4, adjust=False).mean().to_numpy()
    atr = wilder_atr(series, 2)
    cross = next(i for i in range(1, len(closes)) if fast[i] > slow[i] and fast[i - 1] <= slow[i - 1])
    expected = next(i for i in range(cross + 1, len(closes))
                    if i >= 3 and abs(fast[i] - slow[i]) / atr[i] >= 0.3)
    fired = [i for i, x in enumerate(intents) if x is not None]
    assert fired == [expected]
    assert intents[expected].direction == "LONG"
    assert intents[expected].target == pytest.approx(closes[expected] + 3 * atr[expected])


def test_momentum_needs_volume():
    s = MomentumSettings(fast=2, slow=4, atr_period=2, min_strength=0.3, min_bars=2, volume_period=3,
                         volume_ratio=1.5)
    closes = [100, 99, 98, 97, 98, 100, 102, 104, 106, 108]
    strategy = Momentum(s)
    assert all(strategy.on_bar(b, MarketState()) is None for b in bars(closes, period="30m", spread=0.5))


def test_volatility_breakout_fires_on_the_first_bar_two_sigma_above_its_vol_baseline():
    s = VolatilityBreakoutSettings(vol_period=3, baseline_period=5, atr_period=3, min_move_atr=0.1,
                                   cooldown_bars=0)
    quiet = [100 + 0.1 * np.sin(1.3 * i) for i in range(12)]
    closes = quiet + [103.0]
    opens = closes[:-1] + [closes[-2]]
    series = bars(closes, opens=opens, spread=0.05)
    strategy = VolatilityBreakout(s)
    intents = [strategy.on_bar(b, MarketState()) for b in series]
    vol = pd.Series(np.log(closes)).diff().rolling(3).std()
    base_mean, base_std = vol.rolling(5).mean().shift(1), vol.rolling(5).std().shift(1)
    z = ((vol - base_mean) / base_std).to_numpy()
    expected = [i for i in range(len(closes)) if np.isfinite(z[i]) and z[i] > 2]
    assert [i for i, x in enumerate(intents) if x is not None] == expected == [12]
    assert intents[12].direction == "LONG"


def test_volatility_carry_follows_the_term_structure_regime():
    strategy = VolatilityCarry(VolatilityCarrySettings(atr_period=2, min_spread=0.01))
    series = bars([100, 101, 102, 101, 100], period="30m")
    states = [MarketState(front_atm_iv=0.20, next_atm_iv=0.22, term_structure_time_ns=series[0].end_ns),
              MarketState(front_atm_iv=0.20, next_atm_iv=0.22, term_structure_time_ns=series[1].end_ns),
              MarketState(front_atm_iv=0.20, next_atm_iv=0.225, term_structure_time_ns=series[2].end_ns),
              MarketState(front_atm_iv=0.25, next_atm_iv=0.22, term_structure_time_ns=series[3].end_ns),
              MarketState(front_atm_iv=0.25, next_atm_iv=0.22, term_structure_time_ns=series[0].end_ns)]
    intents = [strategy.on_bar(b, m) for b, m in zip(series, states)]
    assert [x.direction if x else None for x in intents] == ["LONG", None, None, "SHORT", None]


def test_volatility_carry_without_term_structure_does_nothing():
    strategy = VolatilityCarry()
    assert all(strategy.on_bar(b, MarketState()) is None for b in bars([100, 101, 102], period="30m"))


def test_strategies_are_built_by_name_and_unknown_names_are_refused():
    built = build_strategies({"momentum": {"period": "1h"}, "mean_reversion": {}})
    assert [type(s).name for s in built] == ["momentum", "mean_reversion"]
    assert built[0].periods == ("1h",)
    assert set(STRATEGY_CLASSES) == {"mean_reversion", "momentum", "volatility_breakout", "volatility_carry"}
    with pytest.raises(ValueError, match="unknown futures strategy 'scalper': expected one of"):
        build_strategies({"scalper": {}})


# --- the aggregator ----------------------------------------------------------------------------

from tasks.options_trading_system.analysis_engine.strategies.strategies_futures.aggregator import (  # noqa: E402
    AggregatorSettings, SignalAggregator)
from tasks.options_trading_system.analysis_engine.strategies.strategies_futures.base import Intent  # noqa: E402


def intent(name, direction, confidence, minute=0):
    sign = 1 if direction == "LONG" else -1
    return Intent(name, T0 + minute * MIN, direction, 100.0, 100.0 - 2 * sign, 100.0 + 4 * sign, confidence, "rule")


def test_agreeing_intents_take_the_most_confident_with_a_bonus():
    taken, verdicts = SignalAggregator().decide([intent("momentum", "LONG", 0.5), intent("carry", "LONG", 0.7)])
    assert taken.strategy == "carry" and taken.confidence == pytest.approx(0.8)
    assert [v.verdict for v in verdicts] == ["taken", "agreed"]


def test_conflicting_intents_trade_nothing():
    taken, verdicts = SignalAggregator().decide([intent("momentum", "LONG", 0.9), intent("breakout", "SHORT", 0.2)])
    assert taken is None and {v.verdict for v in verdicts} == {"conflict"}


def test_cooldown_blocks_a_new_trade_until_it_has_passed():
    agg = SignalAggregator(AggregatorSettings(cooldown_minutes=15))
    assert agg.decide([intent("momentum", "LONG", 0.5, minute=0)])[0] is not None
    blocked, verdicts = agg.decide([intent("momentum", "SHORT", 0.5, minute=10)])
    assert blocked is None and verdicts[0].verdict == "cooldown"
    assert agg.decide([intent("momentum", "SHORT", 0.5, minute=15)])[0] is not None
