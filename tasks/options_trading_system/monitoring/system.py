"""The machine as the monitor sees it: CPU, memory, disk, and how long a process has been up.

This is an edge module (it asks the operating system through psutil); everything it returns is
a measurement, never a stand-in. CPU is a rate, so the first reading of a process is measured
over `cpu_sample_s` seconds and later ones over the time since the previous reading.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import psutil

log = logging.getLogger(__name__)

__all__ = ["SystemProbe", "SystemSample", "process_uptime_s"]


@dataclass(frozen=True)
class SystemSample:
    """One reading of the machine and of the monitoring process itself."""

    cpu_pct: float
    memory_pct: float
    memory_used_mb: float
    disk_pct: float
    disk_free_gb: float
    process_rss_mb: float
    process_uptime_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SystemProbe:
    """Reads CPU, memory and disk (of the volume holding `disk_path`) and this process's uptime."""

    def __init__(self, disk_path: Path, *, cpu_sample_s: float, clock: Callable[[], float] = time.time) -> None:
        self.disk_path = Path(disk_path)
        self.cpu_sample_s = cpu_sample_s
        self.clock = clock
        self._process = psutil.Process()
        self._last_cpu_at: float | None = None

    def sample(self) -> SystemSample:
        """One reading. CPU covers the time since the previous reading, or (first reading, or one sooner
        than `cpu_sample_s` after the last) a blocking `cpu_sample_s` interval, never a zero-length one."""
        since_last = None if self._last_cpu_at is None else self.clock() - self._last_cpu_at
        if since_last is not None and since_last >= self.cpu_sample_s:
            cpu = psutil.cpu_percent(interval=None)  # averaged since the previous reading
        else:
            cpu = psutil.cpu_percent(interval=self.cpu_sample_s)
        self._last_cpu_at = self.clock()
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage(str(_existing_ancestor(self.disk_path)))
        return SystemSample(
            cpu_pct=float(cpu),
            memory_pct=float(memory.percent),
            memory_used_mb=round((memory.total - memory.available) / 2**20, 1),
            disk_pct=float(disk.percent),
            disk_free_gb=round(disk.free / 2**30, 2),
            process_rss_mb=round(self._process.memory_info().rss / 2**20, 1),
            process_uptime_s=round(self.clock() - self._process.create_time(), 1),
        )


def process_uptime_s(pid: int, now_epoch: float) -> float | None:
    """Seconds since process `pid` started, or None when no such process is running."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return round(now_epoch - process.create_time(), 1)
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def _existing_ancestor(path: Path) -> Path:
    """The folder itself, or its nearest parent that exists (outputs/ may not exist yet)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")
