"""Phase A of a replay: one recorded day's signal ideas, computed from the recording alone.

What a day's signals are made of is data, never the run's own outcomes: the day's chain snapshots
(parsed, validated, interval volume), each chain source's ideas on them (greeks, EV, IFD v1.0),
the IFD v3.0 emissions over the day's MBO with baselines built from the recorded earlier days'
MBO files, and the price path. So each day can be computed on its own, on any machine that reads
the recording at the same path, in any order, more than once (`compute_day` writes nothing but
IFD v3.0's baseline cache). Everything that does depend on earlier days' outcomes (the validation's
history, the risk engine, open positions, the cooldown against recent signals) is phase B: the
orchestrator on the driver, consuming these results in day order (`feeds/phased_replay_feed.py`).

`DayResult` is what crosses the process boundary: the day's event plan and, per event, the loaded
data with the ideas already attached (`EventData.ideas`), plus the newest chain at each event's time
(the context an MBO event and an option entry need).
"""
from __future__ import annotations

import atexit
import contextlib
import copy
import dataclasses
import hashlib
import logging
import os
import pickle
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from ...data_ingestion.canonical import OptionsChain
from .feeds.clock import SimulatedClock
from .feeds.market_events import EVENT_CLOSE, EVENT_MBO, EventData, MarketEvent
from .feeds.price_path import PricePath
from .feeds.recording import Recording, open_recording
from .feeds.replay_feed import ReplayFeed
from .day_cache import day_key
from .feeds.disk_cache import read_entry, write_entry
from .feeds.snapshot_store import SnapshotStore
from .feeds.trading_calendar import TradingDay
from .performance import Stopwatch
from .signals import SignalInput, SignalSource
from .signals.interval_volume import apply_interval_volume, interval_volume

log = logging.getLogger(__name__)

RECORDING_CACHE = 4


