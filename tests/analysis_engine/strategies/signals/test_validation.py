"""The validation engine on hand-made signals: criterion scores, the weighted score, the flag and
its reasons (the numbers are worked out in each test)."""
from __future__ import annotations

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.shadow_config import ValidationConfig
from tasks.options_trading_system.analysis_engine.strategies.signals.validation import MarketSnapshot, validate_signals

CONFIG = ValidationConfig()  # weights 0.35 technical, 0.25 market, 0.15 time, 0.25 history
OPEN = pd.Timestamp("2025-06-02 13:30", tz="UTC")    # 09:30 New York
CLOSE = pd.Timestamp("2025-06-02 20:00", tz="UTC")   # 16:00 New York


def _chain() -> pd.DataFrame:
    # the C110 quote is 9.5 / 10.5 (spread 1 on a mid of 10: 10%); 300 of 1,000 contracts traded at 110
    return pd.DataFrame({
        "contract": ["C110", "P90", "C120"], "strike": [110.0, 90.0, 120.0], "right": ["C", "P", "C"],
        "expiration": pd.to_datetime(["2025-06-06"] * 3), "bid": [9.5, 4.0, 2.0], "ask": [10.5, 4.4, 2.2],
        "interval_volume": [300.0, 500.0, 200.0]})


def _signal(**overrides) -> dict:
    row = {"source": "ifd_v1", "algorithm": "ifd_v1", "direction": "LONG", "entry_reference": 100.0,
           "target": 110.0, "stop": 95.0, "confidence": 0.7, "contract": "C110", "strike": 110.0,
           "sim_time": pd.Timestamp("2025-06-02 14:30", tz="UTC")}  # 10:30 New York
    row.update(overrides)
    return row


def _history(correct: list[int], source: str = "ifd_v1", direction: str = "LONG") -> pd.DataFrame:
    times = pd.date_range("2025-05-30 14:00", periods=len(correct), freq="h", tz="UTC")
    return pd.DataFrame({"source": source, "direction": direction, "resolved_at": times.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                         "correct": correct})


def _market() -> MarketSnapshot:
    return MarketSnapshot(chain=_chain(), window_open=OPEN, window_close=CLOSE, timezone="America/New_York")


def test_a_good_signal_scores_each_criterion_and_passes() -> None:
    out = validate_signals(pd.DataFrame([_signal()]), _market(), _history([1, 1, 0, 1, 0, 1]), CONFIG).iloc[0]
    # technical: reward 10, risk 5 (r/r 2 >= 1), risk <= 150, confidence 0.7 >= 0.2 -> 1.0
    assert out["technical"] == pytest.approx(1.0)
    # market: spread score 1 - 0.10/0.15 = 0.3333; concentration 0.3 -> (0.3-0.02)/0.18 clipped to 1 -> mean 0.6667
    assert out["market_context"] == pytest.approx(2 / 3)
    assert out["time_of_day"] == pytest.approx(1.0)    # 60 min after the open, 330 before the close
    assert out["history"] == pytest.approx(4 / 6)      # 4 of the last 6 ifd_v1 LONG signals were right
    # 0.35 x 1 + 0.25 x 0.6667 + 0.15 x 1 + 0.25 x 0.6667 = 0.8333
    assert out["score"] == pytest.approx(0.8333, abs=1e-4)
    assert bool(out["passed"]) and not bool(out["false_positive"])
    assert any("spread 10.0% of mid" in r for r in out["reasons"])


