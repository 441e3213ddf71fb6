"""The options' term structure for tick runs: every chain snapshot of a recording, computed once.

A tick run's volatility carry strategy asks, at each bar end, for the options' ATM IV term
structure as of that moment. `TermStructureSource.from_recording` reads every snapshot of a
shadow-style recording (`recording.py`: `chains/YYYY-MM-DD/*.json`), validates it as a replay does,
and computes its front and next expiration ATM IV with the greeks stage
(`analysis_engine/term_structure.py`) before the tick loop starts; `at(ns)` is then a binary
search: the latest snapshot taken at or before `ns` (never a later one), as a `MarketState`.
"""
from __future__ import annotations

import bisect
import logging
from pathlib import Path
from typing import Sequence

from ....errors import ConfigError, InputFileError
from ...greeks import GreeksConfig
from ...term_structure import TermStructure, term_structure
from ..strategies_futures.base import MarketState
from .recording import open_recording
from .snapshot_store import SnapshotStore

log = logging.getLogger(__name__)

NONE = "none"
AUTO = "auto"
DEFAULT_FOLDER = "options"   # `auto`: <replay folder>/options, where `make_sample_data.py ticks` writes its chains


class TermStructureSource:
    """Term structures by snapshot time; `at(ns)` answers as of an instant."""

    def __init__(self, points: Sequence[TermStructure], *, origin: str = "", is_sample: bool = False) -> None:
        usable = sorted((p for p in points if p.complete), key=lambda p: p.as_of_ns)
        self.points = tuple(usable)
        self.skipped = len(points) - len(usable)
        self.origin = origin
        self.is_sample = is_sample
        self._times = [p.as_of_ns for p in self.points]
        self._states = [MarketState(front_atm_iv=p.front_atm_iv, next_atm_iv=p.next_atm_iv,
                                    term_structure_time_ns=p.as_of_ns) for p in self.points]

    @classmethod
    def from_recording(cls, folder: Path, greeks: GreeksConfig = GreeksConfig(),
                       store: SnapshotStore | None = None) -> "TermStructureSource":
        """Every snapshot of the recording at `folder`, its term structure computed now with the
        greeks stage's `greeks` settings (the profile's `pipeline.greeks`). Snapshots are read,
        validated and enriched by a `SnapshotStore` (a replay's own, disk cache included, when
        given with the same greeks settings), exactly as a shadow replay reads them."""
        if store is None or store.greeks != greeks:
            store = SnapshotStore(greeks=greeks)
        recording = open_recording(Path(folder))
        points: list[TermStructure] = []
        refused = 0
        for day in recording.days:
            for ref in recording.snapshots_of(day):
                parsed = store.load(ref.path)
                if parsed.chain is None:
                    log.warning("term structure: snapshot %s refused: %s", ref.path, parsed.error)
                    refused += 1
                    continue
                point = term_structure(parsed.chain, greeks,
                                       parsed.greeks.frame if parsed.greeks is not None else None)
                if not point.complete:
                    log.info("term structure: %s: %s", ref.path, point.note)
                points.append(point)
        if not points:
            raise InputFileError(f"chain recording {folder}: no usable chain snapshot under chains/YYYY-MM-DD/ "
                                 f"({refused} refused); the volatility carry needs them (or set "
                                 f"tick_execution.term_structure.chains to \"none\")")
        source = cls(points, origin=str(folder), is_sample=recording.is_sample)
        log.info("term structure: %d snapshot(s) from %s (%d without front and next ATM IV, %d refused)%s",
                 len(source.points), folder, source.skipped, refused, " [SAMPLE DATA]" if source.is_sample else "")
        return source

    def at(self, ns: int) -> MarketState:
        """The latest term structure taken at or before `ns`; an empty state before the first."""
        i = bisect.bisect_right(self._times, int(ns)) - 1
        return self._states[i] if i >= 0 else MarketState()


def chain_folder(setting: str, replay_dir: Path | None) -> Path | None:
    """The chain recording a run reads (`tick_execution.term_structure.chains`): `none` -> None;
    `auto` -> `<replay>/options` when a replay has one, else None; a path (relative to the replay
    folder when there is one) -> that folder, which must exist."""
    if setting == NONE:
        return None
    if setting == AUTO:
        candidate = Path(replay_dir) / DEFAULT_FOLDER if replay_dir is not None else None
        return candidate if candidate is not None and candidate.is_dir() else None
    path = Path(setting)
    if not path.is_absolute() and replay_dir is not None and (Path(replay_dir) / path).is_dir():
        path = Path(replay_dir) / path
    if not path.is_dir():
        raise ConfigError(f"tick_execution.term_structure.chains: {setting!r} is not a folder (a chain "
                             f"recording with chains/YYYY-MM-DD/*.json, \"auto\" or \"none\")")
    return path
