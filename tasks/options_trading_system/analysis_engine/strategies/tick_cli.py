"""`run_shadow_trading.py --tick`: command-line options in, a tick-execution run out.

Exit codes as the other modes: 0 the run completed, 130 it was interrupted (Ctrl-C or a stop
control; continue it with --tick --resume RUN_ID), 2 bad arguments or configuration (before
anything is created), 3 no data, 1 other errors.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import pandas as pd

from ...errors import OptionsSystemError
from ...logging_setup import configure_logging
from ...state.ledger import LEDGER_FILE, RUN_COMPLETED, Ledger
from .shadow_cli import EXIT_INTERRUPTED, _date, _days, _install_sigint
from .shadow_run import MAX_DAYS, RUNS_DIR, RunHooks, RunReports, ShadowRunRequest
from .tick_run import TICK_PROFILE, StrategyReports, start_tick_run

log = logging.getLogger("run_shadow_trading.tick")

EXAMPLES = """examples:
  python3 scripts/make_sample_data.py ticks --days 5 --trades-per-day 200000 --output-dir outputs/sample_ticks
  python3 run_shadow_trading.py --tick --replay outputs/sample_ticks --days 5
  python3 run_shadow_trading.py --tick --resume tick-replay-20250602-20251205T080000
  python3 run_shadow_trading.py --tick --days 1                      # live: the profile's feed, paper broker
  python3 run_shadow_trading.py --tick --broker tradovate --profile my_tradovate_demo.json
  python3 run_shadow_trading.py --tick --flatten tick-live-20251205-20251205T143000
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_shadow_trading.py", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
        description="Tick execution: the futures strategies decide on every trade of the future (replayed from DBN "
                    "recordings or live), sized, checked by the risk engine and sent to the broker (paper by "
                    "default); every decision in the run's ledger. Reports go to <output-dir>/YYYY-MM-DD/, the "
                    "ledger, final results and per-strategy reports (walk-forward included) to "
                    "<output-dir>/runs/<run_id>/. See docs/tick_execution.md.")
    parser.add_argument("--tick", action="store_true", required=True, help="tick execution (this mode)")
    parser.add_argument("--profile", default=TICK_PROFILE, help=f"profile name or path (default: {TICK_PROFILE})")
    parser.add_argument("--replay", type=Path, default=None, metavar="DIR",
                        help="replay a folder of DBN trade recordings (trades, mbp-1, tbbo or mbo; one file per "
                             "day), e.g. one written by scripts/make_sample_data.py ticks; its options/ "
                             "subfolder of chain snapshots, when present, gives the volatility carry the options' "
                             "term structure (tick_execution.term_structure.chains); without --replay the "
                             "profile's live feed (tick_execution.feed.name)")
    parser.add_argument("--broker", choices=("paper", "tradovate"), default=None,
                        help="where orders go (default: the profile's broker.name, paper)")
    parser.add_argument("--confirm-live", action="store_true",
                        help="confirm that broker.environment \"live\" trades REAL MONEY (required for it)")
    parser.add_argument("--days", type=_days, default=None, help=f"trading days to cover, 1..{MAX_DAYS} "
                                                                "(default: the profile's shadow_trading.days)")
    parser.add_argument("--start", type=_date, default=None,
                        help="first trading day, YYYY-MM-DD (default: replay the first recorded day, live today)")
    parser.add_argument("--resume", default=None, metavar="RUN_ID", help="continue an interrupted or crashed run")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="root of the reports and runs/ (default: the profile's tick_execution.output_dir)")
    parser.add_argument("--run-id", default=None, help="name of a new run (default: tick-<mode>-<first day>-<time>)")
    parser.add_argument("--flatten", default=None, metavar="RUN_ID",
                        help="emergency stop: halt RUN_ID's risk engine and queue a flatten the running process "
                             "obeys at its next decision (a stopped run is flat at its next start)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    parser.add_argument("-q", "--quiet", action="store_true", help="errors only")
    return parser


def main(argv: list[str], *, reports: RunReports | None = None,
         strategy_reports: StrategyReports | None = None) -> int:
    """The command; `reports` and `strategy_reports` write the reports (run_shadow_trading.py passes
    output_generation's writers)."""
    args = build_parser().parse_args(argv)
    configure_logging(verbose=args.verbose, quiet=args.quiet)
    if args.resume and (args.replay or args.start or args.days):
        log.warning("--replay, --start and --days are ignored with --resume: the run keeps what it started with")
    request = ShadowRunRequest(profile=args.profile, days=args.days, start=args.start, replay=args.replay,
                             resume=args.resume, output_dir=args.output_dir, run_id=args.run_id, broker=args.broker,
                             confirm_live=args.confirm_live)
    stop = threading.Event()
    previous = _install_sigint(stop)
    try:
        if args.flatten:
            print(flatten(request, args.flatten))
            return 0
        result = start_tick_run(request, RunHooks(reports=reports, stop=stop), strategy_reports)
    except OptionsSystemError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        signal.signal(signal.SIGINT, previous)
    if not args.quiet:
        print(summary(result))
    return 0 if result.status == RUN_COMPLETED else EXIT_INTERRUPTED


def summary(result: Any) -> str:
    """What the run did, in a few lines: the run, each strategy's figures and walk-forward verdict."""
    final = result.final or {}
    trades = final.get("trades", {})
    lines = [f"tick run {result.run_id}: {result.status}, {result.days_closed} day(s) closed, {result.events} "
             f"decision(s), {trades.get('trades', 0)} trade(s), net P&L ${trades.get('pnl_usd', 0.0):,.2f}"]
    document = final.get("strategies") or {}
    if document.get("is_sample"):
        lines.append("SAMPLE DATA: generated ticks, not the market; the figures say nothing about real trading")
    for name, s in (document.get("strategies") or {}).items():
        run, wf = s["run"], s["walk_forward"]
        text = (f"  {name}: {run['intents']} intent(s), {run['trades']} trade(s), net ${run['net_pnl_usd']:,.2f}, "
                f"Sharpe {_fmt(run['sharpe'])}, Calmar {_fmt(run['calmar'])}")
        if s.get("notes"):
            text += f" ({'; '.join(s['notes'])})"
        if wf.get("available"):
            oos = wf["out_of_sample"]
            text += (f"; walk-forward out of sample {oos['trades']} trade(s), Sharpe {_fmt(oos['sharpe'])}, Calmar "
                     f"{_fmt(oos['calmar'])}: {'MEETS' if wf['meets_bar'] else 'does not meet'} the bar")
        else:
            text += f"; no walk-forward ({wf.get('reason')})"
        lines.append(text)
    lines.append(f"ledger, final results and strategy reports: {result.run_dir}")
    if result.status != RUN_COMPLETED:
        lines.append(f"continue with: python3 run_shadow_trading.py --tick --resume {result.run_id}")
    return "\n".join(lines)


def flatten(request: ShadowRunRequest, run_id: str) -> str:
    """The emergency stop for a tick run: its risk engine HALTED in the ledger and a `flatten`
    control queued for the running process."""
    from ...config_manager import load_profile
    from .guards import RiskEngine, SqliteRiskStore
    from .tick_config import TickExecutionConfig
    config = TickExecutionConfig.from_profile(load_profile(request.profile))
    root = Path(request.output_dir or config.output_dir)
    ledger = Ledger.open_existing(root / RUNS_DIR / run_id / LEDGER_FILE)
    now = pd.Timestamp.now(tz="UTC")
    try:
        RiskEngine(config.risk, store=SqliteRiskStore(ledger.connection)).halt(by="flatten command",
                                                                                reason=f"--flatten {run_id}", now=now)
        ledger.request_control("flatten", reason=f"--flatten {run_id}", requested_by="command line", requested_at=now)
    finally:
        ledger.close()
    return (f"run {run_id}: risk engine HALTED, flatten control queued (obeyed at the next decision)\n"
            f"resume with the dashboard's token-guarded resume control once the cause is understood")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"

