"""Expected-value stage: the trader's algorithm on four strikes, every factor added up by hand,
the filters with their reasons, missing volumes, and the market's first-passage probability."""
from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.expected_value import (ExpectedValueAnalysis,
                                                                         ExpectedValueConfig, band_weights,
                                                                         target_first_probability)
from tasks.options_trading_system.analysis_engine.pipeline import AnalysisContext
from tasks.options_trading_system.errors import ConfigError

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root: `python3 tests/...` works too
from tests.conftest import make_chain  # noqa: E402

F = 20000.0
FRONT, LATER = "2025-06-20", "2025-07-18"  # front: 0.05 years from as_of
NAN = float("nan")
ROWS = [
    # strike, right, OI, mark, volume
    (19700.0, "C", 10, 310.0, 5), (19700.0, "P", 190, 10.0, NAN),
    (19950.0, "C", 50, 120.0, 20), (19950.0, "P", 350, 70.0, 30),
    (20150.0, "C", 100, 60.0, NAN), (20150.0, "P", 100, 210.0, NAN),
    (20500.0, "C", 80, 15.0, 10), (20500.0, "P", 20, 515.0, 10),
]
# Per strike (front): OI 200, 400, 200, 100 (max 400); volume 5, 50, missing, 20 (max 50);
# |k-F|/F = 1.5%, 0.25%, 0.75%, 2.5% -> w = 0.8, 1.0, 1.0, 0.5.
# LONG  (m = -0.5 below F, +1 above):
#   OI:     (200 x 0.8 x -0.5 + 400 x -0.5 + 200 + 100 x 0.5) / 400 = -30 / 400 -> clamp 0
#   volume: (5 x 0.8 x -0.5 + 50 x -0.5 + 20 x 0.5) / 50 = -17 / 50 -> clamp 0
# SHORT (m = +1 below F, -0.5 above):
#   OI:     (160 + 400 - 100 - 25) / 400 = 1.0875 -> clamp 1
#   volume: (4 + 50 - 5) / 50 = 0.98
# premium: calls 3,100 + 6,000 + 6,000 + 1,200 = 16,300; puts 1,900 + 24,500 + 21,000 + 10,300 = 57,700
#   x = -41,400 / 74,000 = -0.5594595; LONG (x + 1) / 2 = 0.2202703, SHORT (1 - x) / 2 = 0.7797297
PREMIUM_LONG, PREMIUM_SHORT = (1 - 41400 / 74000) / 2, (1 + 41400 / 74000) / 2
# the original algorithm (profiles/seed_ev): no realism checks, no collapsing
SEED = ExpectedValueConfig(max_target_sigma=None, min_stop_sigma=0.0, collapse_duplicates=False)


def chain_frame(volume: bool = True) -> tuple[pd.DataFrame, AnalysisContext]:
    rows = [{"strike": k, "right": r, "open_interest": oi, "last": mark, "volume": v if volume else NAN,
             "expiration": FRONT} for k, r, oi, mark, v in ROWS]
    rows.append({"strike": 20150.0, "right": "C", "open_interest": 5000, "last": 90.0, "volume": 900,
                 "expiration": LATER})  # would swamp the factors if the later expiration were read
    chain = make_chain(rows, underlying=F)
    frame = chain.frame.assign(atm_iv=np.where(chain.frame["expiration"] == pd.Timestamp(FRONT), 0.2, 0.3))
    return frame, AnalysisContext.from_chain(chain)  # atm_iv as the greeks stage would have filled it


def run(config: ExpectedValueConfig = SEED, volume: bool = True, prune: bool = False
        ) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, dict]:
    """The stage's steps on the hand-written chain; by default the original algorithm, every pair scored."""
    frame, ctx = chain_frame(volume)
    stage = ExpectedValueAnalysis(config, prune=prune)
    candidates = stage.candidates(frame, ctx)
    reasons = stage.filter_reasons(candidates, ctx)
    kept = stage.sort(candidates[reasons == ""], ctx).reset_index(drop=True)
    return candidates, reasons, kept, stage.summarize(frame, kept, ctx)


def pair(candidates: pd.DataFrame, target: float, stop: float) -> pd.Series:
    return candidates[(candidates["target"] == target) & (candidates["stop"] == stop)].iloc[0]


def test_direction_factors_match_the_hand_sums() -> None:
    _, _, _, summary = run()
    assert summary["factors"]["LONG"] == pytest.approx({"oi": 0.0, "volume": 0.0, "premium": PREMIUM_LONG})
    assert summary["factors"]["SHORT"] == pytest.approx({"oi": 1.0, "volume": 0.98, "premium": PREMIUM_SHORT})
    assert summary["pairs_considered"] == {"LONG": 4, "SHORT": 4}
    assert summary["expirations"] == [FRONT]


