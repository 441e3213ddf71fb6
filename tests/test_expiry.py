"""Time to expiry: one clock (16:00 New York on the expiration day) for every option model."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.expiry import SECONDS_PER_YEAR, years_to_settlement


def test_a_friday_expiry_seen_on_monday_morning() -> None:
    # 2025-06-06 16:00 EDT = 20:00 UTC; from 2025-06-02 14:00 UTC that is 4 days and 6 hours
    years = years_to_settlement("2025-06-06", pd.Timestamp("2025-06-02T14:00Z"))
    assert years == pytest.approx((4 * 24 + 6) * 3600 / SECONDS_PER_YEAR)


def test_settlement_follows_new_york_daylight_saving() -> None:
    # in January New York is UTC-5: 16:00 EST = 21:00 UTC, one hour from 20:00 UTC
    years = years_to_settlement("2025-01-17", pd.Timestamp("2025-01-17T20:00Z"))
    assert years == pytest.approx(3600 / SECONDS_PER_YEAR)


def test_expired_is_zero_and_missing_stays_missing() -> None:
    years = years_to_settlement(pd.Series(["2025-05-30", None, "2025-06-06"]), pd.Timestamp("2025-06-02T14:00Z"))
    assert years[0] == 0.0 and math.isnan(years[1]) and years[2] > 0
    assert isinstance(years, np.ndarray) and years.dtype == np.float64


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
