"""Barchart's NQ option roots decoded into an expiration date and the underlying future.

Barchart's quote rows carry no expiration date: the series is named by the root in each symbol
(`MC6M5|21500C` -> root `MC6M5`). The roots were read off Barchart's own NQM25 options page (the
real page is in `../shared/data/barchart/barchart_options_page_NQM25_20250602.html`), whose
"Options Type" and "Week" menus list:

| Barchart root | page label                          | expiry rule used here                  |
|---------------|-------------------------------------|----------------------------------------|
| `NQM25`       | Monthly Options                     | 3rd Friday of the month (CME quarterly/serial NQ options) |
| `MQ1M25`..`MQ5M25` | Friday Weekly Options          | n-th Friday of the month               |
| `MC6M25`, `MC7M25` | Monday Weekly, "Week 1/2: Jun 2025", "0 Days to expiration on 06/02/25" | n-th Monday (digit - 5) |
| `MM1M25`      | Tuesday Weekly Options              | n-th Tuesday                           |
| `MC1M25`      | Wednesday Weekly Options            | n-th Wednesday                         |
| `MM6M25`      | Thursday Weekly Options             | n-th Thursday (digit - 5)              |
| `MQ6M25`      | EOM Options (listed under NQU25)    | last weekday of the month              |

So a weekly root is `<pair><digit><month code><year>`: digits 1-5 count weeks of the pair's first
weekday, 6-9 weeks 1-4 of its second one. CME Globex names the same series `NQ` (monthly),
`QN1`..`QN5` (Friday weeklies), `Q1A`..`Q5A` (Monday), `Q1B`.. (Tuesday), `Q1C`.. (Wednesday),
`Q1D`.. (Thursday) and `QNE` (end of month), followed by the month code and one year digit:
`OptionSeries.globex` (`MC6M25` -> `Q1AM5`), the series of the project's contract names
(`contract_names`). CME names weeklies the same way ("Week 1: 1st Friday
of the contract month"), and Monday 2025-06-02 is indeed the first Monday of June 2025.

Not applied: exchange-holiday moves of an expiry (CME trades equity options on most US holidays
with an early halt, and its rules for moving an expiry differ by series). When that matters, put
the expiration in the capture envelope or the sidecar `_metadata.json`, which win over this.

The underlying of every NQ option is an NQ future; weeklies and EOM options exercise into the
nearest quarterly (Mar/Jun/Sep/Dec, expiring the 3rd Friday) that has not expired before them,
which is also what Barchart's page shows (June EOM options sit under NQU25).
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from ..contract_names import globex_series

MONTH_CODES = "FGHJKMNQUVXZ"
QUARTERLY_MONTHS = (3, 6, 9, 12)
FUTURES_ROOT = "NQ"

MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY = range(5)
# (letter pair, first digit of the run) -> weekday; a run covers weeks 1..5 (or 1..4 from 6).
_WEEKLY_SERIES: dict[tuple[str, int], tuple[int, str]] = {
    ("MQ", 1): (FRIDAY, "Friday weekly"),
    ("MC", 1): (WEDNESDAY, "Wednesday weekly"),
    ("MC", 6): (MONDAY, "Monday weekly"),
    ("MM", 1): (TUESDAY, "Tuesday weekly"),
    ("MM", 6): (THURSDAY, "Thursday weekly"),
}
_EOM_SERIES = ("MQ", 6)
# CME Globex product codes: weekday -> format of the week-n code; end of month
_GLOBEX_WEEKLY = {FRIDAY: "QN{week}", MONDAY: "Q{week}A", TUESDAY: "Q{week}B", WEDNESDAY: "Q{week}C",
                  THURSDAY: "Q{week}D"}
_GLOBEX_EOM = "QNE"

_ROOT = re.compile(r"^(?P<pair>[A-Z]{2})(?P<digit>\d)?(?P<month>[FGHJKMNQUVXZ])(?P<year>\d{1,2})$")


@dataclass(frozen=True)
class OptionSeries:
    """What a Barchart root says: the series, its expiration and the future it exercises into."""

    root: str
    kind: str
    expiration: date
    underlying_symbol: str
    globex: str = ""  # CME Globex series code, e.g. `Q1AM5` (product, month code, one year digit)


def decode_root(root: str, reference: date) -> OptionSeries | None:
    """Decode a Barchart NQ option root, or None when its pattern is not one listed above.

    `reference` (the capture date) resolves one-digit years: the first year ending in that digit
    that is not before the year preceding `reference`.
    """
    match = _ROOT.match(root.strip().upper())
    if match is None:
        return None
    pair, digit_text = match.group("pair"), match.group("digit")
    month = MONTH_CODES.index(match.group("month")) + 1
    year = _resolve_year(match.group("year"), reference)
    if pair == FUTURES_ROOT and digit_text is None:
        expiration = nth_weekday(year, month, FRIDAY, 3)
        return OptionSeries(root, "monthly (3rd Friday)", expiration, underlying_future(expiration),
                            globex_series(FUTURES_ROOT, month, year))
    if digit_text is None:
        return None
    digit = int(digit_text)
    if (pair, digit) == _EOM_SERIES:
        expiration = last_weekday_of_month(year, month)
        return OptionSeries(root, "end of month", expiration, underlying_future(expiration),
                            globex_series(_GLOBEX_EOM, month, year))
    for first in (1, 6):
        series = _WEEKLY_SERIES.get((pair, first))
        week = digit - first + 1
        if series is None or not 1 <= week <= 5:
            continue
        weekday, label = series
        try:
            expiration = nth_weekday(year, month, weekday, week)
        except ValueError:
            return None
        product = _GLOBEX_WEEKLY[weekday].format(week=week)
        return OptionSeries(root, f"{label}, week {week}", expiration, underlying_future(expiration),
                            globex_series(product, month, year))
    return None


def encode_root(expiration: date) -> str | None:
    """The Barchart root of the NQ series expiring on `expiration` (inverse of `decode_root`).

    3rd Fridays are the monthly `NQ` series; other weekdays the weekly series of the table above.
    None for a week-5 Monday or Thursday, whose root the page did not show.
    """
    month_code = MONTH_CODES[expiration.month - 1]
    year = expiration.year % 10
    week = (expiration.day - 1) // 7 + 1
    weekday = expiration.weekday()
    if weekday == FRIDAY and week == 3:
        return f"{FUTURES_ROOT}{month_code}{year}"
    for (pair, first), (series_weekday, _label) in _WEEKLY_SERIES.items():
        digit = first + week - 1
        if series_weekday == weekday and digit <= 9 and (first == 6 or week <= 5):
            return f"{pair}{digit}{month_code}{year}"
    return None


def nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th `weekday` (0 = Monday) of a month; ValueError when the month has no such day."""
    first = date(year, month, 1)
    day = first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    if day.month != month:
        raise ValueError(f"{calendar.month_name[month]} {year} has no week-{n} {calendar.day_name[weekday]}")
    return day


