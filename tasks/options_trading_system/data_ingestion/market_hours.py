"""Exchange hours from the `exchange_calendars` library (never hand-made tables).

Used by the sources to pick a session's time window (Databento) and to tell market hours from
closed hours (Barchart's cache lifetime). The calendar name comes from the profile
(`instrument.exchange_calendar`, CME Globex = `CMES`).
"""
from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from dataclasses import dataclass
from datetime import date
from typing import Iterator

import exchange_calendars
import pandas as pd

from ..errors import ConfigError
from .canonical import as_utc

log = logging.getLogger(__name__)


@contextlib.contextmanager
def quiet_calendar_library() -> Iterator[None]:
    """exchange_calendars 4.13 reads tz-aware `.values`, which pandas 3.1 deprecates; harmless here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(Series|DatetimeIndex)\.values returning an ndarray")
        yield


@dataclass(frozen=True)
class SessionWindow:
    """One trading session: its date and its open and close (UTC)."""

    session: date
    open: pd.Timestamp
    close: pd.Timestamp


@functools.lru_cache(maxsize=4)
def exchange_calendar(name: str) -> exchange_calendars.ExchangeCalendar:
    """The named calendar (loaded once per process)."""
    try:
        with quiet_calendar_library():
            return exchange_calendars.get_calendar(name)
    except exchange_calendars.errors.InvalidCalendarName as exc:
        raise ConfigError(f"instrument.exchange_calendar: unknown calendar {name!r} (CME Globex is 'CMES')") from exc


def session_for(calendar_name: str, trade_date: date) -> SessionWindow:
    """The session of `trade_date`, or the last one before it when the exchange is shut that day."""
    calendar = exchange_calendar(calendar_name)
    day = pd.Timestamp(trade_date)
    if day < calendar.first_session or day > calendar.last_session:
        raise ConfigError(f"trade date {trade_date} is outside the {calendar_name} calendar "
                          f"({calendar.first_session:%Y-%m-%d}..{calendar.last_session:%Y-%m-%d}); "
                          f"update exchange_calendars")
    session = day if calendar.is_session(day) else calendar.date_to_session(day, direction="previous")
    return SessionWindow(session=session.date(), open=calendar.session_open(session),
                         close=calendar.session_close(session))


def is_market_open(calendar_name: str, now: pd.Timestamp) -> bool:
    """True when the exchange is trading at `now`."""
    calendar = exchange_calendar(calendar_name)
    minute = as_utc(now).floor("min")
    with quiet_calendar_library():
        if minute < calendar.first_minute or minute > calendar.last_minute:
            return False
        return bool(calendar.is_open_on_minute(minute))


def is_session(calendar_name: str, day: date) -> bool:
    """True when the exchange trades on `day`."""
    calendar = exchange_calendar(calendar_name)
    stamp = pd.Timestamp(day)
    if stamp < calendar.first_session or stamp > calendar.last_session:
        return False
    return bool(calendar.is_session(stamp))


def session_of(calendar_name: str, at: pd.Timestamp) -> date:
    """The trading session a moment belongs to: the one trading at `at`, else the last one before it.

    CME's evening hours belong to the next day's session (Sunday 18:00 New York opens Monday's).
    Outside the calendar's range the New York calendar date is the best answer there is.
    """
    calendar = exchange_calendar(calendar_name)
    minute = as_utc(at).floor("min")
    with quiet_calendar_library():
        if minute < calendar.first_minute or minute > calendar.last_minute:
            return minute.tz_convert("America/New_York").date()
        return calendar.minute_to_session(minute, direction="previous").date()


def present_session(calendar_name: str, now: pd.Timestamp) -> date:
    """The last trading session as of `now`: today's in New York, or the one before when the
    exchange is shut today (a weekend or holiday). What a source serving only the present serves."""
    today = as_utc(now).tz_convert("America/New_York").date()
    return session_for(calendar_name, today).session


def is_past_date(calendar_name: str, trade_date: date, now: pd.Timestamp) -> bool:
    """True when `trade_date` is before the present session as of `now` (`present_session`)."""
    today = as_utc(now).tz_convert("America/New_York").date()
    if trade_date >= today:
        return False
    try:
        return trade_date < present_session(calendar_name, now)
    except ConfigError:  # outside the calendar: the calendar date decides
        return True
