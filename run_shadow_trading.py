#!/usr/bin/env python3
"""Shadow trading, live or replayed: see `python3 run_shadow_trading.py --help` and docs/shadow_trading.md."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tasks.options_trading_system.analysis_engine.strategies.shadow_cli import main  # noqa: E402
from tasks.options_trading_system.output_generation import (  # noqa: E402
    shadow_report_writer, sweep_report_writer, tick_report_writer)

if __name__ == "__main__":
    sys.exit(main(reports=shadow_report_writer, comparison=sweep_report_writer, tick_reports=tick_report_writer))
