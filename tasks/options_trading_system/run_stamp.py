"""One stamp per daily run, so runs started in the same second never overwrite each other's files.

A run's files share one stem, `nq_analysis_<YYYYMMDD>_<HHMMSS>-<pid>`: the trading date the run is
filed under, the New York wall time it started and the id of its process (runs alive at the same
time on one machine never share a process id). Names sort by start time; runs of the same second
sort by process id. The command line reserves its stem by creating the run's log file exclusively
(`reserve_run_log`): should a stem be taken all the same (a second run in one process within one
second, or a folder shared between machines), the next free `-2`, `-3`... suffix is used.

Files of one run: `analysis_exports/<stem>.json`, `reports/<stem>.html`, `reports/<stem>.txt`,
`logs/<stem>.log`.
"""
from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["EXCHANGE_TZ", "STEM_PREFIX", "LOG_SUFFIX", "STEM_PATTERN", "run_stamp", "run_stem", "reserve_run_log",
           "move_run_log"]

EXCHANGE_TZ = "America/New_York"  # file stamps and displayed run times are exchange time
STEM_PREFIX = "nq_analysis"
LOG_SUFFIX = ".log"
MAX_SUFFIX = 1000  # more runs than this sharing one second and process is a bug, not a use
STEM_PATTERN = re.compile(rf"^{STEM_PREFIX}_(?P<date>\d{{8}})_(?P<time>\d{{6}})-(?P<pid>\d+)(?:-(?P<n>\d+))?$")


def run_stamp(started_at: Any, pid: int | None = None) -> str:
    """`HHMMSS-<pid>`: the run's New York start time and its process id (this process by default)."""
    stamp = pd.Timestamp(started_at)
    stamp = (stamp if stamp.tzinfo else stamp.tz_localize("UTC")).tz_convert(EXCHANGE_TZ)
    return f"{stamp:%H%M%S}-{os.getpid() if pid is None else int(pid)}"


def run_stem(run_date: date, stamp: str) -> str:
    """`nq_analysis_<YYYYMMDD>_<stamp>`: the name every file of the run shares."""
    return f"{STEM_PREFIX}_{run_date:%Y%m%d}_{stamp}"


def reserve_run_log(logs_dir: Path, run_date: date, started_at: Any, pid: int | None = None) -> tuple[str, Path]:
    """Create the run's log file exclusively and return (stamp, path); a taken stem gets `-2`, `-3`..."""
    logs_dir = Path(logs_dir)
    logs_dir.mkdir(parents=True, exist_ok=True)
    base = run_stamp(started_at, pid)
    for n in range(1, MAX_SUFFIX + 1):
        stamp = base if n == 1 else f"{base}-{n}"
        path = logs_dir / f"{run_stem(run_date, stamp)}{LOG_SUFFIX}"
        try:
            with open(path, "x", encoding="utf-8"):
                pass
        except FileExistsError:
            continue
        return stamp, path
    raise FileExistsError(f"{logs_dir}: {MAX_SUFFIX} runs already use the stamp {base}")


def move_run_log(log_file: Path, logs_dir: Path, run_date: date, started_at: Any) -> tuple[str, Path]:
    """Refile a reserved run log under another trading date (the data turned out to be of another
    session than the one asked for): reserve the stem there, move what was logged so far onto it,
    and drop the first folder if it is left empty. Returns the new (stamp, path)."""
    stamp, path = reserve_run_log(logs_dir, run_date, started_at)
    os.replace(log_file, path)
    for folder in (log_file.parent, log_file.parent.parent):
        try:
            folder.rmdir()  # only when empty
        except OSError:
            break
    return stamp, path
