"""Assembling a tick-execution run: the profile, the days, the tick feed, the broker, the ledger, the reports.

`start_tick_run` is what `run_shadow_trading.py --tick` calls. It uses the shadow runs' machinery
(one ledger per run under `<output_dir>/runs/<run_id>/`, the run row, the run lock, `--resume`,
the daily and final reports) and
1. loads the profile (`tick_execution` by default) and freezes its `tick_execution` section
   (config errors stop here, exit 2);
2. for a new run picks the days: a replay's first recorded sessions (from `--start`), a live run's
   next trading days of the exchange calendar; creates the ledger and the run row; `--resume`
   reopens them, taking the days, the recording and the settings from the run row (a changed
   profile is refused);
3. builds the tick feed registered under the profile's `tick_execution.feed.name` (`--replay DIR`
   picks `replay`), the broker (`paper` by default, `--broker tradovate` through its adapter) and
   the risk engine (`tick_execution.risk`, its state in the ledger);
4. runs `TickExecutionOrchestrator`, writing each day's reports when the day closes;
5. writes every day's reports again, the final results, and the per-strategy reports with their
   walk-forward figures (`tick_judging.py`).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any, Mapping, Protocol

import databento as db
import pandas as pd

from ...config_manager import Profile, load_environment, load_profile, validate_document
from ...data_ingestion.ticks.dbn_ticks import TRADE_SCHEMAS
from ...errors import ConfigError, InputFileError, LedgerWriteError
from ...state.ledger import LEDGER_FILE, RUN_COMPLETED, RUN_RUNNING, Ledger, iso
from ...state.run_lock import RunLock
from .feeds.term_structure_source import TermStructureSource, chain_folder
from .feeds.tick_feeds import REPLAY, TickFeedContext, build_tick_feed
from .feeds.trading_calendar import TradingCalendar
from .guards import RiskEngine, SqliteRiskStore
from ..greeks import GreeksConfig
from ..pipeline import frozen_config
from .shadow_config import ShadowTradingConfig, WindowConfig, thaw
from .shadow_orchestrator import RunOutcome
from .shadow_run import MAX_DAYS, RUNS_DIR, RunHooks, ShadowRunRequest, ShadowRunResult, write_run_reports
from .tick_config import TickExecutionConfig
from .tick_execution_orchestrator import TickExecutionOrchestrator
from .tick_judging import judge_strategies

log = logging.getLogger(__name__)

TICK_PROFILE = "tick_execution"
STRATEGY_REPORTS_DIR = "strategies"


class StrategyReports(Protocol):
    """Writes the per-strategy reports (`output_generation/tick_report_writer.py`, passed in by the CLI)."""

    def write_strategy_reports(self, document: Mapping[str, Any], run: Mapping[str, Any],
                               folder: Path) -> list[Path]: ...


def start_tick_run(request: ShadowRunRequest, hooks: RunHooks | None = None,
                   strategy_reports: StrategyReports | None = None) -> ShadowRunResult:
    """Run (or resume) a tick-execution run to completion or interruption (module docstring). The
    request is a shadow run's (`profile` naming a profile with a `tick_execution` section; its
    `price_path`, `speed` and `limited_live` do not apply)."""
    hooks = hooks or RunHooks()
    lock: RunLock | None = None
    ledger: Ledger | None = None
    try:
        if request.resume:
            profile, config, ledger, lock = _reopen(request, hooks)
        else:
            profile, config, ledger, lock = _create(request, hooks)
        return _run(request, hooks, strategy_reports, profile, config, ledger)
    except sqlite3.Error as exc:
        where = ledger.path if ledger is not None else "the run's ledger"
        raise LedgerWriteError(f"ledger {where} cannot be written ({exc}): free space or fix the permissions, then "
                               f"continue with --resume") from exc
    finally:
        if lock is not None:
            lock.release()


def _run(request: ShadowRunRequest, hooks: RunHooks, strategy_reports: StrategyReports | None, profile: Profile,
         config: TickExecutionConfig, ledger: Ledger) -> ShadowRunResult:
    run = ledger.run()
    assert run is not None
    asked = run["config"]["request"]
    days = list(run["trading_days"])
    run_dir = ledger.path.parent
    output_dir = run_dir.parent.parent
    shadow = report_config(profile)
    session = ledger.start_session(hooks.wall_clock(), resumed=bool(request.resume))
    outcome = RunOutcome(status=run["status"], days_closed=0, events=0)
    exit_note, feed, broker = "error", None, None
    try:
        replay_dir = Path(run["data_dir"]) if run["data_dir"] else None
        feed_name = REPLAY if replay_dir is not None else config.feed
        env = hooks.env if hooks.env is not None else load_environment()
        feed = build_tick_feed(feed_name, config.feed_settings.get(feed_name, {}),
                               TickFeedContext(replay_dir=replay_dir, env=env,
                                               broker_section=profile.section("broker")))
        broker = make_tick_broker(profile, config, asked)
        broker.connect()
        risk = RiskEngine(config.risk, store=SqliteRiskStore(ledger.connection))
        terms = term_structure_source(config, replay_dir, pipeline_greeks(profile))

        def day_closed(day: str) -> None:
            if hooks.reports is not None:
                hooks.reports.write_day_reports(ledger, day, shadow, output_dir)

        orchestrator = TickExecutionOrchestrator(
            config=config, ledger=ledger, feed=feed, days=days, mode="replay" if feed_name == REPLAY else "stream",
            broker=broker, risk=risk, stop=hooks.stop or threading.Event(), on_day_closed=day_closed,
            term_structure=terms.at if terms is not None else None)
        if run["status"] != RUN_COMPLETED:
            outcome = orchestrator.run()
        closed, final, reports = write_run_reports(hooks.reports, ledger, shadow, output_dir, run_dir)
        if strategy_reports is not None and closed:
            document = judge_strategies(ledger, config, closed, replay_dir=replay_dir,
                                        is_sample=bool(asked.get("is_sample")), term_structure=terms)
            final = dict(final, strategies=document)
            reports.extend(strategy_reports.write_strategy_reports(document, ledger.run() or {},
                                                                   run_dir / STRATEGY_REPORTS_DIR))
        exit_note = outcome.status
        return ShadowRunResult(run_id=run["run_id"], run_dir=run_dir, status=ledger.run()["status"],
                               days_closed=len(closed), events=outcome.events, final=final, reports=tuple(reports))
    finally:
        if feed is not None:
            feed.close()
        if broker is not None:
            broker.close()
        try:
            ledger.end_session(session, hooks.wall_clock(), events=outcome.events, exit=exit_note)
            ledger.close()
        except sqlite3.Error as exc:
            log.error("could not close %s cleanly: %s", ledger.path, exc)


def pipeline_greeks(profile: Profile) -> GreeksConfig:
    """The profile's `pipeline.greeks` settings: the term structure is priced as the pipeline prices."""
    settings = thaw(profile.section("pipeline", "greeks"))
    validate_document(settings, "stage.greeks.schema.json", source=profile.path)
    return frozen_config(GreeksConfig, settings)


