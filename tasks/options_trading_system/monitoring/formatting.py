"""How figures read on the dashboard: dollars, percents, counts, ages, local times; 'missing' for none.

Pure functions, registered as jinja2 filters. A missing figure (None, NaN) always reads
"missing", never 0, so a blank in the data is visible on the page.
"""
from __future__ import annotations

import math
from typing import Any, Callable
from zoneinfo import ZoneInfo

import pandas as pd

MISSING = "missing"

__all__ = ["MISSING", "is_missing", "usd", "signed_usd", "pct", "ratio_pct", "num", "duration", "local_time",
           "FILTERS"]


def is_missing(value: Any) -> bool:
    """True for None, NaN and values that are not numbers at all."""
    if value is None or isinstance(value, bool):
        return value is None
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True


def usd(value: Any, decimals: int = 2) -> str:
    """$1,234.50 (negative: -$1,234.50)."""
    if is_missing(value):
        return MISSING
    v = float(value)
    return f"{'-' if v < 0 else ''}${abs(v):,.{decimals}f}"


def signed_usd(value: Any) -> str:
    """+$120.00 / -$35.50 / $0.00: for P&L, where the sign is the news."""
    if is_missing(value):
        return MISSING
    v = float(value)
    return usd(v) if v <= 0 else f"+{usd(v)}"


def pct(value: Any, decimals: int = 1) -> str:
    """A value already in percent: 42.1%."""
    return MISSING if is_missing(value) else f"{float(value):.{decimals}f}%"


def ratio_pct(value: Any, decimals: int = 1) -> str:
    """A 0..1 share as a percent: 0.421 -> 42.1%."""
    return MISSING if is_missing(value) else f"{float(value) * 100:.{decimals}f}%"


def num(value: Any, decimals: int = 0) -> str:
    """A count or level with thousands separators."""
    return MISSING if is_missing(value) else f"{float(value):,.{decimals}f}"


def duration(seconds: Any) -> str:
    """3d 4h, 2h 05m, 4m 10s, 12s."""
    if is_missing(seconds):
        return MISSING
    s = int(round(float(seconds)))
    sign, s = ("-", -s) if s < 0 else ("", s)
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m {secs:02d}s"
    return f"{sign}{secs}s"


def local_time(value: Any, timezone: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """An ISO time shown in `timezone` with its abbreviation (2025-06-02 10:15:00 EDT)."""
    if value is None or value == "":
        return MISSING
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return str(value)
    if pd.isna(ts):
        return MISSING
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    local = ts.tz_convert(ZoneInfo(timezone))
    return f"{local.strftime(fmt)} {local.tzname()}"


FILTERS: dict[str, Callable[..., str]] = {
    "usd": usd, "signed_usd": signed_usd, "pct": pct, "ratio_pct": ratio_pct, "num": num, "duration": duration,
}
