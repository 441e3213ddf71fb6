"""Running a parameter sweep: every variant replays the same days, then one comparison report.

`run_sweep` is what `run_shadow_trading.py --sweep FILE` calls. It
1. plans the sweep (`plan.plan_sweep`): the sweep file, its variants, each variant's merged
   profile, all checked before anything runs (a mistake is a `ConfigError`, exit 2);
2. writes the sweep folder and decides per variant (`plan.prepare_jobs`): completed runs are
   skipped, started ones resumed, the rest started, each run id `<sweep id>--<variant>`;
3. hands the jobs to the runner named by the sweep file (or the caller), `serial` by default;
4. writes the comparison report from the variants' ledgers (`SweepReports`, passed in by the
   command line: the report layer sits above this one); a variant whose run has not completed
   is listed with its status and no figures, and left out of the ranking.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

from ....state.ledger import RUN_COMPLETED
from ..shadow_run import RunHooks
from .plan import SweepPlan, SweepRequest, plan_sweep, prepare_jobs
from .runner import VariantOutcome, make_runner

log = logging.getLogger(__name__)


class SweepReports(Protocol):
    """Writes the comparison report of a sweep from its variants' ledgers
    (`output_generation/sweep_report_writer.py`)."""

    def write_comparison(self, plan: SweepPlan) -> tuple[dict[str, Any], list[Path]]: ...


@dataclass(frozen=True)
class SweepResult:
    """How the sweep ended: the plan, what ran now, what was skipped, and the comparison (None
    when no report writer was given)."""

    plan: SweepPlan
    outcomes: tuple[VariantOutcome, ...]
    skipped: tuple[str, ...]
    comparison: Mapping[str, Any] | None = None
    reports: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def complete(self) -> bool:
        done = set(self.skipped) | {o.name for o in self.outcomes if o.status == RUN_COMPLETED}
        return done == {v.name for v in self.plan.variants}

    @property
    def failed(self) -> Sequence[VariantOutcome]:
        return [o for o in self.outcomes if o.error is not None]


def run_sweep(request: SweepRequest, hooks: RunHooks | None = None, *, reports: SweepReports | None = None,
              runner: str | None = None, runner_options: Mapping[str, Any] | None = None) -> SweepResult:
    """Plan, run what is left, compare; see the module docstring. `runner` (default: the sweep
    file's) is built with `runner_options` (e.g. the dask runner's `scheduler`, `workers`)."""
    hooks = hooks or RunHooks()
    plan = plan_sweep(request, env=hooks.env)
    chosen = make_runner(runner or plan.sweep.runner, **dict(runner_options or {}))
    jobs, skipped = prepare_jobs(plan, env=hooks.env)
    log.info("sweep %s: %d variant(s) over %d day(s) of %s; %d to run, %d already completed; runner %s",
             plan.sweep.sweep_id, len(plan.variants), plan.days, plan.replay, len(jobs), len(skipped), chosen.name)
    outcomes = chosen.run(jobs, hooks) if jobs else []
    result = SweepResult(plan=plan, outcomes=tuple(outcomes), skipped=tuple(skipped))
    if reports is None:
        return result
    document, paths = reports.write_comparison(plan)
    return SweepResult(plan=plan, outcomes=result.outcomes, skipped=result.skipped, comparison=document,
                       reports=tuple(paths))
