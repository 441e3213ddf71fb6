"""How figures read in every report (HTML, text, console): one place, so they always agree.

Each formatter takes a JSON value from the export (a number or None) and returns display text;
None (missing) reads "n/a", never 0.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

__all__ = ["MISSING", "points", "strike", "dollars", "dollars_compact", "count", "percent", "probability", "signed_probability",
           "ratio", "seconds", "millis", "text", "cost", "FILTERS"]

MISSING = "n/a"


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def points(value: Any, decimals: int = 2) -> str:
    """Index points: 21,503.25."""
    number = _number(value)
    return MISSING if number is None else f"{number:,.{decimals}f}"


def strike(value: Any) -> str:
    """A strike: 21,500 (decimals only when it has them)."""
    number = _number(value)
    if number is None:
        return MISSING
    return f"{number:,.0f}" if number.is_integer() else f"{number:,.2f}"


def dollars(value: Any) -> str:
    """Whole dollars: $1,234,567 / -$5,000."""
    number = _number(value)
    if number is None:
        return MISSING
    return f"-${-number:,.0f}" if number < 0 else f"${number:,.0f}"


def cost(value: Any) -> str:
    """Data costs, to the cent (a Databento request is often cents: $0.05, not $0); below a cent,
    four decimals so a real cost never reads as free."""
    number = _number(value)
    if number is None:
        return MISSING
    if 0 < abs(number) < 0.005:
        return f"${number:.4f}"
    return f"-${-number:,.2f}" if number < 0 else f"${number:,.2f}"


def dollars_compact(value: Any) -> str:
    """Dollars for tight spaces: $1.23M, -$450k."""
    number = _number(value)
    if number is None:
        return MISSING
    sign, magnitude = ("-" if number < 0 else ""), abs(number)
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{sign}${magnitude / limit:.3g}{suffix}"
    return f"{sign}${magnitude:,.0f}"


def count(value: Any) -> str:
    """Contracts and other counts: 12,345."""
    number = _number(value)
    return MISSING if number is None else f"{number:,.0f}"


def percent(value: Any, decimals: int = 1) -> str:
    """A fraction as a percentage: 0.2345 -> 23.5%."""
    number = _number(value)
    return MISSING if number is None else f"{number * 100:.{decimals}f}%"


def probability(value: Any) -> str:
    """A probability: 0.634 -> 63.4%."""
    return percent(value, 1)


def signed_probability(value: Any) -> str:
    """An edge in probability: +4.2 pp / -3.0 pp (percentage points)."""
    number = _number(value)
    return MISSING if number is None else f"{number * 100:+.1f} pp"


def ratio(value: Any) -> str:
    """A ratio: 2.35."""
    number = _number(value)
    return MISSING if number is None else f"{number:,.2f}"


def seconds(value: Any) -> str:
    """Durations: 0.012 s."""
    number = _number(value)
    return MISSING if number is None else f"{number:.3f} s"


def millis(value: Any) -> str:
    """Latencies: 153 ms."""
    number = _number(value)
    return MISSING if number is None else f"{number:,.0f} ms"


def text(value: Any) -> str:
    """Any value as text; None reads n/a."""
    return MISSING if value is None else str(value)


FILTERS: Mapping[str, Callable[..., str]] = {
    "points": points, "strike": strike, "dollars": dollars, "cost": cost, "dollars_compact": dollars_compact, "count": count,
    "percent": percent, "probability": probability, "signed_probability": signed_probability, "ratio": ratio,
    "seconds": seconds, "millis": millis, "text": text,
}
