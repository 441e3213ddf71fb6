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

from tasks.options_trading_system.analysis_engine.expected_value import (WITHHELD, ExpectedValueAnalysis, _rank_order,
                                                                         ExpectedValueConfig, band_weights,
                                                                         market_notes, target_first_probability)
from tasks.options_trading_system.analysis_engine.greeks import GreeksAnalysis
from tasks.options_trading_system.analysis_engine.pipeline import AnalysisContext, Pipeline
from tasks.options_trading_system.config_manager import list_profiles, load_profile
from tasks.options_trading_system.daily_run import load_input_file
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


def test_setups_rank_by_ev_then_probability_risk_and_target_ties_included() -> None:
    ev = np.array([20.0, 30.0, 20.0, 20.0, NAN, 30.0])
    p = np.array([0.7, 0.6, 0.7, 0.8, 0.7, 0.6])
    risk = np.array([50.0, 40.0, 30.0, 50.0, 10.0, 40.0])
    target = np.array([100.0, 90.0, 80.0, 70.0, 60.0, 50.0])
    # EV 30 first (same p and risk: the lower target first), then EV 20 by p, then by risk; NaN last
    assert _rank_order(target, risk, p, ev).tolist() == [5, 1, 3, 2, 0, 4]
    assert _rank_order(target[:2], risk[:2], p[:2], ev[:2]).tolist() == [1, 0]  # no tie: EV alone


def test_summary_is_plain_json() -> None:
    summary = run()[3]
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary


def test_inconsistent_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="ascending"):
        ExpectedValueConfig(distance_bands=((0.05, 0.5), (0.01, 1.0)))
    with pytest.raises(ConfigError, match="probability_floor"):
        ExpectedValueConfig(probability_floor=0.95)


# --- realism on the hand-written chain ------------------------------------------------------------

def test_each_setup_carries_its_distances_in_sigma_of_the_move_to_settlement() -> None:
    # sigma = F x ATM IV x sqrt(T) = 20000 x 0.2 x sqrt(T); SHORT 19700 / 20150: 300 and 150 points
    frame, ctx = chain_frame()
    sigma = F * 0.2 * math.sqrt(ctx.years_to(pd.Timestamp(FRONT)))
    _, _, kept, summary = run(ExpectedValueConfig())
    setup = kept.iloc[0]
    assert summary["sigma_points"] == pytest.approx(sigma)
    assert (setup["target_sigma"], setup["stop_sigma"]) == pytest.approx((300 / sigma, 150 / sigma))
    assert (setup["reward_dollars"], setup["risk_dollars"]) == (6000.0, 3000.0)
    assert setup["realism"] == "checked" and summary["realism"]["applied"] is True


def test_targets_beyond_max_target_sigma_and_stops_inside_noise_are_dropped_with_their_reason() -> None:
    # sigma ~ 890 points: at max_target_sigma 0.3 (267 points) the 300-point SHORT target is too far;
    # at min_stop_sigma 0.2 (178 points) its 150-point stop is inside the noise
    frame, ctx = chain_frame()
    far = ExpectedValueConfig(max_target_sigma=0.3)
    _, reasons, kept, _ = run(far, prune=False)
    assert kept.empty and "target beyond max_target_sigma (0.3 sigma)" in set(reasons)
    _, reasons, kept, _ = run(ExpectedValueConfig(min_stop_sigma=0.2), prune=False)
    assert kept.empty and "stop inside noise: closer than min_stop_sigma (0.2 sigma)" in set(reasons)
    # pruned, the same pairs are never scored and are counted in the summary instead
    candidates, _, _, summary = run(far, prune=True)
    assert 19700.0 not in set(candidates["target"])
    assert summary["pairs_pruned"]["target beyond max_target_sigma (0.3 sigma)"] >= 1


def test_without_an_atm_iv_realism_cannot_apply_and_says_so() -> None:
    frame, ctx = chain_frame()
    frame = frame.assign(atm_iv=np.nan)
    stage = ExpectedValueAnalysis()
    candidates = stage.candidates(frame, ctx)
    reasons = stage.filter_reasons(candidates, ctx)
    kept = candidates[reasons == ""]
    summary = stage.summarize(frame, kept, ctx)
    assert kept.empty  # withheld: the SHORT setup would pass every other filter
    assert summary["pairs_pruned"][WITHHELD] == 1  # pruned before scoring, counted in the summary
    every = ExpectedValueAnalysis(prune=False)  # every pair scored: the trace's reason says the same
    assert every.filter_reasons(every.candidates(frame, ctx), ctx).str.startswith("realism unchecked").sum() == 1
    assert summary["realism"]["applied"] is False
    assert "no ATM IV for 2025-06-20" in summary["realism"]["note"]
    # flagged instead: shown, marked unchecked, with no market view
    flag = ExpectedValueAnalysis(ExpectedValueConfig(missing_iv="flag"))
    candidates = flag.candidates(frame, ctx)
    kept = flag.sort(candidates[flag.filter_reasons(candidates, ctx) == ""], ctx)
    assert kept["realism"].tolist() == ["unchecked"] and kept["market_view"].tolist() == ["unknown"]
    assert kept["market_note"].iloc[0] == "model 0.90 vs market n/a: no ATM IV, so no market probability to compare"


