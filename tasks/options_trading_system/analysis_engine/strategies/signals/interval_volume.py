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
    return apply_interval_volume(current, interval_volume(current, previous))


def interval_volume(current: pd.DataFrame, previous: pd.DataFrame | None) -> np.ndarray | None:
    """The interval volume of each row of `current`; None without a previous snapshot (the day so
    far is the interval). Small enough to travel where the snapshot itself already is."""
    if previous is None or previous.empty:
        return None
    before = previous.drop_duplicates("contract").set_index("contract")["volume"]
    prior = current["contract"].map(before).to_numpy(dtype="float64")
    now = current["volume"].to_numpy(dtype="float64")
    delta = now - np.nan_to_num(prior, nan=0.0)
    return np.where(np.isnan(now) | (delta < 0), np.nan, delta)


def apply_interval_volume(current: pd.DataFrame, interval: np.ndarray | None) -> pd.DataFrame:
    """`current` with `interval` (from `interval_volume`) as its `volume` and `interval_volume`,
    the day's volume in `day_volume`."""
    out = current.copy()
    out["day_volume"] = current["volume"]
    if interval is None:
        out["interval_volume"] = current["volume"]
        return out
    out["volume"] = interval
    out["interval_volume"] = interval
    return out
