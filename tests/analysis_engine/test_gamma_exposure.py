"""Zero gamma by re-pricing: total dealer GEX at hypothetical underlying prices, each contract with its
own IV, checked against a plain per-contract loop written here (math only) on a hand-built chain
with a known flip and on the real Barchart captures."""
from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.gamma_exposure import price_grid, sign_changes, total_gex
from tasks.options_trading_system.analysis_engine.pipeline import AnalysisContext, Pipeline
from tasks.options_trading_system.analysis_engine.risk import RiskAnalysis, RiskConfig
from tasks.options_trading_system.config_manager import load_profile
from tasks.options_trading_system.data_ingestion.canonical import validate_chain
from tasks.options_trading_system.data_ingestion.saved.formats import read_capture

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.conftest import make_chain  # noqa: E402

# The capture of 2025-06-02 was saved at 14:15:53 New York (its file name); its quotes carry a later
# trade time, after that day's 16:00 settlement, when nothing is left to re-price. Both moments are
# checked: the re-pricing must say "no gamma exposure" at the later one and find the level at the first.
CAPTURES = [
    ("barchart_api_MC6M5_20250602_141553.json", None),
    ("barchart_api_MC6M5_20250602_141553.json", "2025-06-02T14:15:53-04:00"),
    ("barchart_api_MC6N5_20250625_142402.json", None),
]


def reference_gex(prices: list[float], contracts: list[tuple[float, float, float, float, float]],
                  multiplier: float) -> list[float]:
    """GEX(S) = sum sign x gamma(S) x OI x multiplier x S^2 x 0.01, gamma the Black-76 gamma
    e^{-rT} n(d1) / (S sigma sqrt(T)); contracts as (strike, years, iv, signed OI, discount)."""
    out = []
    for s in prices:
        total = 0.0
        for k, t, iv, signed_oi, discount in contracts:
            sd = iv * math.sqrt(t)
            d1 = (math.log(s / k) + 0.5 * sd * sd) / sd
            gamma = discount * math.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi) / (s * sd)
            total += signed_oi * gamma * multiplier * s * s * 0.01
        out.append(total)
    return out


def reference_level(prices: list[float], gex: list[float], spot: float) -> float:
    """The sign change nearest the spot, linear between the grid prices around it."""
    levels = []
    for (x0, y0), (x1, y1) in zip(zip(prices, gex), zip(prices[1:], gex[1:])):
        if y0 == 0:
            levels.append(x0)
        elif y0 * y1 < 0:
            levels.append(x0 + (x1 - x0) * y0 / (y0 - y1))
    return min(levels, key=lambda x: abs(x - spot)) if levels else math.nan


def flip_chain(call_oi: float = 1000.0, put_oi: float = 1000.0) -> tuple[pd.DataFrame, AnalysisContext]:
    """A put at 19,000 and a call at 21,000, F = 20,000, both at 20% IV with 0.1 years left."""
    rows = [{"strike": 19000.0, "right": "P", "open_interest": put_oi, "last": 5.0, "expiration": "2025-07-18"},
            {"strike": 21000.0, "right": "C", "open_interest": call_oi, "last": 5.0, "expiration": "2025-07-18"}]
    chain = make_chain(rows, underlying=20000.0)
    frame = chain.frame.assign(iv=0.20, years_to_expiry=0.1, discount=1.0, gamma=np.nan, atm_iv=0.20)
    return frame, AnalysisContext.from_chain(chain)


def summarize(frame: pd.DataFrame, ctx: AnalysisContext, config: RiskConfig | None = None) -> dict:
    stage = RiskAnalysis(config)
    return stage.summarize(frame, stage.candidates(frame, ctx).iloc[0:0], ctx)


def test_equal_put_and_call_open_interest_flip_where_their_gammas_balance() -> None:
    # sign x n(d1)/sd cancels where ln(S/19000) + sd^2/2 = -(ln(S/21000) + sd^2/2):
    # S* = sqrt(19000 x 21000) x exp(-sd^2 / 2), sd = 0.2 x sqrt(0.1)
    sd = 0.2 * math.sqrt(0.1)
    expected = math.sqrt(19000 * 21000) * math.exp(-sd * sd / 2)
    summary = summarize(*flip_chain())
    assert summary["zero_gamma_level"] == pytest.approx(expected, abs=0.5)  # 0.1% grid, interpolated
    assert summary["zero_gamma_crossings"] == [summary["zero_gamma_level"]]
    assert summary["zero_gamma_note"] == ""
    profile = summary["gex_profile"]
    assert len(profile["price"]) == 201 and profile["price"][100] == pytest.approx(20000.0)
    assert profile["contracts"] == 2 and profile["contracts_left_out"] == 0
    assert summary["one_sigma"]["points"] == pytest.approx(20000 * 0.2 * math.sqrt(0.1))
    # below the flip the put's gamma wins (dealers short gamma), above it the call's
    gex = np.array(profile["total_gex"])
    prices = np.array(profile["price"])
    assert (gex[prices < expected - 25] < 0).all() and (gex[prices > expected + 25] > 0).all()


