"""Contract names in one convention across sources: CME Globex's.

CME Globex names an option `<series> <C|P><strike>`, the series being the product code, the
contract month code and the last digit of its year: `NQM5 C21500` (the June 2025 quarterly
option), `Q1AM5 P21000` (Monday weekly, week 1 of June 2025), `QN2F6 C22000` (Friday weekly,
week 2), `QNEM5 C21500` (end of month). That is what Databento's GLBX.MDP3 raw symbols are
already, so every CME source uses it: Barchart's `MC6M5|21500C` is named `Q1AM5 C21500`.

A proxy that is not a CME product has no Globex code; its series is its ticker and the
expiration date, `NDX250606 C21500`, so it reads the same way and never passes for NQ.
Strikes are written in index points without a trailing `.0` (`21512.5` keeps its half).
"""
from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

import pandas as pd

__all__ = ["MONTH_CODES", "NAME_PATTERN", "strike_text", "globex_series", "globex_name", "proxy_name"]

MONTH_CODES = "FGHJKMNQUVXZ"  # CME month codes, January..December
NAME_PATTERN = re.compile(r"^(?P<series>[A-Z][A-Z0-9]*) (?P<right>[CP])(?P<strike>\d+(?:\.\d+)?)$")


def strike_text(strike: Any) -> str:
    """A strike as it appears in a name: `21500`, `21512.5`."""
    value = float(strike)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"strike {strike!r}: expected a finite, non-negative number")
    return f"{value:.6f}".rstrip("0").rstrip(".")


def globex_series(product: str, month: int, year: int) -> str:
    """`NQ`, June 2025 -> `NQM5`: product code, month code, last digit of the year."""
    return f"{product}{MONTH_CODES[int(month) - 1]}{int(year) % 10}"


def globex_name(series: str, right: str, strike: Any) -> str:
    """`Q1AM5`, `C`, 21500.0 -> `Q1AM5 C21500`."""
    return f"{series} {_right(right)}{strike_text(strike)}"


def proxy_name(symbol: str, expiration: date | str | pd.Timestamp, right: str, strike: Any) -> str:
    """A non-CME option: `NDX`, 2025-06-06, `C`, 21500 -> `NDX250606 C21500`."""
    ticker = str(symbol).split(":", 1)[-1].upper()
    return f"{ticker}{pd.Timestamp(expiration):%y%m%d} {_right(right)}{strike_text(strike)}"


def _right(right: str) -> str:
    text = str(right).upper()
    if text not in ("C", "P"):
        raise ValueError(f"right {right!r}: expected C or P")
    return text
