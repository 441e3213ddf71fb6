#!/usr/bin/env python3
"""Distributed-sweep benchmark: days x variants, the serial sweep against the dask sweep.

1. writes a sample recording of `--days` trading days (default 20; generation time printed apart),
   unless `--recording DIR` names one;
2. writes a sweep file of `--variants` variants (default 4): the shadow_trading profile and small
   overrides of it (validation score, cooldown: phase-B settings; EV setups per snapshot: a
   phase-A one), each a replay of the same days;
3. runs the sweep with the serial runner (`run_sweep`, one variant after the other in this
   process), then with the dask runner on a LocalCluster of each worker count in `--workers`
   (default 1 and 2; the cluster's start, with the workers importing the replay code, is timed
   apart): every variant's run as a task on a worker (its phase B and ledger there), its days'
   phase A as day tasks on the same cluster, shared by variants with the same phase A
   (`--no-share`: each variant computes its own, to see what the sharing brings);
4. checks that every dask ledger equals its serial ledger row for row (all tables but the
   wall-clock perf_* ones), and prints wall times, CPU time (this process, which holds the
   scheduler, plus the worker processes), the speed-up against serial (goal: at least 1.7x on 2
   workers), the cluster's start time and the per-task overhead (a no-op task's round trip).

    python3 scripts/benchmarks/bench_shadow.py --distributed [--days 20] [--variants 4] [--workers 1,2]
    python3 scripts/benchmarks/bench_shadow.py --distributed --days 4 --variants 2   # a quick run

On a shared machine the figures are labelled with the load average seen at the start and end.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:  # runnable from a plain checkout, without an install
    sys.path.insert(0, str(PROJECT_ROOT))

from tasks.options_trading_system.analysis_engine.strategies.day_executors import (  # noqa: E402
    DaskExecutor, DayExecutor)
from tasks.options_trading_system.analysis_engine.strategies.replay_days import compute_day  # noqa: E402
from tasks.options_trading_system.analysis_engine.strategies.shadow_run import RunHooks  # noqa: E402
from tasks.options_trading_system.analysis_engine.strategies.sweep import SweepRequest, run_sweep  # noqa: E402
from tasks.options_trading_system.analysis_engine.strategies.sweep.worker_variant import run_variant_on_worker  # noqa: E402
from tasks.options_trading_system.sample_data.week import SampleWeekParams, write_sample_week  # noqa: E402
from tasks.options_trading_system.state.ledger import dump_state  # noqa: E402

GOAL_SPEEDUP = 1.7
GOAL_WORKERS = 2
SWEEP_ID = "bench"
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
    parser.add_argument("--no-share", action="store_true",
                        help="every variant computes its own phase A on the cluster (no sharing between variants)")


def run(args: argparse.Namespace) -> int:
    sizes = [int(n) for n in str(args.workers).split(",") if n.strip()]
    work = Path(tempfile.mkdtemp(prefix="bench_shadow_distributed_"))
    try:
        print(f"load average at start: {_load()} on {os.cpu_count()} core(s) (figures measured under that load)")
        recording = args.recording or _generate(work / "recording", args.days)
        sweep_file = _sweep_file(work / "sweep.json", args.variants, args.days)
        serial = _sweep(sweep_file, recording, args.days, work / "serial", None, {"runner": "serial"})
        print(f"\nserial sweep: {serial['wall']:.1f} s wall, {serial['cpu']:.1f} s CPU for {args.days} days x "
              f"{args.variants} variants ({serial['wall'] / (args.days * args.variants):.2f} s per day x variant); "
              f"load now {_load()}")
        met = True
        for size in sizes:
            started = time.perf_counter()
            with DaskExecutor(workers=size) as executor:
                # the workers import the replay code once, as any long-lived cluster has
                for module in (compute_day.__module__, run_variant_on_worker.__module__):
                    executor.client.run(importlib.import_module, module)
                startup = time.perf_counter() - started
                overhead = _noop_overhead(executor)
                options = {"runner": "dask", "client": executor.client, "phase_b": "workers",
                           "share_phase_a": not args.no_share}
                result = _sweep(sweep_file, recording, args.days, work / f"dask{size}", executor, options)
            same = all(_state(result["ledgers"][name]) == _state(serial["ledgers"][name]) for name in serial["ledgers"])
            speedup = serial["wall"] / result["wall"]
            print(f"LocalCluster {size} worker(s): {result['wall']:.1f} s wall, {result['cpu']:.1f} s CPU "
                  f"(driver and scheduler {result['cpu_driver']:.1f} s, workers {result['cpu'] - result['cpu_driver']:.1f} s) "
                  f"(+{startup:.1f} s cluster start), speed-up {speedup:.2f}x against serial "
                  f"({serial['wall'] / (result['wall'] + startup):.2f}x with the start); "
                  f"ledgers equal to serial: {'yes' if same else 'NO'}; per-task overhead {overhead:.1f} ms "
                  f"(no-op round trip); phase A {'per variant' if args.no_share else 'shared'}; load now {_load()}")
            met = met and same and (size != GOAL_WORKERS or speedup >= GOAL_SPEEDUP)
        if GOAL_WORKERS in sizes:
            print(f"goal: at least {GOAL_SPEEDUP}x on {GOAL_WORKERS} workers, ledgers equal: "
                  f"{'met' if met else 'MISSED'}")
        return 0 if met else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _generate(folder: Path, days: int) -> Path:
    started = time.perf_counter()
    write_sample_week(folder, SampleWeekParams(days=days))
    manifest = json.loads((folder / "manifest.json").read_text())
    snapshots = sum(len(d["snapshots"]) for d in manifest["days"])
    print(f"generated a SAMPLE recording: {len(manifest['days'])} days, {snapshots} chain snapshots in "
          f"{time.perf_counter() - started:.1f} s (not part of the replay)")
    return folder


def _sweep_file(path: Path, count: int, days: int) -> Path:
    variants = [{"name": name, "overrides": override} for name, override in VARIANTS[:count]]
    path.write_text(json.dumps({"id": SWEEP_ID, "profile": "shadow_trading", "days": days, "rank_by": "sharpe",
                                "description": "distributed-sweep benchmark", "variants": variants}))
    return path


def _sweep(sweep_file: Path, recording: Path, days: int, out: Path, executor: DayExecutor | None,
           options: dict[str, Any]) -> dict[str, Any]:
    """The sweep with `options["runner"]` (the rest: the runner's options): wall time, CPU time of
    this process (and, on a cluster, of its workers), each variant's ledger."""
    options = dict(options)
    runner = options.pop("runner")
    request = SweepRequest(sweep_file=sweep_file, replay=recording, days=days, output_dir=out)
    workers_before = _worker_cpu(executor)
    cpu_before = time.process_time()
    started = time.perf_counter()
    result = run_sweep(request, RunHooks(), runner=runner, runner_options=options)
    wall = time.perf_counter() - started
    cpu_driver = time.process_time() - cpu_before
    cpu_workers = _worker_cpu(executor) - workers_before
    bad = [f"{o.name}: {o.status} {o.error or ''}" for o in result.outcomes if o.status != "completed"]
    if bad:
        raise SystemExit(f"{runner} sweep: " + "; ".join(bad))
    ledgers = {o.name: out / "runs" / o.run_id / "ledger.sqlite" for o in result.outcomes}
    return {"wall": wall, "cpu": cpu_driver + cpu_workers, "cpu_driver": cpu_driver, "ledgers": ledgers}


def _worker_cpu(executor: DayExecutor | None) -> float:
    """CPU seconds used so far by the cluster's worker processes (0 without a cluster)."""
    if not isinstance(executor, DaskExecutor):
        return 0.0
    times = executor.client.run(time.process_time)
    return float(sum(times.values()))


def _state(path: Path) -> dict[str, list[tuple]]:
    return dump_state(path, ignore_columns={"runs": ["run_id", "profile", "config_json"]})


def _noop_overhead(executor: DayExecutor) -> float:
    """Milliseconds per task of `NOOP_TASKS` tasks that do nothing, through `map_days`."""
    started = time.perf_counter()
    outcomes = list(executor.map_days(abs, list(range(NOOP_TASKS))))  # a builtin: nothing to ship but the call
    assert not any(o.failed for o in outcomes)
    return (time.perf_counter() - started) * 1000.0 / NOOP_TASKS


if __name__ == "__main__":
    raise SystemExit(main())
