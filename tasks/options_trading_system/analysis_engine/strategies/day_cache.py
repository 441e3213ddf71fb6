"""A replay day's phase-A result computed once: the key it is kept under on disk.

Phase A (`replay_days.compute_day`) is a pure function of the recording, the day's bars, the
signal sources' settings and the code: every later replay of the same recording with the same
sources (a re-run, a sweep variant that changes only phase-B settings such as validation, cooldown
or risk) would compute the same `DayResult` again. `day_key` names that result by everything it
depends on, so an entry is read back only when nothing it came from changed:

- the day (session and window bounds);
- every file of the recording (manifest, snapshots, MBO days and history, bars) by path, size
  and modification time, and the day's bars themselves (a `--price-path` elsewhere);
- each source's `settings_identity` (a source that cannot give one makes the day uncacheable) and
  the greeks settings of the snapshot store;
- the source text of the whole `options_trading_system` package and the versions of the libraries
  that compute on it (any code change is a new key).

Entries live in `<output_dir>/cache/days/` (`feeds/disk_cache.py`), under the same switch as the
snapshot cache (`shadow_trading.replay.snapshot_cache`).
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from .feeds.disk_cache import code_salt
from .feeds.price_path import PricePath
from .feeds.trading_calendar import TradingDay

DAY_CACHE_FORMAT = "nq-replay-day-cache/1"
DAY_CACHE_DIR = "days"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # tasks/options_trading_system
LIBRARIES = ("numpy", "pandas", "pyarrow", "scipy", "numba", "databento", "databento-dbn")


def day_cache_dir_under(output_dir: Path) -> Path:
    """Where replays under `output_dir` keep computed days: `<output_dir>/cache/days`."""
    return Path(output_dir) / "cache" / DAY_CACHE_DIR


def day_key(day: TradingDay, recording: Path, bars: PricePath, sources: Sequence[Any],
            greeks: Any) -> str | None:
    """The key of `day`'s phase-A result (see the module docstring); None when a source cannot
    describe its settings."""
    identities = [s.settings_identity() for s in sources]
    if any(i is None for i in identities):
        return None
    text = "\x1f".join((DAY_CACHE_FORMAT, repr(day), recording_identity(Path(recording)), bars_identity(bars),
                        *identities, repr(greeks), code_identity()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def recording_identity(root: Path) -> str:
    """Every file under the recording's folder by relative path, size and modification time."""
    entries = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            stat = path.stat()
            entries.append((str(path.relative_to(root)), stat.st_size, stat.st_mtime_ns))
    return repr((str(root.absolute()), sorted(entries)))


def bars_identity(bars: PricePath) -> str:
    """A digest of the day's bars (every array and the source name)."""
    digest = hashlib.sha256(bars.source.encode("utf-8"))
    for values in (bars.start, bars.end, bars.open, bars.high, bars.low, bars.close, bars.volume):
        digest.update(values.tobytes())
    return digest.hexdigest()


@lru_cache(maxsize=1)
def code_identity() -> str:
    """The package's source text and the library versions (once per process)."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "-"
    files = sorted(PACKAGE_ROOT.rglob("*.py"))
    return "\x1f".join((code_salt(files=files), *(f"{n}={installed(n)}" for n in LIBRARIES)))