def test_disagreement_is_said_in_words_instead_of_an_edge() -> None:
    config = ExpectedValueConfig()  # out of reach below 0.05, disagreement beyond 0.25
    setups = pd.DataFrame({"probability": [0.78, 0.88, 0.62, 0.70, 0.60],
                           "market_probability": [0.001, 0.30, 0.95, 0.60, NAN],
                           "market_view": ["out_of_reach", "disagree", "disagree", "edge", "unknown"]})
    assert market_notes(setups, config) == [
        "model 0.78 vs market 0.00: the market prices this target as out of reach",
        "model 0.88 vs market 0.30: the market gives this target far less chance than the model; not an edge",
        "model 0.62 vs market 0.95: the market gives this target far more chance than the model; not an edge",
        "edge +10.0 pp (model 0.70 vs market 0.60)",
        "model 0.60 vs market n/a: no ATM IV, so no market probability to compare"]


def test_the_market_view_follows_the_profile_thresholds() -> None:
    # the kept SHORT: model 0.90 vs market 0.33 -> 0.57 apart
    assert run(ExpectedValueConfig())[2]["market_view"].tolist() == ["disagree"]
    assert run(ExpectedValueConfig(disagreement_threshold=0.6))[2]["market_view"].tolist() == ["edge"]
    assert run(ExpectedValueConfig(out_of_reach_probability=0.4))[2]["market_view"].tolist() == ["out_of_reach"]


def test_bad_realism_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="missing_iv"):
        ExpectedValueConfig(missing_iv="ignore")
    with pytest.raises(ConfigError, match="max_target_sigma"):
        ExpectedValueConfig(max_target_sigma=0.0)


# --- the real Barchart captures ----------------------------------------------------------------

SEED_EXPECTED = json.loads((Path(__file__).parent / "data" / "seed_ev_setups.json").read_text())["captures"]


def capture_paths() -> list[Path]:
    """Every analysable capture in ../shared/data/barchart (the metadata side-file and the HTML page are not chains)."""
    folder = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "barchart"
    return sorted(p for p in folder.glob("barchart_api_*.json") if not p.name.endswith("_metadata.json"))


@pytest.fixture(scope="module")
def captures(shared_data: Path) -> dict[str, tuple[pd.DataFrame, AnalysisContext]]:
    """Each capture's chain after the greeks stage (the ATM IV the EV stage reads), by file name."""
    out = {}
    for path in capture_paths():
        chain = load_input_file(path)
        ctx = AnalysisContext.from_chain(chain)
        out[path.name] = (GreeksAnalysis().enrich(chain.frame, ctx), ctx)
    assert out, "no Barchart capture found"
    return out


def ev_stage(profile: str) -> ExpectedValueAnalysis:
    stage = next(s for s in Pipeline.from_profile(load_profile(profile, env={})).stages if s.name == "expected_value")
    return stage


def kept_setups(stage: ExpectedValueAnalysis, frame: pd.DataFrame, ctx: AnalysisContext) -> tuple[pd.DataFrame, dict]:
    candidates = stage.candidates(frame, ctx)
    kept = stage.sort(candidates[stage.filter_reasons(candidates, ctx) == ""], ctx).reset_index(drop=True)
    return kept, stage.summarize(frame, kept, ctx)


def test_seed_ev_reproduces_the_original_setups_on_every_capture(captures) -> None:
    assert set(SEED_EXPECTED) == set(captures)  # a new capture needs its expectation recorded
    stage = ev_stage("profiles/seed_ev")
    for name, (frame, ctx) in captures.items():
        kept, _ = kept_setups(stage, frame, ctx)
        expected = SEED_EXPECTED[name]
        assert len(kept) == len(expected), name
        for row, (direction, target, stop, p, ev) in zip(kept.itertuples(), expected):
            assert (row.direction, row.target, row.stop) == (direction, target, stop), name
            assert row.probability == pytest.approx(p, abs=1e-9) and row.ev_points == pytest.approx(ev, abs=1e-9)


def default_ev_profiles() -> list[str]:
    """Every shipped profile whose pipeline runs the EV stage, except the seed."""
    names = []
    for name, _ in list_profiles():
        profile = load_profile(name, env={})
        if name != "profiles/seed_ev" and "expected_value" in (profile.section("pipeline") or {}).get("stages", ()):
            names.append(name)
    return names


def test_every_default_profile_keeps_only_reachable_setups_on_every_capture(captures) -> None:
    profiles = default_ev_profiles()
    assert {"barchart_only", "profiles/aggressive", "profiles/conservative"} <= set(profiles)
    for profile in profiles:
        stage = ev_stage(profile)
        assert stage.config.max_target_sigma == 2.0 and stage.config.collapse_duplicates, profile
        for name, (frame, ctx) in captures.items():
            kept, summary = kept_setups(stage, frame, ctx)
            if summary["realism"]["applied"]:
                assert (kept["target_sigma"] <= 2.0).all() and (kept["stop_sigma"] >= stage.config.min_stop_sigma).all()
                assert not kept.duplicated(["direction", "target"]).any(), (profile, name)
            else:  # nothing unchecked is shown by default, and the summary says why
                assert kept.empty and summary["realism"]["note"].startswith("realism not applied"), (profile, name)


