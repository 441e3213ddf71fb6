"""Where a replay's per-day work runs: in this process, or as tasks on a `dask.distributed` cluster.

A replay is two phases (docs/shadow_trading.md, "Distributed replay"): phase A computes each day's
signals from the recording (pure, expensive, independent per day); phase B, in the process that
runs the run (the driver, or a worker for a dask sweep's variant, `sweep/worker_variant.py`),
validates, trades and writes the ledger in day order. An executor runs phase A: `map_days(fn,
tasks)` applies `fn` to every task and yields one `DayOutcome` per task, in the order of `tasks`,
whatever order they finish in. A task that raises is a failed outcome (its error text), not an
exception: the caller reports that day and the rest go on.

Executors are registered by name (`EXECUTORS`): `serial` (this process, one task at a time,
lazily: a day is computed when the driver asks for it) and `dask` (a `LocalCluster` started here,
or an existing scheduler's address). The dask executor keeps at most `max_ahead` tasks in flight,
so a months-long replay holds a bounded number of computed days; a worker that dies mid-task has
its task re-run by the scheduler on another worker, and a task that raises is retried `retries`
times. Only the run's own process writes the ledger, from the one outcome it receives per task,
so a task that ran twice cannot write twice.
"""
from __future__ import annotations

import logging
import os
import uuid
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Deque, Iterator, Sequence

from ...errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_RETRIES = 1
WORKER_SETUP = f"{__package__}.dask_worker_setup"  # preloaded into every LocalCluster worker process
#: how long the driver waits for one day's result before calling that day failed
DEFAULT_TASK_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class DayOutcome:
    """One task's result (`value`) or why it failed (`error`, a one-line text)."""

    key: str
    value: Any = None
    error: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.error)


class DayExecutor(ABC):
    """Runs phase-A day tasks; see the module docstring."""

    name: ClassVar[str]
    #: True when tasks run in the driver's own process (they may then use the run's folder)
    in_process: ClassVar[bool]

    @abstractmethod
    def map_days(self, fn: Callable[[Any], Any], tasks: Sequence[Any], key: Callable[[Any], str] = str,
                 content: Callable[[Any], str] | None = None) -> Iterator[DayOutcome]:
        """`fn(task)` for every task; outcomes in task order. Closing the iterator cancels what is
        still pending. `content(task)` names what a task computes: an executor that shares work
        between runs (a dask executor with a `share_group`) computes tasks of equal content once."""

    def describe(self) -> str:
        return self.name

    def close(self) -> None:
        """Release the cluster (if this executor started one)."""

    def __enter__(self) -> "DayExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class SerialExecutor(DayExecutor):
    """Each task in this process, when its outcome is asked for."""

    name = "serial"
    in_process = True

    def map_days(self, fn: Callable[[Any], Any], tasks: Sequence[Any], key: Callable[[Any], str] = str,
                 content: Callable[[Any], str] | None = None) -> Iterator[DayOutcome]:
        for task in tasks:
            try:
                value = fn(task)
            except Exception as exc:  # one failed day is reported, the rest go on
                log.error("day task %s failed: %s: %s", key(task), type(exc).__name__, exc, exc_info=True)
                yield DayOutcome(key(task), error=f"{type(exc).__name__}: {exc}")
                continue
            yield DayOutcome(key(task), value=value)