def term_structure_source(config: TickExecutionConfig, replay_dir: Path | None,
                          greeks: GreeksConfig = GreeksConfig()) -> TermStructureSource | None:
    """The options' term structure the volatility carry reads (`tick_execution.term_structure.chains`),
    every snapshot computed once before the tick loop; None when the run has no chain recording."""
    folder = chain_folder(config.term_structure_chains, replay_dir)
    if folder is None:
        log.info("no chain recording (tick_execution.term_structure.chains = %r): the volatility carry has no "
                 "term structure", config.term_structure_chains)
        return None
    return TermStructureSource.from_recording(folder, greeks)


def report_config(profile: Profile) -> ShadowTradingConfig:
    """The shadow reports' settings (targets, window) for a tick run: the profile's
    `shadow_trading` section with the session as the window and A/B testing off (a tick run's
    sources are strategies, not signal algorithms)."""
    shadow = ShadowTradingConfig.from_profile(profile)
    session = TickExecutionConfig.from_profile(profile).session
    return dataclasses.replace(shadow, window=WindowConfig(timezone=session.timezone, start=session.start,
                                                           end=session.end),
                               ab_testing=dataclasses.replace(shadow.ab_testing, enabled=False))


def make_tick_broker(profile: Profile, config: TickExecutionConfig, asked: Mapping[str, Any]) -> Any:
    """The run's broker: `--broker`, else the profile's `broker.name` (paper when none)."""
    from .limited_live_trading_orchestrator import make_broker
    shadow = dataclasses.replace(ShadowTradingConfig.from_profile(profile), execution=config.execution)
    broker = make_broker(profile.section("broker"), shadow, confirm_live=bool(asked.get("confirm_live")),
                         name=asked.get("broker"))
    if broker.real_money:
        log.warning("!!! TICK EXECUTION WITH REAL MONEY through %s: every order is real !!!", broker.name)
    return broker


