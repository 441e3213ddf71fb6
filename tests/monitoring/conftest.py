"""Fixtures for the monitor and dashboard: a small shadow-run ledger, exports, spend, breakers.

The ledger is written through the shadow trader's own `Ledger` (state/ledger.py), so its tables
are theirs, not a copy. The figures below are the ones the tests expect, worked out by hand:

run "replay-2023w47" (MNQ, $2 a point), two trading days, now on 2023-11-21:
  2023-11-20  s1 ifd_v1 LONG  passed            target hit   +120.50
              s2 ev     SHORT passed            stop hit      -60.25
              s3 ifd_v1 LONG  failed, likely FP not traded, went wrong (correct 0)
  2023-11-21  s4 ifd_v1 LONG  passed            open: entry 16,000.00, last price 16,010.00 -> +$20.00 open
              s5 ev     SHORT passed            target hit    +45.00
signals 5 (today 2); resolved s1 s2 s3 s5 = 4, correct s1 s5 = 2 -> accuracy 50.0%;
passed and resolved s1 s2 s5 = 3, of which wrong s2 = 1 -> false positives 33.3%;
trades s1 s2 s5 -> net +$105.25, today +$45.00, win rate 2/3; equity 120.50, 60.25, 105.25 ->
max drawdown $60.25. Latency today ("cycle"): 10, 20, 30, 40, 100 ms -> p50 30 ms.
Closing s4 at its target (+$30.00) makes today +$75.00 and the run +$135.25.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd
import psutil
import pytest

from tasks.options_trading_system.data_ingestion.data_budget import SpendLedger
from tasks.options_trading_system.monitoring.collector import SnapshotCollector
from tasks.options_trading_system.monitoring.config import MonitoringConfig, load_monitoring_config
from tasks.options_trading_system.monitoring.control import ControlGate
from tasks.options_trading_system.monitoring.dashboard import DashboardApp
from tasks.options_trading_system.monitoring.server import DashboardServer
from tasks.options_trading_system.monitoring.sources_reader import Budgets
from tasks.options_trading_system.monitoring.system import SystemProbe
from tasks.options_trading_system.state.ledger import LEDGER_FILE, Ledger, iso

RUN_ID = "replay-2023w47"
DAY1, DAY2 = "2023-11-20", "2023-11-21"
TOKEN = "test-control-token-0123456789"


def t(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def signal(signal_id: str, day: str, sim_time: str, source: str, direction: str, entry: float, target: float,
           stop: float, confidence: float) -> dict[str, Any]:
    return {"signal_id": signal_id, "event_key": f"{day}#{signal_id}", "day": day, "sim_time": iso(t(sim_time)),
            "source": source, "algorithm": source if source in ("ifd_v1", "ifd_v3", "ev") else "ifd_v1",
            "traded_source": 1, "instrument": "MNQ", "contract": None, "strike": None, "option_right": None,
            "direction": direction, "entry_reference": entry, "target": target, "stop": stop,
            "confidence": confidence, "tier": None, "expected_value_points": None, "evidence_json": "{}"}


def validation(signal_id: str, passed: bool, false_positive: bool, score: float) -> dict[str, Any]:
    return {"signal_id": signal_id, "score": score, "passed": int(passed), "false_positive": int(false_positive),
            "technical": score, "market_context": score, "time_of_day": score, "history": None, "reasons_json": "[]"}


def position(signal_id: str, source: str, day: str, direction: str, entry_time: str, entry: float, target: float,
             stop: float, exit_time: str | None = None, exit_price: float | None = None,
             exit_reason: str | None = None) -> dict[str, Any]:
    return {"position_id": f"p-{signal_id}", "signal_id": signal_id, "source": source, "day": day, "instrument": "MNQ",
            "contract": None, "direction": direction, "quantity": 1, "multiplier": 2.0,
            "entry_time": iso(t(entry_time)), "entry_price": entry, "target": target, "stop": stop,
            "status": "closed" if exit_time else "open", "exit_time": iso(t(exit_time)) if exit_time else None,
            "exit_price": exit_price, "exit_reason": exit_reason, "exit_price_origin": "bar" if exit_time else None}


def outcome(signal_id: str, day: str, resolved_at: str, reason: str, correct: bool, pnl_usd: float | None,
            traded: bool = True) -> dict[str, Any]:
    return {"signal_id": signal_id, "position_id": f"p-{signal_id}" if traded else None, "day": day,
            "resolved_at": iso(t(resolved_at)), "exit_reason": reason, "exit_reference": None, "move_points": None,
            "correct": int(correct), "pnl_points": None if pnl_usd is None else pnl_usd / 2.0, "pnl_usd": pnl_usd,
            "costs_usd": None if pnl_usd is None else 1.24}


@dataclass
class FixtureRun:
    """A shadow run's ledger under `runs_dir`, with the edits a running orchestrator would make."""

    runs_dir: Path
    run_id: str = RUN_ID

    @property
    def path(self) -> Path:
        return self.runs_dir / self.run_id / LEDGER_FILE

    def ledger(self) -> Ledger:
        return Ledger.open_existing(self.path)

    def write(self, fn: Callable[[Any], None], *, day: str = DAY2, sim_time: str = "2023-11-21T15:30:00") -> None:
        ledger = self.ledger()
        try:
            with ledger.transaction(day=day, event_index=None, sim_time=t(sim_time)) as tx:
                fn(tx)
        finally:
            ledger.close()

    def close_s4_at_target(self) -> None:
        """s4 reaches its target 16,015.00 from 16,000.00: +15 points x $2 = +$30.00."""
        def edit(tx: Any) -> None:
            tx.execute("UPDATE positions SET status = 'closed', exit_time = ?, exit_price = ?, exit_reason = 'target' "
                       "WHERE signal_id = 's4'", (iso(t("2023-11-21T15:40:00")), 16015.0))
            tx.insert("outcomes", outcome("s4", DAY2, "2023-11-21T15:40:00", "target", True, 30.0))
        self.write(edit, sim_time="2023-11-21T15:40:00")

    def apply_pending_controls(self) -> list[str]:
        """What the orchestrator does at its next cycle: mark pending halt/resume records applied."""
        ledger = self.ledger()
        try:
            pending = ledger.rows("SELECT control_id, command FROM controls WHERE status = 'pending' ORDER BY control_id")
            with ledger.transaction(day=DAY2, event_index=None, sim_time=t("2023-11-21T15:45:00")) as tx:
                for row in pending:
                    tx.execute("UPDATE controls SET status = 'applied', applied_at = ?, applied_event = ? "
                               "WHERE control_id = ?", (iso(t("2023-11-21T15:45:00")), f"{DAY2}#cycle",
                                                        row["control_id"]))
            return [row["command"] for row in pending]
        finally:
            ledger.close()

    def end_session(self) -> None:
        """The run's process exits without finishing the run (a crash): status stays running."""
        ledger = self.ledger()
        try:
            ledger.connection.execute("UPDATE perf_sessions SET wall_ended = ?, exit = 'killed'",
                                      (iso(pd.Timestamp.now(tz="UTC")),))
        finally:
            ledger.close()

    def controls(self) -> list[dict[str, Any]]:
        ledger = self.ledger()
        try:
            return ledger.rows("SELECT command, reason, requested_by, status FROM controls ORDER BY control_id")
        finally:
            ledger.close()


