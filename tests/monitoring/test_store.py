"""The monitor's files: validated before writing, pruned at the retention, missing stays missing."""
from __future__ import annotations

import json
import math
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


def test_samples_accumulate_and_those_older_than_the_retention_are_pruned(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path / "production_metrics.json", retention_days=30)
    store.append(sample("2025-05-01T14:00:00+00:00", 1.0), {}, pd.Timestamp("2025-05-01T14:00:00Z"))
    store.append(sample("2025-05-20T14:00:00+00:00", 2.0), {}, pd.Timestamp("2025-05-20T14:00:00Z"))
    doc = store.append(sample("2025-06-02T14:00:00+00:00", 3.0), {"runs": []}, pd.Timestamp("2025-06-02T14:00:00Z"))
    on_disk = json.loads((tmp_path / "production_metrics.json").read_text())
    assert on_disk == doc
    assert [s["spend"]["today_usd"] for s in on_disk["samples"]] == [2.0, 3.0]   # May 1 is 32 days old
    assert on_disk["updated_at"] == "2025-06-02T14:00:00+00:00"
    assert on_disk["latest"] == {"runs": []}


def test_a_missing_figure_is_written_as_null_never_zero(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path / "m.json", retention_days=30)
    store.append(sample("2025-06-02T14:00:00+00:00", 3.0), {}, pd.Timestamp("2025-06-02T14:00:00Z"))
    assert json.loads((tmp_path / "m.json").read_text())["samples"][0]["run"]["pnl_today_usd"] is None


def test_an_invalid_sample_is_refused_and_the_file_is_left_as_it_was(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path / "m.json", retention_days=30)
    store.append(sample("2025-06-02T14:00:00+00:00", 3.0), {}, pd.Timestamp("2025-06-02T14:00:00Z"))
    before = (tmp_path / "m.json").read_text()
    bad = sample("2025-06-02T14:01:00+00:00", 3.0) | {"health": "fine"}
    with pytest.raises(OutputValidationError, match=r"m\.json: \$\.samples\[0\]\.health: 'fine' is not one of"):
        store.append(bad, {}, pd.Timestamp("2025-06-02T14:01:00Z"))
    assert (tmp_path / "m.json").read_text() == before


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


def test_the_file_is_exactly_the_compact_json_of_the_document_across_appends_prunes_and_restarts(
        tmp_path: Path) -> None:
    # the store re-encodes only the new sample; the bytes must still be those of json.dumps of the whole
    path = tmp_path / "production_metrics.json"
    store = MetricsStore(path, retention_days=30)
    days = ["2025-05-01", "2025-05-20", "2025-06-01", "2025-06-02"]
    for day in days[:3]:
        doc = store.append(sample(f"{day}T14:00:00+00:00", 1.5), {"day": day}, pd.Timestamp(f"{day}T14:00:00Z"))
        assert path.read_text() == json.dumps(doc, separators=(",", ":"), allow_nan=False)
    restarted = MetricsStore(path, retention_days=30)          # a new process: nothing cached, read from disk
    doc = restarted.append(sample("2025-06-02T14:00:00+00:00", 2.5), {"day": "x"}, pd.Timestamp("2025-06-02T14:00:00Z"))
    assert path.read_text() == json.dumps(doc, separators=(",", ":"), allow_nan=False)
    assert [s["ts"][:10] for s in json.loads(path.read_text())["samples"]] == days[1:]   # May 1 pruned
    doc = restarted.append(sample("2025-06-20T14:00:00+00:00", 3.5), {}, pd.Timestamp("2025-06-20T14:00:00Z"))
    assert path.read_text() == json.dumps(doc, separators=(",", ":"), allow_nan=False)
    assert [s["ts"][:10] for s in doc["samples"]] == ["2025-06-01", "2025-06-02", "2025-06-20"]   # May 20 pruned


def test_a_file_changed_by_someone_else_is_read_again_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    store = MetricsStore(path, retention_days=30)
    store.append(sample("2025-06-02T14:00:00+00:00", 1.0), {}, pd.Timestamp("2025-06-02T14:00:00Z"))
    other = MetricsStore(path, retention_days=30)               # a second monitor writing the same file
    other.append(sample("2025-06-02T14:01:00+00:00", 2.0), {}, pd.Timestamp("2025-06-02T14:01:00Z"))
    doc = store.append(sample("2025-06-02T14:02:00+00:00", 3.0), {}, pd.Timestamp("2025-06-02T14:02:00Z"))
    assert [s["spend"]["today_usd"] for s in doc["samples"]] == [1.0, 2.0, 3.0]
    assert path.read_text() == json.dumps(doc, separators=(",", ":"), allow_nan=False)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
