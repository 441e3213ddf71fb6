"""A sweep's plan: which variants, over which days, where their runs and profiles live, and
which of them are already done.

`plan_sweep` checks everything before anything runs (exit 2 on any mistake): the sweep file, the
variants, and each variant's merged profile against `config/schema/profile.schema.json` and the
`shadow_trading` section's own cross-checks. `prepare_jobs` then writes the sweep folder
(`<output-dir>/sweeps/<sweep id>/profiles/<variant>.json`, each `{"extends": <base profile>,
...overrides}`, so a variant's run names a real profile file and `--resume` finds it) and decides
for every variant: completed -> skipped, started -> resumed, absent -> a new run.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Mapping

from ....config_manager import Profile, load_profile
from ....errors import ConfigError, InputFileError
from ....state.atomic import atomic_write_text
from ....state.ledger import LEDGER_FILE, RUN_COMPLETED, Ledger
from ..shadow_config import ShadowTradingConfig
from ..shadow_run import RUNS_DIR, ShadowRunRequest
from .runner import VariantJob
from .sweep_file import SweepFile, load_sweep_file
from .variants import Variant, expand

log = logging.getLogger(__name__)

SWEEPS_DIR = "sweeps"
PROFILES_DIR = "profiles"
RUN_ID_SEPARATOR = "--"


@dataclass(frozen=True)
class SweepRequest:
    """What the command line asked for (None = the sweep file's, then the base profile's)."""

    sweep_file: Path
    replay: Path
    days: int | None = None
    start: date | None = None
    price_path: Path | None = None
    speed: float | None = None
    output_dir: Path | None = None


@dataclass(frozen=True)
class SweepPlan:
    """A checked sweep: every variant's profile is valid; every variant replays `days` days of
    `replay` from `start` (None = the recording's first day, the same for all)."""

    sweep: SweepFile
    variants: tuple[Variant, ...]
    base_profile: Path
    days: int
    start: date | None
    replay: Path
    price_path: Path | None
    speed: float | None
    output_dir: Path

    @property
    def sweep_dir(self) -> Path:
        return self.output_dir / SWEEPS_DIR / self.sweep.sweep_id

    def run_id(self, variant: Variant) -> str:
        return f"{self.sweep.sweep_id}{RUN_ID_SEPARATOR}{variant.name}"

    def run_dir(self, variant: Variant) -> Path:
        return self.output_dir / RUNS_DIR / self.run_id(variant)

    def profile_file(self, variant: Variant) -> Path:
        return self.sweep_dir / PROFILES_DIR / f"{variant.name}.json"


def plan_sweep(request: SweepRequest, *, env: Mapping[str, str] | None = None) -> SweepPlan:
    """Load and check the sweep; `ConfigError` (exit 2) naming the sweep file and JSON path."""
    sweep = load_sweep_file(request.sweep_file)
    variants = expand(sweep)
    try:
        base = load_profile(sweep.profile, env=env)
        base_config = ShadowTradingConfig.from_profile(base)
    except ConfigError as exc:
        raise ConfigError(f"{sweep.path}: $.profile: the base profile {sweep.profile!r} cannot be used: {exc}") from exc
    for variant in variants:
        variant_profile(sweep, variant, env=env)
    if not request.replay.is_dir():
        raise InputFileError(f"--replay {request.replay}: no such folder (a sweep replays a recording)")
    days = request.days or sweep.days or base_config.days
    output_dir = Path(request.output_dir or base_config.output_dir)
    return SweepPlan(sweep=sweep, variants=variants, base_profile=base.path, days=days,
                     start=request.start or sweep.start, replay=request.replay, price_path=request.price_path,
                     speed=request.speed, output_dir=output_dir)


def variant_profile(sweep: SweepFile, variant: Variant, *, env: Mapping[str, str] | None = None) -> Profile:
    """The base profile with `variant`'s overrides merged in and validated."""
    try:
        profile = load_profile(sweep.profile, env=env, overrides=variant.overrides, overrides_origin=sweep.path)
        ShadowTradingConfig.from_profile(profile)
    except ConfigError as exc:
        raise ConfigError(f"{sweep.path}: {variant.where}: variant {variant.name!r}: its profile "
                          f"({sweep.profile} with the variant's overrides) is invalid: {exc}") from exc
    return profile


def prepare_jobs(plan: SweepPlan, *, env: Mapping[str, str] | None = None) -> tuple[list[VariantJob], list[str]]:
    """Write the sweep folder and the variants' profile files; return the runs still to do (new or
    resumed) and the names of the variants already completed (skipped)."""
    plan.sweep_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(plan.sweep_dir / "sweep.json", json.dumps(_sweep_record(plan), indent=1) + "\n")
    jobs: list[VariantJob] = []
    done: list[str] = []
    for variant in plan.variants:
        path = plan.profile_file(variant)
        document = {"extends": str(plan.base_profile), **variant.overrides}
        if not path.is_file() or json.loads(path.read_text(encoding="utf-8")) != document:
            atomic_write_text(path, json.dumps(document, indent=1, sort_keys=True) + "\n")
        run = _existing_run(plan.run_dir(variant))
        if run is None:
            jobs.append(VariantJob(variant=variant, resume=False, request=ShadowRunRequest(
                profile=str(path), days=plan.days, start=plan.start, replay=plan.replay, price_path=plan.price_path,
                speed=plan.speed, output_dir=plan.output_dir, run_id=plan.run_id(variant))))
            continue
        _check_same_run(plan, variant, run, env)
        if run["status"] == RUN_COMPLETED:
            log.info("variant %s: run %s already completed, skipped", variant.name, run["run_id"])
            done.append(variant.name)
        else:
            log.info("variant %s: run %s is %s, resumed", variant.name, run["run_id"], run["status"])
            jobs.append(VariantJob(variant=variant, resume=True, request=ShadowRunRequest(
                profile=str(path), resume=plan.run_id(variant), speed=plan.speed, output_dir=plan.output_dir)))
    return jobs, done


def _existing_run(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / LEDGER_FILE
    if not path.is_file():
        return None
    ledger = Ledger.open_existing(path)
    try:
        run = ledger.run()
    finally:
        ledger.close()
    if run is None:
        raise InputFileError(f"ledger {path}: it has no run row (the run was killed while being created); "
                             f"delete {run_dir} and run the sweep again")
    return run


def _check_same_run(plan: SweepPlan, variant: Variant, run: Mapping[str, Any], env: Mapping[str, str] | None
                    ) -> None:
    """A variant's existing run must be this sweep's: same merged profile, same recording, same
    days. Otherwise its figures would be compared with runs of other settings or other days."""
    stored = run["config"]
    profile = variant_profile(plan.sweep, variant, env=env).masked()
    asked = stored.get("request", {})
    differences = []
    if json.dumps(profile, sort_keys=True) != json.dumps(stored.get("profile"), sort_keys=True):
        differences.append("its profile settings")
    if Path(str(asked.get("replay"))).resolve() != plan.replay.resolve():
        differences.append(f"the recording ({asked.get('replay')})")
    if asked.get("days") != plan.days:
        differences.append(f"the number of days ({asked.get('days')})")
    if plan.start is not None and asked.get("start") != plan.start.isoformat():
        differences.append(f"the first day ({asked.get('start')})")
    if differences:
        raise ConfigError(f"{plan.sweep.path}: {variant.where}: variant {variant.name!r} already has run "
                          f"{run['run_id']} in {plan.run_dir(variant)} with different {', '.join(differences)}; "
                          f"give the sweep a new `id` (or --output-dir) to run the changed sweep beside it")


def _sweep_record(plan: SweepPlan) -> dict[str, Any]:
    """What the sweep folder records of the plan (for the reader; the runs' ledgers are the data)."""
    return {"sweep_id": plan.sweep.sweep_id, "sweep_file": str(plan.sweep.path), "kind": plan.sweep.kind,
            "base_profile": str(plan.base_profile), "replay": str(plan.replay), "days": plan.days,
            "start": plan.start.isoformat() if plan.start else None,
            "variants": [{"name": v.name, "run_id": plan.run_id(v), "overrides": dict(v.overrides),
                          "parameters": dict(v.parameters)} for v in plan.variants]}
