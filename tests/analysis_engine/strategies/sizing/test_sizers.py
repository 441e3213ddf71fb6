"""Each sizer's rule on worked numbers."""
from __future__ import annotations

import pytest

from tasks.options_trading_system.analysis_engine.strategies.sizing import OutcomeStats, SizingContext, build_sizer


def context(**kw) -> SizingContext:
    base = dict(equity_usd=50_000.0, multiplier=2.0, entry=20_000.0, stop=19_975.0, atr_points=12.5)
    base.update(kw)
    return SizingContext(**base)


def test_fixed_is_always_the_configured_count():
    assert build_sizer("fixed", {"contracts": 2}).size(context()).contracts == 2


def test_fixed_fractional_risks_the_fraction_of_equity_to_the_stop():
    # 1% of $50,000 = $500; 25 points x $2 = $50 per contract -> 10
    decision = build_sizer("fixed_fractional", {"risk_fraction": 0.01, "max_contracts": 20}).size(context())
    assert decision.contracts == 10
    assert "$500.00 / $50.00" in decision.reason


def test_fixed_fractional_is_capped_and_floors():
    assert build_sizer("fixed_fractional", {"max_contracts": 3}).size(context()).contracts == 3
    assert build_sizer("fixed_fractional").size(context(equity_usd=4_999.0)).contracts == 0


def test_kelly_is_zero_below_the_minimum_number_of_outcomes():
    stats = OutcomeStats(trades=29, wins=20, average_win_usd=100.0, average_loss_usd=50.0)
    decision = build_sizer("kelly").size(context(outcomes=stats))
    assert decision.contracts == 0 and "29 realised outcomes, need 30" in decision.reason


def test_kelly_uses_half_the_growth_optimal_fraction_capped():
    # W = 0.6, R = 2 -> f* = 0.6 - 0.4 / 2 = 0.4; half = 0.2; capped at 0.05 -> $2,500 / $50 -> 50, cap 10
    stats = OutcomeStats(trades=40, wins=24, average_win_usd=100.0, average_loss_usd=50.0)
    assert build_sizer("kelly").size(context(outcomes=stats)).contracts == 10
    # uncapped fraction 0.2 on $1,000 -> $200 / $50 = 4
    sizer = build_sizer("kelly", {"max_fraction": 1.0, "max_contracts": 100})
    assert sizer.size(context(equity_usd=1_000.0, outcomes=stats)).contracts == 4


def test_kelly_without_an_edge_does_not_trade():
    stats = OutcomeStats(trades=40, wins=10, average_win_usd=50.0, average_loss_usd=50.0)
    decision = build_sizer("kelly").size(context(outcomes=stats))
    assert decision.contracts == 0 and "no edge" in decision.reason


def test_volatility_target_sizes_by_atr():
    # $500 / (12.5 x 1 x $2) = 20 -> cap 10; with $200: 8
    assert build_sizer("volatility_target").size(context()).contracts == 10
    assert build_sizer("volatility_target", {"target_risk_usd": 200.0}).size(context()).contracts == 8
    assert build_sizer("volatility_target").size(context(atr_points=float("nan"))).contracts == 0


def test_unknown_sizer_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match="unknown sizer 'martingale': expected one of fixed, fixed_fractional"):
        build_sizer("martingale")
