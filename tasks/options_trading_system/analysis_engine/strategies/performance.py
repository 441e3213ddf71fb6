"""Measured, never assumed: wall-clock latency of each step and the process's CPU and memory.

`Stopwatch` times a block in milliseconds; `ProcessSampler` reads this process's CPU (percent since
the last sample, and cumulative seconds) and resident memory through psutil. The orchestrator
stores both in the ledger's `perf_*` tables, which a "same ledger" comparison leaves out (they
depend on the machine, not on the market).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import psutil

MB = 1024.0 * 1024.0


class Stopwatch:
    """`with Stopwatch() as sw: ...; sw.ms` (wall time, `clock` injectable)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.ms = float("nan")
        self._start = 0.0

    def __enter__(self) -> "Stopwatch":
        self._start = self.clock()
        return self

    def __exit__(self, *exc: object) -> None:
        self.ms = (self.clock() - self._start) * 1000.0


@dataclass(frozen=True)
class ProcessSample:
    cpu_percent: float
    cpu_seconds: float
    rss_mb: float


class ProcessSampler:
    """CPU and memory of one process (this one by default)."""

    def __init__(self, process: psutil.Process | None = None) -> None:
        self.process = process or psutil.Process()
        self.process.cpu_percent(None)  # primes the counter: the first real sample covers the run since

    def sample(self) -> ProcessSample:
        with self.process.oneshot():
            times = self.process.cpu_times()
            return ProcessSample(cpu_percent=float(self.process.cpu_percent(None)),
                                 cpu_seconds=float(times.user + times.system),
                                 rss_mb=float(self.process.memory_info().rss) / MB)
