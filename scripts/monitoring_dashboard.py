#!/usr/bin/env python3
"""Monitoring dashboard: serve it on http://127.0.0.1:8080/ (uvicorn; open pages get fresh figures pushed).

  python3 scripts/monitoring_dashboard.py                 # 127.0.0.1:8080 (config/monitoring.json)
  python3 scripts/monitoring_dashboard.py --port 9000
  python3 scripts/monitoring_dashboard.py --host 0.0.0.0  # other machines too (a warning says so)
  MONITOR_CONTROL_TOKEN=... python3 scripts/monitoring_dashboard.py   # halt/resume allowed with that token

Also rewrites outputs/monitoring/dashboard.html, a static copy, on each refresh. See docs/monitoring.md.
"""
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:  # runnable from a plain checkout, without an install
    sys.path.insert(0, str(PROJECT_ROOT))

from tasks.options_trading_system.monitoring.cli import dashboard_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(dashboard_main())
