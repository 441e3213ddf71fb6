"""Production monitoring: sample the real state of the system, raise alerts, serve a dashboard.

- `config`: config/monitoring.json as a frozen `MonitoringConfig`;
- `ledger_reader`, `exports_reader`, `sources_reader`, `system`: read-only views of the shadow
  runs' ledgers, the daily exports, breakers and spend, and the machine;
- `collector`: one snapshot of all of it (what the monitor stores and the dashboard shows);
- `observations`: the six alerting metrics and the compact time-series sample;
- `alerts`: the alert state machine (fire once, escalate, ease, clear once);
- `retention`, `store`: 30-day production_metrics.json and alerts.json, validated, atomic;
- `monitor`: the sampling loop; `control`: halt/resume through the run's ledger, token-gated;
- `charts`, `formatting`, `view`, `dashboard`, `server`: the dashboard (server-side SVG, jinja2
  with autoescape, a stdlib HTTP server bound to 127.0.0.1);
- `cli`: scripts/production_monitor.py and scripts/monitoring_dashboard.py.
See docs/monitoring.md.
"""
