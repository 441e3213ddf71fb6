"""Interval volume: what traded between two snapshots of the same day, missing where it cannot be read."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.signals.interval_volume import with_interval_volume


def test_interval_volume_is_the_growth_since_the_previous_snapshot() -> None:
    previous = pd.DataFrame({"contract": ["A", "B", "C", "D"], "volume": [100.0, np.nan, 50.0, 10.0]})
    current = pd.DataFrame({"contract": ["A", "B", "C", "D", "E"], "volume": [160.0, 30.0, 40.0, np.nan, 7.0]})
    out = with_interval_volume(current, previous)
    # A grew 60; B had none yet (N/A): all 30 traded since; C fell (a vendor correction): unreadable;
    # D has no volume now: missing; E is new: all 7 traded since
    assert out["volume"].tolist()[:2] == [60.0, 30.0]
    assert np.isnan(out["volume"].iloc[2]) and np.isnan(out["volume"].iloc[3])
    assert out["volume"].iloc[4] == 7.0
    assert out["day_volume"].tolist()[:3] == [160.0, 30.0, 40.0]


def test_the_first_snapshot_of_the_day_uses_the_day_so_far() -> None:
    current = pd.DataFrame({"contract": ["A"], "volume": [160.0]})
    out = with_interval_volume(current, None)
    assert out["volume"].iloc[0] == 160.0 and out["interval_volume"].iloc[0] == 160.0


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
