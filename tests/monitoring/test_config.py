"""config/monitoring.json: shipped file loads, defaults fill what a file leaves out, mistakes are named."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.options_trading_system.errors import ConfigError
from tasks.options_trading_system.monitoring.config import MONITORING_FILE, load_monitoring_config


def write(tmp_path: Path, body: dict) -> Path:
    path = tmp_path / "monitoring.json"
    path.write_text(json.dumps(body))
    return path


def test_shipped_file_loads_with_the_issue_thresholds() -> None:
    config = load_monitoring_config(MONITORING_FILE, base_dir=Path("/srv/nq"))
    assert config.interval_s == 60
    assert config.retention_days == 30
    assert {r.metric for r in config.rules} == {"signal_accuracy", "latency_p95_ms", "error_rate",
                                                "daily_cost_usd", "uptime_pct", "monthly_budget_pct"}
    assert dict(config.rule("daily_cost_usd").levels) == {"warning": 6.4, "critical": 8.0}
    assert config.rule("signal_accuracy").when == "below"
    assert config.dashboard.host == "127.0.0.1" and config.dashboard.port == 8080
    assert config.metrics_file == Path("/srv/nq/outputs/monitoring/production_metrics.json")
    assert config.control_token_env == "MONITOR_CONTROL_TOKEN"


def test_a_minimal_file_gets_every_default_from_the_schema(tmp_path: Path) -> None:
    config = load_monitoring_config(write(tmp_path, {"description": "minimal"}), base_dir=tmp_path)
    assert config.shadow_runs_dir == tmp_path / "outputs" / "shadow_trading" / "runs"
    accuracy = config.rule("signal_accuracy")
    assert (accuracy.when, dict(accuracy.levels), accuracy.min_observations) == ("below", {"warning": 0.55, "error": 0.45}, 10)
    assert dict(config.rule("monthly_budget_pct").levels) == {"info": 50.0, "warning": 80.0, "critical": 100.0}
    assert config.dashboard.refresh_s == 5


def test_overriding_one_rule_keeps_that_rules_own_direction(tmp_path: Path) -> None:
    body = {"description": "x", "alerts": {"uptime_pct": {"levels": {"critical": 90}}}}
    rule = load_monitoring_config(write(tmp_path, body), base_dir=tmp_path).rule("uptime_pct")
    assert rule.when == "below" and dict(rule.levels) == {"critical": 90.0}


def test_a_bad_value_names_the_file_path_value_and_what_was_expected(tmp_path: Path) -> None:
    path = write(tmp_path, {"description": "x", "alerts": {"error_rate": {"when": "sideways"}}})
    with pytest.raises(ConfigError) as caught:
        load_monitoring_config(path, base_dir=tmp_path)
    message = str(caught.value)
    assert "$.alerts.error_rate.when" in message and "'sideways'" in message and "'above', 'below'" in message


def test_an_unknown_metric_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, {"description": "x", "alerts": {"win_rate": {"levels": {"warning": 0.4}}}})
    with pytest.raises(ConfigError, match="unknown key 'win_rate'.*signal_accuracy"):
        load_monitoring_config(path, base_dir=tmp_path)


def test_levels_in_the_wrong_order_are_refused(tmp_path: Path) -> None:
    body = {"description": "x", "alerts": {"daily_cost_usd": {"levels": {"warning": 9, "critical": 8}}}}
    with pytest.raises(ConfigError, match=r"daily_cost_usd\.levels: the critical level 8 must be at or above the warning level 9"):
        load_monitoring_config(write(tmp_path, body), base_dir=tmp_path)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
