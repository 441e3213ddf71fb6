"""Clocks: simulated time jumps (or is paced) and never runs backwards; waits can be interrupted."""
from __future__ import annotations

import threading

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.feeds.clock import RealClock, SimulatedClock

T = pd.Timestamp("2025-06-02 13:30", tz="UTC")


def test_simulated_time_jumps_to_the_wake_up_time() -> None:
    clock = SimulatedClock(T)
    assert clock.sleep_until(T + pd.Timedelta(hours=6), threading.Event())
    assert clock.now() == T + pd.Timedelta(hours=6) and clock.waits == 1


def test_simulated_time_never_runs_backwards() -> None:
    clock = SimulatedClock(T)
    clock.advance_to(T - pd.Timedelta(minutes=5))
    assert clock.now() == T


def test_naive_times_are_read_as_utc() -> None:
    assert SimulatedClock(pd.Timestamp("2025-06-02 13:30")).now() == T


def test_a_set_stop_interrupts_every_wait() -> None:
    stop = threading.Event()
    stop.set()
    assert SimulatedClock(T, speed=1.0).sleep_until(T + pd.Timedelta(days=1), stop) is False
    real = RealClock(now=lambda: T)   # a frozen wall clock: without the stop this would wait forever
    assert real.sleep_until(T + pd.Timedelta(days=1), stop) is False


def test_the_real_clock_returns_at_once_when_the_time_has_come() -> None:
    assert RealClock(now=lambda: T).sleep_until(T - pd.Timedelta(seconds=1)) is True


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
