"""`run_shadow_trading.py --sweep FILE --replay DIR [--days N]`: a sweep from the command line.

Exit codes as for one run: 0 every variant completed (the comparison is written), 130 stopped
(Ctrl-C: run the same command again, completed variants are skipped and the stopped one resumes),
2 a mistake in the sweep file, a variant's profile or the options (before anything runs),
1 a variant failed (the others still ran; the comparison lists it without figures).
"""
from __future__ import annotations

import argparse
import logging
import sys
import threading
from typing import Any, Callable, Mapping, Protocol, Sequence

from ....errors import OptionsSystemError
from ..shadow_run import DEFAULT_PROFILE, RunHooks, RunReports
from .plan import SweepRequest
from .sweep_run import SweepReports, SweepResult, run_sweep

log = logging.getLogger(__name__)

EXIT_INTERRUPTED = 130
#: options of a single run that a sweep does not take (it names its own runs and profiles)
NOT_WITH_SWEEP = ("resume", "run_id", "limited_live", "flatten", "broker", "confirm_live")


class SweepComparison(SweepReports, Protocol):
    """The comparison writer as the command uses it: it also reads the ranking as text lines."""

    def ranking_lines(self, document: Any) -> list[str]: ...


def run_sweep_command(args: argparse.Namespace, *, reports: RunReports | None, comparison: SweepComparison | None,
                      stop: threading.Event,
                      progress: Callable[[int | None], Callable[[Any], None]] | None = None,
                      cluster: Mapping[str, Any] | None = None) -> int:
    """Run the sweep `args.sweep` asks for; prints the ranking; returns the exit code. `cluster`
    (the dask options of `--cluster local` / `--scheduler`) runs every variant's days on one dask
    cluster (the `dask` runner) instead of the sweep file's runner."""
    given = [f"--{name.replace('_', '-')}" for name in NOT_WITH_SWEEP if getattr(args, name, None)]
    if args.profile != DEFAULT_PROFILE:
        given.append("--profile (the sweep file's `profile` is the base)")
    if given:
        print(f"--sweep names its own runs and profiles: {', '.join(given)} cannot be used with it "
              f"(re-running the same sweep resumes it)", file=sys.stderr)
        return 2
    if args.replay is None:
        print("--sweep needs --replay DIR: every variant replays the same recorded days", file=sys.stderr)
        return 2
    request = SweepRequest(sweep_file=args.sweep, replay=args.replay, days=args.days, start=args.start,
                           price_path=args.price_path, speed=args.speed, output_dir=args.output_dir)
    hooks = RunHooks(reports=reports, stop=stop, progress=progress)
    try:
        if cluster is not None:
            result = run_sweep(request, hooks, reports=comparison, runner="dask", runner_options=cluster)
        else:
            result = run_sweep(request, hooks, reports=comparison)
    except OptionsSystemError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return exc.exit_code
    if not args.quiet:
        print("\n".join(summary_lines(result, comparison)))
    if result.failed:
        return 1
    return 0 if result.complete else EXIT_INTERRUPTED


def summary_lines(result: SweepResult, comparison: SweepComparison | None) -> Sequence[str]:
    """What the console says after a sweep: the ranking, where the report is, what is left."""
    plan = result.plan
    lines: list[str] = []
    if result.skipped:
        lines.append(f"already completed, skipped: {', '.join(result.skipped)}")
    for outcome in result.failed:
        lines.append(f"variant {outcome.name} failed: {outcome.error}")
    if result.comparison is not None and comparison is not None:
        lines.extend(comparison.ranking_lines(result.comparison))
        lines.append(f"multiple testing: {result.comparison['multiple_testing']['text']}")
    if result.reports:
        pages = [str(p) for p in result.reports if p.suffix in (".json", ".html")]
        lines.append(f"comparison report: {', '.join(pages)}")
    if not result.complete:
        lines.append(f"not every variant has completed; run the same command again to finish sweep "
                     f"{plan.sweep.sweep_id} (completed variants are skipped)")
    return lines
