"""Strategy evaluation: trades simulated on the ticks, figures from those trades, walk-forward
choosing on the first days and judging on the rest."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.results import metrics
from tasks.options_trading_system.analysis_engine.strategies.strategies_futures.evaluation import (
    Costs, Session, evaluate, walk_forward)
from tasks.options_trading_system.data_ingestion.ticks.dbn_ticks import read_ticks
from tasks.options_trading_system.sample_data.ticks import TickSampleParams, write_sample_ticks


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ticks")
    write_sample_ticks(folder, TickSampleParams(days=5, trades_per_day=40_000, seed=3))
    out = []
    for path in sorted(folder.glob("*.dbn.zst")):
        t = read_ticks(path)
        day = pd.Timestamp(int(t.ts_ns[0]), tz="UTC").tz_convert("America/New_York").date()
        end = pd.Timestamp(f"{day} 16:00", tz="America/New_York").value
        out.append(Session(day.isoformat(), t.ts_ns, t.price, t.size, end))
    return out


SETTINGS = {"period": "1m", "vol_period": 10, "baseline_period": 30, "cooldown_bars": 5, "sigma": 1.5}


def test_trades_are_priced_from_their_ticks(sessions):
    result = evaluate("volatility_breakout", SETTINGS, sessions, Costs(multiplier=2.0, commission_usd=0.5))
    assert result.trades, "the sample week should give the breakout rule some trades"
    for t in result.trades:
        sign = 1 if t.direction == "LONG" else -1
        assert t.pnl_usd == pytest.approx((t.exit_price - t.entry_price) * sign * 2.0 - 1.0)
        assert t.entry_ns >= t.decision_ns and t.exit_ns >= t.entry_ns
    # one position at a time
    ordered = sorted(result.trades, key=lambda t: t.entry_ns)
    assert all(a.exit_ns < b.entry_ns for a, b in zip(ordered, ordered[1:]))


def test_figures_are_computed_from_the_trades(sessions):
    result = evaluate("volatility_breakout", SETTINGS, sessions)
    f = result.figures()
    pnl = [t.pnl_usd for t in result.trades]
    assert f["trades"] == len(pnl) and f["net_pnl_usd"] == pytest.approx(sum(pnl))
    daily = pd.Series(pnl, index=[t.day for t in result.trades]).groupby(level=0).sum()
    daily = daily.reindex([s.day for s in sessions], fill_value=0.0)
    assert f["sharpe"] == pytest.approx(metrics.sharpe(daily.tolist()))


def test_walk_forward_chooses_in_sample_and_judges_out_of_sample(sessions):
    candidates = [dict(SETTINGS, sigma=s) for s in (1.0, 1.5, 2.0)]
    wf = walk_forward("volatility_breakout", candidates, sessions, in_sample_share=0.6)
    assert wf.candidates == 3 and wf.chosen in candidates
    assert wf.in_sample["days"] == 3 and wf.out_of_sample["days"] == 2
    best = max(candidates, key=lambda c: (evaluate("volatility_breakout", c, sessions[:3]).figures()["sharpe"] or -1e9))
    assert wf.chosen == best
    assert isinstance(wf.meets_bar, bool)


def test_too_few_days_for_a_split_is_refused(sessions):
    with pytest.raises(ValueError, match="cannot be split"):
        walk_forward("momentum", [{}], sessions[:3])