# --- new run / resume ------------------------------------------------------------------------------

def _create(request: ShadowRunRequest, hooks: RunHooks) -> tuple[Profile, TickExecutionConfig, Ledger, RunLock]:
    profile = load_profile(request.profile, env=hooks.env)
    config = TickExecutionConfig.from_profile(profile)
    days_wanted = request.days if request.days is not None else ShadowTradingConfig.from_profile(profile).days
    if not 1 <= days_wanted <= MAX_DAYS:
        raise ConfigError(f"--days {days_wanted}: a run covers 1 to {MAX_DAYS} trading days")
    _check_broker(profile, request)
    output_dir = Path(request.output_dir or config.output_dir)
    is_sample, note = False, ""
    if request.replay:
        recorded = recorded_days(request.replay, config)
        if request.start:
            recorded = [d for d in recorded if d >= request.start.isoformat()]
        if not recorded:
            raise InputFileError(f"--replay {request.replay}: no trading session recorded"
                                 f"{' on or after ' + request.start.isoformat() if request.start else ''}")
        days = recorded[:days_wanted]
        if len(days) < days_wanted:
            log.warning("--replay %s: %d day(s) recorded, %d asked; running %d", request.replay, len(days),
                        days_wanted, len(days))
        is_sample, note = _sample_note(request.replay)
        chain_folder(config.term_structure_chains, Path(request.replay))   # a missing folder: exit 2 now
        mode = "replay"
    else:
        calendar = TradingCalendar(str(profile.section("instrument").get("exchange_calendar", "CMES")),
                                   WindowConfig(timezone=config.session.timezone, start=config.session.start,
                                                end=config.session.end))
        start = request.start or pd.Timestamp.now(tz=config.session.timezone).date()
        days = [d.label for d in calendar.days(start, days_wanted)]
        mode = "live"
    run_id = request.run_id or f"tick-{mode}-{days[0].replace('-', '')}-{hooks.wall_clock():%Y%m%dT%H%M%S}"
    run_dir = output_dir / RUNS_DIR / run_id
    if (run_dir / LEDGER_FILE).exists():
        raise ConfigError(f"run {run_id} already exists in {run_dir}; continue it with --tick --resume {run_id}")
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(run_dir, run_id).acquire()
    try:
        ledger = Ledger(run_dir / LEDGER_FILE, after_commit=hooks.after_commit)
        settings = {"profile": profile.masked(),
                    "request": {"tick": True, "replay": str(request.replay) if request.replay else None,
                                "days": len(days), "start": days[0], "is_sample": is_sample, "data_note": note,
                                "broker": request.broker, "confirm_live": request.confirm_live,
                                "feed": REPLAY if request.replay else config.feed}}
        first = pd.Timestamp(config.session.bounds(days[0])[0], tz="UTC")
        with ledger.transaction(day=None, event_index=None, sim_time=None) as tx:
            tx.insert("runs", {"run_id": run_id, "mode": mode, "profile": profile.name,
                               "config_json": json.dumps(settings, sort_keys=True),
                               "data_dir": str(request.replay) if request.replay else None, "price_path": None,
                               "start_date": days[0], "days": len(days), "trading_days_json": json.dumps(days),
                               "status": RUN_RUNNING, "status_reason": "started", "status_at": iso(first)})
        log.info("tick run %s: %s over %s; ledger %s", run_id, mode, ", ".join(days), ledger.path)
    except BaseException:
        lock.release()
        raise
    return profile, config, ledger, lock