@dataclass(frozen=True)
class DayTask:
    """One day of one run (or sweep variant) to compute. `baseline_dir` is where IFD v3.0 keeps its
    baseline store: the run's folder when the task runs in the driver's process, None for a private
    folder of whichever process runs it (a cluster worker)."""

    run_key: str
    day: TradingDay
    recording: Path
    bars: PricePath
    sources: tuple[SignalSource, ...]
    baseline_dir: Path | None = None
    #: each snapshot parsed, validated and enriched with greeks once (`feeds/snapshot_store.py`:
    #: pickled to a worker, its disk cache travels when the worker sees the same folder)
    snapshots: SnapshotStore | None = None
    #: IFD v3.0's day emissions computed once per recording and settings (`<output_dir>/cache/ifd_v3`,
    #: `IfdV3SignalSource.replay_day`); None computes them every time
    mbo_cache: Path | None = None
    #: the whole day's result computed once per recording, bars, sources and code
    #: (`<output_dir>/cache/days`, `day_cache.py`); None computes it every time
    day_cache: Path | None = None

    @property
    def key(self) -> str:
        return f"{self.run_key}/{self.day.label}"

    def content_key(self) -> str:
        """What this day's phase-A result is made of, as a name: the day, the recording's path, the
        day's bars, the sources and their settings, the greeks the snapshots are enriched with.
        Two tasks with the same content key compute the same result (a sweep's variants that
        differ only in phase-B settings: validation, cooldown, execution), so a cluster computes
        it once for both. The run, the baseline folder and the snapshot cache's folder are left
        out: they say where caches live, not what is computed. Equal pickled bytes mean equal
        inputs; unequal bytes of equal inputs only cost the sharing, never a wrong result."""
        greeks = self.snapshots.greeks if self.snapshots is not None else None
        inputs = (self.day, str(self.recording), self.bars, self.sources, self.snapshots is None, greeks)
        digest = hashlib.sha256(pickle.dumps(inputs, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()[:20]
        return f"{digest}-{self.day.label}"


@dataclass(frozen=True)
class DayResult:
    """A day's phase-A result (see the module docstring); `compute_ms` is the wall time it took."""

    label: str
    events: tuple[MarketEvent, ...]
    data: dict[int, EventData]
    latest: dict[pd.Timestamp, OptionsChain | None]
    notes: tuple[str, ...] = ()
    latency: dict[str, float] = field(default_factory=dict)
    compute_ms: float = float("nan")


def task_key(task: DayTask) -> str:
    return task.key


def task_content_key(task: DayTask) -> str:
    return task.content_key()


def compute_day(task: DayTask) -> DayResult:
    """The day's events and, for each, its data and every source's ideas (pure but for reading the
    recording and IFD v3.0's baseline cache). With `task.day_cache`, a day computed before with
    the same recording, bars, sources and code is read back (`_read_back`) instead."""
    started = time.perf_counter()
    key = day_key(task.day, task.recording, task.bars, task.sources,
                  task.snapshots.greeks if task.snapshots is not None else None) if task.day_cache else None
    if key is not None:
        cached = read_entry(task.day_cache, key, DayResult, "replay day")
        if cached is not None:
            return _read_back(cached, (time.perf_counter() - started) * 1000.0)
    with contextlib.ExitStack() as leases:
        result = _compute_day(task, started, leases)
    if key is not None:
        write_entry(task.day_cache, key, result, "replay day")
    return result


def _read_back(result: DayResult, read_ms: float) -> DayResult:
    """A cached day without the timings of the run that computed it: this run loaded no snapshot
    and ran no source or IFD v3.0 day replay, so it records none of those latencies (the perf
    tables hold only what this run measured); `compute_ms` is the read."""
    data = {index: dataclasses.replace(item, load_ms=float("nan"), idea_ms={}) for index, item in result.data.items()}
    return dataclasses.replace(result, data=data, latency={}, compute_ms=read_ms)


def _compute_day(task: DayTask, started: float, leases: contextlib.ExitStack) -> DayResult:
    day = task.day
    sources = [copy.copy(s) for s in task.sources]  # bound below: a thread of the same process may share them
    mbo_sources = [s for s in sources if s.event_kind == EVENT_MBO]
    recording = _recording(task.run_key, task.recording)
    files = recording.mbo_of(day.session)
    for source in mbo_sources:
        if task.baseline_dir is not None:
            source.bind(task.baseline_dir)
        elif files:  # shared by every run and variant this process computes with the same MBO files and settings
            source.bind(leases.enter_context(_private_dir(source.baseline_fingerprint(Path(files[0]).parent))))
    feed = ReplayFeed(recording, task.bars, SimulatedClock(day.window_open),
                      mbo_batch=mbo_batch(mbo_sources, task.mbo_cache) if mbo_sources else None, snapshots=task.snapshots)
    events = tuple(feed.plan(day))
    data: dict[int, EventData] = {}
    latest: dict[pd.Timestamp, OptionsChain | None] = {}
    light = _Lightened()
    for event in events:
        if event.kind == EVENT_CLOSE:
            continue
        loaded = feed.load(event)
        data[event.index] = _event_data(dataclasses.replace(loaded, chain=light(loaded.chain)), event, task.bars,
                                        sources)
        if event.time not in latest:
            latest[event.time] = light(feed.latest_chain(event.time))
    return DayResult(label=day.label, events=events, data=data, latest=latest, notes=tuple(feed.day_notes(day)),
                     latency=feed.day_latency(day), compute_ms=(time.perf_counter() - started) * 1000.0)


def mbo_batch(mbo_sources: Sequence[Any], cache_dir: Path | None = None) -> Any:
    """The replay feed's IFD v3.0 step: every MBO source's emissions over a day's MBO files (read
    from `cache_dir` when an earlier replay computed them)."""
    def run(day: TradingDay, files: Any) -> pd.DataFrame:
        frames = [s.replay_day(day, files, cache_dir=cache_dir) for s in mbo_sources]
        frames = [f for f in frames if f is not None and not f.empty]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return run


def _event_data(data: EventData, event: MarketEvent, bars: PricePath, sources: Sequence[SignalSource]) -> EventData:
    """The loaded event with what the orchestrator would compute from it: the interval volume and
    each source's ideas at the price of the bar that ended at or before the event (no ideas without
    a price: the orchestrator then generates none either)."""
    volumes = interval_volume(data.chain.frame, data.previous) if data.chain is not None else None
    interval = apply_interval_volume(data.chain.frame, volumes) if data.chain is not None else None
    ideas: dict[str, pd.DataFrame] = {}
    idea_ms: dict[str, float] = {}
    price, _ = bars.last_close(event.time)
    if np.isfinite(price):
        inputs = SignalInput(time=event.time, price=price, chain=data.chain, greeks=data.greeks,
                             interval_chain=interval, mbo_signals=data.mbo_signals)
        for source in sources:
            if source.event_kind != event.kind:
                continue
            with Stopwatch() as watch:
                ideas[source.name] = source.generate(inputs)
            idea_ms[source.name] = watch.ms
    # the previous snapshot and the greeks served only the interval volume and the ideas: they do not travel back
    return dataclasses.replace(data, previous=None, greeks=None, ideas=ideas, idea_ms=idea_ms,
                               interval_volume=volumes)


class _Lightened:
    """Chains without their raw file bytes (the driver never reads them; they are most of a
    snapshot's size on the wire), one copy per snapshot file even when the feed parsed it twice, so
    a chain met at several events travels once."""

    def __init__(self) -> None:
        self._done: dict[tuple[str, str], OptionsChain] = {}

    def __call__(self, chain: OptionsChain | None) -> OptionsChain | None:
        if chain is None or chain.raw is None:
            return chain
        key = (chain.raw.filename, chain.meta.as_of.isoformat())
        if key not in self._done:
            self._done[key] = dataclasses.replace(chain, raw=None)
        return self._done[key]


# --- per-process caches (a worker computes many days of the same run) -----------------------

_recordings: OrderedDict[tuple[str, Path], Recording] = OrderedDict()
_private_root: Path | None = None
_free_dirs: dict[str, list[Path]] = {}  # baseline folders not lent out, by fingerprint
_made_dirs: dict[str, int] = {}
_lock = threading.Lock()


def _recording(run_key: str, root: Path) -> Recording:
    key = (run_key, Path(root))
    with _lock:
        if key in _recordings:
            _recordings.move_to_end(key)
            return _recordings[key]
    recording = open_recording(Path(root))
    with _lock:
        _recordings[key] = recording
        while len(_recordings) > RECORDING_CACHE:
            _recordings.popitem(last=False)
    return recording


@contextlib.contextmanager
def _private_dir(fingerprint: str) -> Iterator[Path]:
    """A folder of this process for the IFD v3.0 baseline store of `fingerprint` (a store is a
    cache of recorded days' MBO statistics), lent to one task at a time: a task running on another
    thread of the same process gets another folder, a later task reuses a returned one (a worker
    runs its tasks on whichever pool thread is free, so folders per thread would record the MBO
    history again and again); two workers never share one file. Removed at exit."""
    global _private_root
    with _lock:
        if _private_root is None:
            _private_root = Path(tempfile.mkdtemp(prefix=f"nq-shadow-day-{os.getpid()}-"))
            atexit.register(shutil.rmtree, _private_root, True)
        free = _free_dirs.setdefault(fingerprint, [])
        if free:
            folder = free.pop()
        else:
            _made_dirs[fingerprint] = _made_dirs.get(fingerprint, 0) + 1
            folder = _private_root / fingerprint / str(_made_dirs[fingerprint])
            folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    finally:
        with _lock:
            _free_dirs[fingerprint].append(folder)
