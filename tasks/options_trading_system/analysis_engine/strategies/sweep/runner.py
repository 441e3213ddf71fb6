"""How a sweep's variant runs are carried out: a `VariantRunner`, registered by name.

A runner gets the jobs (one shadow-run request per variant still to do, new or resumed) and
the run hooks of this process, and returns one `VariantOutcome` per job. It never decides what
to run or reads results: the plan (`plan.py`) chose the jobs, the ledgers hold the results.

Adding a runner: a module here with a `VariantRunner` subclass and a line in `RUNNER_CLASSES`
(an import path, so e.g. a Dask runner imports `dask.distributed` only when chosen). A runner
on other processes or machines takes `hooks.reports` (a module, importable anywhere) and builds
its own hooks there; every request is a frozen dataclass of paths and strings.
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

from ....errors import ConfigError
from ..shadow_run import RunHooks, ShadowRunRequest
from .variants import Variant

#: name -> "module:Class", relative to this package
RUNNER_CLASSES: dict[str, str] = {
    "serial": "serial:SerialRunner",
    "dask": "dask_runner:DaskRunner",
}


@dataclass(frozen=True)
class VariantJob:
    """One variant's shadow run to do: a new run (`resume` False) or the rest of a started one."""

    variant: Variant
    request: ShadowRunRequest
    resume: bool = False


@dataclass(frozen=True)
class VariantOutcome:
    """What became of one job: the run's final status, or the error that ended it."""

    name: str
    run_id: str
    status: str
    run_dir: Path | None = None
    error: str | None = None


class VariantRunner(ABC):
    """Runs a sweep's variant jobs; `name` is the registry key (`--sweep` files say `runner`)."""

    name: ClassVar[str]

    def __init__(self, **options: Any) -> None:
        self.options = options

    @abstractmethod
    def run(self, jobs: Sequence[VariantJob], hooks: RunHooks) -> list[VariantOutcome]:
        """Run every job (each to completion, interruption or failure) and say how each ended.
        A failed variant is an outcome with `error`, never an exception that loses the others'."""


def make_runner(name: str, **options: Any) -> VariantRunner:
    """The runner registered as `name`; a `ConfigError` naming the known ones otherwise."""
    try:
        target = RUNNER_CLASSES[name]
    except KeyError:
        raise ConfigError(f"unknown sweep runner {name!r}: expected one of {', '.join(sorted(RUNNER_CLASSES))}") \
            from None
    module_name, _, cls_name = target.partition(":")
    cls = getattr(importlib.import_module(f".{module_name}", __package__), cls_name)
    return cls(**options)
