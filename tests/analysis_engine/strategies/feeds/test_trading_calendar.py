"""The signal window from the CME Globex calendar: local exchange time, holidays, early closes, DST."""
from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.shadow_config import WindowConfig
from tasks.options_trading_system.analysis_engine.strategies.feeds.trading_calendar import TradingCalendar
from tasks.options_trading_system.errors import ConfigError

CME = TradingCalendar("CMES", WindowConfig())


def test_the_window_is_09_30_to_16_00_new_york_in_utc_across_dst() -> None:
    summer = CME.day(date(2025, 6, 2))
    winter = CME.day(date(2023, 11, 20))
    assert (summer.window_open, summer.window_close) == (pd.Timestamp("2025-06-02 13:30", tz="UTC"),
                                                         pd.Timestamp("2025-06-02 20:00", tz="UTC"))
    assert (winter.window_open, winter.window_close) == (pd.Timestamp("2023-11-20 14:30", tz="UTC"),
                                                         pd.Timestamp("2023-11-20 21:00", tz="UTC"))


def test_early_closes_shorten_the_window_and_holidays_have_none() -> None:
    thanksgiving = CME.day(date(2023, 11, 23))
    assert thanksgiving.window_close == pd.Timestamp("2023-11-23 18:00", tz="UTC")   # 13:00 New York
    assert thanksgiving.early_close and not CME.day(date(2023, 11, 22)).early_close
    assert CME.day(date(2023, 12, 25)) is None     # Christmas: no session
    assert CME.day(date(2023, 11, 25)) is None     # a Saturday


def test_days_counts_sessions_from_the_start() -> None:
    days = CME.days(date(2023, 11, 23), 3)
    assert [d.label for d in days] == ["2023-11-23", "2023-11-24", "2023-11-27"]


def test_next_window_from_a_weekend_is_monday() -> None:
    day = CME.next_window(pd.Timestamp("2023-11-25 12:00", tz="UTC"))
    assert day.label == "2023-11-27"


def test_an_unknown_calendar_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="not an exchange calendar"):
        TradingCalendar("NOPE", WindowConfig())


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
