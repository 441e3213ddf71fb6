#!/usr/bin/env python3
"""Production monitor: sample the shadow runs, sources, spend and machine every interval.

  python3 scripts/production_monitor.py            # every 60 s (config/monitoring.json), Ctrl-C stops
  python3 scripts/production_monitor.py --once     # one sample, then exit

Appends each sample to outputs/monitoring/metrics_history.sqlite (30 days kept) and writes the
latest snapshot to production_metrics.json, plus alerts.json and monitor.log.
See docs/monitoring.md.
"""
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:  # runnable from a plain checkout, without an install
    sys.path.insert(0, str(PROJECT_ROOT))

from tasks.options_trading_system.monitoring.cli import monitor_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(monitor_main())
