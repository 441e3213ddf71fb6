"""One snapshot of the real state: runs, sources, spend, exports, machine. Used by monitor and dashboard.

`SnapshotCollector.collect(now)` reads (never writes) the ledgers of the recent shadow runs,
the newest daily exports, the circuit breakers, the spend ledger and the machine, and returns
one JSON-able dict (the `latest` of production_metrics.json, documented in docs/monitoring.md).
A part that cannot be read is listed in `problems` and its figures are missing, never zero;
one unreadable ledger does not hide the others.
"""
from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from ..data_ingestion.canonical import as_utc
from ..errors import OptionsSystemError
from .config import MonitoringConfig
from .exports_reader import read_latest_exports
from .ledger_reader import LedgerReadError, RunReading, find_ledgers, read_run
from .sources_reader import Budgets, read_breakers, read_spend, spend_summary, summarize_attempts
from .system import SystemProbe

log = logging.getLogger(__name__)

__all__ = ["SnapshotCollector"]


class SnapshotCollector:
    """Reads everything the monitor shows. `probe` None leaves the machine figures out."""

    def __init__(self, config: MonitoringConfig, *, budgets: Budgets, probe: SystemProbe | None = None) -> None:
        self.config = config
        self.budgets = budgets
        self.probe = probe

    def collect(self, now: pd.Timestamp) -> dict[str, Any]:
        """The snapshot at `now` (UTC)."""
        now = as_utc(now)
        problems: list[str] = []
        readings = self._runs(now, problems)
        active = next((r for r in readings if r.summary["status"] == "running"), None)
        shown = active or (readings[0] if readings else None)
        exports = read_latest_exports(self.config.outputs_dir)
        if exports is not None:
            problems.extend(exports["problems"])
        return {
            "ts": now.isoformat(),
            "active_run_id": active.summary["run_id"] if active else None,
            "runs": [r.summary for r in readings],
            "run": shown.detail if shown else None,
            "sources": self._sources(exports),
            "spend": self._spend(now, problems),
            "exports": None if exports is None else {k: exports[k] for k in ("day", "files", "newest")},
            "system": self.probe.sample().to_dict() if self.probe is not None else {},
            "problems": problems,
        }

    def _runs(self, now: pd.Timestamp, problems: list[str]) -> list[RunReading]:
        readings: list[RunReading] = []
        for path in find_ledgers(self.config.shadow_runs_dir, self.config.recent_runs):
            try:
                readings.append(read_run(path, now=now, stale_after_s=self.config.run_stale_after_s,
                                         signal_rows=self.config.dashboard.signal_rows))
            except LedgerReadError as exc:
                log.warning("%s", exc)
                problems.append(str(exc))
        return readings

    def _sources(self, exports: dict[str, Any] | None) -> dict[str, Any]:
        loads = exports["loads"] if exports else []
        summary = summarize_attempts(loads)
        breakers = read_breakers(self.config.outputs_dir)
        states = {b["source"]: b["state"] for b in breakers["breakers"]}
        for row in summary["by_source"]:
            row["breaker"] = states.get(row["source"], "closed" if breakers["day"] else "unknown")
        listed = {row["source"] for row in summary["by_source"]}
        for breaker in breakers["breakers"]:  # a breaker for a source with no attempt in these exports
            if breaker["source"] not in listed:
                summary["by_source"].append({"source": breaker["source"], "breaker": breaker["state"], "attempts": 0,
                                             "served": 0, "cached": 0, "failed": 0, "skipped": 0, "latency_p50_ms": None,
                                             "latency_p95_ms": None, "cost_usd": None,
                                             "last_problem": breaker["last_reason"] or None})
        scope = f"daily runs of {exports['day']}" if exports else "no daily run exports yet"
        return {**summary, "scope": scope, "exports_day": exports["day"] if exports else None,
                "breakers_day": breakers["day"], "breakers": breakers["breakers"],
                "breakers_open": sum(1 for b in breakers["breakers"] if b["state"] != "closed")
                if breakers["day"] else None}

    def _spend(self, now: pd.Timestamp, problems: list[str]) -> dict[str, Any]:
        try:
            spend = read_spend(self.config.outputs_dir)
        except OptionsSystemError as exc:  # a damaged spend line: spend unknown, not $0
            problems.append(str(exc))
            return {"today_usd": None, "month_usd": None, "daily_budget_usd": self.budgets.total_daily_usd,
                    "monthly_budget_usd": self.budgets.total_monthly_usd, "daily_pct": None, "monthly_pct": None,
                    "requests_today": None, "budgets_profile": self.budgets.profile, "by_source": []}
        return spend_summary(spend, self.budgets, now)
