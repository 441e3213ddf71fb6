"""Alerts as a state machine: fire once when a threshold is crossed, clear once when it recovers.

`evaluate_alerts` is pure: rules + this sample's observations + the alerts open before ->
the alerts open now + the events that happened (fired, escalated, eased, cleared). The monitor
stores the open alerts in alerts.json between samples, so an alert that stays crossed for a
week is one `fired` event and one `cleared` event, not ten thousand.

Per rule, in order:
1. disabled rule: an open alert for it is cleared;
2. missing value (NaN) or fewer than `min_observations`: nothing changes (no data is not recovery);
3. `level` = the most severe level the value crosses (>= for 'above' rules, <= for 'below');
4. no open alert: `level` fires one;
5. open alert: a more severe `level` escalates it; otherwise the level still held with
   hysteresis (thresholds relaxed by `clear_margin`) decides: none clears it, a lower one eases it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Mapping, Sequence

from .config import SEVERITIES, SEVERITY_RANK, AlertRule

__all__ = ["ActiveAlert", "AlertEvent", "Observation", "METRIC_DISPLAY", "evaluate_alerts", "health_of",
           "crossed_level", "format_metric"]

FIRED, ESCALATED, EASED, CLEARED = "fired", "escalated", "eased", "cleared"
# Severities that make the system unhealthy; debug and info alerts are notes, not problems.
PROBLEM_SEVERITIES = ("warning", "error", "critical")


def _pct01(v: float) -> str:
    return f"{v:.1%}"


# metric -> (what a trader calls it, how its value reads). Display only: thresholds are in config.
METRIC_DISPLAY: Mapping[str, tuple[str, Callable[[float], str]]] = {
    "signal_accuracy": ("signal accuracy", _pct01),
    "latency_p95_ms": ("data-source latency p95", lambda v: f"{v:,.0f} ms"),
    "error_rate": ("data-source error rate", _pct01),
    "daily_cost_usd": ("data spend today", lambda v: f"${v:,.2f}"),
    "uptime_pct": ("shadow run uptime", lambda v: f"{v:.1f}%"),
    "monthly_budget_pct": ("monthly data budget used", lambda v: f"{v:.1f}%"),
}


def format_metric(metric: str, value: float | None) -> str:
    """A metric's value as the dashboard and alert messages show it; 'missing' when there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "missing"
    _label, fmt = METRIC_DISPLAY.get(metric, (metric, lambda v: f"{v:g}"))
    return fmt(float(value))


@dataclass(frozen=True)
class Observation:
    """One sampled metric: its value (NaN when missing) and how many observations it rests on."""

    value: float
    count: int = 0

    @property
    def missing(self) -> bool:
        return self.value is None or math.isnan(self.value)


@dataclass(frozen=True)
class ActiveAlert:
    """An open alert: which metric, how severe, the level crossed, when it fired, the latest value."""

    metric: str
    severity: str
    threshold: float
    since: str
    value: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ActiveAlert":
        return cls(metric=str(data["metric"]), severity=str(data["severity"]), threshold=float(data["threshold"]),
                   since=str(data["since"]), value=float(data["value"]), message=str(data["message"]))


@dataclass(frozen=True)
class AlertEvent:
    """A change of an alert: fired, escalated, eased or cleared, with the numbers behind it."""

    ts: str
    metric: str
    kind: str
    severity: str
    previous_severity: str | None
    value: float | None
    threshold: float | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def crossed_level(rule: AlertRule, value: float, margin: float = 0.0) -> tuple[str, float] | None:
    """The most severe (level, threshold) `value` crosses, thresholds relaxed by `margin`; or None."""
    for level in reversed(SEVERITIES):
        if level not in rule.levels:
            continue
        threshold = rule.levels[level]
        if (rule.when == "above" and value >= threshold - margin) or \
                (rule.when == "below" and value <= threshold + margin):
            return level, threshold
    return None


