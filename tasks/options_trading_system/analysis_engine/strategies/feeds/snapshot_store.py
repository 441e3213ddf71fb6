"""Recorded chain snapshots parsed once: the validated chain and its greeks, per snapshot file.

A replay reads each snapshot file as JSON, builds the canonical pandas frame, validates it and
runs the greeks stage (Black-76 implied volatility, delta, gamma) before any signal source looks
at it; that is most of a replayed event's cost, and none of it depends on the run. `SnapshotStore`
does it once per file and keeps the result:

- in memory (the last `memory` snapshots: the current one, the previous one the interval volume
  needs, the latest one option quotes read);
- on disk, when given a folder (`<output_dir>/cache/snapshots/` in a replay): one pickle per
  snapshot named by a key over the file's absolute path, size and modification time, the greeks
  settings, the cache format and the source text of the modules that parse, validate and price
  it. A changed file, other settings or changed parsing code give another key, so a stale entry
  is never read; an unreadable entry is recomputed and rewritten. A missing entry is parsed
  under a file lock, so processes that want it at the same time parse it once. Delete the
  folder to reclaim the space.

`load` is pure from the caller's side (a snapshot file in, its parsed chain and greeks out), so a
per-day precompute phase on another process or machine gets the same answer as the serial run.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pandas as pd

from .... import expiry
from ....data_ingestion import canonical
from ....data_ingestion.canonical import OptionsChain, validate_chain
from ....data_ingestion.saved import formats, snapshot_format
from ....data_ingestion.saved.formats import read_capture
from ....errors import ChainValidationError, InputFileError
from ... import black76, greeks as greeks_module, pipeline
from ...greeks import GreeksAnalysis, GreeksConfig
from ...pipeline import AnalysisContext, RunTables
from .disk_cache import code_salt, entry_path, read_entry, write_entry

log = logging.getLogger(__name__)

CACHE_FORMAT = "nq-snapshot-cache/1"
MEMORY_SNAPSHOTS = 8
PARSE_LOCK = ".parse.lock"
#: the modules whose code decides what a cached entry holds: a change to any of them is a new key
_CODE = (canonical, formats, snapshot_format, greeks_module, black76, pipeline, expiry)


@dataclass(frozen=True)
class GreeksTable:
    """A snapshot's chain frame with the greeks stage's columns, and the settings they came from."""

    config: GreeksConfig
    frame: pd.DataFrame


@dataclass(frozen=True)
class ParsedSnapshot:
    """One snapshot file read: the validated chain (raw bytes dropped) and its greeks, or the
    reason the file or chain was refused."""

    chain: OptionsChain | None
    greeks: GreeksTable | None = None
    error: str = ""


def parse_snapshot_file(path: Path, greeks: GreeksConfig | None) -> ParsedSnapshot:
    """Read, validate and (with `greeks`) enrich one snapshot file; refusals become `error`."""
    path = Path(path)
    try:
        chain = validate_chain(read_capture(path))
    except (ChainValidationError, InputFileError) as exc:
        log.warning("replay: snapshot %s refused: %s", path.name, exc)
        return ParsedSnapshot(chain=None, error=f"{path.name}: {exc}")
    chain = dataclasses.replace(chain, raw=None)  # a replay never re-saves the bytes it read
    return ParsedSnapshot(chain=chain, greeks=greeks_table(chain, greeks) if greeks is not None else None)


def greeks_table(chain: OptionsChain, config: GreeksConfig) -> GreeksTable:
    """The greeks stage's enrichment of `chain` (what the pipeline's first stage computes)."""
    ctx = AnalysisContext.from_chain(chain)
    ctx = dataclasses.replace(ctx, tables=RunTables(chain.frame))
    return GreeksTable(config=config, frame=GreeksAnalysis(config).enrich(chain.frame, ctx))


class SnapshotStore:
    """Parsed snapshots by file, computed once (see the module docstring)."""

    def __init__(self, *, greeks: GreeksConfig | None = None, cache_dir: Path | None = None,
                 memory: int = MEMORY_SNAPSHOTS) -> None:
        self.greeks = greeks
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.memory = max(2, int(memory))
        self._memory: OrderedDict[tuple[str, int, int], ParsedSnapshot] = OrderedDict()
        self._lock = threading.Lock()  # a threaded worker may share one store
        self._salt = _salt(greeks)
        self.parsed = 0     # snapshots parsed from their files by this store
        self.from_disk = 0  # snapshots read back from the disk cache

    def __getstate__(self) -> dict[str, object]:
        """Sent to another process (a distributed replay's worker): the settings and the cache
        folder travel; the memory, its lock and the counts (of this process's work) do not."""
        state = dict(self.__dict__)
        state.update(_memory=OrderedDict(), parsed=0, from_disk=0)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def load(self, path: Path) -> ParsedSnapshot:
        """The parsed snapshot of `path` (memory, then disk, then the file itself)."""
        path = Path(path)
        try:
            stat = path.stat()
        except OSError:  # gone or unreadable: the reader says why, nothing is cached
            return parse_snapshot_file(path, self.greeks)
        identity = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if identity in self._memory:
                self._memory.move_to_end(identity)
                return self._memory[identity]
        key = self._key(identity)
        parsed = self._read_disk(key)
        from_disk = parsed is not None
        if parsed is None:
            with self._parsing(key):  # another process parsing the same file: wait, then read its entry
                parsed = self._read_disk(key)
                from_disk = parsed is not None
                if parsed is None:
                    parsed = parse_snapshot_file(path, self.greeks)
                    self._write_disk(key, parsed)
        with self._lock:
            if from_disk:
                self.from_disk += 1
            else:
                self.parsed += 1
            self._memory[identity] = parsed
            while len(self._memory) > self.memory:
                self._memory.popitem(last=False)
        return parsed

    # --- disk ------------------------------------------------------------------------------

    def _key(self, identity: tuple[str, int, int]) -> str:
        text = "\x1f".join((self._salt, *map(str, identity)))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]

    def _entry(self, key: str) -> Path | None:
        return None if self.cache_dir is None else entry_path(self.cache_dir, key)

    @contextlib.contextmanager
    def _parsing(self, key: str) -> Iterator[None]:
        """Held while `key`'s snapshot is parsed and written: an exclusive `flock` on one of 256
        lock files of the cache (by the key's first two characters), so two processes (a sweep's
        variants computing the same day at the same time on two workers) parse a snapshot once
        and the second reads the first's entry. Without a cache folder, or when the lock file
        cannot be opened, nothing is held (the parse is then merely done twice)."""
        entry = self._entry(key)
        fd = None
        if entry is not None:
            try:
                entry.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(entry.parent / PARSE_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:
                log.warning("snapshot cache lock in %s not taken (%s); parsing without it", entry.parent, exc)
                if fd is not None:
                    os.close(fd)
                fd = None
        try:
            yield
        finally:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def _read_disk(self, key: str) -> ParsedSnapshot | None:
        return read_entry(self.cache_dir, key, ParsedSnapshot, "snapshot")

    def _write_disk(self, key: str, parsed: ParsedSnapshot) -> None:
        write_entry(self.cache_dir, key, parsed, "snapshot")


def _salt(greeks: GreeksConfig | None) -> str:
    """What besides the file decides an entry: format, greeks settings, the parsing code."""
    return "\x1f".join((CACHE_FORMAT, repr(greeks), pd.__version__, code_salt(_CODE)))


def cache_dir_under(output_dir: Path) -> Path:
    """Where replays under `output_dir` keep parsed snapshots: `<output_dir>/cache/snapshots`."""
    return Path(output_dir) / "cache" / "snapshots"

