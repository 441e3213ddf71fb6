"""The EV section every report shows: status line, setup lines, and why nothing is shown."""
from __future__ import annotations

import pytest

from tasks.options_trading_system.analysis_engine.expected_value import WITHHELD
from tasks.options_trading_system.output_generation.ev_view import ev_section, time_left

SETUP = {"direction": "LONG", "entry": 22454.375, "target": 23500.0, "stop": 22350.0, "reward_dollars": 20912.5,
         "risk_dollars": 2087.5, "target_sigma": 1.78399, "stop_sigma": 0.17808, "expiration": "2025-07-07",
         "probability": 0.88852, "market_probability": 0.045543, "ev_points": 917.4233, "ev_dollars": 18348.47,
         "realism": "checked", "market_view": "out_of_reach",
         "market_note": "model 0.89 vs market 0.05: the market prices this target as out of reach"}
SUMMARY = {"horizon_expiration": "2025-07-07", "years_to_horizon": 12.03 / 365, "atm_iv": 0.14376,
           "sigma_points": 586.114, "realism": {"on": True, "applied": True, "note": "", "max_target_sigma": 2.0,
                                                "min_stop_sigma": 0.1, "collapse_duplicates": True},
           "pairs_pruned": {"risk above max_risk_points (150 points)": 2812}}


def document(rows: list[dict], summary: dict, reasons: dict | None = None) -> dict:
    return {"analyses": {"expected_value": {"ran": True, "reason": None, "summary": summary, "opportunities": rows}},
            "stages": [{"name": "expected_value", "reasons": reasons or {}}]}


def test_a_setup_reads_as_moves_in_points_sigma_and_dollars_with_its_expiry() -> None:
    section = ev_section(document([SETUP], SUMMARY))
    assert section.status == ("1 shown — targets within 2 sigma, stops beyond 0.1 sigma, one setup per target; "
                              "1 sigma = 586.11 pts to the 2025-07-07 settlement (12.0 days, ATM IV 14.4%)")
    line = section.setups[0]
    assert line.target_text == "23,500 (+1,045.62 pts, 1.78 sigma, $20,912)"
    assert line.stop_text == "22,350 (-104.38 pts, 0.18 sigma, $2,088)"
    assert (line.expiry_text, line.ev_dollars, line.market_note) == (
        "2025-07-07, 12.0 days", "$18,348", SETUP["market_note"])
    assert section.note is None


def test_withheld_setups_are_counted_and_the_reason_given() -> None:
    summary = {**SUMMARY, "sigma_points": None, "atm_iv": None, "years_to_horizon": 0.0,
               "realism": {"on": True, "applied": False,
                           "note": "realism not applied: the 2025-06-02 expiration had settled by the data's time"}}
    section = ev_section(document([], summary, {WITHHELD: 3565}))
    assert section.status.startswith("none shown — realism not applied; expiration 2025-07-07 (settled")
    assert section.note == ("realism not applied: the 2025-06-02 expiration had settled by the data's time. 3,565 "
                            "setups passed the model's filters and are withheld (set `missing_iv: \"flag\"` to list "
                            "them marked unchecked).")


def test_an_empty_list_says_which_filters_emptied_it() -> None:
    section = ev_section(document([], SUMMARY, {"probability below min_probability (0.6)": 42}))
    assert section.note == ("No (target, stop) pair passed the profile's EV filters: 2,812 risk above "
                            "max_risk_points (150 points); 42 probability below min_probability (0.6).")


@pytest.mark.parametrize("years, text", [(12.03 / 365, "12.0 days"), (5.25 / 24 / 365, "5.2 hours"),
                                         (0.0, "settled"), (None, "n/a")])
def test_time_left_reads_in_days_or_hours(years, text) -> None:
    assert time_left(years) == text


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
