#!/usr/bin/env python3
"""Distributed-replay benchmark: days x variants, serial against a dask LocalCluster.

1. writes a sample recording of `--days` trading days (default 20; generation time printed apart),
   unless `--recording DIR` names one;
2. writes `--variants` profiles (default 4): the shadow_trading profile and small overrides of it
   (validation score, cooldown, EV setups per snapshot), each a replay of the same days;
3. replays every variant serially (phase A and B in this process, one variant after the other),
   then on a LocalCluster of each worker count in `--workers` (default 1 and 2; its start, with
   the workers importing the replay code, is timed apart): all variants at once, each variant's
   phase B in its own driver thread, their day tasks on the cluster;
4. checks that every distributed ledger equals its serial ledger row for row (all tables but the
   wall-clock perf_* ones), and prints wall times, the speed-up against serial (goal: at least 1.7x
   on 2 workers), the cluster's start time and the per-task overhead (a no-op task's round trip
   through the same executor).

    python3 scripts/benchmarks/bench_shadow.py --distributed [--days 20] [--variants 4] [--workers 1,2]
    python3 scripts/benchmarks/bench_shadow.py --distributed --days 4 --variants 2   # a quick run

On a shared machine the figures are labelled with the load average seen at the start.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:  # runnable from a plain checkout, without an install
    sys.path.insert(0, str(PROJECT_ROOT))

from tasks.options_trading_system.analysis_engine.strategies.day_executors import (  # noqa: E402
    DaskExecutor, DayExecutor, SerialExecutor)
from tasks.options_trading_system.analysis_engine.strategies.replay_days import compute_day  # noqa: E402
from tasks.options_trading_system.analysis_engine.strategies.shadow_run import (  # noqa: E402
    RunHooks, ShadowRunRequest, run_replay)
from tasks.options_trading_system.sample_data.week import SampleWeekParams, write_sample_week  # noqa: E402
from tasks.options_trading_system.state.ledger import dump_state  # noqa: E402

GOAL_SPEEDUP = 1.7
GOAL_WORKERS = 2
#: the variants: small overrides of the shadow_trading profile (the first is the profile itself)
VARIANTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("base", {}),
    ("min_score_0.5", {"shadow_trading": {"validation": {"min_score": 0.5}}}),
    ("cooldown_30", {"shadow_trading": {"signals": {"cooldown_minutes": 30}}}),
    ("ev_top_2", {"shadow_trading": {"signals": {"ev_top_n": 2}}}),
)
NOOP_TASKS = 40


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=20, help="trading days to replay (default 20; fewer: a quick run)")
    parser.add_argument("--variants", type=int, default=len(VARIANTS), choices=range(1, len(VARIANTS) + 1),
                        help=f"profile variants replayed over the same days (default {len(VARIANTS)})")
    parser.add_argument("--workers", default="1,2", help="LocalCluster sizes to time, comma-separated (default 1,2)")
    parser.add_argument("--recording", type=Path, default=None,
                        help="replay this recording (at least --days days) instead of generating one")


def run(args: argparse.Namespace) -> int:
    sizes = [int(n) for n in str(args.workers).split(",") if n.strip()]
    work = Path(tempfile.mkdtemp(prefix="bench_shadow_distributed_"))
    try:
        print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} "
              f"core(s) (figures measured under that load)")
        recording = args.recording or _generate(work / "recording", args.days)
        variants = _profiles(work / "profiles", args.variants)
        serial = _replay_all(SerialExecutor(), recording, variants, args.days, work / "serial", concurrent=False)
        print(f"\nserial: {serial['wall']:.1f} s for {args.days} days x {len(variants)} variants "
              f"({serial['wall'] / (args.days * len(variants)):.2f} s per day task)")
        met = True
        for size in sizes:
            started = time.perf_counter()
            with DaskExecutor(workers=size) as executor:
                # the workers import the replay code once, as any long-lived cluster has
                executor.client.run(importlib.import_module, compute_day.__module__)
                startup = time.perf_counter() - started
                overhead = _noop_overhead(executor)
                result = _replay_all(executor, recording, variants, args.days, work / f"dask{size}", concurrent=True)
            same = all(dump_state(result["ledgers"][name], ignore_columns={"runs": ["run_id"]})
                       == dump_state(serial["ledgers"][name], ignore_columns={"runs": ["run_id"]})
                       for name in serial["ledgers"])
            speedup = serial["wall"] / result["wall"]
            print(f"LocalCluster {size} worker(s): {result['wall']:.1f} s replay "
                  f"(+{startup:.1f} s cluster start), speed-up {speedup:.2f}x against serial "
                  f"({serial['wall'] / (result['wall'] + startup):.2f}x with the start); "
                  f"ledgers equal to serial: {'yes' if same else 'NO'}; per-task overhead {overhead:.1f} ms "
                  f"(no-op round trip)")
            met = met and same and (size != GOAL_WORKERS or speedup >= GOAL_SPEEDUP)
        if GOAL_WORKERS in sizes:
            print(f"goal: at least {GOAL_SPEEDUP}x on {GOAL_WORKERS} workers, ledgers equal: "
                  f"{'met' if met else 'MISSED'}")
        return 0 if met else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _generate(folder: Path, days: int) -> Path:
    started = time.perf_counter()
    write_sample_week(folder, SampleWeekParams(days=days))
    manifest = json.loads((folder / "manifest.json").read_text())
    snapshots = sum(len(d["snapshots"]) for d in manifest["days"])
    print(f"generated a SAMPLE recording: {len(manifest['days'])} days, {snapshots} chain snapshots in "
          f"{time.perf_counter() - started:.1f} s (not part of the replay)")
    return folder


def _profiles(folder: Path, count: int) -> dict[str, Path]:
    folder.mkdir(parents=True)
    out = {}
    for name, override in VARIANTS[:count]:
        path = folder / f"{name}.json"
        path.write_text(json.dumps({"description": f"benchmark variant {name}", "extends": "shadow_trading",
                                    **override}))
        out[name] = path
    return out


def _replay_all(executor: DayExecutor, recording: Path, variants: dict[str, Path], days: int, out: Path, *,
                concurrent: bool) -> dict[str, Any]:
    """Every variant's replay on `executor`: one after the other, or all at once (a driver thread
    each, so every variant's day tasks keep the cluster busy while the ledgers are written)."""
    ledgers = {name: out / name / "runs" / name / "ledger.sqlite" for name in variants}
    errors: list[str] = []

    def one(name: str) -> None:
        request = ShadowRunRequest(profile=str(variants[name]), replay=recording, days=days, output_dir=out / name,
                                   run_id=name)
        try:
            result = run_replay(request, executor, RunHooks())
        except Exception as exc:  # reported with the others below
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            return
        if result.status != "completed" or result.failed_days:
            errors.append(f"{name}: {result.status}, failed days {dict(result.failed_days)}")

    started = time.perf_counter()
    if concurrent:
        threads = [threading.Thread(target=one, args=(name,), daemon=True) for name in variants]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        for name in variants:
            one(name)
    wall = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{executor.describe()}: " + "; ".join(errors))
    return {"wall": wall, "ledgers": ledgers}


def _noop_overhead(executor: DayExecutor) -> float:
    """Milliseconds per task of `NOOP_TASKS` tasks that do nothing, through `map_days`."""
    started = time.perf_counter()
    outcomes = list(executor.map_days(abs, list(range(NOOP_TASKS))))  # a builtin: nothing to ship but the call
    assert not any(o.failed for o in outcomes)
    return (time.perf_counter() - started) * 1000.0 / NOOP_TASKS


if __name__ == "__main__":
    raise SystemExit(main())