def build_run(runs_dir: Path, *, run_id: str = RUN_ID, status: str = "running", pid: int | None = None,
              wall_started: pd.Timestamp | None = None, extra_signal_source: str | None = None) -> FixtureRun:
    """Write the ledger described in the module docstring (see there for every figure)."""
    path = runs_dir / run_id / LEDGER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(path)
    # runs.config_json holds the merged profile the run started with (and the request), as run_shadow_trading writes it
    config = {"profile": {"shadow_trading": {"targets": {"min_accuracy": 0.5, "max_false_positive_rate": 0.45,
                                                         "min_win_rate": 0.45, "max_drawdown_usd": 1000}}},
              "request": {"mode": "replay", "days": 2}}
    try:
        with ledger.transaction(day=DAY1, event_index=0, sim_time=t("2023-11-20T14:30:00")) as tx:
            tx.insert("runs", {"run_id": run_id, "mode": "replay", "profile": "shadow_trading",
                               "config_json": json.dumps(config), "data_dir": None, "price_path": None,
                               "start_date": DAY1, "days": 2, "trading_days_json": json.dumps([DAY1, DAY2]),
                               "status": status, "status_reason": "", "status_at": iso(t("2023-11-20T14:30:00"))})
        # the session row names the process that writes the ledger: this test process, started when it started
        started = wall_started if wall_started is not None else \
            pd.Timestamp(psutil.Process(pid or os.getpid()).create_time(), unit="s", tz="UTC")
        ledger.start_session(started, resumed=False)
        if pid is not None:
            ledger.connection.execute("UPDATE perf_sessions SET pid = ?", (pid,))
        with ledger.transaction(day=DAY1, event_index=1, sim_time=t("2023-11-20T16:00:00")) as tx:
            tx.insert("signals", [signal("s1", DAY1, "2023-11-20T14:45:00", "ifd_v1", "LONG", 15900, 15960.25, 15870, 0.81),
                                  signal("s2", DAY1, "2023-11-20T15:10:00", "ev", "SHORT", 15950, 15900, 15980.125, 0.66),
                                  signal("s3", DAY1, "2023-11-20T18:20:00", "ifd_v1", "LONG", 15990, 16050, 15960, 0.55)])
            tx.insert("validations", [validation("s1", True, False, 0.81), validation("s2", True, False, 0.66),
                                      validation("s3", False, True, 0.31)])
            tx.insert("positions", [
                position("s1", "ifd_v1", DAY1, "LONG", "2023-11-20T14:45:00", 15900, 15960.25, 15870,
                         "2023-11-20T15:30:00", 15960.25, "target"),
                position("s2", "ev", DAY1, "SHORT", "2023-11-20T15:10:00", 15950, 15900, 15980.125,
                         "2023-11-20T16:05:00", 15980.125, "stop")])
            tx.insert("outcomes", [outcome("s1", DAY1, "2023-11-20T15:30:00", "target", True, 120.50),
                                   outcome("s2", DAY1, "2023-11-20T16:05:00", "stop", False, -60.25),
                                   outcome("s3", DAY1, "2023-11-20T21:00:00", "session_end", False, None,
                                           traded=False)])
        with ledger.transaction(day=DAY2, event_index=1, sim_time=t("2023-11-21T15:30:00")) as tx:
            rows = [signal("s4", DAY2, "2023-11-21T14:50:00", "ifd_v1", "LONG", 16000, 16015, 15990, 0.72),
                    signal("s5", DAY2, "2023-11-21T15:00:00", "ev", "SHORT", 16030, 16007.5, 16045, 0.64)]
            tx.insert("signals", rows)
            tx.insert("validations", [validation("s4", True, False, 0.74), validation("s5", True, False, 0.69)])
            tx.insert("positions", [
                position("s4", "ifd_v1", DAY2, "LONG", "2023-11-21T14:50:00", 16000, 16015, 15990),
                position("s5", "ev", DAY2, "SHORT", "2023-11-21T15:00:00", 16030, 16007.5, 16045,
                         "2023-11-21T15:20:00", 16007.5, "target")])
            tx.insert("outcomes", outcome("s5", DAY2, "2023-11-21T15:20:00", "target", True, 45.00))
            tx.insert("observations", {"event_key": f"{DAY2}#obs", "day": DAY2, "event_index": 1,
                                       "sim_time": iso(t("2023-11-21T15:30:00")), "kind": "bar", "input": "fixture",
                                       "halted": 0, "contracts": None, "quarantined": None, "missing_share": None,
                                       "underlying_price": None, "price": 16010.0, "price_staleness_s": 0.0,
                                       "signals": 0, "notes": ""})
            if extra_signal_source is not None:
                tx.insert("signals", signal("s6", DAY2, "2023-11-21T15:05:00", extra_signal_source, "LONG",
                                            16000, 16020, 15990, 0.5))
        for ms in (10, 20, 30, 40, 100):
            ledger.add_latency(DAY2, f"{DAY2}#{ms}", "cycle", ms)
        ledger.flush_perf()
    finally:
        ledger.close()
    return FixtureRun(runs_dir=runs_dir, run_id=run_id)


