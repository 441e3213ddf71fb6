"""`run_shadow_trading.py`: command-line options in, a shadow run out.

Exit codes: 0 the run completed, 130 it was interrupted (Ctrl-C or a stop control; continue it
with --resume RUN_ID), else the error's own code (2 configuration, 3 no data, 1 other). Ctrl-C
stops cleanly after the current event; a second Ctrl-C aborts at once.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from datetime import date
from pathlib import Path
from typing import Any

from ...errors import ConfigError, OptionsSystemError
from ...logging_setup import configure_logging
from ...state.ledger import RUN_COMPLETED
from .shadow_run import (DEFAULT_PROFILE, LIMITED_LIVE_PROFILE, MAX_DAYS, RunHooks, RunReports, ShadowRunRequest,
                         emergency_flatten, run_replay, start_run)
from .day_executors import make_executor

log = logging.getLogger("run_shadow_trading")

EXIT_INTERRUPTED = 130

EXAMPLES = """examples:
  python3 scripts/make_sample_data.py week --days 5 --output outputs/sample_week
  python3 run_shadow_trading.py --replay outputs/sample_week --days 5
  python3 scripts/make_sample_data.py week --days 60 --output outputs/sample_60d     # months: replays take any length
  python3 run_shadow_trading.py --replay outputs/sample_60d --days 60
  python3 scripts/make_sample_data.py week --days 5 --price-path ../shared/data/futures/NQ_1min_sample.csv --output outputs/real_week
  python3 run_shadow_trading.py --replay outputs/real_week --days 5
  python3 run_shadow_trading.py --resume replay-20250602-20250610T101500
  python3 run_shadow_trading.py --replay outputs/sample_week --days 5 --cluster local --workers 2
  python3 run_shadow_trading.py --replay outputs/sample_week --days 5 --scheduler tcp://127.0.0.1:8786
  python3 run_shadow_trading.py --days 5                       # live: waits for each day's window
  python3 run_shadow_trading.py --limited-live --replay outputs/sample_week --days 5
  python3 run_shadow_trading.py --limited-live --broker tradovate --replay outputs/sample_week --profile my_standin.json
  python3 run_shadow_trading.py --limited-live --flatten limited-replay-20250602-20250610T101500
  python3 run_shadow_trading.py --sweep config/sweeps/example_grid.json --replay outputs/sample_week
  python3 run_shadow_trading.py --tick --replay outputs/sample_ticks --days 5   # see --tick --help
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_shadow_trading.py", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
        description="Shadow trading: every signal generated from market data, validated, paper-traded against the "
                    "real price path and judged by what the market did next, live for up to 7 days or replayed over a "
                    "recording of any length. "
                    "Reports go to <output-dir>/YYYY-MM-DD/, the ledger and final verdict to <output-dir>/runs/<run_id>/.")
    parser.add_argument("--profile", default=DEFAULT_PROFILE, help=f"profile name or path (default: {DEFAULT_PROFILE})")
    parser.add_argument("--days", type=_days, default=None,
                        help=f"trading days to cover (default: the profile's): live 1..{MAX_DAYS}; a replay any number "
                             f"up to the recording's length (e.g. a 60-day generated recording)")
    parser.add_argument("--start", type=_date, default=None,
                        help="first trading day, YYYY-MM-DD (default: live today, replay the first recorded day)")
    parser.add_argument("--replay", type=Path, default=None, metavar="DIR",
                        help="replay a recording (futures/, chains/YYYY-MM-DD/, mbo/) instead of running live")
    parser.add_argument("--price-path", type=Path, default=None, metavar="FILE",
                        help="with --replay: the futures price path to follow (1-minute bar CSV or DBN ohlcv/trades), "
                             "e.g. ../shared/data/futures/NQ_1min_sample.csv")
    parser.add_argument("--speed", type=_speed, default=None,
                        help="replay pace in simulated seconds per real second (default: full speed)")
    parser.add_argument("--resume", default=None, metavar="RUN_ID", help="continue an interrupted or crashed run")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="root of the reports and runs/ (default: the profile's, outputs/shadow_trading)")
    parser.add_argument("--run-id", default=None, help="name of a new run (default: <mode>-<first day>-<start time>)")
    parser.add_argument("--limited-live", action="store_true",
                        help="limited live trading: the signals go to the profile's broker (paper unless it says "
                             "otherwise) under the limited_live risk caps (profile default: limited_live)")
    parser.add_argument("--broker", choices=("paper", "tradovate"), default=None,
                        help="with --limited-live: the broker (default: the profile's broker.name)")
    parser.add_argument("--confirm-live", action="store_true",
                        help="with --limited-live: confirm that broker.environment \"live\" trades REAL MONEY "
                             "(required for it; without it such a run exits 2)")
    parser.add_argument("--flatten", default=None, metavar="RUN_ID",
                        help="emergency stop: halt RUN_ID's risk engine, cancel every working order and flatten "
                             "every position (the running process obeys within one cycle; a stopped run is flat "
                             "at its next start)")
    parser.add_argument("--sweep", type=Path, default=None, metavar="FILE",
                        help="parameter sweep (with --replay): every variant of the sweep file (profile overrides or "
                             "a grid, config/schema/sweep.schema.json) replays the same days as its own run, then one "
                             "comparison report ranks them (<output-dir>/sweeps/<sweep id>/comparison.{json,html}); "
                             "running it again skips completed variants and resumes a stopped one")
    parser.add_argument("--tick", action="store_true",
                        help="tick execution: futures strategies deciding on every trade, through the risk engine "
                             "to the broker (its own options: run_shadow_trading.py --tick --help)")
    parser.add_argument("--cluster", choices=("local",), default=None,
                        help="with --replay/--resume of a replay: compute the days' signals on a dask LocalCluster "
                             "(worker processes on 127.0.0.1); the ledger is still written here, equal to a serial run")
    parser.add_argument("--workers", type=_workers, default=None, metavar="K",
                        help="with --cluster local: worker processes (default: one per core)")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                        help="with --replay/--resume: use this running dask scheduler's workers (they must read the "
                             "recording at the same path; see docs/shadow_trading.md)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    parser.add_argument("-q", "--quiet", action="store_true", help="errors only")
    return parser