def test_a_stop_inside_ordinary_noise_is_flagged_whatever_its_score() -> None:
    # entry 100, min_risk_pct 0.05% -> stops closer than 0.05 points are noise; this one is 0.04 away
    tight = _signal(target=110.0, stop=99.96)
    out = validate_signals(pd.DataFrame([tight]), _market(), _history([1, 1, 0, 1, 0, 1]), CONFIG).iloc[0]
    assert out["score"] > CONFIG.min_score              # the score alone would have passed it
    assert bool(out["false_positive"]) and not bool(out["passed"])
    assert "stop 0.04 points away, inside ordinary noise (under 0.05% of the entry, 0.05 points)" in out["reasons"]
    # at NQ's scale: entry 21,500 -> the limit is 10.75 points; a 15-point stop is not flagged
    nq = _signal(entry_reference=21500.0, target=21550.0, stop=21485.0, strike=21550.0)
    ok = validate_signals(pd.DataFrame([nq]), _market(), _history([1, 1, 0, 1, 0, 1]), CONFIG).iloc[0]
    assert not any("ordinary noise" in r for r in ok["reasons"])


def test_levels_on_the_wrong_side_fail_and_are_flagged() -> None:
    out = validate_signals(pd.DataFrame([_signal(direction="SHORT")]), _market(), _history([]), CONFIG).iloc[0]
    assert out["technical"] == 0.0
    assert not bool(out["passed"]) and bool(out["false_positive"])
    assert "target 110 is not below the entry 100 for a SHORT" in out["reasons"][0]


def test_missing_history_is_left_out_and_the_rest_reweighted() -> None:
    out = validate_signals(pd.DataFrame([_signal(source="other")]), _market(), _history([1] * 6), CONFIG).iloc[0]
    assert pd.isna(out["history"])
    # (0.35 x 1 + 0.25 x 0.6667 + 0.15 x 1) / 0.75 = 0.6667 / 0.75 = 0.8889
    assert out["score"] == pytest.approx(0.8889, abs=1e-4)


def test_too_few_past_outcomes_do_not_score_history() -> None:
    out = validate_signals(pd.DataFrame([_signal()]), _market(), _history([0, 0, 0, 0]), CONFIG).iloc[0]
    assert pd.isna(out["history"])   # 4 < history_min_samples 5


def test_time_of_day_is_read_in_exchange_time_and_flags_the_opening_minutes() -> None:
    early = _signal(sim_time=pd.Timestamp("2025-06-02 13:40", tz="UTC"))  # 09:40 New York
    out = validate_signals(pd.DataFrame([early]), _market(), _history([]), CONFIG).iloc[0]
    assert out["time_of_day"] == 0.0
    # any criterion at 0 flags the signal, and a flagged signal does not pass even with a good score:
    # (0.35 + 0.25 x 0.6667 + 0) / 0.75 = 0.6889 >= 0.6
    assert out["score"] == pytest.approx(0.6889, abs=1e-4)
    assert bool(out["false_positive"]) and not bool(out["passed"])
    assert "09:40 America/New_York: 10 min after the open" in " ".join(out["reasons"])


def test_weak_technicals_are_named_with_their_numbers() -> None:
    weak = _signal(target=103.0, stop=80.0, confidence=0.1)  # reward 3, risk 20 (r/r 0.15), confidence 0.1
    out = validate_signals(pd.DataFrame([weak]), _market(), _history([]), CONFIG).iloc[0]
    assert out["technical"] == pytest.approx(1 / 3)     # only the risk size check passes
    text = " ".join(out["reasons"])
    assert "reward/risk 0.15 below 1" in text and "confidence 0.10 below 0.20 for ifd_v1" in text


def test_a_signal_without_a_contract_uses_the_near_money_spread() -> None:
    ev = _signal(algorithm="ev", source="ev", contract=None, strike=float("nan"), confidence=0.7,
                 entry_reference=100.0, target=110.0)
    # near money within 1% of 100: none of the strikes 90/110/120 -> spread missing; concentration at the
    # target 110 = 0.3 -> 1.0; market context = 1.0
    out = validate_signals(pd.DataFrame([ev]), _market(), _history([]), CONFIG).iloc[0]
    assert out["market_context"] == pytest.approx(1.0)


def test_no_signals_give_an_empty_table() -> None:
    out = validate_signals(pd.DataFrame(columns=list(_signal())), _market(), _history([]), CONFIG)
    assert out.empty and "score" in out.columns


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