class DaskExecutor(DayExecutor):
    """Tasks on `dask.distributed`: a `LocalCluster` of `workers` processes on 127.0.0.1 (default:
    one per core), or the cluster behind `scheduler` (`tcp://HOST:8786`), or `client`'s cluster
    (a client of this process, or a worker's own client when a sweep variant runs on a worker).

    `share_group` (a name unique to one sweep invocation) names each task by its content
    (`map_days(content=...)`) instead of by its run: the cluster then computes a task once for
    every run of the group that asks for it while one of them still holds it (dask keeps one
    task per key), e.g. the phase A of sweep variants that differ only in phase-B settings."""

    name = "dask"
    in_process = False

    def __init__(self, *, scheduler: str | None = None, workers: int | None = None, processes: bool = True,
                 threads_per_worker: int = 1, retries: int = DEFAULT_RETRIES, max_ahead: int | None = None,
                 task_timeout_s: float = DEFAULT_TASK_TIMEOUT_S, client: Any = None,
                 share_group: str | None = None) -> None:
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers {workers}: a local cluster needs at least 1 worker")
        if scheduler is not None and workers is not None:
            raise ConfigError("--workers is for --cluster local; an existing scheduler has its own workers")
        self.scheduler = scheduler
        self.retries = retries
        self.task_timeout_s = task_timeout_s
        self.share_group = share_group
        self._cluster: Any = None
        self._own_client = client is None
        if client is not None:
            self.client = client
        else:
            self.client = self._connect(scheduler, workers, processes, threads_per_worker)
        threads = sum(self.client.nthreads().values()) or 1
        self.max_ahead = max_ahead if max_ahead is not None else 2 * threads + 2

    def _connect(self, scheduler: str | None, workers: int | None, processes: bool, threads: int) -> Any:
        import dask
        from distributed import Client, LocalCluster
        if scheduler is not None:
            try:
                return Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise ConfigError(f"--scheduler {scheduler}: no dask scheduler answered ({exc}); start one with "
                                  f"`dask scheduler` and workers with `dask worker {scheduler}`") from exc
        n_workers = workers if workers is not None else (os.cpu_count() or 1)
        # everything (workers, the scheduler's HTTP endpoint) on 127.0.0.1 only, in-process workers too;
        # worker processes leave Ctrl-C to the driver (it stops the run after the current event)
        preload = {"preload": [WORKER_SETUP]} if processes else {}
        # no statistical profiler in the workers: it samples every thread's stack every 10 ms, CPU the
        # days need (the nannies hand this setting to the worker processes they start)
        with dask.config.set({"distributed.worker.profile.enabled": False}):
            self._cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads, processes=processes,
                                         protocol="tcp://", host="127.0.0.1", dashboard_address=None,
                                         silence_logs=logging.WARNING, **preload)
        log.info("dask LocalCluster: %d worker(s) x %d thread(s), %s", n_workers, threads,
                 "processes" if processes else "threads")
        return Client(self._cluster)

    def describe(self) -> str:
        workers = self.client.nthreads()
        where = self.scheduler or "LocalCluster on 127.0.0.1"
        return f"dask ({where}: {len(workers)} worker(s), {sum(workers.values())} thread(s))"

    def map_days(self, fn: Callable[[Any], Any], tasks: Sequence[Any], key: Callable[[Any], str] = str,
                 content: Callable[[Any], str] | None = None) -> Iterator[DayOutcome]:
        batch = uuid.uuid4().hex[:12]
        pending: Deque[tuple[str, Any]] = deque()
        unsubmitted = iter(tasks)

        def task_name(task: Any) -> str:
            if self.share_group is not None and content is not None:
                return f"shadow-day-{self.share_group}-{content(task)}"
            return f"shadow-day-{batch}-{key(task)}"

        def submit_more() -> None:
            while len(pending) < self.max_ahead:
                task = next(unsubmitted, None)
                if task is None:
                    return
                pending.append((key(task), self.client.submit(fn, task, key=task_name(task), retries=self.retries,
                                                              pure=False)))

        try:
            submit_more()
            while pending:
                name, future = pending.popleft()
                outcome = self._outcome(name, future)
                future.release()
                submit_more()
                yield outcome
        finally:
            for _, future in pending:
                future.cancel()

    def _outcome(self, name: str, future: Any) -> DayOutcome:
        try:
            # wait, then gather: inside a worker, gather reads a result this worker holds in place and
            # fetches another worker's straight from it (Future.result would relay it through the scheduler)
            from distributed import wait
            wait([future], timeout=self.task_timeout_s)
            return DayOutcome(name, value=self.client.gather(future))
        except Exception as exc:  # a task error, a worker lost too often (KilledWorker), a timeout
            log.error("day task %s failed on the cluster: %s: %s", name, type(exc).__name__, exc)
            return DayOutcome(name, error=f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        if self._own_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


#: executors by name (`make_executor`)
EXECUTORS: dict[str, type[DayExecutor]] = {SerialExecutor.name: SerialExecutor, DaskExecutor.name: DaskExecutor}


def make_executor(name: str, **options: Any) -> DayExecutor:
    """The executor registered as `name`, built with `options` (e.g. `workers=2`)."""
    cls = EXECUTORS.get(name)
    if cls is None:
        raise ConfigError(f"unknown day executor {name!r} (expected one of: {', '.join(sorted(EXECUTORS))})")
    return cls(**options)



class OutcomeStream:
    """Outcomes of one `map_days` call handed out by key: `take(key)` returns that task's outcome,
    keeping the ones read past it until they are asked for (several runs, e.g. a sweep's variants,
    can share one stream, each taking its own days in order)."""

    def __init__(self, outcomes: Iterator[DayOutcome]) -> None:
        self._outcomes = outcomes
        self._held: dict[str, DayOutcome] = {}

    def take(self, key: str) -> DayOutcome:
        while key not in self._held:
            outcome = next(self._outcomes, None)
            if outcome is None:
                raise KeyError(f"day task {key} was never submitted")
            self._held[outcome.key] = outcome
        return self._held.pop(key)

    def close(self) -> None:
        """Cancel what is still pending (a stopped run)."""
        close = getattr(self._outcomes, "close", None)
        if close is not None:
            close()
        self._held.clear()