def last_weekday_of_month(year: int, month: int) -> date:
    """The last Monday-to-Friday day of a month (exchange holidays not applied)."""
    day = date(year, month, calendar.monthrange(year, month)[1])
    while day.weekday() > FRIDAY:
        day -= timedelta(days=1)
    return day


def quarterly_expiration(year: int, month: int) -> date:
    """Expiry of the NQ future of a quarterly month: its 3rd Friday."""
    return nth_weekday(year, month, FRIDAY, 3)


def underlying_future(expiration: date) -> str:
    """The NQ quarterly future (e.g. `NQM25`) an option expiring on `expiration` exercises into."""
    year, month = expiration.year, expiration.month
    while True:
        quarter_month = next((m for m in QUARTERLY_MONTHS if m >= month), None)
        if quarter_month is None:
            year, month = year + 1, 1
            continue
        if quarterly_expiration(year, quarter_month) >= expiration:
            return f"{FUTURES_ROOT}{MONTH_CODES[quarter_month - 1]}{year % 100:02d}"
        year, month = (year + 1, 1) if quarter_month == 12 else (year, quarter_month + 1)


def _resolve_year(text: str, reference: date) -> int:
    if len(text) == 2:
        return 2000 + int(text)
    digit = int(text)
    floor = reference.year - 1
    return floor + (digit - floor) % 10
