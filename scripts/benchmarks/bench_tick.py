#!/usr/bin/env python3
"""Tick-execution benchmark: ticks per second through bars + indicators + strategies, and the
decision latency of the streaming path.

On a generated session of the NQ future (`sample_data/ticks.py`, default 1,000,000 trades) it prints:
1. the decode speed of the DBN trades file (`read_ticks`), the reference the rest is compared with;
2. replay: bars + VWAP + every futures strategy + aggregation + sizing over the whole session,
   ticks/s, against the goal (>= 1,000,000 ticks/s) and the decode speed;
3. streaming (`TickDecisionEngine.on_tick`, one tick at a time, as live): latency from tick
   arrival to decision (or to "nothing to do") p50 / p99 / p99.9 / max over `--latency-ticks`
   ticks, against the goal (p99 < 20 us);
4. the whole session through `TickExecutionOrchestrator.on_tick` (paper broker, risk engine, a
   ledger on disk), so the strategies decide as on a real day: per tick (exits on ticks + decisions) p50 / p99 / p99.9 against the same goal
   and against step 3, and per decision the latency from the tick's arrival to the order intent
   recorded (sizing, guards, broker, the ledger's transaction committed).
Times are wall-clock (time.perf_counter[_ns]); numba kernels are compiled before anything is timed.

    python3 scripts/benchmarks/bench_tick.py [--trades 1000000] [--latency-ticks 300000]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tasks.options_trading_system.analysis_engine.strategies.sizing import build_sizer  # noqa: E402
from tasks.options_trading_system.analysis_engine.strategies.strategies_futures import build_strategies  # noqa: E402
from tasks.options_trading_system.analysis_engine.strategies.strategies_futures.aggregator import (  # noqa: E402
    SignalAggregator)
from tasks.options_trading_system.analysis_engine.strategies.strategies_futures.engine import (  # noqa: E402
    SizingInputs, TickDecisionEngine)
from tasks.options_trading_system.analysis_engine.strategies.tick_config import TickExecutionConfig  # noqa: E402
from tasks.options_trading_system.analysis_engine.strategies.tick_execution_orchestrator import (  # noqa: E402
    TickExecutionOrchestrator, tick_day_label)
from tasks.options_trading_system.config_manager import load_profile  # noqa: E402
from tasks.options_trading_system.data_ingestion.ticks.dbn_ticks import read_ticks  # noqa: E402
from tasks.options_trading_system.data_ingestion.ticks.feed import ReplayTickFeed  # noqa: E402
from tasks.options_trading_system.state.ledger import RUN_RUNNING, Ledger  # noqa: E402
from tasks.options_trading_system.sample_data.ticks import TickSampleParams, write_sample_ticks  # noqa: E402

GOAL_TICKS_PER_S = 1_000_000
GOAL_P99_US = 20.0
DEFAULT_DIR = PROJECT_ROOT / "outputs" / "benchmarks" / "ticks"
STRATEGIES = {"mean_reversion": {"period": "5m"}, "momentum": {"period": "30m"},
              "volatility_breakout": {"period": "5m"}, "volatility_carry": {"period": "30m"}}


def make_engine() -> TickDecisionEngine:
    return TickDecisionEngine(build_strategies(STRATEGIES), SignalAggregator(), build_sizer("fixed"),
                              sizing=SizingInputs(equity_usd=100_000.0, multiplier=2.0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--trades", type=int, default=1_000_000, help="trades in the session (default 1,000,000)")
    parser.add_argument("--latency-ticks", type=int, default=300_000, help="ticks timed one by one (default 300,000)")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"where the session is generated ({DEFAULT_DIR})")
    args = parser.parse_args(argv)

    params = TickSampleParams(days=1, trades_per_day=args.trades, seed=7)
    folder = args.dir / f"{args.trades}"
    files = sorted(folder.glob("*.trades.dbn.zst"))
    if not files:
        write_sample_ticks(folder, params)
        files = sorted(folder.glob("*.trades.dbn.zst"))
    path = files[0]
    end = pd.Timestamp(f"{params.start} 16:00", tz="America/New_York").value

    started = time.perf_counter()
    ticks = read_ticks(path)
    decode_s = time.perf_counter() - started
    n = len(ticks)
    decode_rate = n / decode_s
    print(f"session: {path.name}, {n:,} trades (SAMPLE DATA)")
    print(f"1. decode (read_ticks):      {decode_rate / 1e6:8.2f} M ticks/s  ({decode_s * 1e3:.0f} ms)")

    make_engine().replay(ticks.ts_ns[:5000], ticks.price[:5000], ticks.size[:5000], end)  # compile
    best = float("inf")
    decisions = []
    for _ in range(3):
        started = time.perf_counter()
        decisions = make_engine().replay(ticks.ts_ns, ticks.price, ticks.size, end)
        best = min(best, time.perf_counter() - started)
    rate = n / best
    taken = sum(d.intent is not None for d in decisions)
    print(f"2. replay (bars+strategies): {rate / 1e6:8.2f} M ticks/s  ({best * 1e3:.0f} ms, best of 3; "
          f"{len(decisions)} decisions, {taken} taken)")
    print(f"   vs goal {GOAL_TICKS_PER_S / 1e6:.1f} M/s: {rate / GOAL_TICKS_PER_S:.1f}x; vs decode: {rate / decode_rate:.2f}x")

    engine = make_engine()
    m = min(args.latency_ticks, n)
    lat = time_each(engine.on_tick, ticks, m)
    p50, p99, p999 = np.percentile(lat, [50, 99, 99.9]) / 1e3
    print(f"3. streaming (on_tick):      p50 {p50:.2f} us, p99 {p99:.2f} us, p99.9 {p999:.2f} us, "
          f"max {lat.max() / 1e3:.0f} us over {m:,} ticks ({m / (lat.sum() / 1e9) / 1e6:.2f} M ticks/s)")
    print(f"   vs goal p99 < {GOAL_P99_US:.0f} us: {'met' if p99 < GOAL_P99_US else 'NOT met'} "
          f"({GOAL_P99_US / p99:.1f}x headroom)")
    orchestrator_latency(folder, ticks, n, p99)
    return 0


def time_each(on_tick, ticks, m: int) -> np.ndarray:
    """ns taken by `on_tick(ts, price, size)` for each of the first `m` ticks, one at a time."""
    ts, price, size = ticks.ts_ns[:m].tolist(), ticks.price[:m].tolist(), ticks.size[:m].tolist()
    lat = np.empty(m, np.int64)
    clock = time.perf_counter_ns
    for i in range(m):
        t0 = clock()
        on_tick(ts[i], price[i], size[i])
        lat[i] = clock() - t0
    return lat


def orchestrator_latency(folder: Path, ticks, m: int, engine_p99_us: float) -> None:
    """Step 4: the first `m` ticks (the whole session) through the orchestrator's streaming path,
    ledger on disk."""
    config = TickExecutionConfig.from_profile(load_profile("tick_execution", env={}))
    day = tick_day_label(config, int(ticks.ts_ns[0]))
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(Path(tmp) / "ledger.sqlite")
        with ledger.transaction(day=None, event_index=None, sim_time=None) as tx:
            tx.insert("runs", {"run_id": "bench", "mode": "replay", "profile": "tick_execution", "config_json": "{}",
                               "data_dir": str(folder), "price_path": None, "start_date": day, "days": 1,
                               "trading_days_json": json.dumps([day]), "status": RUN_RUNNING, "status_reason": "",
                               "status_at": None})
        orchestrator = TickExecutionOrchestrator(config=config, ledger=ledger, feed=ReplayTickFeed(folder),
                                                 days=[day], mode="stream")
        lat = time_each(orchestrator.on_tick, ticks, m)
        ledger.flush_perf()
        orders = np.array([r["ms"] for r in ledger.rows("SELECT ms FROM perf_latency WHERE metric = 'tick_to_order'")])
        recorded = np.array([r["ms"] for r in ledger.rows("SELECT ms FROM perf_latency "
                                                          "WHERE metric = 'tick_to_recorded'")])
        trades = ledger.scalar("SELECT COUNT(*) FROM positions")
        ledger.close()
    p50, p99, p999 = np.percentile(lat, [50, 99, 99.9]) / 1e3
    print(f"4. orchestrator (on_tick):   p50 {p50:.2f} us, p99 {p99:.2f} us, p99.9 {p999:.2f} us, "
          f"max {lat.max() / 1e3:.0f} us over {m:,} ticks ({m / (lat.sum() / 1e9) / 1e6:.2f} M ticks/s; "
          f"exits on ticks + decisions, paper broker, ledger on disk)")
    print(f"   vs goal p99 < {GOAL_P99_US:.0f} us: {'met' if p99 < GOAL_P99_US else 'NOT met'} "
          f"({GOAL_P99_US / p99:.1f}x headroom); vs the engine alone (step 3): {p99 / engine_p99_us:.2f}x p99")
    for name, values, what in (("tick to order sent", orders, "sizing and guards on the ledger, bracket to the broker"),
                               ("tick to decision recorded", recorded, "... and the decision's SQLite commit")):
        if values.size:
            q50, q99 = np.percentile(values * 1e3, [50, 99])
            print(f"   {name}: {values.size} decision(s), {trades} position(s); p50 {q50:.0f} us, p99 {q99:.0f} us, "
                  f"max {values.max() * 1e3:.0f} us ({what})")
        else:
            print(f"   {name}: no order in this session")


if __name__ == "__main__":
    sys.exit(main())
