"""Alerts fire once when a threshold is crossed, change severity at the next level, clear once."""
from __future__ import annotations

import math
from types import MappingProxyType

import pytest

from tasks.options_trading_system.monitoring.alerts import (ActiveAlert, Observation, evaluate_alerts, format_metric,
                                                            health_of)
from tasks.options_trading_system.monitoring.config import AlertRule


def rule(metric: str, when: str, levels: dict, *, margin: float = 0.0, min_obs: int = 0,
         enabled: bool = True) -> AlertRule:
    return AlertRule(metric=metric, enabled=enabled, when=when, levels=MappingProxyType(levels),
                     clear_margin=margin, min_observations=min_obs)


COST = rule("daily_cost_usd", "above", {"warning": 6.4, "critical": 8.0})
ACCURACY = rule("signal_accuracy", "below", {"warning": 0.55, "error": 0.45}, margin=0.02, min_obs=10)


def run(rules: list[AlertRule], series: list[dict[str, Observation]]) -> tuple[dict, list]:
    """Feed samples one by one, as the monitor does; return the final open alerts and every event."""
    active: dict[str, ActiveAlert] = {}
    events = []
    for minute, observations in enumerate(series):
        active, new = evaluate_alerts(rules, observations, active, f"2025-06-02T14:{minute:02d}:00+00:00")
        events.extend(new)
    return active, events


def cost(*values: float) -> list[dict[str, Observation]]:
    return [{"daily_cost_usd": Observation(v, 1)} for v in values]


def test_a_crossed_threshold_fires_once_however_many_samples_stay_above_it() -> None:
    active, events = run([COST], cost(5.0, 6.5, 6.9, 7.2, 7.9))
    assert [(e.kind, e.severity, e.value) for e in events] == [("fired", "warning", 6.5)]
    assert events[0].ts == "2025-06-02T14:01:00+00:00"
    assert events[0].message == "data spend today is $6.50, at or above the warning level $6.40"
    assert active["daily_cost_usd"].value == 7.9          # the open alert shows the latest value
    assert active["daily_cost_usd"].message == "data spend today is $7.90, at or above the warning level $6.40"
    assert active["daily_cost_usd"].since == "2025-06-02T14:01:00+00:00"


def test_crossing_a_more_severe_level_escalates_and_recovery_clears_once() -> None:
    active, events = run([COST], cost(6.5, 8.0, 8.4, 7.0, 5.0, 4.0))
    assert [(e.kind, e.severity, e.previous_severity) for e in events] == [
        ("fired", "warning", None), ("escalated", "critical", "warning"),
        ("eased", "warning", "critical"), ("cleared", "warning", "warning")]
    assert active == {}


def test_a_value_hovering_at_the_line_does_not_flap_with_a_clear_margin() -> None:
    # accuracy warning at 0.55 with a 0.02 margin: it clears only at or above 0.57 (0.55 + 0.02 is not enough)
    series = [{"signal_accuracy": Observation(v, 20)} for v in (0.56, 0.55, 0.56, 0.55, 0.56, 0.5701, 0.60)]
    _active, events = run([ACCURACY], series)
    assert [(e.kind, e.value) for e in events] == [("fired", 0.55), ("cleared", 0.5701)]


def test_missing_data_neither_fires_nor_clears() -> None:
    series = [{"signal_accuracy": Observation(0.40, 12)},            # error
              {"signal_accuracy": Observation(math.nan, 0)},         # no data: not a recovery
              {}]                                                    # metric absent entirely
    active, events = run([ACCURACY], series)
    assert [e.kind for e in events] == ["fired"]
    assert active["signal_accuracy"].severity == "error"


def test_too_few_observations_do_not_count() -> None:
    # 3 resolved signals, all losers: 0% accuracy means nothing yet (min_observations 10)
    active, events = run([ACCURACY], [{"signal_accuracy": Observation(0.0, 3)}])
    assert events == [] and active == {}


def test_disabling_a_rule_clears_its_open_alert() -> None:
    active, _ = run([COST], cost(9.0))
    off = rule("daily_cost_usd", "above", {"warning": 6.4, "critical": 8.0}, enabled=False)
    active, events = evaluate_alerts([off], {"daily_cost_usd": Observation(9.0, 1)}, active, "2025-06-02T15:00:00+00:00")
    assert active == {} and [(e.kind, e.previous_severity) for e in events] == [("cleared", "critical")]


def test_all_five_severities_can_fire() -> None:
    every = rule("latency_p95_ms", "above", {"debug": 100, "info": 200, "warning": 300, "error": 400, "critical": 500})
    series = [{"latency_p95_ms": Observation(v, 9)} for v in (150, 250, 350, 450, 550)]
    _active, events = run([every], series)
    assert [e.severity for e in events] == ["debug", "info", "warning", "error", "critical"]
    assert [e.kind for e in events] == ["fired", "escalated", "escalated", "escalated", "escalated"]


def test_health_is_the_worst_open_problem_and_ignores_notes() -> None:
    def alert(metric: str, severity: str) -> ActiveAlert:
        return ActiveAlert(metric=metric, severity=severity, threshold=1, since="t", value=1, message="m")
    assert health_of({}) == "ok"
    assert health_of({"a": alert("a", "info"), "b": alert("b", "debug")}) == "ok"
    assert health_of({"a": alert("a", "warning"), "b": alert("b", "error"), "c": alert("c", "info")}) == "error"


def test_values_read_as_a_trader_reads_them() -> None:
    assert format_metric("signal_accuracy", 0.5625) == "56.2%"
    assert format_metric("latency_p95_ms", 12345.6) == "12,346 ms"
    assert format_metric("daily_cost_usd", math.nan) == "missing"


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
