"""`python3 run_pipeline.py --profile <all sources at the local stand-ins>` as a user runs it: the chain
comes from the first healthy source, the export and the HTML report list every attempt and why, and
a Databento request that would break the budget is refused before it is sent."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root: `python3 tests/...` works too

from tests.vendor_servers.base import Fault  # noqa: E402
from tests.vendor_servers.standins import DEMO_DATE, DEMO_NOW, StandIns, start_standins  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 180
FAST_RETRIES = {"retry": {"attempts": 2, "initial_wait_s": 0.05, "jitter_s": 0.0}}


@pytest.fixture
def standins(request: pytest.FixtureRequest, tmp_path: Path, shared_data: Path) -> Iterator[StandIns]:
    extra = getattr(request, "param", {})
    running = start_standins(tmp_path / "standins", shared_data, data_sources={**FAST_RETRIES, **extra})
    try:
        yield running
    finally:
        running.stop()


def run_pipeline(standins: StandIns, output_dir: Path,
                 now: str | None = DEMO_NOW) -> tuple[subprocess.CompletedProcess, dict[str, Any], str]:
    """Run the CLI against the stand-ins (its clock at `now`, None: the real time); return the
    process, the export and the HTML report."""
    env = {**os.environ, **standins.env}
    env.pop("PYTHONPATH", None)
    clock = ["--now", now] if now is not None else []
    process = subprocess.run([sys.executable, "run_pipeline.py", "--profile", str(standins.profile),
                              "--date", DEMO_DATE, *clock, "--output-dir", str(output_dir)],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert process.returncode == 0, process.stderr[-3000:]
    day = output_dir / DEMO_DATE.replace("-", "")
    export = json.loads(next((day / "analysis_exports").glob("*.json")).read_text())
    html = next((day / "reports").glob("*.html")).read_text()
    return process, export, html


def test_the_first_healthy_source_serves(standins: StandIns, tmp_path: Path) -> None:
    _, export, html = run_pipeline(standins, tmp_path / "out")
    assert [(a["source"], a["outcome"]) for a in export["data"]["attempts"]] == [("barchart", "served")]
    assert export["data"]["source"] == "barchart" and export["chain"]["underlying_symbol"] == "NQM25"
    assert "<h2>Data sources</h2>" in html


def test_every_attempt_and_its_reason_reach_the_export_and_the_report(standins: StandIns, tmp_path: Path) -> None:
    standins.kill("barchart")
    standins.inject("databento", Fault.HTTP_500)
    _, export, html = run_pipeline(standins, tmp_path / "out")
    attempts = export["data"]["attempts"]
    assert [(a["source"], a["outcome"], a["code"], a["retries"]) for a in attempts] == [
        ("barchart", "failed", "CONNECTION", 1),
        ("databento", "failed", "HTTP_500", 1),
        ("polygon", "failed", "HTTP_404", 0),       # the recordings have no I:NDX chain
        ("saved", "served", "OK", 0),
    ]
    assert "Connection refused" in attempts[0]["reason"]
    assert "no recorded response for /v3/snapshot/options/I:NDX" in attempts[2]["reason"]
    for attempt in attempts[:3]:
        assert f'<td class="l">{attempt["source"]}</td><td class="l">{attempt["outcome"]}</td>' in html
    assert "HTTP_500" in html and "CONNECTION" in html
    assert export["data"]["is_sample"]               # a fresh output root: the bundled sample, bannered


def test_a_past_date_is_refused_by_present_only_sources_and_served_by_databento_as_of_that_day(
        standins: StandIns, tmp_path: Path) -> None:
    _, export, html = run_pipeline(standins, tmp_path / "out", now=None)  # today, asking for 2025-06-02
    attempts = export["data"]["attempts"]
    assert [(a["source"], a["outcome"], a["code"]) for a in attempts] == [
        ("barchart", "refused", "PAST_DATE"), ("databento", "served", "OK")]
    assert "Barchart's site shows only the present chain, so it cannot serve the past date 2025-06-02" in \
        attempts[0]["reason"]
    assert standins.barchart.requests == []                                   # refused before asking
    assert export["chain"]["as_of"].startswith("2025-06-02T14:20")             # Databento's data of that day
    assert export["run"]["trading_date"] == DEMO_DATE and "PAST_DATE" in html
    assert not any(b.startswith("OLD DATA") for b in export["data"]["banners"])  # it is that day's data


def test_a_second_run_within_barcharts_cache_lifetime_shows_cached_everywhere(standins: StandIns,
                                                                             tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_pipeline(standins, out)
    run_pipeline(standins, out, now="2025-06-02T14:33:00Z")  # 3 minutes later: the 5-minute cache holds
    day = out / DEMO_DATE.replace("-", "")
    exports = sorted((day / "analysis_exports").glob("*.json"))
    first, second = (json.loads(p.read_text())["data"]["attempts"] for p in exports)
    assert [(a["source"], a["outcome"], a["code"]) for a in first] == [("barchart", "served", "OK")]
    assert [(a["source"], a["outcome"], a["code"]) for a in second] == [("barchart", "cached", "CACHE")]
    assert second[0]["reason"].startswith("reused barchart_api_MC6M25_20250602_143000.json (180 s old")
    stem = exports[1].stem
    assert '<td class="l">barchart</td><td class="l">cached</td>' in (day / "reports" / f"{stem}.html").read_text()
    assert "cached" in (day / "reports" / f"{stem}.txt").read_text().split("DATA SOURCES")[1]
    assert "source barchart served 576 contracts from its cache" in (day / "logs" / f"{stem}.log").read_text()


@pytest.mark.parametrize("standins", [{"databento": {"daily_budget_usd": 0.02}}], indirect=True)
def test_a_databento_request_over_budget_is_refused_before_it_is_sent(standins: StandIns, tmp_path: Path) -> None:
    standins.kill("barchart")
    _, export, _ = run_pipeline(standins, tmp_path / "out")
    databento = export["data"]["attempts"][1]
    assert (databento["source"], databento["outcome"], databento["code"]) == ("databento", "refused", "BUDGET")
    # the whole plan is priced first, definitions ($0.01) included: $0.05 > $0.02, so nothing is bought
    assert "today's spend $0.00 + $0.05 exceeds the daily data budget $0.02" in databento["reason"]
    assert databento["cost_usd"] == 0.0
    assert standins.databento.count("/v0/metadata.get_cost") == 5
    assert standins.databento.count("/v0/timeseries.get_range") == 0      # refused before anything was sent


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