def _reopen(request: ShadowRunRequest, hooks: RunHooks) -> tuple[Profile, TickExecutionConfig, Ledger, RunLock]:
    root = request.output_dir
    if root is None:
        root = Path(TickExecutionConfig.from_profile(load_profile(request.profile, env=hooks.env)).output_dir)
    path = Path(root) / RUNS_DIR / str(request.resume) / LEDGER_FILE
    if not path.is_file():
        raise InputFileError(f"ledger {path}: no such file (was the run id right? runs live in <output-dir>/runs/)")
    lock = RunLock(path.parent, str(request.resume)).acquire()
    try:
        ledger = Ledger.open_existing(path, after_commit=hooks.after_commit)
        run = ledger.run()
        if run is None or not run["config"].get("request", {}).get("tick"):
            ledger.close()
            raise InputFileError(f"ledger {path}: not a tick-execution run; resume it without --tick")
        profile = load_profile(run["profile"], env=hooks.env)
        if json.dumps(profile.masked(), sort_keys=True) != json.dumps(run["config"]["profile"], sort_keys=True):
            ledger.close()
            raise ConfigError(f"profile {run['profile']!r} changed since run {run['run_id']} started; a resumed run "
                              f"must use the settings it started with (restore the profile, or start a new run)")
        config = TickExecutionConfig.from_profile(profile)
    except BaseException:
        lock.release()
        raise
    log.info("resuming tick run %s at %s", request.resume, ledger.progress())
    return profile, config, ledger, lock


def _check_broker(profile: Profile, request: ShadowRunRequest) -> None:
    """Refuse broker settings that cannot work, before anything is created (exit 2)."""
    section = dict(profile.section("broker"))
    name = request.broker or str(section.get("name") or "paper")
    if name == "tradovate":
        if section.get("name") != "tradovate":
            raise ConfigError("--broker tradovate needs the profile's broker section for Tradovate (broker.name "
                              "\"tradovate\", environment, rest_url, ws_url): see docs/limited_live.md")
        if request.replay:
            raise ConfigError("--broker tradovate with --replay: a recording's ticks are not the broker's market; "
                              "a replay trades on paper (drop --broker, or run live)")
        if section.get("environment") == "live" and not request.confirm_live:
            raise ConfigError("broker.environment is \"live\": orders would use REAL MONEY. Add --confirm-live to "
                              "trade it, or set broker.environment to \"demo\"")


def recorded_days(folder: Path, config: TickExecutionConfig) -> list[str]:
    """The session days a recording folder holds, in order (from each trade file's first record)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(f"--replay {folder}: no such folder")
    days = []
    pattern = str(config.feed_settings.get(REPLAY, {}).get("pattern", "*.dbn*"))
    for path in sorted(p for p in folder.glob(pattern) if p.is_file()):
        try:
            store = db.DBNStore.from_file(path)
        except Exception as exc:
            raise InputFileError(f"tick file {path}: not a readable DBN file ({exc})") from exc
        if store.schema is not None and str(store.schema) not in TRADE_SCHEMAS:
            continue
        first = next(iter(store), None)
        if first is not None:
            days.append(config.session.day_of(int(first.ts_event)))
    if not days:
        raise InputFileError(f"--replay {folder}: no DBN trade files (trades, mbp-1, tbbo or mbo) matching {pattern!r}")
    return sorted(set(days))


def _sample_note(folder: Path) -> tuple[bool, str]:
    manifest = Path(folder) / "manifest.json"
    if manifest.is_file():
        try:
            document = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            document = {}
        if document.get("is_sample"):
            return True, str(document.get("description") or "SAMPLE DATA")
    return False, f"recorded ticks from {folder}"
