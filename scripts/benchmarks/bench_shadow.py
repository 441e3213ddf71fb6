#!/usr/bin/env python3
"""Shadow-trading benchmark: replay the 5-day sample week the way a trader runs it, and time it.

1. writes the sample week (`make_sample_data.py week --days 5`) into a temporary folder, unless
   `--recording DIR` names one (generation time is printed apart: it is not part of the replay);
2. runs `python3 run_shadow_trading.py --replay <week> --days 5` as a child process, `--runs`
   times, and prints the wall time of each run (interpreter start, imports and the IFD v3.0 kernel's
   load included: what the trader waits for), the events processed and events per second, and the
   MBO records behind them;
3. prints the per-step latency percentiles the run measured itself (its ledger's perf tables).

Goal on the 2-core reference machine: the 5-day replay in under 60 s. The first run after a change
to the IFD v3.0 kernel also compiles it (numba, cached on disk afterwards); `--runs 2` shows both.

    python3 scripts/benchmarks/bench_shadow.py [--recording DIR] [--runs 1] [--real]
    python3 scripts/benchmarks/bench_shadow.py --distributed [--days 20] [--variants 4] [--workers 1,2]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:  # runnable from a plain checkout, without an install
    sys.path.insert(0, str(PROJECT_ROOT))

from tasks.options_trading_system.analysis_engine.strategies.results.metrics import percentiles  # noqa: E402
from tasks.options_trading_system.sample_data.week import SampleWeekParams, write_sample_week  # noqa: E402

GOAL_SECONDS = 60.0
DAYS = 5
REAL_BARS = PROJECT_ROOT.parent / "shared" / "data" / "futures" / "NQ_1min_sample.csv"


def main() -> int:
    if "--distributed" in sys.argv[1:]:  # days x variants, serial against a dask LocalCluster
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_shadow_distributed import main as distributed
        return distributed([a for a in sys.argv[1:] if a != "--distributed"])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--distributed", action="store_true",
                        help="instead: serial vs a dask LocalCluster over days x variants "
                             "(bench_shadow_distributed.py; its options: --days, --variants, --workers)")
    parser.add_argument("--recording", type=Path, default=None, help="replay this recording instead of a fresh week")
    parser.add_argument("--runs", type=int, default=1, help="replays to time (default 1)")
    parser.add_argument("--real", action="store_true", help="also time the week on the real NQ bars (../shared/data)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_shadow_"))
    try:
        weeks = [("sample week", args.recording or _generate(work / "week", None))]
        if args.real:
            weeks.append(("real NQ bars", _generate(work / "real", REAL_BARS)))
        worst = 0.0
        for label, recording in weeks:
            for run in range(1, args.runs + 1):
                worst = max(worst, _replay(label, recording, work / f"out_{label.split()[0]}_{run}", run))
        verdict = "met" if worst < GOAL_SECONDS else "MISSED"
        print(f"\ngoal: {DAYS}-day replay under {GOAL_SECONDS:.0f} s on this machine: {verdict} "
              f"(slowest run {worst:.1f} s)")
        return 0 if worst < GOAL_SECONDS else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _generate(folder: Path, price_path: Path | None) -> Path:
    started = time.perf_counter()
    params = SampleWeekParams(days=DAYS) if price_path is None else \
        SampleWeekParams(days=DAYS, start=SampleWeekParams().start.replace(year=1900))
    write_sample_week(folder, params, price_path=price_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    snapshots = sum(len(d["snapshots"]) for d in manifest["days"])
    print(f"generated {folder.name}: {len(manifest['days'])} days, {snapshots} chain snapshots, "
          f"{_mbo_records(folder)} MBO records in {time.perf_counter() - started:.1f} s (not part of the replay)")
    return folder


def _replay(label: str, recording: Path, out: Path, run: int) -> float:
    command = [sys.executable, "run_shadow_trading.py", "--replay", str(recording), "--days", str(DAYS),
               "--output-dir", str(out), "--run-id", "bench", "--no-progress", "-q"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    wall = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"{label}: the replay failed (exit {done.returncode})")
    ledger = out / "runs" / "bench" / "ledger.sqlite"
    db = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        events = db.execute("SELECT COUNT(*) FROM perf_latency WHERE metric = 'cycle'").fetchone()[0]
        signals = db.execute("SELECT COUNT(*) FROM signals").fetchone()[0]
        transactions = db.execute("SELECT transactions FROM progress").fetchone()[0]
        latency = {}
        for metric, in db.execute("SELECT DISTINCT metric FROM perf_latency ORDER BY metric").fetchall():
            values = [r[0] for r in db.execute("SELECT ms FROM perf_latency WHERE metric = ?", (metric,))]
            latency[metric] = percentiles(values)
    finally:
        db.close()
    final = json.loads((out / "runs" / "bench" / "final_results.json").read_text())
    print(f"\n{label}, run {run}: {wall:.1f} s wall for {events} events ({events / wall:.1f} events/s), "
          f"{signals} signals, {transactions} ledger transactions, verdict {final['verdict']}")
    print(f"  {'step':<22}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    for metric, p in latency.items():
        print(f"  {metric:<22}{p['count']:>6}{p['p50']:>10.1f}{p['p95']:>10.1f}{p['p99']:>10.1f}")
    return wall


def _mbo_records(folder: Path) -> int:
    total = 0
    for truth in (folder / "mbo").glob("*.truth.json"):
        total += int(json.loads(truth.read_text()).get("records", 0))
    return total


if __name__ == "__main__":
    raise SystemExit(main())
