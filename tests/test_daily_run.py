"""Dating a run by its data: a capture's trading date, and the warning when data is older than the
last trading session (the clock is passed in; exchange_calendars `CMES` decides the sessions)."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.daily_run import capture_trading_date, load_input_file, stale_data_note

from tests.conftest import make_chain


def chain_as_of(as_of: str):
    return make_chain([{"strike": 21500.0, "right": "C", "open_interest": 1.0}], as_of=as_of)


@pytest.mark.parametrize("capture, trading_date", [
    ("barchart_api_MC6M5_20250602_141553.json", date(2025, 6, 2)),   # as of its last trade, 21:01 UTC
    ("barchart_api_MC6N5_20250625_142402.json", date(2025, 6, 25)),  # as of 19:12 UTC
])
def test_real_captures_are_dated_by_their_own_as_of(shared_data: Path, capture: str, trading_date: date) -> None:
    assert capture_trading_date(load_input_file(shared_data / "barchart" / capture)) == trading_date


def test_cme_evening_hours_belong_to_the_next_days_session() -> None:
    # Sunday 2025-06-01 19:00 New York: Globex is open for Monday's session
    assert capture_trading_date(chain_as_of("2025-06-01T23:00:00Z")) == date(2025, 6, 2)


def test_data_of_the_last_session_is_not_old_even_on_a_weekend() -> None:
    friday_close = chain_as_of("2025-06-06T20:59:00Z")
    saturday = pd.Timestamp("2025-06-07T15:00:00Z")
    assert stale_data_note(friday_close, now=saturday, run_date=date(2025, 6, 7)) is None


def test_data_older_than_the_last_session_is_named_old_with_its_sessions_behind() -> None:
    monday = chain_as_of("2025-06-02T21:01:00Z")
    note = stale_data_note(monday, now=pd.Timestamp("2025-06-05T14:00:00Z"), run_date=date(2025, 6, 2))
    assert note == ("OLD DATA — the chain is as of 2025-06-02 21:01 UTC (session 2025-06-02), "
                    "3 trading sessions behind the last trading session 2025-06-05")


def test_a_past_date_run_is_judged_against_that_dates_session() -> None:
    monday = chain_as_of("2025-06-02T21:01:00Z")
    later = pd.Timestamp("2025-06-05T14:00:00Z")
    assert stale_data_note(monday, now=later, run_date=date(2025, 6, 2), present=False) is None
    assert "session 2025-06-02), 1 trading session behind the last trading session 2025-06-03" in \
        stale_data_note(monday, now=later, run_date=date(2025, 6, 3), present=False)
