"""Figures as the dashboard shows them; missing reads 'missing', never 0."""
from __future__ import annotations

import math

import pytest

from tasks.options_trading_system.monitoring.formatting import (duration, local_time, num, pct, ratio_pct,
                                                                signed_usd, usd)


def test_money_reads_with_sign_and_cents() -> None:
    assert usd(1234.5) == "$1,234.50" and usd(-60.25) == "-$60.25"
    assert signed_usd(45) == "+$45.00" and signed_usd(-60.25) == "-$60.25" and signed_usd(0) == "$0.00"


def test_missing_is_never_zero() -> None:
    for formatter in (usd, signed_usd, pct, ratio_pct, num, duration):
        assert formatter(None) == "missing" and formatter(math.nan) == "missing"
    assert local_time(None, "America/New_York") == "missing"


def test_shares_percents_counts_and_durations() -> None:
    assert ratio_pct(1 / 3) == "33.3%" and pct(38.75) == "38.8%" and num(12345.6) == "12,346"
    assert duration(42) == "42s" and duration(250) == "4m 10s" and duration(7500) == "2h 05m"
    assert duration(3 * 86400 + 4 * 3600) == "3d 4h"


def test_times_show_in_the_exchange_time_zone() -> None:
    assert local_time("2023-11-21T15:20:00Z", "America/New_York") == "2023-11-21 10:20:00 EST"
    assert local_time("2025-06-02T14:00:00+00:00", "America/New_York", "%H:%M") == "10:00 EDT"


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
