#!/usr/bin/env python3
"""Generate the project's synthetic sample data (seeded, deterministic, flagged as sample).

Commands (the first argument; `chain` when omitted):

  chain   an NQ options chain in the canonical snapshot format
          (tasks/options_trading_system/sample_data/chain.py says how it is built)
  mbo     a day of NQ options MBO (Databento DBN) with planted institutional flow and its
          ground truth, plus earlier days for the IFD v3.0 baselines
          (tasks/options_trading_system/sample_data/mbo.py says how it is built)
  week    a sample week for shadow-trading replays: price path, chain snapshots, MBO per day
          (tasks/options_trading_system/sample_data/week.py says how it is built)
  ticks   sample tick sessions of the NQ future (DBN trades, ~800k a day) for tick execution
          (tasks/options_trading_system/sample_data/ticks.py says how they are built)

Examples:

  python3 scripts/make_sample_data.py                       # rewrite data/sample/nq_options_sample.json
  python3 scripts/make_sample_data.py chain --contracts 10000 --output /tmp/nq_10k.json
  python3 scripts/make_sample_data.py chain --seed 7 --as-of 2025-06-25T18:00:00Z --output /tmp/x.json
  python3 scripts/make_sample_data.py mbo                   # outputs/sample_mbo/nq_mbo_20250602.mbo.dbn.zst + 20 days
  python3 scripts/make_sample_data.py --days 5              # outputs/sample_week/ for run_shadow_trading.py --replay

The bundled sample (data/sample/nq_options_sample.json) is exactly the output of the first line;
running it again reproduces the file byte for byte. A new command is a `_add_<name>` function
registered in `COMMANDS`; nothing else here needs to change.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:  # runnable from a plain checkout, without an install
    sys.path.insert(0, str(PROJECT_ROOT))

import pandas as pd  # noqa: E402

from tasks.options_trading_system.data_ingestion.saved.snapshot_format import write_snapshot  # noqa: E402
from tasks.options_trading_system.errors import OptionsSystemError  # noqa: E402
from tasks.options_trading_system.sample_data.chain import (DEFAULT_AS_OF, DEFAULT_SEED,  # noqa: E402
                                                             generate_chain)

log = logging.getLogger("make_sample_data")

DEFAULT_CHAIN_OUTPUT = PROJECT_ROOT / "data" / "sample" / "nq_options_sample.json"
DEFAULT_COMMAND = "chain"
GLOBAL_FLAGS = ("-q", "--quiet")


def run_chain(args: argparse.Namespace) -> int:
    """Generate one chain and write it as a canonical snapshot."""
    chain = generate_chain(args.contracts, as_of=pd.Timestamp(args.as_of), seed=args.seed)
    path = write_snapshot(chain, args.output)
    frame = chain.frame
    log.info("wrote %d contracts, %d expirations (%s .. %s), underlying %s at %.2f, to %s",
             len(frame), frame["expiration"].nunique(), frame["expiration"].min().date(),
             frame["expiration"].max().date(), chain.meta.underlying_symbol, chain.meta.underlying_price, path)
    return 0


def _add_chain(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "chain", help="NQ options chain as a canonical snapshot (the default command)",
        description="Write a synthetic NQ options chain (canonical snapshot JSON, flagged as sample).")
    parser.add_argument("--output", type=Path, default=DEFAULT_CHAIN_OUTPUT,
                        help=f"file to write (default: {DEFAULT_CHAIN_OUTPUT.relative_to(PROJECT_ROOT)})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default: {DEFAULT_SEED})")
    parser.add_argument("--contracts", type=_positive_int, default=None,
                        help="exact number of contracts, nearest the money first (default: the natural "
                             "schedule of 3 dailies, 2 Friday weeklies and the quarterly, ~1,400 contracts)")
    parser.add_argument("--as-of", default=DEFAULT_AS_OF,
                        help=f"capture time of the chain, ISO-8601 (default: {DEFAULT_AS_OF})")
    parser.set_defaults(handler=run_chain)


DEFAULT_MBO_DIR = PROJECT_ROOT / "outputs" / "sample_mbo"


def run_mbo(args: argparse.Namespace) -> int:
    """Generate the MBO sample day (DBN + ground truth) and its history days (IFD v3.0)."""
    from datetime import date

    from tasks.options_trading_system.sample_data.mbo import MBOSampleParams, write_sample_set

    params = MBOSampleParams(seed=args.seed, trade_date=date.fromisoformat(args.date), n_events=args.events,
                             n_strikes=args.strikes)
    day, history = write_sample_set(args.output_dir, params, history_days=args.history_days)
    log.info("sample day: %s (%d records); ground truth: %s; %d history days beside it",
             day.path, day.records, day.truth_path, len(history))
    print(day.path)
    return 0


def _add_mbo(subparsers: argparse._SubParsersAction) -> None:
    from tasks.options_trading_system.sample_data.mbo import MBOSampleParams

    defaults = MBOSampleParams()
    parser = subparsers.add_parser(
        "mbo", help="a day of NQ options MBO (Databento DBN) with planted institutional flow, for IFD v3.0",
        description="Write a synthetic day of NQ options MBO (definitions + MBO, DBN .dbn.zst) with planted "
                    "institutional-flow episodes (ground truth in <file>.truth.json), plus earlier days for the "
                    "baselines (tasks/options_trading_system/sample_data/mbo.py says how they are built).")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_MBO_DIR,
                        help=f"folder to write (default: {DEFAULT_MBO_DIR.relative_to(PROJECT_ROOT)})")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"random seed (default: {defaults.seed})")
    parser.add_argument("--date", default=defaults.trade_date.isoformat(),
                        help=f"trading date of the sample day (default: {defaults.trade_date})")
    parser.add_argument("--events", type=_positive_int, default=defaults.n_events,
                        help=f"MBO records per day (default: {defaults.n_events})")
    parser.add_argument("--strikes", type=_positive_int, default=defaults.n_strikes,
                        help=f"strikes (calls and puts each) around the money (default: {defaults.n_strikes})")
    parser.add_argument("--history-days", type=int, default=20,
                        help="earlier weekdays written for the baselines, without episodes (default: 20)")
    parser.set_defaults(handler=run_mbo)


def _add_week(subparsers: argparse._SubParsersAction) -> None:
    from tasks.options_trading_system.sample_data.week import add_week_command

    add_week_command(subparsers)


def _add_ticks(subparsers: argparse._SubParsersAction) -> None:
    from tasks.options_trading_system.sample_data.ticks import add_ticks_command

    add_ticks_command(subparsers)


COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {"chain": _add_chain, "mbo": _add_mbo,
                                                                       "week": _add_week, "ticks": _add_ticks}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make_sample_data.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS.values():
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(a in COMMANDS for a in argv) and not any(a in ("-h", "--help") for a in argv):
        at = next((i for i, a in enumerate(argv) if a not in GLOBAL_FLAGS), len(argv))
        command = "week" if "--days" in argv else DEFAULT_COMMAND  # `--days 5` alone means `week --days 5`
        argv.insert(at, command)  # `make_sample_data.py --seed 3` means `chain --seed 3`
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    try:
        return args.handler(args)
    except (OptionsSystemError, ValueError, OSError) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 1)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text}")
    return value


if __name__ == "__main__":
    sys.exit(main())