def test_every_pair_is_scored_and_dropped_pairs_say_why() -> None:
    candidates, reasons, kept, _ = run()
    assert len(candidates) == 8
    by_pair = {(row.target, row.stop): reason for row, reason in zip(candidates.itertuples(), reasons)}
    risk = "risk above max_risk_points (150 points)"
    assert by_pair == {
        (20150.0, 19950.0): "EV below min_ev_points (15 points)",       # EV -9.21
        (20150.0, 19700.0): risk,                                       # risk 300
        (20500.0, 19950.0): "probability below min_probability (0.6)",  # EV 60.7 but p 0.20
        (20500.0, 19700.0): risk,
        (19700.0, 20150.0): "",                                         # the setup
        (19700.0, 20500.0): risk,                                       # risk 500
        (19950.0, 20150.0): "reward/risk below min_reward_risk (1)",    # 50 / 150
        (19950.0, 20500.0): risk,
    }
    # LONG 20150 / 19950: p = 0.25 x 0.2202703 + 0.15 x (1 - 150/20000) = 0.0550676 + 0.148875 = 0.2039426
    # EV = 0.2039426 x 150 - 0.7960574 x 50 = -9.2115
    long_near = pair(candidates, 20150.0, 19950.0)
    assert long_near["probability"] == pytest.approx(0.25 * PREMIUM_LONG + 0.15 * 0.9925)
    assert long_near["ev_points"] == pytest.approx(0.2039426 * 150 - 0.7960574 * 50, abs=1e-5)
    # LONG 20500 / 19950: p = 0.0550676 + 0.15 x 0.975 = 0.2013176; EV = 100.6588 - 39.9341 = 60.7247
    assert pair(candidates, 20500.0, 19950.0)["ev_points"] == pytest.approx(60.7247, abs=1e-4)
    assert len(kept) == 1


def test_the_kept_setup_with_capped_probability_ev_and_market_view() -> None:
    # SHORT target 19700, stop 20150: reward 300, risk 150, reward/risk 2
    # p = 0.35 x 1 + 0.25 x 0.98 + 0.25 x 0.7797297 + 0.15 x (1 - 300/20000) = 0.93768 -> cap 0.90
    # EV = 0.9 x 300 - 0.1 x 150 = 255 points = $5,100
    _, _, kept, summary = run()
    setup = kept.iloc[0]
    assert (setup["direction"], setup["entry"], setup["target"], setup["stop"]) == ("SHORT", F, 19700.0, 20150.0)
    assert (setup["reward"], setup["risk"], setup["reward_risk"]) == (300.0, 150.0, 2.0)
    assert setup["distance_factor"] == pytest.approx(0.985)
    assert setup["probability"] == pytest.approx(0.90)
    assert setup["ev_points"] == pytest.approx(255.0) and setup["ev_dollars"] == pytest.approx(5100.0)
    # market: ATM IV 20% over 0.05 years; sigma sqrt(T) = 0.0447 is twice L = ln(20150/19700) = 0.0226,
    # so the first-passage series has settled at z / L = ln(20150/20000) / ln(20150/19700) = 0.330831
    market = math.log(20150 / 20000) / math.log(20150 / 19700)
    assert setup["market_probability"] == pytest.approx(market, abs=1e-8)
    assert setup["edge"] == pytest.approx(0.90 - market, abs=1e-8)
    assert summary["atm_iv"] == 0.2 and summary["years_to_horizon"] == pytest.approx(0.05)
    assert summary["best"]["target"] == 19700.0 and summary["setups"] == 1


def test_top_n_keeps_the_best_ev_and_records_the_rest() -> None:
    # with p >= 0.15 allowed, SHORT 19700/20150 (EV 255) and LONG 20500/19950 (EV 60.7) both qualify
    _, reasons, kept, _ = run(dataclasses.replace(SEED, min_probability=0.15, top_n=1))
    assert kept["target"].tolist() == [19700.0]
    assert reasons.value_counts()["beyond top_n (1) by EV"] == 1
    _, _, both, _ = run(dataclasses.replace(SEED, min_probability=0.15, top_n=5))
    assert both["ev_points"].tolist() == sorted(both["ev_points"].tolist(), reverse=True)
    assert both["target"].tolist() == [19700.0, 20500.0]


