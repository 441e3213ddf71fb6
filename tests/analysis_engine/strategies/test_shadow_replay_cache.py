"""A replay with its disk caches kept (parsed snapshots, IFD v3.0 day emissions, whole computed
days: the first run computing and writing them, the second reading them) writes exactly the ledger
of a replay that parses every snapshot, replays every MBO day and runs every source every time."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tasks.options_trading_system.analysis_engine.strategies.shadow_run import RunHooks, ShadowRunRequest, start_run
from tasks.options_trading_system.state.ledger import dump_state

#: the two profiles differ in name and in replay.snapshot_cache: everything else must be equal
IGNORE = {"runs": ["run_id", "profile", "config_json"]}


def _replay(recording: Path, out: Path, run_id: str, profile: str) -> Path:
    result = start_run(ShadowRunRequest(profile=profile, replay=recording, days=2, output_dir=out, run_id=run_id),
                       RunHooks())
    assert result.status == "completed"
    return result.run_dir / "ledger.sqlite"


def test_cached_replays_write_the_ledger_of_the_uncached_one(small_recording: Path, tmp_path: Path) -> None:
    uncached = tmp_path / "no_cache.json"
    uncached.write_text(json.dumps({"description": "shadow trading, every snapshot parsed every time (test)",
                                    "extends": "shadow_trading",
                                    "shadow_trading": {"replay": {"snapshot_cache": False}}}))
    reference = dump_state(_replay(small_recording, tmp_path / "plain", "plain", str(uncached)), ignore_columns=IGNORE)
    assert not (tmp_path / "plain" / "cache").exists()
    cached = tmp_path / "cached"
    cold = dump_state(_replay(small_recording, cached, "cold", "shadow_trading"), ignore_columns=IGNORE)
    entries = sorted((cached / "cache" / "snapshots").rglob("*.pkl"))
    assert len(entries) == sum(1 for _ in (small_recording / "chains").rglob("*.json"))
    days = sorted((cached / "cache" / "ifd_v3").rglob("*.pkl"))
    assert len(days) == 2  # each replayed day's IFD v3.0 emissions
    warm = dump_state(_replay(small_recording, cached, "warm", "shadow_trading"), ignore_columns=IGNORE)
    assert sorted((cached / "cache" / "snapshots").rglob("*.pkl")) == entries  # read, not written again
    assert sorted((cached / "cache" / "ifd_v3").rglob("*.pkl")) == days
    assert not (cached / "runs" / "warm" / "ifd_v3_ifd_v3_baselines.sqlite").exists()  # no MBO day replayed
    assert len(list((cached / "cache" / "days").rglob("*.pkl"))) == 2  # each day's whole phase-A result
    # the warm run computed no idea and loaded no snapshot: its perf tables hold only what it measured
    with sqlite3.connect(cached / "runs" / "warm" / "ledger.sqlite") as db:
        steps = {row[0] for row in db.execute("SELECT DISTINCT metric FROM perf_latency")}
    assert "cycle" in steps and not any(s.startswith("algorithm:") or s == "data_load" for s in steps)
    assert cold == reference and warm == reference
    assert reference["signals"] and any(row[5] == "ev" for row in reference["signals"])  # EV read the greeks


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
