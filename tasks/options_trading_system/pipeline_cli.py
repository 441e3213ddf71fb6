"""`python3 run_pipeline.py`: the daily NQ options analysis from the command line.

Exit codes: 0 success; 2 bad configuration or arguments (nothing ran); 3 no source could serve a
chain; 1 any other failure of the package.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, Sequence
from zoneinfo import ZoneInfo

import pandas as pd

from .config_manager import DEFAULT_PROFILE, list_profiles, load_profile
from .daily_run import capture_trading_date, day_folder, load_input_file, run_daily
from .data_ingestion.canonical import OptionsChain, as_utc
from .secrets_mask import mask_secrets
from .state.state_dir import export_profile_state_dir
from .errors import ConfigError, DataUnavailableError, OptionsSystemError
from .logging_setup import configure_logging
from .run_stamp import move_run_log, reserve_run_log

log = logging.getLogger("run_pipeline")
EXCHANGE_TZ = ZoneInfo("America/New_York")
MBO_STAGE = "institutional_flow_v3"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_pipeline.py",
        description="Load the NQ options chain from the best available source, run the profile's "
                    "analyses (greeks, risk, expected value, volume spikes) and write a dated report "
                    "under OUTPUT_DIR/YYYYMMDD/. Every run's export, reports and log share one unique "
                    "name, nq_analysis_YYYYMMDD_HHMMSS-PID (New York start time, process id), so runs "
                    "started together never overwrite each other.",
        epilog="Exit codes: 0 ok, 2 bad configuration or arguments, 3 no data source could serve a chain.")
    parser.add_argument("--profile", default=DEFAULT_PROFILE, metavar="NAME|PATH",
                        help=f"profile name in config/ (e.g. testing, profiles/conservative) or a path "
                             f"to a profile JSON (default: {DEFAULT_PROFILE})")
    parser.add_argument("--list-profiles", action="store_true", help="list the profiles with one line each and exit")
    parser.add_argument("--show-config", action="store_true",
                        help="print the merged profile (defaults filled, secrets masked) and exit")
    parser.add_argument("--input", type=Path, metavar="FILE",
                        help="analyse one saved capture (Barchart quotes/get response or canonical snapshot) "
                             "instead of asking the data sources; the run is dated by the capture's own as-of "
                             "(its exchange session), and warns when that is older than the last trading session")
    parser.add_argument("--mbo", type=Path, metavar="FILE",
                        help=f"MBO file (.dbn or .dbn.zst) for the {MBO_STAGE} stage (IFD v3.0)")
    parser.add_argument("--output-dir", type=Path, metavar="DIR",
                        help="root of the dated output folders (default: the profile's outputs.base_dir, 'outputs')")
    parser.add_argument("--date", metavar="YYYY-MM-DD",
                        help="trading date of the run and its output folder (default: today in New York). A past "
                             "date is served by the sources that can serve it (Databento's history, saved "
                             "captures of that day or earlier); Barchart and Polygon serve only the present and "
                             "refuse it (code PAST_DATE). With --input it must match the capture's date")
    parser.add_argument("--now", metavar="ISO-8601",
                        help="the clock the run reads, with its UTC offset (default: the real time); for replaying "
                             "recordings, e.g. against the local vendor stand-ins, as if it were then. It decides "
                             "the default --date, what counts as a past date and whether data is old; never "
                             "the analysis, which is timed from the chain's own as-of")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="store_true", help="log progress to the console")
    loudness.add_argument("-q", "--quiet", action="store_true", help="print only the paths written")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(verbose=args.verbose, quiet=args.quiet)
    try:
        return _run(args)
    except OptionsSystemError as exc:
        print(mask_secrets(f"{type(exc).__name__}: {exc}"), file=sys.stderr)
        if isinstance(exc, DataUnavailableError):
            for attempt in exc.attempts:
                print(mask_secrets(f"  {attempt.source}: {attempt.outcome} ({attempt.reason})"), file=sys.stderr)
        return exc.exit_code


def _run(args: argparse.Namespace) -> int:
    if args.list_profiles:
        rows = list_profiles()
        width = max((len(name) for name, _ in rows), default=0)
        for name, description in rows:
            print(f"{name:<{width}}  {description}")
        return 0
    started = _parse_now(args.now)
    run_date = _parse_date(args.date, started)  # a bad --date is refused before anything else
    profile = load_profile(args.profile, overrides=_overrides(args))
    export_profile_state_dir(profile.data.get("state_dir"))
    if args.show_config:
        print(mask_secrets(json.dumps(profile.masked(), indent=2)))
        return 0
    if args.input is not None and not args.input.is_file():
        raise ConfigError(f"--input {args.input}: no such file")
    if args.mbo is not None and not args.mbo.is_file():
        raise ConfigError(f"--mbo {args.mbo}: no such file")
    if args.mbo is not None and MBO_STAGE not in profile.section("pipeline").get("stages", ()):
        raise ConfigError(f"--mbo needs a profile whose pipeline.stages include {MBO_STAGE!r} "
                          f"(e.g. --profile profiles/ifd_v3); {profile.name} has {list(profile.section('pipeline').get('stages', ()))}")
    calendar_name = str(profile.section("instrument").get("exchange_calendar", "CMES"))
    input_chain = load_input_file(args.input) if args.input is not None else None
    run_date, date_basis = _trading_date(args, run_date, input_chain, calendar_name)
    output_root = args.output_dir or Path(profile.section("outputs").get("base_dir", "outputs"))
    day_dir = day_folder(output_root, run_date)
    stamp, log_file = reserve_run_log(day_dir / "logs", run_date, started)
    configure_logging(verbose=args.verbose, quiet=args.quiet, log_file=log_file)
    log.info("profile %s (%s), run date %s (%s), stamp %s, output %s", profile.name,
             " <- ".join(map(str, profile.layers)), run_date, date_basis, stamp, day_dir)
    result = run_daily(profile, run_date=run_date, output_root=output_root, input_path=args.input, now=started,
                       input_chain=input_chain, run_stamp=stamp, date_basis=date_basis)
    if result.run_date != run_date:  # the chain served was of another session: file the run under it
        day_dir = day_folder(output_root, result.run_date)
        stamp, log_file = move_run_log(log_file, day_dir / "logs", result.run_date, started)
        configure_logging(verbose=args.verbose, quiet=args.quiet, log_file=log_file)
        result = replace(result, run_stamp=stamp)
        log.info("run refiled under %s (%s), stamp %s, output %s", result.run_date, result.date_basis, stamp, day_dir)
    from .output_generation.console import console_summary
    from .output_generation.daily_report import write_daily_outputs

    outputs = write_daily_outputs(result, day_dir)
    log.info("wrote %s", outputs)
    if args.quiet:
        for path in _paths(outputs):
            print(path)
    else:
        print(mask_secrets(console_summary(result, outputs)))
        print(f"Log: {log_file}")
    return 0


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if args.mbo is not None:
        overrides = {"pipeline": {MBO_STAGE: {"mbo_file": str(args.mbo.resolve())}}}
    return overrides


def _trading_date(args: argparse.Namespace, run_date: date, chain: OptionsChain | None,
                  calendar_name: str) -> tuple[date, str]:
    """The run's trading date and why: an --input capture's own session, else --date or today."""
    if chain is None:
        return run_date, "--date" if args.date is not None else "today in New York"
    captured = capture_trading_date(chain, calendar_name)
    if args.date is not None and run_date != captured:
        raise ConfigError(f"--date {run_date} disagrees with --input {args.input}: its data is as of "
                          f"{as_utc(chain.meta.as_of):%Y-%m-%d %H:%M} UTC (trading date {captured}); an --input run "
                          f"is dated by its capture, so leave --date out")
    return captured, f"--input capture as of {as_utc(chain.meta.as_of):%Y-%m-%d %H:%M} UTC (session {captured})"


def _parse_now(text: str | None) -> pd.Timestamp:
    if text is None:
        return pd.Timestamp.now(tz="UTC")
    try:
        now = pd.Timestamp(text)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"--now {text!r}: expected an ISO-8601 time such as 2025-06-02T14:30:00Z") from exc
    if now.tzinfo is None:
        raise ConfigError(f"--now {text!r}: give the UTC offset (e.g. 2025-06-02T14:30:00Z or ...-04:00)")
    return now.tz_convert("UTC")


def _parse_date(text: str | None, now: pd.Timestamp) -> date:
    if text is None:
        return now.tz_convert(EXCHANGE_TZ).date()
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"--date {text!r}: expected a date as YYYY-MM-DD") from exc


def _paths(outputs: Any) -> list[Path]:
    values = outputs.__dict__.values() if hasattr(outputs, "__dict__") else outputs
    return [v for v in values if isinstance(v, Path)]
