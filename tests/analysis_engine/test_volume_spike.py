"""IFD v1.0 volume spikes: which contracts spike and why the others do not, the trade each spike
implies (target, stop, tier, actionable), and the day bias from spike dollars."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.pipeline import AnalysisContext
from tasks.options_trading_system.analysis_engine.volume_spike import (BIAS_BEARISH, BIAS_BULLISH, BIAS_MIXED,
                                                                       BIAS_NONE, VolumeSpikeAnalysis,
                                                                       VolumeSpikeConfig, day_bias)
from tasks.options_trading_system.errors import ConfigError

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root: `python3 tests/...` works too
from tests.conftest import make_chain  # noqa: E402

F = 20000.0
NAN = float("nan")
# $20 per point. notional = volume x last x 20
ROWS = [
    # contract, strike, right, volume, OI, last       vol/OI  notional      expected
    ("A", 20200.0, "C", 1000, 50, 10.0),   # 20      200,000      spike, HIGH, 1% away: actionable
    ("B", 19500.0, "P", 2500, 50, 6.0),    # 50      300,000      spike, EXTREME (50 is >= 50), 2.5% away
    ("C", 20100.0, "C", 600, 100, 30.0),   # 6                    volume/OI below 10
    ("D", 20300.0, "C", 400, 10, 40.0),    # 40                   volume below 500
    ("E", 19900.0, "P", 800, 20, 2.0),     # 40      32,000       notional below $100,000
    ("F", 20400.0, "C", NAN, 10, 5.0),     #                      no volume (N/A is not 0)
    ("G", 19800.0, "P", 900, NAN, 5.0),    #                      no open interest
    ("H", 19000.0, "P", 700, 0, 5.0),      #                      no open interest (0: ratio undefined)
    ("I", 19800.0, "C", 2000, 100, 250.0),  # 20     10,000,000   spike, ITM call: no target
    ("J", 20250.0, "C", 1000, 40, NAN),    # 25                   no last price
]


def run(config: VolumeSpikeConfig | None = None, rows: list[tuple] = ROWS
        ) -> tuple[pd.Series, pd.DataFrame, dict]:
    chain = make_chain([{"contract": c, "strike": k, "right": r, "volume": v, "open_interest": oi, "last": last,
                         "expiration": "2025-06-20"} for c, k, r, v, oi, last in rows], underlying=F)
    ctx = AnalysisContext.from_chain(chain)
    stage = VolumeSpikeAnalysis(config)
    candidates = stage.candidates(chain.frame, ctx)
    reasons = stage.filter_reasons(candidates, ctx)
    kept = stage.sort(candidates[reasons == ""], ctx).reset_index(drop=True)
    return pd.Series(reasons.to_numpy(), index=candidates["contract"]), kept, stage.summarize(chain.frame, kept, ctx)


def test_spikes_need_ratio_volume_and_dollars_and_skipped_contracts_say_why() -> None:
    reasons, kept, _ = run()
    assert reasons.to_dict() == {
        "A": "", "B": "", "I": "",
        "C": "volume/OI below min_vol_oi (10)",
        "D": "volume below min_volume (500)",
        "E": "notional below min_notional ($100,000)",
        "F": "no volume",
        "G": "no open interest",
        "H": "no open interest",
        "J": "no last price",
    }
    assert kept["contract"].tolist() == ["I", "B", "A"]  # by notional: 10M, 300k, 200k
    assert kept["notional"].tolist() == [10_000_000.0, 300_000.0, 200_000.0]


def test_spikes_equal_in_dollars_and_ratio_rank_by_contract_name() -> None:
    twins = [("Z", 20200.0, "C", 1000, 50, 10.0), ("M", 19800.0, "P", 1000, 50, 10.0),
             ("A", 20300.0, "C", 2500, 50, 6.0)]
    _, kept, _ = run(rows=twins)
    assert kept["contract"].tolist() == ["A", "M", "Z"]  # A: $300,000; M and Z tie at $200,000 and 20x
    chain = make_chain([{"contract": c, "strike": k, "right": r, "volume": v, "open_interest": oi, "last": last,
                         "expiration": "2025-06-20"} for c, k, r, v, oi, last in twins], underlying=F)
    selected, _, _ = VolumeSpikeAnalysis().select(chain.frame, AnalysisContext.from_chain(chain))
    assert selected["contract"].tolist() == ["A", "M", "Z"]  # the runner's path: built in that order


def test_each_spike_is_a_trade_with_target_stop_tier_and_actionability() -> None:
    _, kept, _ = run()
    spikes = kept.set_index("contract")
    # A: call 200 above F -> LONG to 20200, stop 100 below F at 19900; 1% away -> actionable
    assert spikes.loc["A", ["direction", "target", "stop", "tier", "actionable"]].tolist() == [
        "LONG", 20200.0, 19900.0, "HIGH", True]
    # B: put 500 below F -> SHORT to 19500, stop 250 above F at 20250; 2.5% away -> not actionable
    assert spikes.loc["B", ["direction", "target", "stop", "tier", "actionable"]].tolist() == [
        "SHORT", 19500.0, 20250.0, "EXTREME", False]
    # I: an ITM call (strike below F) has no target above the entry: no trade, never actionable
    assert spikes.loc["I", "direction"] == "LONG" and not spikes.loc["I", "actionable"]
    assert pd.isna(spikes.loc["I", "target"]) and pd.isna(spikes.loc["I", "stop"])
    assert spikes.loc["I", "setup_note"] == "ITM call: strike below F, no LONG target above it"


def test_day_bias_from_the_calls_share_of_spike_dollars() -> None:
    # calls: I 10,000,000 + A 200,000; puts: B 300,000 -> share 10.2 / 10.5 = 0.9714 > 0.65
    _, _, summary = run()
    assert summary["call_share"] == pytest.approx(10.2 / 10.5)
    assert summary["day_bias"] == BIAS_BULLISH
    assert summary["tiers"] == {"EXTREME": 1, "VERY_HIGH": 0, "HIGH": 2, "MODERATE": 0}
    assert (summary["spikes"], summary["call_spikes"], summary["put_spikes"], summary["actionable"]) == (3, 2, 1, 1)
    cfg = VolumeSpikeConfig()
    assert day_bias(30.0, 70.0, cfg)[1] == BIAS_BEARISH   # 0.30 < 0.35
    assert day_bias(65.0, 35.0, cfg)[1] == BIAS_MIXED     # exactly 0.65 is not above it
    assert day_bias(35.0, 65.0, cfg)[1] == BIAS_MIXED     # exactly 0.35 is not below it


def test_no_spikes_is_said_plainly() -> None:
    _, kept, summary = run(rows=[row for row in ROWS if row[0] in "CDE"])
    assert kept.empty
    assert summary["day_bias"] == BIAS_NONE and summary["call_share"] is None and summary["spikes"] == 0


def test_thresholds_come_from_the_profile() -> None:
    # looser notional floor lets E (32,000) in; a 3% actionable band takes B (2.5%) in
    reasons, kept, summary = run(VolumeSpikeConfig(min_notional=30_000, actionable_distance=0.03))
    assert reasons["E"] == ""
    assert kept.set_index("contract").loc["E", "tier"] == "VERY_HIGH"  # 40: >= 30, < 50
    assert summary["actionable"] == 3  # A, B, E (I never)


def test_summary_is_plain_json() -> None:
    summary = run()[2]
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary


def test_inconsistent_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="bearish_share"):
        VolumeSpikeConfig(bullish_share=0.3, bearish_share=0.6)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
