"""Greeks stage: IV, delta, gamma per contract; NaN (with the reason) where nothing can be solved;
ATM IV at the forward and the 25-delta skew in the summary."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine import black76
from tasks.options_trading_system.analysis_engine.greeks import GreeksAnalysis, GreeksConfig
from tasks.options_trading_system.analysis_engine.pipeline import AnalysisContext
from tasks.options_trading_system.errors import ConfigError

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root: `python3 tests/...` works too
from tests.conftest import make_chain  # noqa: E402

F = 20000.0
FRONT = "2025-06-20"  # as of 2025-06-02 10:00 New York, settles 16:00 on the 20th: 18.25 days = 0.05 years
YEARS = 0.05


def normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def run(rows: list[dict], config: GreeksConfig | None = None) -> tuple[pd.DataFrame, dict]:
    chain = make_chain(rows, underlying=F)
    ctx = AnalysisContext.from_chain(chain)
    stage = GreeksAnalysis(config)
    enriched = stage.enrich(chain.frame, ctx)
    return enriched, stage.summarize(enriched, enriched.iloc[0:0], ctx)


def priced(strike: float, right: str, sigma: float, expiration: str = FRONT, years: float = YEARS) -> dict:
    last = float(black76.price(F, strike, years, sigma, right == "C"))
    return {"expiration": expiration, "strike": strike, "right": right, "last": last, "open_interest": 10}


def test_atm_contracts_get_the_closed_form_vol_delta_and_gamma() -> None:
    # ATM, sigma = 20%, T = 0.05: s = 0.2 sqrt(0.05) = 0.0447214
    # price = F (2 N(s/2) - 1) = 356.795; call delta = N(s/2) = 0.508920, put delta = -0.491080
    # gamma = n(s/2) / (F s) = 0.398892 / 894.43 = 4.4592e-4
    s = 0.2 * math.sqrt(YEARS)
    atm_price = F * (2 * normal_cdf(s / 2) - 1)
    rows = [{"expiration": FRONT, "strike": F, "right": right, "last": atm_price, "open_interest": 5}
            for right in ("C", "P")]
    enriched, summary = run(rows)
    np.testing.assert_allclose(enriched["years_to_expiry"], YEARS, rtol=1e-12)
    np.testing.assert_allclose(enriched["iv"], 0.2, atol=1e-12)
    np.testing.assert_allclose(enriched["delta"], [normal_cdf(s / 2), normal_cdf(s / 2) - 1], atol=1e-12)
    gamma = math.exp(-s * s / 8) / math.sqrt(2 * math.pi) / (F * s)
    np.testing.assert_allclose(enriched["gamma"], gamma, rtol=1e-10)
    assert summary["atm_iv"] == pytest.approx(0.2, abs=1e-12)  # a strike sits exactly at F
    assert summary["contracts_with_iv"] == 2


def test_deep_itm_and_unpriced_contracts_get_nan_and_say_why() -> None:
    rows = [priced(F, "C", 0.2),
            {"expiration": FRONT, "strike": 18000.0, "right": "C", "last": 2000.01},  # 0.01 of time value
            {"expiration": FRONT, "strike": 21000.0, "right": "C", "open_interest": 3}]  # no price at all
    enriched, summary = run(rows)
    assert enriched["iv"].isna().tolist() == [False, True, True]
    assert enriched[["delta", "gamma"]].iloc[1:].isna().all().all()
    assert enriched["iv_status"].astype(str).tolist() == [
        "solved", "time value below min_time_value", "no usable price"]
    assert summary["contracts"] == 3 and summary["contracts_with_iv"] == 1
    assert summary["no_iv_reasons"] == {"time value below min_time_value": 1, "no usable price": 1}
    # with the floor lowered to 0.005 points the 0.01 of time value is solved
    assert run(rows, GreeksConfig(min_time_value=0.005))[1]["contracts_with_iv"] == 2


def test_vendor_greeks_are_replaced_by_ours() -> None:
    row = priced(20100.0, "C", 0.21) | {"iv": 0.99, "delta": 0.99, "gamma": 0.99}
    enriched, _ = run([row])
    assert enriched["iv"].iloc[0] == pytest.approx(0.21, abs=1e-12)
    assert enriched["delta"].iloc[0] < 0.5


def test_atm_iv_is_interpolated_at_the_forward_from_the_otm_side() -> None:
    # strikes 19900 (OTM put at 22%) and 20100 (OTM call at 18%); F = 20000 is half-way: 20%.
    # The ITM contracts carry other vols (25%, 15%) that must not be used.
    rows = [priced(19900.0, "P", 0.22), priced(20100.0, "C", 0.18),
            priced(19900.0, "C", 0.25), priced(20100.0, "P", 0.15),
            priced(20100.0, "C", 0.30, expiration="2025-07-18", years=YEARS + 28 / 365)]
    enriched, summary = run(rows)
    assert summary["atm_iv"] == pytest.approx(0.20, abs=1e-10)
    assert summary["atm_iv_note"] == ""
    assert summary["atm_iv_by_expiration"]["2025-06-20"] == pytest.approx(0.20, abs=1e-10)
    assert "2025-07-18" not in summary["atm_iv_by_expiration"]  # one strike above F only: not bracketed
    assert enriched["atm_iv"].iloc[:4].tolist() == pytest.approx([0.20] * 4, abs=1e-10)
    assert enriched["atm_iv"].iloc[4:].isna().all()


def test_atm_iv_is_missing_when_the_forward_is_not_bracketed() -> None:
    _, summary = run([priced(20100.0, "C", 0.18), priced(20200.0, "C", 0.18)])
    assert summary["atm_iv"] is None
    assert "outside the strikes with an IV (20100..20200)" in summary["atm_iv_note"]


def test_skew_is_put_vol_minus_call_vol_at_25_delta() -> None:
    # T = 0.05: puts at 25% have delta -0.172 (19000) and -0.315 (19500), bracketing -0.25;
    # calls at 18% have delta 0.319 (20400) and 0.170 (20800), bracketing +0.25.
    # Flat on each side, so the skew is 0.25 - 0.18 = 0.07 whatever the interpolation weights.
    rows = [priced(19000.0, "P", 0.25), priced(19500.0, "P", 0.25),
            priced(20400.0, "C", 0.18), priced(20800.0, "C", 0.18)]
    _, summary = run(rows)
    assert summary["skew"] == pytest.approx(0.07, abs=1e-10)
    assert summary["skew_note"] == ""
    _, near_only = run(rows[1:3])  # |delta| 0.315 and 0.319 only: 0.25 is not bracketed
    assert near_only["skew"] is None
    assert "|delta| 0.25" in near_only["skew_note"]


def test_summary_is_plain_json() -> None:
    _, summary = run([priced(19900.0, "P", 0.22), priced(20100.0, "C", 0.18),
                      {"expiration": FRONT, "strike": 21000.0, "right": "C"}])
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary


def test_skew_delta_outside_the_wing_range_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="skew_delta"):
        GreeksConfig(skew_delta=0.6)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
