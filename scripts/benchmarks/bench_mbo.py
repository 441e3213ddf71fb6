#!/usr/bin/env python3
"""MBO benchmark: events per second through order books + flow windows + IFD v3.0 scoring.

On a generated day of at least 5,000,000 MBO records (the project's seeded sample generator,
`sample_data/mbo.py`, 101 strikes x call/put, planted flow), it prints:

1. the bare decode speed of the file: iterating `databento.DBNStore` record by record (the ceiling
   the issue names) and `DBNStore.to_ndarray` in chunks (the decode the replay path uses);
2. replay: decode + book + flow + IFD v3.0 over the whole file, events/s, and its ratio to both
   decode speeds;
3. the engine alone (records already decoded in memory), events/s;
4. the streaming path (`IFDv3Engine.on_record`, one record at a time, as live): its throughput
   over `--stream-records` records, both with the records already decoded (the engine's own
   cost) and with DBN decode in the loop (beside the decode speed), then per-event latency
   p50 / p99 / p99.9 / max over `--latency-records` records (timing each call adds two clock
   reads per record, so that pass is slower than the throughput pass).

Goals on the 2-core reference machine: replay >= 1,000,000 events/s; streaming >= 1,000,000
events/s (engine, records decoded) with p99 under 20 us per event. Times are wall-clock
(time.perf_counter); numba kernels are compiled (or loaded from cache) before anything is timed.

    python3 scripts/benchmarks/bench_mbo.py [--events 5000000] [--file PATH] [--regenerate]
                                            [--latency-records 300000] [--chunk 1000000]
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:  # runnable from a plain checkout, without an install
    sys.path.insert(0, str(PROJECT_ROOT))

import databento as db  # noqa: E402
import databento_dbn  # noqa: E402
import numpy as np  # noqa: E402

from tasks.options_trading_system.analysis_engine.ifd_v3.config import IFDv3Config  # noqa: E402
from tasks.options_trading_system.analysis_engine.ifd_v3.engine import IFDv3Engine  # noqa: E402
from tasks.options_trading_system.data_ingestion.mbo.dbn_file import MBOFile  # noqa: E402
from tasks.options_trading_system.sample_data.mbo import MBOSampleParams, write_sample_day  # noqa: E402

GOAL_EVENTS_PER_S = 1_000_000
GOAL_STREAM_P99_US = 20.0
MIN_EVENTS = 5_000_000
BENCH_STRIKES = 101
BENCH_SEED = 7
DEFAULT_DIR = PROJECT_ROOT / "outputs" / "benchmarks"

log = logging.getLogger("bench_mbo")


def ensure_file(path: Path, events: int, regenerate: bool) -> Path:
    """The benchmark day, generated once (about a minute for 5M records) and reused."""
    if path.is_file() and not regenerate:
        return path
    started = time.perf_counter()
    day = write_sample_day(path, MBOSampleParams(n_events=events, n_strikes=BENCH_STRIKES, seed=BENCH_SEED))
    print(f"generated {day.path} ({day.records:,} records, {day.path.stat().st_size / 1e6:.0f} MB) "
          f"in {time.perf_counter() - started:.1f} s")
    return day.path


def warm_up(mbo: MBOFile, config: IFDv3Config) -> None:
    """Compile (or load from numba's cache) both paths before timing anything."""
    engine = IFDv3Engine(config, definitions=mbo.definitions())
    engine.process_batch(next(iter(mbo.iter_mbo(10_000))))
    for n, record in enumerate(mbo.records()):
        engine.on_record(record)
        if n > 1000:
            break


def decode_iteration(path: Path) -> tuple[int, float]:
    started = time.perf_counter()
    count = sum(1 for _ in db.DBNStore.from_file(path))
    return count, time.perf_counter() - started


def decode_ndarray(mbo: MBOFile, chunk: int) -> tuple[int, float]:
    started = time.perf_counter()
    count = sum(len(c) for c in mbo.iter_mbo(chunk))
    return count, time.perf_counter() - started


def replay(mbo: MBOFile, config: IFDv3Config, chunk: int) -> tuple[int, float, IFDv3Engine]:
    engine = IFDv3Engine(config, definitions=mbo.definitions())
    started = time.perf_counter()
    for records in mbo.iter_mbo(chunk):
        engine.process_batch(records)
    return engine.stats()["events"], time.perf_counter() - started, engine


def engine_only(mbo: MBOFile, config: IFDv3Config, chunk: int) -> tuple[int, float]:
    chunks = list(mbo.iter_mbo(chunk))
    engine = IFDv3Engine(config, definitions=mbo.definitions())
    started = time.perf_counter()
    for records in chunks:
        engine.process_batch(records)
    return engine.stats()["events"], time.perf_counter() - started


def streaming_throughput(mbo: MBOFile, config: IFDv3Config, limit: int) -> tuple[int, float, float]:
    """Events/s of `on_record` over the first `limit` records: (records, seconds with the records
    decoded beforehand, seconds with DBN decode in the loop). Each pass uses a fresh engine whose
    streaming kernel is compiled by a short untimed pass first."""
    import itertools

    records = list(itertools.islice(mbo.records(), limit))

    def fresh() -> IFDv3Engine:
        engine = IFDv3Engine(config)
        for record in records[:2000]:
            engine.on_record(record)
        engine.flush()
        return IFDv3Engine(config)

    engine = fresh()
    on_record = engine.on_record
    started = time.perf_counter()
    for record in records:
        on_record(record)
    engine.flush()
    decoded_s = time.perf_counter() - started

    engine = fresh()
    on_record = engine.on_record
    started = time.perf_counter()
    for record in itertools.islice(mbo.records(), limit):
        on_record(record)
    engine.flush()
    with_decode_s = time.perf_counter() - started
    return len(records), decoded_s, with_decode_s


def streaming(mbo: MBOFile, config: IFDv3Config, limit: int) -> tuple[np.ndarray, float]:
    """Per-record latency (ns) of on_record for the first `limit` MBO records (definitions are
    fed first, untimed)."""
    engine = IFDv3Engine(config)
    latencies = np.zeros(limit, np.int64)
    n = 0
    clock = time.perf_counter_ns
    started = time.perf_counter()
    for record in mbo.records():
        if not isinstance(record, databento_dbn.MBOMsg):
            engine.on_record(record)
            continue
        t0 = clock()
        engine.on_record(record)
        latencies[n] = clock() - t0
        n += 1
        if n == limit:
            break
    return latencies[:n], time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=MIN_EVENTS, help=f"MBO records in the day (default {MIN_EVENTS:,})")
    parser.add_argument("--file", type=Path, help="benchmark file (default outputs/benchmarks/mbo_bench_<events>.mbo.dbn.zst)")
    parser.add_argument("--regenerate", action="store_true", help="write the file even if it exists")
    parser.add_argument("--latency-records", type=int, default=300_000, help="records timed one by one (default 300,000)")
    parser.add_argument("--stream-records", type=int, default=2_000_000,
                        help="records through the streaming throughput passes (default 2,000,000)")
    parser.add_argument("--chunk", type=int, default=1_000_000, help="records decoded per batch (default 1,000,000)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.events < MIN_EVENTS:
        print(f"note: {args.events:,} events is below the issue's {MIN_EVENTS:,}")
    path = ensure_file(args.file or DEFAULT_DIR / f"mbo_bench_{args.events}.mbo.dbn.zst", args.events, args.regenerate)
    config = IFDv3Config()
    mbo = MBOFile(path)
    warm_up(mbo, config)

    total, seconds = decode_iteration(path)
    iteration_rate = total / seconds
    decoded, seconds = decode_ndarray(mbo, args.chunk)
    ndarray_rate = decoded / seconds
    events, replay_s, engine = replay(mbo, config, args.chunk)
    replay_rate = events / replay_s
    only_events, only_s = engine_only(mbo, config, args.chunk)
    stream_n, stream_decoded_s, stream_decode_s = streaming_throughput(mbo, config, args.stream_records)
    latencies, stream_s = streaming(mbo, config, args.latency_records)
    stats = engine.stats()

    print(f"file            : {path.name}: {decoded:,} MBO records ({total:,} records in the file), "
          f"{len(mbo.definitions())} contracts defined beside it")
    print(f"decode ceiling  : DBNStore iteration {iteration_rate:,.0f} records/s; "
          f"DBNStore.to_ndarray {ndarray_rate:,.0f} records/s")
    print(f"replay          : {events:,} events in {replay_s:.2f} s = {replay_rate:,.0f} events/s "
          f"(book + flow + IFD v3.0, decode included)")
    print(f"  ratio         : {replay_rate / iteration_rate:.2f}x DBNStore iteration, "
          f"{replay_rate / ndarray_rate:.2f}x to_ndarray decode")
    print(f"engine only     : {only_events / only_s:,.0f} events/s (records already decoded)")
    stream_rate = stream_n / stream_decoded_s
    stream_decode_rate = stream_n / stream_decode_s
    print(f"streaming       : {stream_n:,} records one at a time through on_record: {stream_rate:,.0f} events/s "
          f"(records decoded beforehand; {stream_rate / ndarray_rate * 100:.0f}% of batch decode, "
          f"{stream_rate / (only_events / only_s):.2f}x the engine's batch path); "
          f"{stream_decode_rate:,.0f} events/s with DBN decode in the loop "
          f"({stream_decode_rate / iteration_rate:.2f}x DBNStore iteration)")
    p50, p99, p999 = np.percentile(latencies, [50, 99, 99.9]) / 1000.0
    print(f"stream latency  : {len(latencies):,} records timed one by one ({len(latencies) / stream_s:,.0f} events/s "
          f"with decode and two clock reads each); per event p50 {p50:.1f} us, p99 {p99:.1f} us, "
          f"p99.9 {p999:.1f} us, max {latencies.max() / 1000.0:.0f} us")
    print(f"engine figures  : {stats['counts']['packets']:,} packets, {stats['book_consistency']['checks_at_f_last']:,} "
          f"book checks ({stats['book_consistency']['crossed']} crossed), {stats['counts']['evaluations']:,} windows "
          f"scored, {stats['counts']['signals']} signals (no baseline history: anomaly 0), anomalies "
          f"{sum(stats['anomalies'].values())}")
    verdict = "met" if replay_rate >= GOAL_EVENTS_PER_S else "NOT met"
    print(f"goal            : replay {GOAL_EVENTS_PER_S:,} events/s through book + flow + IFD v3.0: {verdict}")
    verdict = "met" if stream_rate >= GOAL_EVENTS_PER_S and p99 < GOAL_STREAM_P99_US else "NOT met"
    print(f"goal            : streaming {GOAL_EVENTS_PER_S:,} events/s with p99 < {GOAL_STREAM_P99_US:.0f} us: "
          f"{verdict} ({stream_rate:,.0f} events/s, p99 {p99:.1f} us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
