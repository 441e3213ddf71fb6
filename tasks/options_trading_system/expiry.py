"""When NQ options stop trading, as a year fraction: the clock every option model here uses.

CME's NQ options (quarterly, monthly, weekly and daily series alike) are treated as settling at
16:00 New York on their expiration day; time to expiry is calendar time to that moment over a
365-day year, never negative. The pipeline's greeks, the shadow trader's option exits and the
monitor's open option positions all read it here, so they price with the same clock.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

SETTLEMENT_TZ = "America/New_York"
SETTLEMENT_HOUR = 16
SECONDS_PER_YEAR = 365.0 * 24 * 3600

__all__ = ["SETTLEMENT_TZ", "SETTLEMENT_HOUR", "SECONDS_PER_YEAR", "years_to_settlement"]


def years_to_settlement(expiration: Any, as_of: Any) -> Any:
    """Years from `as_of` (tz-aware) to each expiration's settlement; 0 once it has passed.

    `expiration`: a date, its ISO string, or a Series/array of them (missing -> NaN). Returns a
    float for a single expiration, else a float64 array in the same order.
    """
    single = np.ndim(expiration) == 0
    dates = pd.to_datetime(pd.Series([expiration] if single else list(expiration)), errors="coerce")
    settle = dates.dt.tz_localize(SETTLEMENT_TZ) + pd.Timedelta(hours=SETTLEMENT_HOUR)
    seconds = (settle - pd.Timestamp(as_of)).dt.total_seconds().to_numpy(dtype="float64")
    years = np.maximum(seconds, 0.0) / SECONDS_PER_YEAR
    return float(years[0]) if single else years
