"""Which Barchart option root to load for a trading day.

An explicit root in the profile wins. `auto` takes the NQ series expiring next: every root
pattern Barchart lists for NQ (see `saved/barchart_symbols`, the one decoder of roots) is
decoded for the trade date's month and the next, and the earliest expiration wins that

- is on or after the trade date, and, on the trade date itself, before `expiry_time` (New York);
- is a session of the exchange calendar (a weekly falling on an exchange holiday is skipped);
- is not end-of-month unless `include_eom`.

On a tie the monthly series beats a weekly, and a weekly beats end-of-month (same expiry, the
more traded series).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

import pandas as pd

from ...errors import ConfigError
from ..canonical import as_utc
from ..market_hours import is_session
from ..saved.barchart_symbols import FUTURES_ROOT, MONTH_CODES, OptionSeries, decode_root

EXPIRY_TZ = "America/New_York"
WEEKLY_PAIRS = ("MQ", "MC", "MM")
PREFERENCE = {"monthly": 0, "weekly": 1, "end of month": 2}


@dataclass(frozen=True)
class RootChoice:
    """The root to ask for, the future it exercises into, its expiry, and why it was chosen."""

    root: str
    series: OptionSeries
    reason: str


def candidate_roots(trade_date: date) -> list[str]:
    """Every NQ root pattern for the trade date's month and the next (two-digit year)."""
    roots: list[str] = []
    year, month = trade_date.year, trade_date.month
    for _ in range(2):
        code = f"{MONTH_CODES[month - 1]}{year % 100:02d}"
        roots.append(f"{FUTURES_ROOT}{code}")
        roots += [f"{pair}{digit}{code}" for pair in WEEKLY_PAIRS for digit in range(1, 10)]
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return roots


def choose_root(*, root: str, trade_date: date, now: pd.Timestamp, expiry_time: str, include_eom: bool,
                calendar_name: str) -> RootChoice:
    """The root for the run (see the module docstring)."""
    if root != "auto":
        series = decode_root(root, trade_date)
        if series is None:
            raise ConfigError(f"data_sources.barchart.root: {root!r} is not an NQ option root Barchart lists "
                              f"(NQ<month><year>, MQ1-6/MC1-9/MM1-9<month><year>, e.g. MC6M25), or use \"auto\"")
        return RootChoice(root, series, f"root {root} set in the profile ({series.kind}, expires {series.expiration})")
    cutoff = _time(expiry_time)
    local_now = as_utc(now).tz_convert(EXPIRY_TZ)
    best: tuple[tuple[date, int], str, OptionSeries] | None = None
    for candidate in candidate_roots(trade_date):
        series = decode_root(candidate, trade_date)
        if series is None or series.expiration < trade_date:
            continue
        kind = _kind(series)
        if kind == "end of month" and not include_eom:
            continue
        if series.expiration == trade_date and local_now.date() == trade_date and local_now.time() >= cutoff:
            continue
        if not is_session(calendar_name, series.expiration):
            continue
        key = (series.expiration, PREFERENCE[kind])
        if best is None or key < best[0]:
            best = (key, candidate, series)
    if best is None:
        raise ConfigError(f"data_sources.barchart.root: auto found no NQ series expiring from {trade_date} "
                          f"through next month; set an explicit root")
    _, chosen, series = best
    return RootChoice(chosen, series, f"auto: {chosen} is the front series ({series.kind}, expires {series.expiration})")


def _kind(series: OptionSeries) -> str:
    if series.kind.startswith("monthly"):
        return "monthly"
    if series.kind.startswith("end of month"):
        return "end of month"
    return "weekly"


def _time(text: str) -> time:
    try:
        hours, minutes = (int(part) for part in text.split(":"))
        return time(hours, minutes)
    except ValueError as exc:
        raise ConfigError(f"data_sources.barchart.expiry_time: {text!r} is not HH:MM") from exc
