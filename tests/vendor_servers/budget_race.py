"""Several processes racing one data budget against the Databento stand-in.

`race_budget` starts `processes` Python processes, each building a `DatabentoSource` with its
own output folder (so nothing is cached for it) and the same state directory (so one spend
ledger), holds them at a start line until all are ready, releases them together and returns
each one's outcome: {"outcome": "served" | "refused" | "error", "code", "cost_usd", "reason"}.
Used by the budget tests and by `scripts/fault_matrix.py`.

Run as a child: `python -m tests.vendor_servers.budget_race GATEWAY OUTPUT_DIR GO_FILE DAILY_BUDGET`.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[2]
KEY = "db-" + "k" * 29
NOW = pd.Timestamp("2025-06-02 14:30", tz="UTC")
START_LINE_WAIT_S = 60.0


def race_budget(gateway: str, workdir: Path, *, processes: int, daily_budget_usd: float,
                timeout_s: float = 120.0) -> list[dict]:
    """Start the racers, release them at once, collect their outcomes (bounded by `timeout_s`)."""
    go = workdir / "go"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "DATABENTO_API_KEY": KEY}
    children = [subprocess.Popen([sys.executable, "-m", "tests.vendor_servers.budget_race", gateway,
                                  str(workdir / f"run{i}"), str(go), str(daily_budget_usd)],
                                 cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for i in range(processes)]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and sum((workdir / f"run{i}.ready").exists() for i in range(processes)) < processes:
        time.sleep(0.05)
    go.write_text("go")
    outcomes = []
    for child in children:
        try:
            out, err = child.communicate(timeout=max(deadline - time.monotonic(), 1.0))
        except subprocess.TimeoutExpired:
            child.kill()
            out, err = child.communicate()
        lines = out.strip().splitlines()
        outcomes.append(json.loads(lines[-1]) if lines else {"outcome": "error", "code": "CRASH", "cost_usd": 0.0,
                                                              "reason": err[-2000:]})
    return outcomes


def _run_one(gateway: str, output_dir: Path, go: Path, daily_budget_usd: float) -> dict:
    from tasks.options_trading_system.data_ingestion.databento.config import DatabentoConfig
    from tasks.options_trading_system.data_ingestion.databento.source import DatabentoSource
    from tasks.options_trading_system.data_ingestion.sources_registry import ChainRequest
    from tasks.options_trading_system.errors import DataSourceError

    source = DatabentoSource(DatabentoConfig(gateway=gateway, max_days_to_expiration=21,
                                             daily_budget_usd=daily_budget_usd),
                             env={"DATABENTO_API_KEY": KEY}, output_root=output_dir)
    request = ChainRequest(trade_date=date(2025, 6, 2), now=NOW)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{output_dir}.ready").write_text("ready")
    waited = time.monotonic() + START_LINE_WAIT_S
    while not go.exists() and time.monotonic() < waited:
        time.sleep(0.005)
    try:
        source.fetch(request)
    except DataSourceError as exc:
        outcome = "refused" if exc.code in ("BUDGET", "BAD_QUOTE") else "error"
        return {"outcome": outcome, "code": exc.code, "cost_usd": exc.cost_usd, "reason": str(exc)}
    return {"outcome": "served", "code": "OK", "cost_usd": source.last_cost_usd, "reason": ""}


if __name__ == "__main__":
    result = _run_one(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4]))
    print(json.dumps(result))