def write_export(outputs_dir: Path, day: str, stamp: str, attempts: list[dict[str, Any]], **headline: Any) -> Path:
    """A daily export with the parts the monitor reads (data.attempts and the headline)."""
    path = outputs_dir / day.replace("-", "") / "analysis_exports" / f"nq_analysis_{day.replace('-', '')}_{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    served = next((a["source"] for a in attempts if a["outcome"] == "served"), None)
    document = {"format": "nq-daily-export/1",
                "run": {"date": day, "started_at": f"{day}T14:{stamp[2:4]}:00+00:00",
                        "profile": {"name": headline.get("profile", "all_sources")}},
                "data": {"source": served, "is_sample": headline.get("is_sample", False), "is_proxy": False,
                         "banners": [], "attempts": attempts},
                "chain": {"as_of": f"{day}T14:00:00+00:00", "contracts": headline.get("contracts", 576)},
                "underlying": {"symbol": "NQZ3", "price": headline.get("price", 16010.25), "origin": "source"},
                "warnings": []}
    path.write_text(json.dumps(document))
    return path


def attempt(source: str, outcome: str, latency_ms: float, reason: str = "ok", cost: float = 0.0) -> dict[str, Any]:
    return {"source": source, "outcome": outcome, "reason": reason, "latency_ms": latency_ms, "cost_usd": cost,
            "contracts": 576 if outcome == "served" else 0}


