"""The serial runner: one variant after another in this process, each through `start_run`."""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Sequence

from ....errors import ConfigError, OptionsSystemError
from ....state.ledger import RUN_FAILED
from ..shadow_run import RunHooks, ShadowRunRequest, ShadowRunResult, start_run
from .runner import VariantJob, VariantOutcome, VariantRunner

log = logging.getLogger(__name__)

CONFIG_EXIT_CODE = ConfigError.exit_code


class SerialRunner(VariantRunner):
    """Runs the jobs in order; a stop request (Ctrl-C) ends the current variant's run after its
    current event and starts no further variant (a re-run of the sweep resumes it). A variant
    that fails is recorded and the next one runs; a configuration or input mistake (exit code 2:
    too many days, a locked run) stops the sweep, since it would stop every variant alike."""

    name = "serial"

    def run(self, jobs: Sequence[VariantJob], hooks: RunHooks) -> list[VariantOutcome]:
        outcomes: list[VariantOutcome] = []
        for index, job in enumerate(jobs, start=1):
            run_id = job.request.resume or job.request.run_id or job.variant.name
            if hooks.stop is not None and hooks.stop.is_set():
                log.warning("stop requested: variant %s not started", job.variant.name)
                break
            log.info("(variant %d of %d) %s: %s run %s", index, len(jobs), job.variant.name,
                     "resuming" if job.resume else "starting", run_id)
            try:
                result = self._start(job.request, replace(hooks))
            except OptionsSystemError as exc:
                if exc.exit_code == CONFIG_EXIT_CODE:  # the same mistake would stop every variant: stop now
                    raise
                log.error("variant %s failed: %s: %s", job.variant.name, type(exc).__name__, exc)
                outcomes.append(VariantOutcome(name=job.variant.name, run_id=run_id, status=RUN_FAILED,
                                               error=f"{type(exc).__name__}: {exc}"))
                continue
            outcomes.append(VariantOutcome(name=job.variant.name, run_id=result.run_id, status=result.status,
                                           run_dir=result.run_dir))
        return outcomes

    def _start(self, request: ShadowRunRequest, hooks: RunHooks) -> ShadowRunResult:
        """One variant's run, to completion or interruption (in this process, day by day)."""
        return start_run(request, hooks)
