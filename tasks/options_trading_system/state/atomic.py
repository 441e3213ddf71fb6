"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Every output of the daily run goes through here. The new content is written to a temporary
file in the destination's own folder (so the final rename never crosses file systems), flushed
and fsync'd, then `os.replace`d over the destination; the folder is fsync'd too, so the rename
survives a crash. If anything fails before the rename, the temporary file is removed and the
old destination is left exactly as it was.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

log = logging.getLogger(__name__)

__all__ = ["atomic_open", "atomic_write_bytes", "atomic_write_text"]


def _umask_mode() -> int:
    """The mode `open()` would give a new file: 0o666 less the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_CREATE_MODE = _umask_mode()


@contextlib.contextmanager
def atomic_open(path: Path, *, binary: bool = False, encoding: str = "utf-8", durable: bool = True) -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; on a clean exit it replaces `path`.

    An exception inside the `with` block (or during fsync/rename) discards the temporary file,
    leaves `path` untouched and propagates. Missing parent folders are created. `durable=False`
    skips the fsyncs (still all or nothing for readers, but a crash may lose the file): for
    entries whose loss costs only recomputing them, such as the replay caches.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        mode = "wb" if binary else "w"
        with os.fdopen(fd, mode, **({} if binary else {"encoding": encoding, "newline": ""})) as handle:
            yield handle
            handle.flush()
            os.fchmod(handle.fileno(), _CREATE_MODE)  # mkstemp makes 0600; reports are ordinary files
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if durable:
        _fsync_dir(path.parent)
    log.debug("wrote %s", path)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` atomically; returns `path`."""
    with atomic_open(path, binary=True) as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically; returns `path`."""
    with atomic_open(path, encoding=encoding) as handle:
        handle.write(text)
    return Path(path)


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