def write_spend(outputs_dir: Path, entries: list[tuple[str, str, float]]) -> None:
    """Rows of the machine's spend ledger (the test's own state dir; `outputs_dir` no longer matters): (at, source, cost)."""
    ledger = SpendLedger.under(outputs_dir)
    for at, source, cost in entries:
        ledger.append(source, cost, "fixture", pd.Timestamp(at))


def write_breakers(outputs_dir: Path, day: str, records: dict[str, dict[str, Any]]) -> None:
    path = outputs_dir / day.replace("-", "") / "state" / "circuit_breakers.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records))


def monitoring_config(workspace: Path, **overrides: Any) -> MonitoringConfig:
    """A monitoring.json with paths under `workspace` (the schema's defaults) and `overrides` merged in."""
    body: dict[str, Any] = {"description": "test", "cpu_sample_s": 0.05,
                            "dashboard": {"refresh_s": 0.3, "port": 0, "timezone": "America/New_York"}}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    path = workspace / "monitoring.json"
    path.write_text(json.dumps(body))
    return load_monitoring_config(path, base_dir=workspace)


@dataclass
class Kit:
    """The fixture builders bound to one temporary workspace (outputs/ under it)."""

    workspace: Path

    @property
    def outputs(self) -> Path:
        return self.workspace / "outputs"

    @property
    def runs_dir(self) -> Path:
        return self.outputs / "shadow_trading" / "runs"

    def config(self, **overrides: Any) -> MonitoringConfig:
        return monitoring_config(self.workspace, **overrides)

    def run(self, **kwargs: Any) -> FixtureRun:
        return build_run(self.runs_dir, **kwargs)

    def export(self, day: str, stamp: str, attempts: list[dict[str, Any]], **headline: Any) -> Path:
        return write_export(self.outputs, day, stamp, attempts, **headline)

    def spend(self, entries: list[tuple[str, str, float]]) -> None:
        write_spend(self.outputs, entries)

    def breakers(self, day: str, records: dict[str, dict[str, Any]]) -> None:
        write_breakers(self.outputs, day, records)

    attempt = staticmethod(attempt)


@pytest.fixture()
def kit(tmp_path: Path) -> Kit:
    """Builders for a fixture ledger, exports, spend and breakers in a temporary workspace."""
    (tmp_path / "outputs").mkdir()
    return Kit(workspace=tmp_path)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium: CI must have it (the browser tests fail there without it); locally they skip."""
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: the browser tests need Debian's chromium (scripts/test.sh "
                        "installs it with apt-get)")
        pytest.skip("chromium is not installed (apt-get install -y chromium); CI is not set, so skipping")
    return found


BUDGETS = Budgets(daily_usd={"databento": 8.0}, monthly_usd={"databento": 200.0}, profile="test")


@dataclass
class Served:
    """A dashboard being served on an ephemeral 127.0.0.1 port."""

    url: str
    app: DashboardApp
    server: DashboardServer


@pytest.fixture()
def serve() -> Iterator[Callable[..., Served]]:
    """Start dashboards (`serve(config, token=...)`); every one is shut down after the test."""
    started: list[DashboardServer] = []

    def start(config: MonitoringConfig, *, token: str | None = TOKEN, probe: bool = False) -> Served:
        env = {config.control_token_env: token} if token else {}
        system = SystemProbe(config.monitoring_dir, cpu_sample_s=0.05) if probe else None
        app = DashboardApp(config, SnapshotCollector(config, budgets=BUDGETS, probe=system),
                           ControlGate.from_env(config.control_token_env, env))
        server = DashboardServer(app, "127.0.0.1", 0)
        started.append(server)
        server.start()                      # the real uvicorn server, in a thread
        server.start_refresher()
        return Served(url=server.url, app=app, server=server)

    yield start
    for server in started:
        server.shutdown()
        server.server_close()
