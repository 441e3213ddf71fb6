"""What paces live cycles: "run a cycle every N seconds".

- `ScheduleCycleTimer`: real time, driven by the `schedule` library (a job every N seconds;
  `run_pending` polled in short interruptible slices).
- `ClockCycleTimer`: the same contract over any `Clock`, so a test drives live mode with a
  simulated clock (the `schedule` library reads the wall clock and cannot be given another).
"""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod

import pandas as pd
import schedule

from .clock import WAIT_SLICE_S, Clock


class CycleTimer(ABC):
    """Waits for the next cycle."""

    @abstractmethod
    def wait_next(self, stop: threading.Event) -> bool:
        """Block until the next cycle is due; False if `stop` was set first."""


class ScheduleCycleTimer(CycleTimer):
    """Real-time cycles every `seconds`, from a private `schedule.Scheduler`."""

    def __init__(self, seconds: int) -> None:
        self.seconds = int(seconds)
        self._scheduler = schedule.Scheduler()
        self._due = threading.Event()
        self._scheduler.every(self.seconds).seconds.do(self._due.set)

    def wait_next(self, stop: threading.Event) -> bool:
        self._due.clear()
        while not self._due.is_set():
            self._scheduler.run_pending()
            if self._due.is_set():
                break
            idle = self._scheduler.idle_seconds
            wait = WAIT_SLICE_S if idle is None else max(0.0, min(idle, WAIT_SLICE_S))
            if stop.wait(wait):
                return False
        return True


class ClockCycleTimer(CycleTimer):
    """Cycles every `seconds` of `clock` time: the next cycle is due `seconds` after the last."""

    def __init__(self, clock: Clock, seconds: int) -> None:
        self.clock = clock
        self.seconds = int(seconds)
        self._last: pd.Timestamp | None = None

    def wait_next(self, stop: threading.Event) -> bool:
        base = self._last if self._last is not None else self.clock.now()
        due = base + pd.Timedelta(seconds=self.seconds)
        if due < self.clock.now():
            due = self.clock.now()
        ok = self.clock.sleep_until(due, stop)
        self._last = due
        return ok
