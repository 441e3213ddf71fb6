"""The production monitor: every interval, one snapshot -> alerts -> sample -> files.

`ProductionMonitor.sample_once` does, in order:
1. `SnapshotCollector.collect(now)`: read runs, sources, spend, exports, machine;
2. `observe`: the six alerting metrics (uptime from the stored samples plus this one);
3. `evaluate_alerts`: advance each alert (fire once, escalate, ease, clear once), log each change
   at its own severity;
4. `make_sample`: the compact sample; `MetricsStore.append` adds it as one row of
   metrics_history.sqlite (30-day retention) and writes production_metrics.json with the full
   snapshot as `latest`; `AlertStore.save` writes alerts.json.
`run` repeats it on a `schedule` every `interval_s` until stopped (or `max_samples` reached).
"""
from __future__ import annotations

import logging
import logging.handlers
import threading
from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd
import schedule

from ..secrets_mask import SecretFilter
from .alerts import AlertEvent, evaluate_alerts, health_of
from .collector import SnapshotCollector
from .config import SEVERITY_RANK, MonitoringConfig
from .observations import make_sample, observe
from .store import AlertStore, MetricsStore

log = logging.getLogger(__name__)
alert_log = logging.getLogger("tasks.options_trading_system.monitoring.alerts")

__all__ = ["MonitorResult", "ProductionMonitor", "attach_rotating_log"]


@dataclass(frozen=True)
class MonitorResult:
    """What one sample produced."""

    sample: dict[str, Any]
    events: tuple[AlertEvent, ...]
    health: str
    samples_kept: int


class ProductionMonitor:
    """Samples the system and keeps the metrics history, production_metrics.json and alerts.json. `clock` returns UTC now."""

    def __init__(self, config: MonitoringConfig, collector: SnapshotCollector, *,
                 clock: Callable[[], pd.Timestamp] = lambda: pd.Timestamp.now(tz="UTC")) -> None:
        self.config = config
        self.collector = collector
        self.clock = clock
        self.metrics = MetricsStore(config.metrics_file, retention_days=config.retention_days,
                                    history_path=config.history_file)
        self.alerts = AlertStore(config.alerts_file, retention_days=config.retention_days)

    def sample_once(self) -> MonitorResult:
        now = self.clock()
        latest = self.collector.collect(now)
        history = self.metrics.samples(since=now - pd.Timedelta(hours=self.config.uptime_window_h))
        observations = observe(latest, history, now=now, uptime_window_h=self.config.uptime_window_h,
                               latency_metric=self.config.latency_metric)
        active, _history = self.alerts.load()
        active, events = evaluate_alerts(self.config.rules, observations, active, latest["ts"])
        for event in events:
            alert_log.log(SEVERITY_RANK[event.severity] if event.kind != "cleared" else logging.INFO,
                          "alert %s (%s): %s", event.kind, event.severity, event.message)
        health = health_of(active)
        sample = make_sample(latest, observations, health, latency_metric=self.config.latency_metric)
        document = self.metrics.append(sample, latest, now)
        self.alerts.save(active, events, now)
        for problem in latest["problems"]:
            log.warning("could not read: %s", problem)
        log.info("sample %s: health %s, run %s, %d open alert(s), %d sample(s) kept", latest["ts"], health,
                 latest["active_run_id"] or "none", len(active), document["samples_kept"])
        return MonitorResult(sample=sample, events=tuple(events), health=health,
                             samples_kept=document["samples_kept"])

    def run(self, *, max_samples: int | None = None, stop: threading.Event | None = None,
            ) -> int:
        """Sample now and then every `interval_s` until `stop` is set or `max_samples` taken; returns the count."""
        stop = stop or threading.Event()
        taken = 0

        def job() -> None:
            nonlocal taken
            try:
                self.sample_once()
            except Exception:  # one bad sample must not end a week-long watch; the log says why
                log.exception("sample failed; trying again at the next interval")
            taken += 1
            if max_samples is not None and taken >= max_samples:
                stop.set()

        scheduler = schedule.Scheduler()
        scheduler.every(self.config.interval_s).seconds.do(job)
        job()
        while not stop.is_set():
            scheduler.run_pending()
            idle = scheduler.idle_seconds
            if stop.wait(min(1.0, max(0.05, idle if idle is not None else 1.0))):
                break
        return taken


def attach_rotating_log(config: MonitoringConfig) -> logging.Handler:
    """monitor.log, rotated at `log.max_bytes` keeping `log.backup_count` files, on the root logger."""
    config.log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(config.log_file, maxBytes=config.log_max_bytes,
                                                   backupCount=config.log_backup_count, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretFilter())       # no secret value in the log, inside messages or tracebacks
    logging.getLogger().addHandler(handler)
    return handler
