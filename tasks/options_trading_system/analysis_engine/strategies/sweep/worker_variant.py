"""One sweep variant's whole run as a task on a dask worker (the dask runner on a LocalCluster).

The run is the serial run's two phases (docs/shadow_trading.md, "Distributed replay"): phase B
(validation, trading, every ledger write, the reports) runs here, in the worker process, in day
order; phase A (each day's signal work) runs as day tasks on the same cluster, submitted through
the worker's own client. A day's result computed on this worker is read in place, one computed on
another worker comes straight from it: nothing passes through the driver, which only gets the
small `WorkerVariantResult` back. Day tasks are named by their content within the sweep's
`share_group`, so variants whose phase A is the same (they differ only in phase-B settings) have
it computed once.

The task secedes from the worker's thread pool while it runs (`worker_client`): it waits on its
day tasks most of the time, and the worker keeps computing days meanwhile. The ledger and reports
are written under the request's output folder by the worker process, so the workers must see that
folder at the same path, as on a LocalCluster (SQLite in WAL mode needs a local filesystem; see
the dask runner). If the worker dies mid-run, the scheduler runs the task again on another worker
and the run resumes from its ledger (a resumed replay ends with the uninterrupted run's ledger).
"""
from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from ....state.ledger import LEDGER_FILE, Ledger
from ....state.run_lock import RunLock
from ..day_executors import DEFAULT_RETRIES, DEFAULT_TASK_TIMEOUT_S, DaskExecutor
from ..shadow_run import RUNS_DIR, RunHooks, ShadowRunRequest, start_run

log = logging.getLogger(__name__)

#: how often a running variant looks at the sweep's stop flag (seconds)
STOP_POLL_S = 0.5


@dataclass(frozen=True)
class WorkerVariantResult:
    """What a variant's task sends back to the driver: how the run ended, where it is."""

    run_id: str
    status: str
    run_dir: Path
    days_closed: int
    failed_days: Mapping[str, str] = field(default_factory=dict)


def run_variant_on_worker(request: ShadowRunRequest, *, share_group: str | None, stop_flag: str,
                          reports: str | None = None, env: Mapping[str, str] | None = None,
                          day_retries: int = DEFAULT_RETRIES,
                          task_timeout_s: float = DEFAULT_TASK_TIMEOUT_S) -> WorkerVariantResult:
    """Run `request` (a new run, or the rest of a started one) on this worker; see the module
    docstring. `reports` is the report writer's module name (imported here), `stop_flag` the
    name of the sweep's `distributed.Event` that asks every variant to stop after its current
    event (Ctrl-C on the driver), `share_group` the sweep's name for content-named day tasks (None:
    this variant's day tasks are its own)."""
    from distributed import Event, worker_client

    with worker_client() as client:  # seceded: this thread waits on its days, the worker computes them
        stop = threading.Event()
        finished = threading.Event()
        watcher = threading.Thread(target=_watch_stop, args=(Event(stop_flag, client=client), stop, finished),
                                   name=f"stop-watch-{request.run_id or request.resume}", daemon=True)
        watcher.start()
        try:
            executor = DaskExecutor(client=client, share_group=share_group, retries=day_retries,
                                    task_timeout_s=task_timeout_s)
            hooks = RunHooks(reports=importlib.import_module(reports) if reports else None, stop=stop,
                             env=dict(env) if env is not None else None)
            result = start_run(resumable(request), hooks, executor=executor)
        finally:
            finished.set()
            watcher.join()
    return WorkerVariantResult(run_id=result.run_id, status=result.status, run_dir=result.run_dir,
                               days_closed=result.days_closed, failed_days=dict(result.failed_days))


def resumable(request: ShadowRunRequest) -> ShadowRunRequest:
    """`request`, or a resume of its run when its ledger already exists: the task is running
    again after its worker died, and the run goes on from its last committed event. (A new
    request's ledger cannot predate the sweep: the plan turns an existing run into a resume.)"""
    if request.resume or not request.run_id or request.output_dir is None:
        return request
    run_dir = Path(request.output_dir) / RUNS_DIR / request.run_id
    path = run_dir / LEDGER_FILE
    if not path.is_file():
        return request
    with RunLock(run_dir, request.run_id):
        ledger = Ledger.open_existing(path)
        try:
            created = ledger.run() is not None
        finally:
            ledger.close()
        if not created:  # the earlier attempt died between the ledger's schema and its run row: start anew
            log.warning("run %s has a ledger without a run row (its task died creating it): created again",
                        request.run_id)
            for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                leftover.unlink(missing_ok=True)
            return request
    log.warning("run %s already has a ledger (its task is running again after a worker was lost): resuming it",
                request.run_id)
    return replace(request, resume=request.run_id, run_id=None, days=None, start=None, replay=None,
                   price_path=None)


def _watch_stop(flag: Any, stop: threading.Event, finished: threading.Event) -> None:
    """Set `stop` once the sweep's `flag` is set; ends when the run has finished."""
    while not finished.is_set():
        try:
            if flag.wait(timeout=STOP_POLL_S):
                stop.set()
                return
        except Exception as exc:  # the scheduler is going away (the sweep is ending): nothing left to stop
            if not finished.is_set():
                log.warning("stop flag unreadable (%s: %s); the run goes on to its end", type(exc).__name__, exc)
            return
