"""Atomic writes: the old file survives any failure before the rename; no temp files linger."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tasks.options_trading_system.state import atomic
from tasks.options_trading_system.state.atomic import atomic_open, atomic_write_bytes, atomic_write_text


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_creates_missing_folders_and_content(tmp_path: Path) -> None:
    target = tmp_path / "outputs" / "20250602" / "reports" / "r.txt"
    atomic_write_text(target, "NQ 21,450.25\n")
    assert target.read_text(encoding="utf-8") == "NQ 21,450.25\n"
    assert _leftovers(target.parent) == []


def test_written_files_get_the_ordinary_umask_permissions(tmp_path: Path) -> None:
    # a report must be readable like any file the user creates, not 0600 as mkstemp leaves it
    mask = os.umask(0o022)
    try:
        target = atomic_write_text(tmp_path / "report.html", "<p>ok</p>")
    finally:
        os.umask(mask)
    assert target.stat().st_mode & 0o777 == atomic._CREATE_MODE


def test_write_replaces_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new content")
    assert target.read_bytes() == b"new content"


def test_failure_midway_leaves_old_file_intact(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text('{"old": true}', encoding="utf-8")
    with pytest.raises(RuntimeError, match="disk pulled"):
        with atomic_open(target) as handle:
            handle.write('{"new": ')  # half a document written...
            raise RuntimeError("disk pulled")  # ...then the writer dies
    assert target.read_text(encoding="utf-8") == '{"old": true}'
    assert _leftovers(tmp_path) == []


def test_failed_fsync_leaves_old_file_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.html"
    target.write_text("<p>yesterday</p>", encoding="utf-8")

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(atomic.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        atomic_write_text(target, "<p>today</p>")
    assert target.read_text(encoding="utf-8") == "<p>yesterday</p>"
    assert _leftovers(tmp_path) == []


def test_failed_rename_leaves_old_file_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "raw.json"
    target.write_bytes(b"old capture")

    def broken_replace(src: str | os.PathLike, dst: str | os.PathLike) -> None:
        raise PermissionError(13, "Permission denied", str(dst))

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(PermissionError):
        atomic_write_bytes(target, b"new capture")
    assert target.read_bytes() == b"old capture"
    assert _leftovers(tmp_path) == []


def test_text_is_written_verbatim_without_newline_translation(tmp_path: Path) -> None:
    target = tmp_path / "t.txt"
    atomic_write_text(target, "a\r\nb\n")
    assert target.read_bytes() == b"a\r\nb\n"


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
