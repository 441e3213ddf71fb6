"""One process per run: an exclusive `flock` on `<run dir>/run.lock`, held while the run is open.

The lock belongs to the process: when it exits or dies (even by SIGKILL) the operating system
releases it, so the next `--resume` takes it over without anyone deleting a file. The file also
holds the owner's pid, which is what a refused second process reports.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..errors import RunLockedError

LOCK_FILE = "run.lock"


class RunLock:
    """Held from `acquire()` until `release()` (or the process's end)."""

    def __init__(self, run_dir: Path, run_id: str) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self.run_id = run_id
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        """Take the lock or raise `RunLockedError` naming the process that holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunLockedError(f"run {self.run_id} is already running (pid {holder}); wait for it to end or stop "
                                 f"it, then resume") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:  # a read-only or full disk: the lock itself still goes with the fd
                pass
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