def evaluate_alerts(rules: Sequence[AlertRule], observations: Mapping[str, Observation],
                    active: Mapping[str, ActiveAlert], now: str
                    ) -> tuple[dict[str, ActiveAlert], list[AlertEvent]]:
    """Advance every rule's alert by one sample (see the module docstring). Pure."""
    still_open: dict[str, ActiveAlert] = dict(active)
    events: list[AlertEvent] = []
    for rule in rules:
        current = still_open.get(rule.metric)
        if not rule.enabled:
            if current is not None:
                del still_open[rule.metric]
                events.append(_event(now, CLEARED, rule.metric, current.severity, current, None, None,
                                     f"{_label(rule.metric)} alert cleared: the alert was disabled in the configuration"))
            continue
        observed = observations.get(rule.metric)
        if observed is None or observed.missing or observed.count < rule.min_observations:
            continue
        value = float(observed.value)
        crossed = crossed_level(rule, value)
        if current is None:
            if crossed is not None:
                level, threshold = crossed
                alert = ActiveAlert(metric=rule.metric, severity=level, threshold=threshold, since=now, value=value,
                                    message=_crossing_message(rule, level, value, threshold))
                still_open[rule.metric] = alert
                events.append(_event(now, FIRED, rule.metric, level, None, value, threshold, alert.message))
            continue
        if crossed is not None and SEVERITY_RANK[crossed[0]] > SEVERITY_RANK[current.severity]:
            level, threshold = crossed
            message = _crossing_message(rule, level, value, threshold)
            still_open[rule.metric] = replace(current, severity=level, threshold=threshold, value=value, message=message)
            events.append(_event(now, ESCALATED, rule.metric, level, current, value, threshold, message))
            continue
        held = crossed_level(rule, value, rule.clear_margin)
        if held is None:
            del still_open[rule.metric]
            events.append(_event(now, CLEARED, rule.metric, current.severity, current, value, current.threshold,
                                 f"{_label(rule.metric)} recovered: {format_metric(rule.metric, value)} "
                                 f"(the {current.severity} level is {format_metric(rule.metric, current.threshold)})"))
        elif SEVERITY_RANK[held[0]] < SEVERITY_RANK[current.severity]:
            level, threshold = held
            message = _crossing_message(rule, level, value, threshold)
            still_open[rule.metric] = replace(current, severity=level, threshold=threshold, value=value, message=message)
            events.append(_event(now, EASED, rule.metric, level, current, value, threshold, message))
        else:  # same severity: no event, but the open alert shows the latest value
            still_open[rule.metric] = replace(current, value=value, message=_crossing_message(
                rule, current.severity, value, current.threshold))
    return still_open, events


def health_of(active: Mapping[str, ActiveAlert] | Sequence[ActiveAlert]) -> str:
    """'ok', or the most severe open problem (warning, error, critical); debug/info do not count."""
    alerts = list(active.values()) if isinstance(active, Mapping) else list(active)
    worst = max((SEVERITY_RANK[a.severity] for a in alerts if a.severity in PROBLEM_SEVERITIES), default=None)
    if worst is None:
        return "ok"
    return next(name for name, rank in SEVERITY_RANK.items() if rank == worst)


def _label(metric: str) -> str:
    return METRIC_DISPLAY.get(metric, (metric, str))[0]


def _crossing_message(rule: AlertRule, level: str, value: float, threshold: float) -> str:
    side = "at or above" if rule.when == "above" else "at or below"
    return (f"{_label(rule.metric)} is {format_metric(rule.metric, value)}, {side} the {level} level "
            f"{format_metric(rule.metric, threshold)}")


def _event(now: str, kind: str, metric: str, severity: str, previous: ActiveAlert | None,
           value: float | None, threshold: float | None, message: str) -> AlertEvent:
    return AlertEvent(ts=now, metric=metric, kind=kind, severity=severity,
                      previous_severity=previous.severity if previous is not None else None,
                      value=value, threshold=threshold, message=message)
