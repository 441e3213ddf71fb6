"""The monitor's files: validated before writing, pruned at the retention, missing stays missing."""
from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.errors import OutputValidationError
from tasks.options_trading_system.monitoring.alerts import ActiveAlert, AlertEvent
from tasks.options_trading_system.monitoring.store import AlertStore, MetricsStore


def sample(ts: str, cost: float) -> dict:
    return {"ts": ts, "health": "ok", "metrics": {"daily_cost_usd": {"value": cost, "count": 1}},
            "run": {"run_id": "r1", "pnl_today_usd": math.nan}, "sources": {}, "spend": {"today_usd": cost},
            "system": {"cpu_pct": 12.5}}


def store_in(folder: Path) -> MetricsStore:
    return MetricsStore(folder / "production_metrics.json", retention_days=30)


def test_samples_accumulate_as_rows_and_those_older_than_the_retention_are_deleted(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    store.append(sample("2025-05-01T14:00:00+00:00", 1.0), {}, pd.Timestamp("2025-05-01T14:00:00Z"))
    store.append(sample("2025-05-20T14:00:00+00:00", 2.0), {}, pd.Timestamp("2025-05-20T14:00:00Z"))
    doc = store.append(sample("2025-06-02T14:00:00+00:00", 3.0), {"runs": []}, pd.Timestamp("2025-06-02T14:00:00Z"))
    assert [s["spend"]["today_usd"] for s in store.samples()] == [2.0, 3.0]   # May 1 is 32 days old
    with sqlite3.connect(tmp_path / "metrics_history.sqlite") as db:      # one row per sample, WAL journal
        assert db.execute("SELECT COUNT(*) FROM samples").fetchone() == (2,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    on_disk = json.loads((tmp_path / "production_metrics.json").read_text())
    assert on_disk == doc
    assert (on_disk["schema_version"], on_disk["updated_at"], on_disk["samples_kept"], on_disk["history_file"]) == \
        (2, "2025-06-02T14:00:00+00:00", 2, "metrics_history.sqlite")
    assert on_disk["sample"]["spend"]["today_usd"] == 3.0 and on_disk["latest"] == {"runs": []}
    assert [s["ts"][:10] for s in store.samples(since=pd.Timestamp("2025-06-01T00:00:00Z"))] == ["2025-06-02"]


def test_a_missing_figure_is_written_as_null_never_zero(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    store.append(sample("2025-06-02T14:00:00+00:00", 3.0), {}, pd.Timestamp("2025-06-02T14:00:00Z"))
    assert store.samples()[0]["run"]["pnl_today_usd"] is None
    assert json.loads((tmp_path / "production_metrics.json").read_text())["sample"]["run"]["pnl_today_usd"] is None


def test_an_invalid_sample_is_refused_and_neither_file_changes(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    store.append(sample("2025-06-02T14:00:00+00:00", 3.0), {}, pd.Timestamp("2025-06-02T14:00:00Z"))
    before = (tmp_path / "production_metrics.json").read_text()
    bad = sample("2025-06-02T14:01:00+00:00", 3.0) | {"health": "fine"}
    with pytest.raises(OutputValidationError, match=r"production_metrics\.json: \$\.sample.*'fine'"):
        store.append(bad, {}, pd.Timestamp("2025-06-02T14:01:00Z"))
    assert (tmp_path / "production_metrics.json").read_text() == before
    assert len(store.samples()) == 1


def test_alerts_file_keeps_open_alerts_and_the_history_of_changes(tmp_path: Path) -> None:
    store = AlertStore(tmp_path / "alerts.json", retention_days=30)
    alert = ActiveAlert(metric="daily_cost_usd", severity="critical", threshold=8.0,
                        since="2025-06-02T14:00:00+00:00", value=8.5, message="data spend today is $8.50")
    fired = AlertEvent(ts="2025-06-02T14:00:00+00:00", metric="daily_cost_usd", kind="fired", severity="critical",
                       previous_severity=None, value=8.5, threshold=8.0, message="data spend today is $8.50")
    store.save({"daily_cost_usd": alert}, [fired], pd.Timestamp("2025-06-02T14:00:00Z"))
    active, events = store.load()
    assert active == {"daily_cost_usd": alert}
    assert [e["kind"] for e in events] == ["fired"]
    document = json.loads((tmp_path / "alerts.json").read_text())
    assert document["health"] == "critical"
    # 31 days later the event is history beyond the retention, and the alert has cleared
    store.save({}, [], pd.Timestamp("2025-07-03T14:00:00Z"))
    assert store.load() == ({}, [])


def test_an_old_json_history_is_moved_into_sqlite_on_first_open_and_only_once(tmp_path: Path) -> None:
    # the format-1 file held every sample (a month of them made ~50 MB rewritten each minute)
    old = [sample(f"2025-06-0{d}T14:00:00+00:00", float(d)) for d in (1, 2, 3)]
    old[1]["run"]["pnl_today_usd"] = None
    v1 = {"schema_version": 1, "updated_at": "2025-06-03T14:00:00+00:00", "retention_days": 30,
          "samples": old + [{**sample("x", 9.0), "ts": "not a time"}], "latest": {"runs": ["r1"]}}
    (tmp_path / "production_metrics.json").write_text(json.dumps(v1))
    store = store_in(tmp_path)
    assert [s["spend"]["today_usd"] for s in store.samples()] == [1.0, 2.0, 3.0]   # unreadable time left out
    snapshot = json.loads((tmp_path / "production_metrics.json").read_text())
    assert (snapshot["schema_version"], snapshot["samples_kept"], snapshot["latest"]) == (2, 3, {"runs": ["r1"]})
    assert snapshot["sample"]["ts"] == "2025-06-03T14:00:00+00:00"
    again = store_in(tmp_path)                                  # a second start: nothing moved twice
    assert again.count() == 3
    again.append(sample("2025-06-04T14:00:00+00:00", 4.0), {}, pd.Timestamp("2025-06-04T14:00:00Z"))
    assert [s["ts"][:10] for s in store_in(tmp_path).samples()] == \
        ["2025-06-01", "2025-06-02", "2025-06-03", "2025-06-04"]


def test_a_second_process_sees_every_sample_the_first_appended(tmp_path: Path) -> None:
    writer, reader = store_in(tmp_path), store_in(tmp_path)     # the monitor and the dashboard
    writer.append(sample("2025-06-02T14:00:00+00:00", 1.0), {}, pd.Timestamp("2025-06-02T14:00:00Z"))
    assert len(reader.samples()) == 1
    other = store_in(tmp_path)                                  # a second monitor on the same files
    other.append(sample("2025-06-02T14:01:00+00:00", 2.0), {}, pd.Timestamp("2025-06-02T14:01:00Z"))
    doc = writer.append(sample("2025-06-02T14:02:00+00:00", 3.0), {}, pd.Timestamp("2025-06-02T14:02:00Z"))
    assert [s["spend"]["today_usd"] for s in reader.samples()] == [1.0, 2.0, 3.0]
    assert doc["samples_kept"] == 3 and reader.snapshot() == doc


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