def main(argv: list[str] | None = None, *, reports: RunReports | None = None, comparison: Any = None,
         tick_reports: Any = None) -> int:
    """The command; `reports` writes the reports (run_shadow_trading.py passes
    output_generation.shadow_report_writer), `comparison` a sweep's comparison report
    (output_generation.sweep_report_writer), `tick_reports` the per-strategy reports of --tick."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--tick" in argv:
        from .tick_cli import main as tick_main
        return tick_main(argv, reports=reports, strategy_reports=tick_reports)
    args = build_parser().parse_args(argv)
    configure_logging(verbose=args.verbose, quiet=args.quiet)
    stop = threading.Event()
    previous = _install_sigint(stop)
    bar: Any = None

    def progress(total: int | None, unit: str = "event"):
        nonlocal bar
        from tqdm import tqdm
        if bar is not None:  # a sweep runs one replay after another, one bar each
            bar.close()
        bar = tqdm(total=total, unit=unit, desc="shadow replay", disable=args.no_progress or args.quiet)
        return lambda _event: bar.update(1)

    if args.sweep is not None:
        from .sweep.command import run_sweep_command
        try:
            try:
                cluster = _cluster_options(args)
            except ConfigError as exc:
                print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
                return exc.exit_code
            return run_sweep_command(args, reports=reports, comparison=comparison, stop=stop, progress=progress,
                                     cluster=cluster)
        finally:
            if bar is not None:
                bar.close()
            signal.signal(signal.SIGINT, previous)
    hooks = RunHooks(reports=reports, stop=stop, progress=progress if args.replay or args.resume else None)
    profile = args.profile
    if args.limited_live and profile == DEFAULT_PROFILE:
        profile = LIMITED_LIVE_PROFILE
    if (args.broker or args.confirm_live) and not args.limited_live:
        print("--broker and --confirm-live need --limited-live (a shadow run trades on paper)", file=sys.stderr)
        return 2
    request = ShadowRunRequest(profile=profile, days=args.days, start=args.start, replay=args.replay,
                               price_path=args.price_path, speed=args.speed, resume=args.resume,
                               output_dir=args.output_dir, run_id=args.run_id, limited_live=args.limited_live,
                               broker=args.broker, confirm_live=args.confirm_live)
    try:
        if args.flatten:
            print(emergency_flatten(request, args.flatten))
            return 0
        if args.limited_live and args.confirm_live:
            log.warning("--confirm-live given: if the profile's broker is live, REAL MONEY is traded")
        cluster = _cluster_options(args)
        if cluster is not None:
            with make_executor("dask", **cluster) as executor:
                result = run_replay(request, executor, hooks)
        else:
            result = start_run(request, hooks)
    except OptionsSystemError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        if bar is not None:
            bar.close()
        signal.signal(signal.SIGINT, previous)
    for day, error in result.failed_days.items():
        print(f"day {day} failed and closed with no signal: {error}", file=sys.stderr)
    if not args.quiet:
        _print_summary(result)
    return 0 if result.status == RUN_COMPLETED else EXIT_INTERRUPTED


def _print_summary(result: Any) -> None:
    final = result.final or {}
    signals, trades = final.get("signals", {}), final.get("trades", {})
    lines = [f"run {result.run_id}: {result.status}, {result.days_closed} day(s) closed, {result.events} event(s)"]
    if final:
        acc = signals.get("accuracy")
        fp = signals.get("false_positive_rate")
        lines.append(f"verdict {final['verdict']}: {signals.get('signals', 0)} signals, accuracy "
                     f"{'n/a' if acc is None else f'{acc:.1%}'}, false positives {'n/a' if fp is None else f'{fp:.1%}'}, "
                     f"{trades.get('trades', 0)} paper trades, net P&L ${trades.get('pnl_usd', 0.0):,.2f}")
    lines.append(f"ledger and final results: {result.run_dir}")
    if result.status != RUN_COMPLETED:
        lines.append(f"continue with: python3 run_shadow_trading.py --resume {result.run_id}")
    print("\n".join(lines))


def _install_sigint(stop: threading.Event) -> Any:
    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.warning("stopping after the current event (Ctrl-C again to abort now)")
        stop.set()
    return signal.signal(signal.SIGINT, handler)


def _cluster_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """The dask executor's options the command line asks for, None for a run in this process
    (a combination that cannot work is a ConfigError: exit 2 before anything starts)."""
    if args.workers is not None and not args.cluster:
        raise ConfigError("--workers needs --cluster local")
    if not (args.cluster or args.scheduler):
        return None
    if args.cluster and args.scheduler:
        raise ConfigError("--cluster local starts its own cluster; --scheduler uses a running one: give one of them")
    if not (args.replay or args.resume):
        raise ConfigError("--cluster and --scheduler distribute a replay: give --replay DIR (or --resume RUN_ID)")
    return {"scheduler": args.scheduler, "workers": args.workers}


def _workers(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 worker, got {text}")
    return value


def _days(text: str) -> int:
    """A positive number of days; the live limit (MAX_DAYS) is checked where the mode is known."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number of trading days, got {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 trading day, got {text}")
    return value


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from exc


def _speed(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive speed (simulated seconds per second), got {text}")
    return value
