"""Snapshot store: each recorded snapshot parsed, validated and given its greeks once, the same
answer from memory, from the disk cache and from the file itself; a changed file or a damaged
cache entry is never trusted."""
from __future__ import annotations

import os
import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.greeks import GreeksConfig
from tasks.options_trading_system.analysis_engine.strategies.feeds.recording import open_recording
from tasks.options_trading_system.analysis_engine.strategies.feeds.snapshot_store import (
    SnapshotStore, parse_snapshot_file)


def _first_snapshot(recording: Path) -> Path:
    opened = open_recording(recording)
    return opened.snapshots_of(opened.days[0])[0].path


def _assert_same(a, b) -> None:
    assert a.error == b.error
    pd.testing.assert_frame_equal(a.chain.frame, b.chain.frame)
    pd.testing.assert_frame_equal(a.chain.quarantine, b.chain.quarantine)
    assert a.chain.meta == b.chain.meta
    assert a.greeks.config == b.greeks.config
    pd.testing.assert_frame_equal(a.greeks.frame, b.greeks.frame)


def test_a_snapshot_is_parsed_once_then_served_from_memory_and_from_disk(small_recording: Path,
                                                                        tmp_path: Path) -> None:
    path = _first_snapshot(small_recording)
    direct = parse_snapshot_file(path, GreeksConfig())
    first = SnapshotStore(greeks=GreeksConfig(), cache_dir=tmp_path)
    loaded = first.load(path)
    assert first.load(path) is loaded and first.parsed == 1 and first.from_disk == 0
    _assert_same(loaded, direct)
    assert {"iv", "delta", "gamma", "atm_iv"} <= set(loaded.greeks.frame.columns)
    assert loaded.greeks.frame["iv"].notna().any()
    again = SnapshotStore(greeks=GreeksConfig(), cache_dir=tmp_path)  # another run, another process
    _assert_same(again.load(path), direct)
    assert again.parsed == 0 and again.from_disk == 1


def test_other_greeks_settings_or_a_changed_file_are_parsed_again(small_recording: Path, tmp_path: Path) -> None:
    copy = tmp_path / "snap.json"
    copy.write_bytes(_first_snapshot(small_recording).read_bytes())
    cache = tmp_path / "cache"
    SnapshotStore(greeks=GreeksConfig(), cache_dir=cache).load(copy)
    other = SnapshotStore(greeks=GreeksConfig(risk_free_rate=0.05), cache_dir=cache)
    assert other.load(copy).greeks.config.risk_free_rate == 0.05 and other.parsed == 1
    text = copy.read_text()
    copy.write_text(text.replace('"source": "sample"', '"source": "edited"', 1))
    os.utime(copy, ns=(copy.stat().st_atime_ns, copy.stat().st_mtime_ns + 1_000_000_000))
    edited = SnapshotStore(greeks=GreeksConfig(), cache_dir=cache)
    assert edited.load(copy).chain.meta.source == "edited" and edited.parsed == 1


def test_a_damaged_cache_entry_is_recomputed(small_recording: Path, tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    path = _first_snapshot(small_recording)
    SnapshotStore(greeks=GreeksConfig(), cache_dir=tmp_path).load(path)
    entries = list(tmp_path.rglob("*.pkl"))
    assert len(entries) == 1
    entries[0].write_bytes(b"not a pickle")
    store = SnapshotStore(greeks=GreeksConfig(), cache_dir=tmp_path)
    _assert_same(store.load(path), parse_snapshot_file(path, GreeksConfig()))
    assert store.parsed == 1 and "unreadable" in caplog.text


def test_threads_sharing_a_store_get_one_answer_and_leave_one_entry(small_recording: Path, tmp_path: Path) -> None:
    paths = [ref.path for day in open_recording(small_recording).days
             for ref in open_recording(small_recording).snapshots_of(day)][:4]
    store = SnapshotStore(greeks=GreeksConfig(), cache_dir=tmp_path)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(store.load, paths * 3))
    for path, parsed in zip(paths * 3, results):
        _assert_same(parsed, store.load(path))
    assert len(list(tmp_path.rglob("*.pkl"))) == len(paths) and not list(tmp_path.rglob("*.tmp"))


def test_a_store_sent_to_another_process_keeps_its_settings_and_cache_but_not_its_memory(
        small_recording: Path, tmp_path: Path) -> None:
    path = _first_snapshot(small_recording)
    store = SnapshotStore(greeks=GreeksConfig(), cache_dir=tmp_path)
    store.load(path)
    copy = pickle.loads(pickle.dumps(store))
    assert copy.greeks == store.greeks and copy.cache_dir == store.cache_dir
    _assert_same(copy.load(path), store.load(path))
    assert copy.from_disk == 1 and copy.parsed == 0  # from the shared cache folder, not parsed again


def test_a_refused_snapshot_says_why_and_has_no_chain(tmp_path: Path) -> None:
    bad = tmp_path / "093000.json"
    bad.write_text("{not json")
    parsed = SnapshotStore(cache_dir=tmp_path / "cache").load(bad)
    assert parsed.chain is None and parsed.greeks is None
    assert parsed.error.startswith("093000.json: ") and "not JSON" in parsed.error
    missing = SnapshotStore().load(tmp_path / "gone.json")
    assert missing.chain is None and "cannot read" in missing.error


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