def test_no_sign_change_inside_the_grid_is_reported_as_none_within_the_span() -> None:
    summary = summarize(*flip_chain(put_oi=0.0))  # only the call: GEX positive at every price
    assert summary["zero_gamma_level"] is None
    assert summary["zero_gamma_note"] == ("none within +/-10% of the underlying: total dealer GEX never changes "
                                          "sign (stays positive)")
    narrow = summarize(*flip_chain(), RiskConfig(gamma_grid_span=0.002, gamma_grid_step=0.001))
    assert narrow["zero_gamma_level"] is None and narrow["zero_gamma_note"].startswith("none within +/-0.2% of the underlying")
    wide = summarize(*flip_chain(), RiskConfig(gamma_grid_span=0.02, gamma_grid_step=0.0005))
    assert len(wide["gex_profile"]["price"]) == 81 and wide["zero_gamma_level"] is not None


def test_a_contract_without_its_own_iv_is_priced_on_its_expirations_smile() -> None:
    frame, ctx = flip_chain()
    extra = frame.iloc[[0]].assign(strike=20000.0, right="C", iv=np.nan, open_interest=10.0)
    frame = pd.concat([frame, extra], ignore_index=True)
    summary = summarize(frame, ctx)
    assert summary["gex_profile"]["iv_from_smile"] == 1 and summary["gex_profile"]["contracts"] == 3
    lonely = frame.assign(iv=[0.2, 0.2, np.nan], strike=[19000.0, 21000.0, 25000.0])  # beyond the smile: left out
    assert summarize(lonely, ctx)["gex_profile"]["contracts_left_out"] == 1


def test_sign_changes_interpolate_and_pick_the_one_nearest_the_reference() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    found = sign_changes(x, np.array([-1.0, 1.0, 2.0, -2.0, -1.0]), 3.6, what="y")
    assert found.crossings == (1.5, 3.5) and found.level == 3.5
    assert sign_changes(x, np.array([-1.0, 0.0, 0.0, 2.0, 1.0]), 1.0, what="y").level == 2.0
    assert sign_changes(x, -np.ones(5), 3.0, what="y").note == "y never changes sign (stays negative)"


def test_vectorized_gex_equals_the_loop_across_chunks() -> None:
    rng = np.random.default_rng(7)
    n = 300
    strike, years = rng.uniform(18000, 22000, n), rng.uniform(0.001, 0.5, n)
    iv, oi = rng.uniform(0.1, 0.6, n), rng.uniform(-500, 500, n)
    prices = price_grid(20000.0, 0.1, 0.001)
    contracts = list(zip(strike, years, iv, oi, np.ones(n)))
    want = reference_gex(list(prices), contracts, 20.0)
    got = total_gex(prices, strike, years, iv, oi, 20.0)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-3)


@pytest.mark.parametrize(("name", "as_of"), CAPTURES)
def test_real_captures_level_equals_an_independent_repricing(shared_data: Path, name: str, as_of: str | None) -> None:
    chain = validate_chain(read_capture(shared_data / "barchart" / name))
    ctx = AnalysisContext.from_chain(chain)
    if as_of is not None:
        ctx = dataclasses.replace(ctx, as_of=pd.Timestamp(as_of).tz_convert("UTC"))
    result = Pipeline.from_profile(load_profile("testing", env={})).run(chain.frame, ctx)
    summary = result.stage("risk").summary
    spot = ctx.underlying_price
    front = result.chain[result.chain["expiration"] == ctx.front_expiration]
    # the expiration's smile: per strike the OTM right's IV (the other's where it has none), linear in strike
    smile: dict[float, float] = {}
    for k, group in front[front["iv"].notna()].groupby("strike"):
        otm = group[((group["right"] == "C") & (k >= spot)) | ((group["right"] == "P") & (k <= spot))]
        smile[float(k)] = float((otm if len(otm) else group)["iv"].mean())
    knots = sorted(smile)
    contracts = []
    for row in front.itertuples():
        if not row.open_interest > 0:
            continue
        iv = row.iv
        if math.isnan(iv) and knots and knots[0] <= row.strike <= knots[-1]:
            iv = float(np.interp(row.strike, knots, [smile[k] for k in knots]))
        if math.isnan(iv) or not row.years_to_expiry > 0:
            continue
        sign = 1.0 if row.right == "C" else -1.0
        contracts.append((row.strike, row.years_to_expiry, iv, sign * row.open_interest, 1.0))
    prices = [spot * (1 + 0.001 * j) for j in range(-100, 101)]
    want = reference_gex(prices, contracts, ctx.multiplier)
    profile = summary["gex_profile"]
    assert profile["contracts"] == len(contracts)
    assert profile["price"] == pytest.approx(prices, rel=1e-12)
    if not contracts:
        assert summary["zero_gamma_level"] is None and summary["zero_gamma_note"].startswith("no gamma exposure")
        return
    np.testing.assert_allclose(np.array(profile["total_gex"], dtype=float), want, rtol=1e-9, atol=1e-3)
    level = reference_level(prices, want, spot)
    assert not math.isnan(level), "every shared capture with time left has a flip within +/-10%"
    assert summary["zero_gamma_level"] == pytest.approx(level, abs=1e-6)
    # the per-strike cumulative crossing is a different figure, reported beside it under its own name
    assert "cumulative_gex_crossing" in summary and summary["cumulative_gex_crossing"] != summary["zero_gamma_level"]
