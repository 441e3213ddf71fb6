"""The dask runner: every variant of a sweep on one dask cluster, each variant's ledger equal to
the serial sweep's row for row.

Two ways, chosen by `phase_b` (default: `workers` on a LocalCluster this runner starts, `driver`
with `--scheduler`):

- `workers`: every variant is one task on the cluster running its whole run in a worker process
  (`worker_variant.py`): phase B there, its days' phase A as day tasks on the same cluster,
  results read where they were computed, never through the driver. Day tasks are named by
  content within the sweep, so variants that differ only in phase-B settings (validation,
  cooldown, execution) share their phase A. All variants run at once and the driver only waits
  for their small results. The ledgers and reports are written by the workers, so they must see
  the output folder at the same path as the driver: true on a LocalCluster; on machines of their
  own that needs a shared folder, and SQLite's WAL mode does not work on network filesystems,
  hence `driver` for `--scheduler`.
- `driver`: the serial runner's loop, one variant after another in this process (phase B and
  the ledger here), each variant's days' phase A on the cluster.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any, Sequence

from ....errors import ConfigError, OptionsSystemError
from ....state.ledger import RUN_FAILED
from ..day_executors import DaskExecutor, DayExecutor, make_executor
from ..shadow_run import RunHooks, ShadowRunRequest, ShadowRunResult, run_replay
from .runner import VariantJob, VariantOutcome
from .serial import CONFIG_EXIT_CODE, SerialRunner

log = logging.getLogger(__name__)

PHASE_B_PLACES = ("workers", "driver")
#: how often the driver looks at the stop flag while the variants run (seconds)
WAIT_POLL_S = 0.5


class DaskRunner(SerialRunner):
    """Options: those of `DaskExecutor` (`scheduler`, `workers`, or `client` for a cluster of the
    caller's), `phase_b` (`workers` or `driver`, see the module docstring) and `share_phase_a`
    (default True: with `workers`, variants with the same phase A compute it once); none = a
    LocalCluster with one worker process per core, each variant's run on a worker."""

    name = "dask"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        phase_b = options.get("phase_b")
        if phase_b is not None and phase_b not in PHASE_B_PLACES:
            raise ConfigError(f"dask runner: phase_b {phase_b!r}: expected one of {', '.join(PHASE_B_PLACES)}")
        self._executor: DayExecutor | None = None

    @property
    def phase_b(self) -> str:
        """Where each variant's phase B (and its ledger writes) runs."""
        chosen = self.options.get("phase_b")
        if chosen is not None:
            return str(chosen)
        return "driver" if self.options.get("scheduler") else "workers"

    def run(self, jobs: Sequence[VariantJob], hooks: RunHooks) -> list[VariantOutcome]:
        executor_options = {k: v for k, v in self.options.items()
                            if v is not None and k not in ("phase_b", "share_phase_a")}
        with make_executor("dask", **executor_options) as executor:
            log.info("dask sweep on %s: each variant's phase B %s", executor.describe(),
                     "on a worker" if self.phase_b == "workers" else "in this process")
            if self.phase_b == "workers":
                assert isinstance(executor, DaskExecutor)
                return self._run_on_workers(jobs, hooks, executor)
            self._executor = executor
            try:
                return super().run(jobs, hooks)
            finally:
                self._executor = None

    def _start(self, request: ShadowRunRequest, hooks: RunHooks) -> ShadowRunResult:
        assert self._executor is not None, "DaskRunner._start runs only inside run()"
        return run_replay(request, self._executor, hooks)

    def _run_on_workers(self, jobs: Sequence[VariantJob], hooks: RunHooks,
                        executor: DaskExecutor) -> list[VariantOutcome]:
        """Every job as one task (`worker_variant.run_variant_on_worker`), all at once; outcomes in
        job order. Ctrl-C sets the sweep's stop flag: every variant ends after its current event,
        resumable. A configuration mistake (exit 2) stops the others the same way, then is raised,
        as the serial runner does."""
        from distributed import Event, wait

        from .worker_variant import run_variant_on_worker

        client = executor.client
        sweep_key = uuid.uuid4().hex[:12]
        flag = Event(f"shadow-sweep-stop-{sweep_key}", client=client)
        share_group = sweep_key if self.options.get("share_phase_a", True) else None
        reports = getattr(hooks.reports, "__name__", None) if hooks.reports is not None else None
        if hooks.reports is not None and reports is None:
            raise ConfigError("the dask runner runs variants on workers: its report writer must be a module "
                              "(importable there), not an object")
        tick = hooks.progress(len(jobs), unit="variant") if hooks.progress is not None else None
        # one variant per worker in turn (a loose restriction: a lost worker's variant runs on
        # another): the scheduler would otherwise put several on the first worker whose slot frees
        # (a variant's task leaves its slot at once), and one process's phase B would be the bottleneck
        addresses = sorted(client.scheduler_info(n_workers=-1)["workers"])
        futures = []
        for index, job in enumerate(jobs):
            run_id = job.request.resume or job.request.run_id or job.variant.name
            log.info("variant %s: %s run %s on a worker", job.variant.name, "resuming" if job.resume else "starting",
                     run_id)
            futures.append(client.submit(
                run_variant_on_worker, job.request, share_group=share_group, stop_flag=flag.name, reports=reports,
                env=dict(hooks.env) if hooks.env is not None else None, day_retries=executor.retries,
                task_timeout_s=executor.task_timeout_s, key=f"shadow-variant-{sweep_key}-{job.variant.name}",
                pure=False, retries=0, workers=[addresses[index % len(addresses)]] if addresses else None,
                allow_other_workers=True))
        outcomes: dict[int, VariantOutcome] = {}
        config_error: OptionsSystemError | None = None
        pending = set(range(len(jobs)))
        try:
            while pending:
                if hooks.stop is not None and hooks.stop.is_set() and not flag.is_set():
                    log.warning("stop requested: every variant stops after its current event")
                    flag.set()
                try:
                    wait([futures[i] for i in pending], timeout=WAIT_POLL_S, return_when="FIRST_COMPLETED")
                except TimeoutError:  # none finished yet: look at the stop request again
                    continue
                for index in [i for i in pending if futures[i].done()]:
                    pending.discard(index)
                    outcome, error = self._outcome(jobs[index], futures[index])
                    outcomes[index] = outcome
                    if error is not None and config_error is None:
                        config_error = error
                        flag.set()  # the same mistake would stop every variant: stop the others now
                    if tick is not None:
                        tick(outcome)
        finally:
            for future in futures:
                future.release()
        if config_error is not None:
            raise config_error
        return [outcomes[i] for i in range(len(jobs))]

    @staticmethod
    def _outcome(job: VariantJob, future: Any) -> tuple[VariantOutcome, OptionsSystemError | None]:
        """The variant's outcome from its finished task, and the configuration error to raise, if any."""
        run_id = job.request.resume or job.request.run_id or job.variant.name
        try:
            result = future.result()
        except OptionsSystemError as exc:
            log.error("variant %s failed: %s: %s", job.variant.name, type(exc).__name__, exc)
            failed = VariantOutcome(name=job.variant.name, run_id=run_id, status=RUN_FAILED,
                                    error=f"{type(exc).__name__}: {exc}")
            return failed, exc if exc.exit_code == CONFIG_EXIT_CODE else None
        except Exception as exc:  # the task itself was lost (a worker killed too often) or raised
            log.error("variant %s failed on the cluster: %s: %s", job.variant.name, type(exc).__name__, exc)
            return VariantOutcome(name=job.variant.name, run_id=run_id, status=RUN_FAILED,
                                  error=f"{type(exc).__name__}: {exc}"), None
        for day, error in result.failed_days.items():
            log.error("variant %s: day %s failed and closed with no signal: %s", job.variant.name, day, error)
        return VariantOutcome(name=job.variant.name, run_id=result.run_id, status=result.status,
                              run_dir=result.run_dir), None