def test_the_expired_front_series_shows_no_setup_and_says_why(captures) -> None:
    frame, ctx = captures["barchart_api_MC6M5_20250602_141553.json"]
    kept, summary = kept_setups(ExpectedValueAnalysis(), frame, ctx)
    assert kept.empty and summary["atm_iv"] is None
    assert "the 2025-06-02 expiration had settled" in summary["realism"]["note"]
    flagged, _ = kept_setups(ExpectedValueAnalysis(ExpectedValueConfig(missing_iv="flag")), frame, ctx)
    assert len(flagged) and set(flagged["realism"]) == {"unchecked"}
    assert not flagged.duplicated(["direction", "target"]).any()


def test_duplicates_collapse_to_each_targets_best_stop(captures) -> None:
    # with the default 0.1-sigma stop floor one stop per side is left on this chain; without it,
    # three stops (4, 54 and 104 points) share each target
    frame, ctx = captures["barchart_api_MC6N5_20250625_142402.json"]
    collapsed, _ = kept_setups(ExpectedValueAnalysis(ExpectedValueConfig(min_stop_sigma=0.0)), frame, ctx)
    every, _ = kept_setups(ExpectedValueAnalysis(ExpectedValueConfig(min_stop_sigma=0.0, collapse_duplicates=False,
                                                                     top_n=10_000)), frame, ctx)
    assert every.duplicated(["direction", "target"]).any()  # the same target with several stops
    best = every.drop_duplicates(["direction", "target"], keep="first").head(len(collapsed))  # every is ranked
    assert collapsed[["direction", "target", "stop", "ev_points"]].equals(
        best[["direction", "target", "stop", "ev_points"]].reset_index(drop=True))


def test_the_top_default_setup_on_the_live_capture_says_the_market_disagrees(captures) -> None:
    frame, ctx = captures["barchart_api_MC6N5_20250625_142402.json"]
    kept, _ = kept_setups(ExpectedValueAnalysis(), frame, ctx)
    top = kept.iloc[0]
    assert (top["direction"], top["target"], top["stop"]) == ("LONG", 23500.0, 22350.0)  # 1.78 sigma, 0.18 sigma
    assert top["market_note"] == "model 0.89 vs market 0.05: the market prices this target as out of reach"


def dropped_by_reason(stage: ExpectedValueAnalysis, frame: pd.DataFrame, ctx: AnalysisContext) -> dict[str, int]:
    """Every pair the stage did not keep, by reason: pruned before scoring (summary) plus filtered (trace)."""
    candidates = stage.candidates(frame, ctx)
    reasons = stage.filter_reasons(candidates, ctx)
    kept = stage.sort(candidates[reasons == ""], ctx).reset_index(drop=True)
    counts = dict(stage.summarize(frame, kept, ctx)["pairs_pruned"])
    for reason, n in reasons[reasons != ""].value_counts().items():
        counts[reason] = counts.get(reason, 0) + int(n)
    return counts


@pytest.mark.parametrize("profile", ["barchart_only", "profiles/seed_ev", "profiles/aggressive", "profiles/scalping"])
def test_pruning_keeps_exactly_the_setups_of_scoring_every_pair(captures, profile: str) -> None:
    # pruned: only the setups that are kept are scored; brute force: every pair scored, then filtered.
    # Same setups with the same numbers, and every other pair counted under the same reason
    config = ev_stage(profile).config
    for flagged in (config, dataclasses.replace(config, missing_iv="flag", top_n=25)):
        for name, (frame, ctx) in captures.items():
            pruned, summary = kept_setups(ExpectedValueAnalysis(flagged, prune=True), frame, ctx)
            every, _ = kept_setups(ExpectedValueAnalysis(flagged, prune=False), frame, ctx)
            pd.testing.assert_frame_equal(pruned, every, check_exact=True)
            considered = sum(summary["pairs_considered"].values())
            assert summary["pairs_scored"] + sum(summary["pairs_pruned"].values()) == considered
            assert summary["pairs_scored"] == len(pruned) <= flagged.top_n, (profile, name)
            assert dropped_by_reason(ExpectedValueAnalysis(flagged, prune=True), frame, ctx) == \
                dropped_by_reason(ExpectedValueAnalysis(flagged, prune=False), frame, ctx), (profile, name)
            brute = ExpectedValueAnalysis(flagged, prune=False)  # the runner's one-step path, every pair scored
            selected, scored, _ = brute.select(frame, ctx)
            pd.testing.assert_frame_equal(brute.sort(selected, ctx).reset_index(drop=True), every, check_exact=True)
            assert scored == considered


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
