"""Time, passed in: the orchestrator asks a `Clock` for "now" and to wait; it never reads the
wall clock itself, so a replay and a test run the exact code a live run runs.

- `RealClock`: wall time (UTC); waits really wait (interruptibly, in short slices).
- `SimulatedClock`: time is whatever the replay (or a test) says; waiting jumps forward at once,
  or, with `speed` > 0, after (simulated seconds / speed) real seconds.
"""
from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from typing import Callable

import pandas as pd

#: longest single real sleep, so a stop request is noticed promptly
WAIT_SLICE_S = 0.5


class Clock(ABC):
    """A source of the current time (tz-aware UTC) that can wait until a given time."""

    @abstractmethod
    def now(self) -> pd.Timestamp:
        """The current time, tz-aware UTC."""

    @abstractmethod
    def sleep_until(self, when: pd.Timestamp, stop: threading.Event | None = None) -> bool:
        """Wait until `when`; False if `stop` was set first (the caller should wind down)."""


class RealClock(Clock):
    """Wall-clock time. `now()` is injectable for tests of the waiting logic."""

    def __init__(self, *, now: Callable[[], pd.Timestamp] | None = None) -> None:
        self._now = now or (lambda: pd.Timestamp.now(tz="UTC"))

    def now(self) -> pd.Timestamp:
        return self._now()

    def sleep_until(self, when: pd.Timestamp, stop: threading.Event | None = None) -> bool:
        stop = stop or threading.Event()
        while True:
            remaining = (when - self.now()).total_seconds()
            if remaining <= 0:
                return True
            if stop.wait(min(remaining, WAIT_SLICE_S)):
                return False


class SimulatedClock(Clock):
    """Simulated time. Never goes backwards. `speed` 0 = jump instantly; X = X sim seconds per
    real second (the real wait is interruptible by `stop`)."""

    def __init__(self, start: pd.Timestamp, *, speed: float = 0.0) -> None:
        self._now = _utc(start)
        self.speed = float(speed)
        self.waits = 0  # how many times someone waited: lets a test see that a wait happened

    def now(self) -> pd.Timestamp:
        return self._now

    def advance_to(self, when: pd.Timestamp) -> None:
        """Move time forward to `when` (no-op if `when` is not later)."""
        when = _utc(when)
        if when > self._now:
            self._now = when

    def sleep_until(self, when: pd.Timestamp, stop: threading.Event | None = None) -> bool:
        when = _utc(when)
        self.waits += 1
        if stop is not None and stop.is_set():
            return False
        if self.speed > 0 and when > self._now:
            real = (when - self._now).total_seconds() / self.speed
            deadline = time.monotonic() + real
            stop = stop or threading.Event()
            while (left := deadline - time.monotonic()) > 0:
                if stop.wait(min(left, WAIT_SLICE_S)):
                    return False
        self.advance_to(when)
        return True


def _utc(ts: pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(ts)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
