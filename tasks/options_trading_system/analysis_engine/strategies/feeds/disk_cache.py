"""Pickled entries on disk, one file per key: what a replay's caches (parsed snapshots, IFD v3.0
day emissions) share.

An entry is `<folder>/<key[:2]>/<key>.pkl` holding `(key, value)`: it is read back only when the
stored key is the one asked for and the value has the expected type, so a damaged, truncated or
foreign file is recomputed, never trusted. Writers use a temporary name of their own (processes
and threads) renamed into place, so a reader sees a whole entry or none. A cache that cannot be
written (full disk, read-only folder) costs speed, never the run. Writes go through
`state.atomic.atomic_open` without its fsyncs: a lost entry is recomputed.

`code_salt` hashes the source text of the modules that decide an entry's content: a change to any
of them gives every key a new value, so a stale entry is never read.
"""
from __future__ import annotations

import hashlib
import logging
import pickle
from pathlib import Path
from types import ModuleType
from typing import Iterable, TypeVar

from ....state.atomic import atomic_open

log = logging.getLogger(__name__)

T = TypeVar("T")


def entry_path(folder: Path, key: str) -> Path:
    """Where the entry of `key` lives under `folder`."""
    return Path(folder) / key[:2] / f"{key}.pkl"


def read_entry(folder: Path | None, key: str, kind: type[T], what: str) -> T | None:
    """The value stored under `key`, or None (no folder, no entry, damaged entry, other key or type)."""
    if folder is None:
        return None
    entry = entry_path(folder, key)
    if not entry.is_file():
        return None
    try:
        with entry.open("rb") as handle:
            stored_key, value = pickle.load(handle)
    except Exception as exc:  # noqa: BLE001 - a damaged entry is recomputed, never trusted
        log.warning("%s cache %s unreadable (%s); computing it again", what, entry, exc)
        return None
    return value if stored_key == key and isinstance(value, kind) else None


def write_entry(folder: Path | None, key: str, value: object, what: str) -> None:
    """Store `value` under `key` (atomically; a failure is logged and the run goes on)."""
    if folder is None:
        return
    entry = entry_path(folder, key)
    try:
        with atomic_open(entry, binary=True, durable=False) as handle:  # a lost entry is only recomputed
            pickle.dump((key, value), handle, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError as exc:  # a full or read-only cache costs speed, not the run
        log.warning("%s cache %s not written (%s); the replay goes on without it", what, entry, exc)


def code_salt(modules: Iterable[ModuleType] = (), files: Iterable[Path] = ()) -> str:
    """A digest of the source text of `modules` and `files` (in the order given)."""
    code = hashlib.sha256()
    paths = [Path(m.__file__) for m in modules if getattr(m, "__file__", None)] + [Path(f) for f in files]
    for path in paths:
        code.update(path.read_bytes())
    return code.hexdigest()
