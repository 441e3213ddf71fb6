"""config/monitoring.json as a frozen, typed object.

The file is validated against `config/schema/monitoring.schema.json` (which fills every default),
then turned into `MonitoringConfig`; nothing past this module reads the raw JSON. Relative paths
are resolved against the working directory given at load time, so a test can point the whole
monitor at a temporary folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..config_manager import CONFIG_DIR, SCHEMA_DIR, load_json_file, validate_document
from ..errors import ConfigError

MONITORING_FILE = CONFIG_DIR / "monitoring.json"
MONITORING_SCHEMA = "monitoring.schema.json"

# Alert severities, least to most severe; their numbers are the `logging` levels of the same name.
SEVERITIES: tuple[str, ...] = ("debug", "info", "warning", "error", "critical")
SEVERITY_RANK: Mapping[str, int] = MappingProxyType({"debug": 10, "info": 20, "warning": 30, "error": 40,
                                                     "critical": 50})

__all__ = ["AlertRule", "DashboardSettings", "MonitoringConfig", "MONITORING_FILE", "SEVERITIES", "SEVERITY_RANK",
           "load_monitoring_config", "monitoring_config_from_document"]


@dataclass(frozen=True, kw_only=True)
class AlertRule:
    """One alert threshold set: `metric` crossing `levels` (severity -> threshold) `when` above/below."""

    metric: str
    enabled: bool
    when: str
    levels: Mapping[str, float]
    clear_margin: float
    min_observations: int


@dataclass(frozen=True, kw_only=True)
class DashboardSettings:
    """The dashboard server: bind address, refresh period, history and signals shown, connection limits."""

    host: str
    port: int
    refresh_s: float
    history_hours: float
    signal_rows: int
    timezone: str
    keep_alive_s: int = 5
    request_timeout_s: float = 10.0
    limit_concurrency: int = 1000
    backlog: int = 2048
    events_max_clients: int = 100
    events_max_s: float = 300.0
    events_keepalive_s: float = 15.0
    shutdown_timeout_s: float = 5.0


@dataclass(frozen=True, kw_only=True)
class MonitoringConfig:
    """Everything the monitor and the dashboard read from config/monitoring.json (defaults filled)."""

    source: Path
    interval_s: float
    retention_days: float
    outputs_dir: Path
    shadow_runs_dir: Path
    monitoring_dir: Path
    budgets_profile: str
    recent_runs: int
    run_stale_after_s: float
    uptime_window_h: float
    latency_metric: str
    cpu_sample_s: float
    log_max_bytes: int
    log_backup_count: int
    rules: tuple[AlertRule, ...]
    dashboard: DashboardSettings
    control_token_env: str

    @property
    def metrics_file(self) -> Path:
        return self.monitoring_dir / "production_metrics.json"

    @property
    def history_file(self) -> Path:
        return self.monitoring_dir / "metrics_history.sqlite"

    @property
    def alerts_file(self) -> Path:
        return self.monitoring_dir / "alerts.json"

    @property
    def log_file(self) -> Path:
        return self.monitoring_dir / "monitor.log"

    @property
    def dashboard_file(self) -> Path:
        return self.monitoring_dir / "dashboard.html"

    def rule(self, metric: str) -> AlertRule:
        """The rule for `metric`; a `ConfigError` naming the known metrics when there is none."""
        for rule in self.rules:
            if rule.metric == metric:
                return rule
        raise ConfigError(f"{self.source}: no alert rule for metric {metric!r} "
                          f"(known: {', '.join(r.metric for r in self.rules)})")


def load_monitoring_config(path: Path = MONITORING_FILE, *, base_dir: Path | None = None,
                           schema_dir: Path = SCHEMA_DIR) -> MonitoringConfig:
    """Read, validate (filling defaults) and freeze config/monitoring.json. Raises `ConfigError`."""
    document = load_json_file(Path(path))
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: $: expected a JSON object, got {type(document).__name__}")
    validate_document(document, MONITORING_SCHEMA, source=Path(path), schema_dir=schema_dir)
    return monitoring_config_from_document(document, source=Path(path), base_dir=base_dir or Path.cwd())


def monitoring_config_from_document(document: Mapping[str, Any], *, source: Path,
                                    base_dir: Path) -> MonitoringConfig:
    """Freeze an already validated (defaults filled) monitoring document."""
    paths = document["paths"]
    rules = tuple(
        AlertRule(metric=metric, enabled=bool(spec["enabled"]), when=str(spec["when"]),
                  levels=MappingProxyType({level: float(spec["levels"][level]) for level in SEVERITIES
                                           if spec["levels"].get(level) is not None}),
                  clear_margin=float(spec["clear_margin"]), min_observations=int(spec["min_observations"]))
        for metric, spec in document["alerts"].items()
    )
    for rule in rules:
        _check_level_order(rule, source)
    board = document["dashboard"]
    return MonitoringConfig(
        source=source,
        interval_s=float(document["interval_s"]),
        retention_days=float(document["retention_days"]),
        outputs_dir=_resolve(base_dir, paths["outputs_dir"]),
        shadow_runs_dir=_resolve(base_dir, paths["shadow_runs_dir"]),
        monitoring_dir=_resolve(base_dir, paths["monitoring_dir"]),
        budgets_profile=str(document["budgets_profile"]),
        recent_runs=int(document["recent_runs"]),
        run_stale_after_s=float(document["run_stale_after_s"]),
        uptime_window_h=float(document["uptime_window_h"]),
        latency_metric=str(document["latency_metric"]),
        cpu_sample_s=float(document["cpu_sample_s"]),
        log_max_bytes=int(document["log"]["max_bytes"]),
        log_backup_count=int(document["log"]["backup_count"]),
        rules=rules,
        dashboard=DashboardSettings(host=str(board["host"]), port=int(board["port"]),
                                    refresh_s=float(board["refresh_s"]),
                                    history_hours=float(board["history_hours"]),
                                    signal_rows=int(board["signal_rows"]),
                                    timezone=_timezone(str(board["timezone"]), source),
                                    keep_alive_s=int(board["keep_alive_s"]),
                                    request_timeout_s=float(board["request_timeout_s"]),
                                    limit_concurrency=int(board["limit_concurrency"]), backlog=int(board["backlog"]),
                                    events_max_clients=int(board["events_max_clients"]),
                                    events_max_s=float(board["events_max_s"]),
                                    events_keepalive_s=float(board["events_keepalive_s"]),
                                    shutdown_timeout_s=float(board["shutdown_timeout_s"])),
        control_token_env=str(document["control"]["token_env"]),
    )


def _check_level_order(rule: AlertRule, source: Path) -> None:
    """More severe levels must lie further out: higher for 'above' alerts, lower for 'below' ones."""
    ordered = [(level, rule.levels[level]) for level in SEVERITIES if level in rule.levels]
    for (low_name, low), (high_name, high) in zip(ordered, ordered[1:]):
        wrong = high < low if rule.when == "above" else high > low
        if wrong:
            direction = "at or above" if rule.when == "above" else "at or below"
            raise ConfigError(
                f"{source}: $.alerts.{rule.metric}.levels: the {high_name} level {high:g} must be {direction} "
                f"the {low_name} level {low:g} (a '{rule.when}' alert gets more severe further {rule.when})")


def _timezone(name: str, source: Path) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"{source}: $.dashboard.timezone: bad value {name!r}: expected an IANA time zone "
                          f"such as 'America/New_York'") from exc
    return name


def _resolve(base_dir: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path
