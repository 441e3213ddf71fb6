"""Risk stage: dollars at risk of OTM holders, the call/put verdict, battle zones by danger,
dealer gamma exposure and the zero-gamma level, on a chain small enough to add up by hand."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.pipeline import AnalysisContext
from tasks.options_trading_system.analysis_engine.risk import (VERDICT_BALANCED, VERDICT_CALL, VERDICT_NO_DATA,
                                                               VERDICT_PUT, RiskAnalysis, RiskConfig,
                                                               call_put_verdict, cumulative_gex_crossing)
from tasks.options_trading_system.errors import ConfigError

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root: `python3 tests/...` works too
from tests.conftest import make_chain  # noqa: E402

F = 20000.0
FRONT, LATER = "2025-06-20", "2025-07-18"
NAN = float("nan")
# F = 20000, $20 per point. GEX per contract = gamma x OI x 20 x 20000^2 x 0.01 = gamma x OI x 8e7.
ROWS = [
    # strike, right, OI, mark, gamma        dollars at risk (OTM only)   GEX
    (19900.0, "P", 100, 10.0, 0.0001, FRONT),  # 100 x 10 x 20 = 20,000     -0.0001 x 100 x 8e7 = -0.8M
    (19980.0, "P", NAN, 12.0, 0.0004, FRONT),  # OI missing: left out        left out
    (19990.0, "P", 300, 25.0, 0.0005, FRONT),  # 300 x 25 x 20 = 150,000    -12M
    (19990.0, "C", 500, 30.0, 0.0005, FRONT),  # ITM call: no OTM holder     +20M  (strike net +8M)
    (20005.0, "C", 100, 50.0, 0.0004, FRONT),  # 100 x 50 x 20 = 100,000    +3.2M
    (20040.0, "C", 200, 20.0, 0.0002, FRONT),  # 200 x 20 x 20 = 80,000     +3.2M
    (20040.0, "P", 50, 60.0, 0.0002, FRONT),   # ITM put                     -0.8M (strike net +2.4M)
    (20100.0, "C", 1000, 100.0, 0.0001, LATER),  # later expiration: 2,000,000, only when asked for
]


def chain_frame() -> tuple[pd.DataFrame, AnalysisContext]:
    chain = make_chain([{"strike": k, "right": r, "open_interest": oi, "last": mark, "gamma": g, "expiration": e}
                        for k, r, oi, mark, g, e in ROWS], underlying=F)
    return chain.frame, AnalysisContext.from_chain(chain)


def run(config: RiskConfig | None = None) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, dict]:
    """The runner's steps for this one stage (the gammas are given, so no greeks stage)."""
    frame, ctx = chain_frame()
    stage = RiskAnalysis(config)
    candidates = stage.candidates(frame, ctx)
    reasons = stage.filter_reasons(candidates, ctx)
    kept = stage.sort(candidates[reasons == ""], ctx).reset_index(drop=True)
    return candidates, reasons, kept, stage.summarize(frame, kept, ctx)


def test_dollars_at_risk_count_only_otm_holders_of_the_front_expiration() -> None:
    _, _, _, summary = run()
    assert summary["expirations"] == [FRONT]
    assert summary["call_dollars_at_risk"] == 180_000.0   # 100,000 + 80,000
    assert summary["put_dollars_at_risk"] == 170_000.0    # 20,000 + 150,000
    assert summary["call_put_ratio"] == pytest.approx(180 / 170)
    assert summary["verdict"] == VERDICT_BALANCED
    assert summary["otm_contracts_missing_oi_or_mark"] == 1


def test_zones_are_ranked_by_danger_dollars_times_urgency() -> None:
    # 19990: 10 points away, IMMEDIATE x3 -> 450,000; 20005: 5 away, IMMEDIATE -> 300,000;
    # 20040: 40 away, MEDIUM x1 -> 80,000; 19900: 100 away, DISTANT x0.5 -> 10,000
    candidates, reasons, kept, summary = run()
    assert (reasons == "").all()
    assert kept["strike"].tolist() == [19990.0, 20005.0, 20040.0, 19900.0]
    assert kept["zone"].tolist() == ["IMMEDIATE", "IMMEDIATE", "MEDIUM", "DISTANT"]
    assert kept["danger"].tolist() == [450_000.0, 300_000.0, 80_000.0, 10_000.0]
    assert kept["side"].tolist() == ["PUT", "CALL", "CALL", "PUT"]
    assert [z["strike"] for z in summary["top_zones"]] == [19990.0, 20005.0, 20040.0, 19900.0]  # top 5 of 4


