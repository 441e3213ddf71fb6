"""Uptime over the stored samples: which samples count, and how."""
from __future__ import annotations

import pandas as pd
import pytest

from tasks.options_trading_system.monitoring.observations import uptime

NOW = pd.Timestamp("2025-06-02T15:00:00Z")


def sample(ts: str | None, *, expected: bool, up: bool) -> dict:
    return {"ts": ts, "run": {"expected": expected, "up": up}}


def test_uptime_counts_only_expected_samples_inside_the_window() -> None:
    history = [
        sample("2025-06-01T14:59:59+00:00", expected=True, up=False),   # 24 h and 1 s old: outside
        sample("2025-06-01T15:00:00+00:00", expected=True, up=True),    # exactly 24 h: inside
        sample("2025-06-02T10:00:00-04:00", expected=True, up=False),   # 14:00 UTC, another offset
        sample("2025-06-02T14:30:00+00:00", expected=False, up=False),  # no run expected: not counted
        sample("not a time", expected=True, up=False),                  # unreadable: not counted
        sample(None, expected=True, up=False),
        sample("2025-06-02T15:00:01+00:00", expected=True, up=False),   # after now: not counted
    ]
    # counted: 15:00 yesterday (up), 14:00 today (down), and the current sample (up) -> 2 of 3
    assert uptime(history, (True, True), now=NOW, window_h=24) == (pytest.approx(200 / 3), 3)


def test_uptime_without_any_expected_sample_is_missing_not_zero() -> None:
    value, count = uptime([sample("2025-06-02T14:00:00+00:00", expected=False, up=False)], (False, False),
                          now=NOW, window_h=24)
    assert count == 0 and value != value  # NaN


def test_uptime_of_the_current_sample_alone() -> None:
    assert uptime([], (True, False), now=NOW, window_h=24) == (0.0, 1)
