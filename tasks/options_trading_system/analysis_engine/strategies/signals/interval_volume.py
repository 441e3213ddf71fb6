"""Intraday volume between two snapshots of the same day: what traded since the previous one.

Vendors publish the day's cumulative volume per contract. The interval volume is the current
volume minus the previous snapshot's. A contract with no volume yet in the previous snapshot
(N/A) or absent from it traded its whole current volume in the interval; a decrease (a vendor
reset or a correction) cannot be read as flow and is NaN; no current volume stays NaN. With no
previous snapshot (the first of the day) the interval is the day so far.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def with_interval_volume(current: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """`current` with `volume` replaced by the interval volume and the day's in `day_volume`."""
    out = current.copy()
    out["day_volume"] = current["volume"]
    if previous is None or previous.empty:
        out["interval_volume"] = current["volume"]
        return out
    before = previous.drop_duplicates("contract").set_index("contract")["volume"]
    prior = current["contract"].map(before).to_numpy(dtype="float64")
    now = current["volume"].to_numpy(dtype="float64")
    delta = now - np.nan_to_num(prior, nan=0.0)
    interval = np.where(np.isnan(now) | (delta < 0), np.nan, delta)
    out["volume"] = interval
    out["interval_volume"] = interval
    return out
