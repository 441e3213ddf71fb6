"""Production monitoring: sample the real state of the system, raise alerts, serve a dashboard.

- `config`: config/monitoring.json as a frozen `MonitoringConfig`;
- `alerts`: the alert state machine (fire once, escalate, ease, clear once);
- `retention`: keep the last N days of a time series;
- `system`: CPU, memory, disk, process uptime (psutil);
- `store`: production_metrics.json and alerts.json, validated and written atomically.
"""