def test_missing_volumes_leave_the_factor_out_and_rescale_the_rest() -> None:
    # no volume at all: p = (0.35 x OI + 0.25 x premium + 0.15 x distance) x 1.0 / 0.75
    # LONG 20150 / 19950: (0 + 0.0550676 + 0.148875) / 0.75 = 0.2719235
    candidates, _, _, summary = run(volume=False)
    assert summary["factors"]["LONG"]["volume"] is None
    assert summary["missing_factors"] == {"LONG": ["volume"], "SHORT": ["volume"]}
    long_near = pair(candidates, 20150.0, 19950.0)
    assert long_near["probability"] == pytest.approx((0.25 * PREMIUM_LONG + 0.15 * 0.9925) / 0.75)
    assert long_near["missing_factors"] == "volume"
    assert np.isnan(long_near["volume_factor"])


def test_without_oi_volume_or_premium_there_is_no_probability() -> None:
    # the distance factor alone would give p = distance x 0.15 / 0.15 ~ 0.99: not a market view
    rows = [{"strike": k, "right": r, "last": mark, "expiration": FRONT} for k, r, _, mark, _ in ROWS]
    chain = make_chain(rows, underlying=F)
    stage = ExpectedValueAnalysis(SEED, prune=False)
    ctx = AnalysisContext.from_chain(chain)
    frame = chain.frame.assign(atm_iv=0.2)
    candidates = stage.candidates(frame, ctx)
    reasons = stage.filter_reasons(candidates, ctx)
    assert candidates["probability"].isna().all()
    assert reasons.value_counts().to_dict() == {"risk above max_risk_points (150 points)": 4,
                                                "reward/risk below min_reward_risk (1)": 1,
                                                "probability missing (no OI, volume or premium data)": 3}
    assert stage.summarize(frame, candidates.iloc[0:0], ctx)["missing_factors"]["LONG"] == ["oi", "volume", "premium"]


def test_named_expirations_pool_their_strikes() -> None:
    # with the later expiration too, its 5,000 OI at 20150 dominates the max: LONG OI factor
    # = (200 x 0.8 x -0.5 + 400 x -0.5 + 5200 + 50) / 5200 = 4970 / 5200 -> 0.955769
    _, _, _, summary = run(dataclasses.replace(SEED, expirations=(FRONT, LATER)))
    assert summary["factors"]["LONG"]["oi"] == pytest.approx(4970 / 5200)
    assert summary["horizon_expiration"] == FRONT


def test_distance_bands_include_their_upper_limit() -> None:
    strikes = np.array([20000.0, 20200.0, 20201.0, 20400.0, 21000.0, 21002.0])  # 0, 1%, 1.005%, 2%, 5%, 5.01%
    np.testing.assert_allclose(band_weights(strikes, F, ExpectedValueConfig()), [1.0, 1.0, 0.8, 0.8, 0.5, 0.2])


def test_first_passage_probability_limits_and_single_barrier_case() -> None:
    # long time: the driftless log-price's gambler's ruin, ln(F/stop) / ln(target/stop)
    assert target_first_probability(F, 20300.0, 19850.0, 0.2, 10.0) == pytest.approx(
        math.log(F / 19850) / math.log(20300 / 19850), abs=1e-12)
    # half-way in log space -> 1/2
    assert target_first_probability(F, F * math.exp(0.01), F * math.exp(-0.01), 0.3, 5.0) == pytest.approx(0.5)
    # no time, no volatility: the target is not reached; unknown volatility: unknown
    assert target_first_probability(F, 20300.0, 19850.0, 0.2, 0.0) == 0.0
    assert np.isnan(target_first_probability(F, 20300.0, 19850.0, NAN, 0.1))
    # stop out of reach: reflection principle, P(max reaches target) = erfc(ln(target/F) / (sigma sqrt(2T)))
    expected = math.erfc(math.log(20200 / F) / (0.2 * math.sqrt(2 * 0.01)))
    assert target_first_probability(F, 20200.0, 1000.0, 0.2, 0.01) == pytest.approx(expected, abs=1e-12)


def test_first_passage_series_agree_where_they_switch() -> None:
    # L = ln(20300/19850); sigma^2 T / L^2 = 0.25 at T = 0.25 L^2 / sigma^2: image series just below,
    # Fourier series just above; the two must meet
    width = math.log(20300 / 19850)
    switch = 0.25 * width ** 2 / 0.2 ** 2
    below, above = target_first_probability(F, 20300.0, 19850.0, 0.2, [switch * (1 - 1e-9), switch * (1 + 1e-9)])
    assert abs(below - above) < 1e-9
    assert 0.0 < below < math.log(F / 19850) / width


def test_summary_is_plain_json() -> None:
    summary = run()[3]
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary


def test_inconsistent_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="ascending"):
        ExpectedValueConfig(distance_bands=((0.05, 0.5), (0.01, 1.0)))
    with pytest.raises(ConfigError, match="probability_floor"):
        ExpectedValueConfig(probability_floor=0.95)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
