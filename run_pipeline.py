#!/usr/bin/env python3
"""Daily NQ options analysis: `python3 run_pipeline.py --help` for options."""
import sys

from tasks.options_trading_system.pipeline_cli import main

if __name__ == "__main__":
    sys.exit(main())
