"""Preloaded into every worker process of the replay's LocalCluster (`day_executors.py`).

Ctrl-C in the terminal reaches the whole process group: the driver stops the run after the
current event (and a second Ctrl-C aborts), then closes the cluster. The workers ignore it, so a
first Ctrl-C does not kill them mid-task and make the scheduler redo their days for nothing.
"""
from __future__ import annotations

import signal
import threading
from typing import Any


def dask_setup(worker: Any) -> None:
    """distributed's preload hook: runs once in each worker process as it starts."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
