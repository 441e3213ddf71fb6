"""Trading days and the daily signal window, from the exchange calendar (CME Globex = `CMES`).

The window is written in local exchange-clock time (default 09:30-16:00 America/New_York) and
intersected with the calendar's session, so holidays have no window and early closes shorten it.
All returned times are tz-aware UTC.
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from datetime import date, datetime

import exchange_calendars as xcals
import pandas as pd

from ....errors import ConfigError
from ..shadow_config import WindowConfig

#: how far ahead of a date to look for the next sessions (covers any holiday cluster)
LOOKAHEAD_DAYS = 30


@dataclass(frozen=True)
class TradingDay:
    """One session's signal window (UTC) and the session bounds it sits in."""

    session: date
    window_open: pd.Timestamp
    window_close: pd.Timestamp
    session_open: pd.Timestamp
    session_close: pd.Timestamp
    early_close: bool = False  # the session closes before the configured window end

    @property
    def label(self) -> str:
        return self.session.isoformat()


@functools.lru_cache(maxsize=4)
def _calendar(name: str) -> xcals.ExchangeCalendar:
    try:
        with warnings.catch_warnings():
            # exchange_calendars 4.13 reads Series.values of tz-aware columns (a pandas 3.1 deprecation, its own)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
            return xcals.get_calendar(name)
    except xcals.errors.InvalidCalendarName as exc:
        raise ConfigError(f"`instrument.exchange_calendar` = {name!r} is not an exchange calendar "
                          f"(expected a name such as CMES): {exc}") from exc


class TradingCalendar:
    """Sessions of `calendar_name` with the profile's signal window."""

    def __init__(self, calendar_name: str, window: WindowConfig) -> None:
        self.name = calendar_name
        self.window = window
        self.calendar = _calendar(calendar_name)

    def day(self, session: date) -> TradingDay | None:
        """The window of `session`, or None if it is not a trading session or the window is empty."""
        label = pd.Timestamp(session)
        if not self.calendar.is_session(label):
            return None
        session_open = self.calendar.session_open(label).tz_convert("UTC")
        session_close = self.calendar.session_close(label).tz_convert("UTC")
        tz = self.window.timezone
        local_start = pd.Timestamp(datetime.combine(session, self.window.start_time)).tz_localize(tz)
        local_end = pd.Timestamp(datetime.combine(session, self.window.end_time)).tz_localize(tz)
        window_open = max(local_start.tz_convert("UTC"), session_open)
        window_close = min(local_end.tz_convert("UTC"), session_close)
        if window_close <= window_open:
            return None
        return TradingDay(session=session, window_open=window_open, window_close=window_close,
                          session_open=session_open, session_close=session_close,
                          early_close=bool(session_close < local_end.tz_convert("UTC")))

    def days(self, start: date, count: int) -> list[TradingDay]:
        """The first `count` trading days on or after `start`."""
        out: list[TradingDay] = []
        cursor = pd.Timestamp(start)
        last = pd.Timestamp(self.calendar.last_session)
        while len(out) < count and cursor <= last:
            end = min(cursor + pd.Timedelta(days=LOOKAHEAD_DAYS), last)
            for label in self.calendar.sessions_in_range(cursor, end):
                day = self.day(label.date())
                if day is not None:
                    out.append(day)
                    if len(out) == count:
                        break
            cursor = end + pd.Timedelta(days=1)
        return out

    def next_window(self, ts: pd.Timestamp) -> TradingDay | None:
        """The day whose window contains `ts`, else the next day whose window opens after `ts`."""
        local_date = ts.tz_convert(self.window.timezone).date()
        for day in self.days(local_date, 3):
            if ts < day.window_close:
                return day
        return None