def test_zones_below_the_dollar_floor_are_dropped_with_the_reason() -> None:
    _, reasons, kept, summary = run(RiskConfig(min_dollars_at_risk=50_000, top_zones=2))
    assert reasons[reasons != ""].tolist() == ["dollars at risk below min_dollars_at_risk ($50,000)"]
    assert kept["strike"].tolist() == [19990.0, 20005.0, 20040.0]
    assert [z["strike"] for z in summary["top_zones"]] == [19990.0, 20005.0]


def test_gamma_exposure_by_strike_and_the_cumulative_crossing() -> None:
    # by strike: -0.8M, (19980 unknown), +8M, +3.2M, +2.4M; total 12.8M
    # cumulative: -0.8M at 19900, +7.2M at 19990 -> zero at 19900 + 90 x 0.8 / 8 = 19909
    _, _, _, summary = run()
    assert summary["total_gex"] == pytest.approx(12_800_000.0)
    assert summary["cumulative_gex_crossing"] == pytest.approx(19909.0)
    assert summary["cumulative_gex_crossings"] == pytest.approx([19909.0])
    # no IV and no time to expiry in this chain: nothing to re-price, so no zero-gamma level, and it says why
    assert summary["zero_gamma_level"] is None
    assert summary["zero_gamma_note"].startswith("no gamma exposure: no contract has open interest, an implied vol")
    assert summary["contracts_missing_gamma_or_oi"] == 1
    by_strike = summary["by_strike"]
    assert by_strike["strike"] == [19900.0, 19980.0, 19990.0, 20005.0, 20040.0]
    assert by_strike["call_oi"] == [None, None, 500.0, 100.0, 200.0]
    assert by_strike["put_oi"] == [100.0, None, 300.0, None, 50.0]
    assert by_strike["call_dollars_at_risk"] == [0.0, 0.0, 0.0, 100_000.0, 80_000.0]
    assert by_strike["put_dollars_at_risk"] == [20_000.0, None, 150_000.0, 0.0, 0.0]
    assert by_strike["gex"] == pytest.approx([-800_000.0, None, 8_000_000.0, 3_200_000.0, 2_400_000.0])


def test_cumulative_crossing_is_missing_when_cumulative_gex_keeps_its_sign() -> None:
    crossing = cumulative_gex_crossing(np.array([1.0, 2.0, 3.0]), np.array([5.0, -1.0, 2.0]), 2.0)
    assert np.isnan(crossing.level) and crossing.crossings == ()
    assert "never changes sign (stays positive" in crossing.note
    # exactly zero on the strike between two signs: the level is that strike
    assert cumulative_gex_crossing(np.array([1.0, 2.0, 3.0]), np.array([-4.0, 4.0, 3.0]), 2.0).level == 2.0


def test_named_expirations_replace_the_front_one() -> None:
    # the later expiration alone: 2,000,000 of calls and no put at all -> infinite ratio, calls dominate
    _, _, kept, summary = run(RiskConfig(expirations=(LATER,)))
    assert summary["expirations"] == [LATER]
    assert summary["call_put_ratio"] is None and summary["verdict"] == VERDICT_CALL
    assert summary["ratio_note"] == "no put dollars at risk: the ratio is infinite"
    assert kept["strike"].tolist() == [20100.0]
    # both: 2,180,000 / 170,000 = 12.8 -> strong call dominance; an absent date is reported
    _, _, _, both = run(RiskConfig(expirations=(FRONT, LATER, "2025-09-19")))
    assert both["call_dollars_at_risk"] == 2_180_000.0 and both["verdict"] == VERDICT_CALL
    assert both["missing_expirations"] == ["2025-09-19"]


def test_verdict_thresholds_are_strict_and_missing_data_is_not_a_verdict() -> None:
    cfg = RiskConfig()
    assert call_put_verdict(10.0, 100.0, cfg)[1] == VERDICT_PUT       # 0.1 < 0.5
    assert call_put_verdict(200.0, 100.0, cfg)[1] == VERDICT_BALANCED  # exactly 2 is not above 2
    assert call_put_verdict(50.0, 100.0, cfg)[1] == VERDICT_BALANCED   # exactly 0.5 is not below 0.5
    assert call_put_verdict(0.0, 100.0, cfg)[:2] == (0.0, VERDICT_PUT)
    assert call_put_verdict(NAN, 100.0, cfg)[1] == VERDICT_NO_DATA
    assert call_put_verdict(0.0, 0.0, cfg)[1] == VERDICT_NO_DATA


def test_summary_is_plain_json() -> None:
    summary = run()[3]
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary


def test_inconsistent_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="strong_put_ratio"):
        RiskConfig(strong_call_ratio=1.0, strong_put_ratio=1.5)
    with pytest.raises(ConfigError, match="gamma_grid_step"):
        RiskConfig(gamma_grid_span=0.05, gamma_grid_step=0.1)
    with pytest.raises(ConfigError, match="expected YYYY-MM-DD"):
        RiskConfig(expirations=("20 June",))


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
