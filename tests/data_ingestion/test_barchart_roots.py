"""Which Barchart option root a run loads: the profile's, or the NQ series expiring next (exchange
calendar for holidays, the expiry time for the same day, monthly before weekly before end-of-month)."""
from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root: `python3 tests/...` works too

from tasks.options_trading_system.data_ingestion.barchart.roots import choose_root  # noqa: E402
from tasks.options_trading_system.errors import ConfigError  # noqa: E402


def front(day: str, now_utc: str, *, include_eom: bool = False, root: str = "auto"):
    return choose_root(root=root, trade_date=date.fromisoformat(day), now=pd.Timestamp(now_utc, tz="UTC"),
                       expiry_time="16:00", include_eom=include_eom, calendar_name="CMES")


def test_on_the_recorded_day_auto_picks_the_series_barchart_showed() -> None:
    # the real page of 2025-06-02 has "Monday Weekly Options", "Week 1: Jun 2025" (MC6M25) selected
    choice = front("2025-06-02", "2025-06-02 14:15")
    assert (choice.root, choice.series.expiration, choice.series.underlying_symbol) == \
        ("MC6M25", date(2025, 6, 2), "NQM25")


def test_after_the_expiry_time_the_next_series_is_the_front() -> None:
    assert front("2025-06-02", "2025-06-02 20:30").root == "MM1M25"   # 16:30 New York: Tuesday weekly


def test_the_monthly_beats_the_friday_weekly_on_the_third_friday() -> None:
    assert front("2025-06-20", "2025-06-20 14:00").root == "NQM25"


@pytest.mark.parametrize("day, expected", [
    ("2025-12-25", "MQ4Z25"),   # Christmas (a Thursday, exchange shut): Thursday weekly skipped, Friday's
    ("2025-04-18", "MC8J25"),   # Good Friday: the April monthly is skipped, Monday week 3 is next
])
def test_a_series_expiring_on_an_exchange_holiday_is_skipped(day: str, expected: str) -> None:
    assert front(day, f"{day} 14:00").root == expected


def test_end_of_month_series_only_when_asked_for() -> None:
    assert front("2025-06-30", "2025-06-30 14:00").root == "MM1N25"
    assert front("2025-06-30", "2025-06-30 14:00", include_eom=True).root == "MQ6M25"


def test_an_explicit_root_wins_and_a_bad_one_is_a_config_error() -> None:
    choice = front("2025-06-02", "2025-06-02 14:15", root="NQU25")
    assert (choice.root, choice.series.expiration, choice.series.underlying_symbol) == \
        ("NQU25", date(2025, 9, 19), "NQU25")
    with pytest.raises(ConfigError, match="data_sources.barchart.root: 'ZZ9M25'"):
        front("2025-06-02", "2025-06-02 14:15", root="ZZ9M25")


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
