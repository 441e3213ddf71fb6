"""The dask runner: the serial runner's order and rules, each variant's per-day signal work on one
dask cluster shared by every variant (`day_executors.DaskExecutor`: `--cluster local [--workers K]`
or `--scheduler tcp://HOST:8786`); each variant's ledger is still written here, in day order, so it
equals the serial sweep's row for row."""
from __future__ import annotations

from typing import Any, Sequence

from ..day_executors import DayExecutor, make_executor
from ..shadow_run import RunHooks, ShadowRunRequest, ShadowRunResult, run_replay
from .runner import VariantJob, VariantOutcome
from .serial import SerialRunner


class DaskRunner(SerialRunner):
    """Options: those of `DaskExecutor` (`scheduler`, `workers`); none = a LocalCluster with one
    worker process per core."""

    name = "dask"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._executor: DayExecutor | None = None

    def run(self, jobs: Sequence[VariantJob], hooks: RunHooks) -> list[VariantOutcome]:
        with make_executor("dask", **{k: v for k, v in self.options.items() if v is not None}) as executor:
            self._executor = executor
            try:
                return super().run(jobs, hooks)
            finally:
                self._executor = None

    def _start(self, request: ShadowRunRequest, hooks: RunHooks) -> ShadowRunResult:
        assert self._executor is not None, "DaskRunner._start runs only inside run()"
        return run_replay(request, self._executor, hooks)
