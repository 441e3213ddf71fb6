"""Assembling a shadow run: the profile, the days, the feed, the sources, the ledger, the reports.

`start_run` is what `run_shadow_trading.py` calls. It
1. loads the profile and freezes its `shadow_trading` section (config errors stop here); the
   profile's `state_dir` becomes the process's state directory unless `NQ_STATE_DIR` is set (the
   machine's data spend ledger the data_cost guard reads, IFD v3.0 baselines), as `run_pipeline.py` does;
2. for a new run picks the trading days from the exchange calendar (`--start`, `--days`) and creates
   `<output_dir>/runs/<run_id>/ledger.sqlite` with the run row; for `--resume` reopens that ledger
   and takes the days, the data and the settings from the run row (a changed profile is refused);
3. builds the feed: for a replay, each day's signal work (phase A, `replay_days.py`) on the day
   executor (this process, or dask: `run_replay`) read back in day order on a simulated clock
   (`phased_feed.py`); live, a `LiveFeed` over the profile's data sources on the real clock with
   `schedule`-driven cycles;
4. runs the orchestrator, writing each day's reports when the day closes;
5. writes every day's reports again (so a resumed run has them all) and the final results.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

import pandas as pd

from ...config_manager import Profile, load_environment, load_profile
from ...errors import ConfigError, InputFileError, LedgerWriteError
from ...state import queries
from ...state.run_lock import RunLock
from ...state.state_dir import export_profile_state_dir
from ...state.ledger import LEDGER_FILE, RUN_COMPLETED, RUN_FAILED, RUN_RUNNING, Ledger, iso
from .feeds.clock import Clock, RealClock, SimulatedClock
from .feeds.market_events import EVENT_CLOSE, EVENT_MBO, MarketFeed
from .performance import ProcessSampler
from .feeds.price_path import PricePath
from .feeds.recording import open_recording
from .feeds.snapshot_store import SnapshotStore, cache_dir_under
from .day_executors import DayExecutor, OutcomeStream, SerialExecutor
from .phased_feed import PhasedReplayFeed
from .replay_days import DayTask, compute_day, task_content_key, task_key
from .shadow_config import ShadowTradingConfig
from .shadow_orchestrator import RunOutcome, ShadowTradingOrchestrator
from .signals import build_signal_sources
from .signals.ifd_v3_source import day_cache_dir_under
from .day_cache import day_cache_dir_under as replay_day_cache_under
from .feeds.trading_calendar import TradingCalendar, TradingDay

if TYPE_CHECKING:  # live-only types, imported where a live run builds them
    from .feeds.cycle_timer import CycleTimer
    from .feeds.live_mbo import LiveMboChannel

log = logging.getLogger(__name__)

DEFAULT_PROFILE = "shadow_trading"
LIMITED_LIVE_PROFILE = "limited_live"
RUNS_DIR = "runs"
MAX_DAYS = 7


@dataclass(frozen=True)
class ShadowRunRequest:
    """What the command line asked for (None = take it from the profile or the run row)."""

    profile: str = DEFAULT_PROFILE
    days: int | None = None
    start: date | None = None
    replay: Path | None = None
    price_path: Path | None = None
    speed: float | None = None
    resume: str | None = None
    output_dir: Path | None = None
    run_id: str | None = None
    #: limited live: the profile's broker (or `broker`) under the `limited_live.risk` caps
    limited_live: bool = False
    broker: str | None = None
    confirm_live: bool = False


@dataclass(frozen=True)
class ShadowRunResult:
    run_id: str
    run_dir: Path
    status: str
    days_closed: int
    events: int
    final: Mapping[str, Any] | None = None
    reports: tuple[Path, ...] = field(default_factory=tuple)
    #: replayed days whose phase A failed (each closed with no signal and a note saying why)
    failed_days: Mapping[str, str] = field(default_factory=dict)


class RunReports(Protocol):
    """Writes a run's reports from its ledger (`output_generation/shadow_report_writer.py`, passed in
    by the CLI: the report layer sits above this one)."""

    def write_day_reports(self, ledger: Ledger, day: str, config: ShadowTradingConfig,
                          output_dir: Path) -> list[Path]: ...

    def write_final_report(self, ledger: Ledger, config: ShadowTradingConfig,
                           run_dir: Path) -> tuple[dict[str, Any], list[Path]]: ...


@dataclass
class RunHooks:
    """What tests and the CLI plug in: the report writer, the clock, the cycle timer, a stop flag,
    progress, commits. Without `reports` a run writes only its ledger (no report files, no final
    results)."""

    reports: RunReports | None = None

    clock: Clock | None = None
    timer: CycleTimer | None = None
    stop: threading.Event | None = None
    after_commit: Callable[[int], None] | None = None
    on_event: Callable[[Any], None] | None = None
    #: progress(total, unit) -> a callback per event; a replay counts closed days (unit "day")
    progress: Callable[..., Callable[[Any], None]] | None = None
    env: Mapping[str, str] | None = None
    mbo_client_factory: Callable[..., Any] | None = None  # databento.Live unless a test gives a stand-in
    wall_clock: Callable[[], pd.Timestamp] = lambda: pd.Timestamp.now(tz="UTC")


def run_replay(request: ShadowRunRequest, executor: DayExecutor, hooks: RunHooks | None = None) -> ShadowRunResult:
    """A replay (new or resumed) whose per-day signal work (phase A) runs on `executor` (serial or
    dask, `day_executors.py`); the ledger is written here, in day order (phase B), so the ledger is
    the same row for row whichever executor ran it."""
    return start_run(request, hooks, executor=executor)


def start_run(request: ShadowRunRequest, hooks: RunHooks | None = None,
              executor: DayExecutor | None = None) -> ShadowRunResult:
    """Run (or resume) a shadow run to completion or interruption; see the module docstring.
    A replay's phase A runs on `executor` (default: this process, one day at a time).

    One process per run (`state.run_lock`): a second process on the same run is refused with
    `RunLockedError`. A ledger that cannot be written (disk full, read-only) ends the run with
    `LedgerWriteError` and status `failed` where the ledger still takes that write; everything
    committed before stays, and `--resume` continues once the disk is fixed."""
    hooks = hooks or RunHooks()
    lock: RunLock | None = None
    ledger: Ledger | None = None
    try:
        if request.resume:
            profile, config, ledger, run, output_dir, lock = _reopen(request, hooks)
        else:
            profile, config, ledger, run, output_dir, lock = _create(request, hooks)
        return _run(request, hooks, profile, config, ledger, run, output_dir, executor or SerialExecutor())
    except sqlite3.Error as exc:
        where = ledger.path if ledger is not None else "the run's ledger"
        run_id = request.resume or request.run_id or (ledger.path.parent.name if ledger is not None else "")
        if ledger is not None:
            _record_failure(ledger.path, f"ledger write failed: {exc}")
        raise LedgerWriteError(
            f"ledger {where} cannot be written ({exc}): the disk may be full or the file or its folder read-only. "
            f"Everything up to the last committed event is kept; free space or fix the permissions, then "
            f"continue with --resume {run_id}") from exc
    finally:
        if lock is not None:
            lock.release()


def _record_failure(path: Path, reason: str) -> None:
    """Mark the run `failed` through a fresh connection after its own could not write (a full disk
    may still take this one-row update; a read-only file takes nothing, and the log says so)."""
    try:
        ledger = Ledger.open_existing(path)
    except (sqlite3.Error, OSError, InputFileError) as exc:
        log.error("could not record the failure in %s: %s", path, exc)
        return
    try:
        run = ledger.run()
        if run is not None and run["status"] == RUN_RUNNING:
            at = ledger.progress()          # the cursor stays where the last committed event left it
            with ledger.transaction(day=at["day"], event_index=at["event_index"],
                                    sim_time=pd.Timestamp(at["sim_time"]) if at["sim_time"] else None) as tx:
                tx.execute("UPDATE runs SET status = ?, status_reason = ?", (RUN_FAILED, reason))
    except sqlite3.Error as exc:
        log.error("could not record the failure in %s (the ledger takes no write: %s); it says running until "
                  "resumed", path, exc)
    finally:
        ledger.close()


def _run(request: ShadowRunRequest, hooks: RunHooks, profile: Profile, config: ShadowTradingConfig, ledger: Ledger,
         run: dict[str, Any], output_dir: Path, executor: DayExecutor) -> ShadowRunResult:
    stop = hooks.stop or threading.Event()
    run_dir = ledger.path.parent
    calendar = TradingCalendar(str(profile.section("instrument").get("exchange_calendar", "CMES")), config.window)
    days = [d for d in (calendar.day(date.fromisoformat(s)) for s in run["trading_days"]) if d is not None]
    session = ledger.start_session(hooks.wall_clock(), resumed=bool(request.resume))
    outcome = RunOutcome(status=run["status"], days_closed=0, events=0)
    exit_note = "error"
    feed: MarketFeed | None = None
    execution: dict[str, Any] = {}
    try:
        sources = build_signal_sources(profile, config)
        closed_before = set(queries.closed_days(ledger))
        feed = _feed(run, profile, config, days, run_dir, sources, hooks, request, ledger.progress()["sim_time"],
                     executor, [d for d in days if d.label not in closed_before])
        # the end of the run writes every closed day's reports (the run's final status and each
        # day's last timings are in them); a full-speed replay reaches its end moments after a
        # close, so it writes them once, there; a live run or a paced replay also at each close
        at_close = run["mode"] != "replay" or _speed(request, config) > 0
        reporter = _reporter(hooks.reports, ledger, config, output_dir) if at_close else None
        on_event = hooks.on_event
        if hooks.progress is not None and isinstance(feed, PhasedReplayFeed):
            tick = hooks.progress(len(days) - len(closed_before), unit="day")
            on_event = lambda event: tick(event) if event.kind == EVENT_CLOSE else None  # noqa: E731
        elif hooks.progress is not None:
            on_event = hooks.progress(_planned(feed, days))
        execution = _execution(profile, config, run, ledger)
        orchestrator = ShadowTradingOrchestrator(
            config=config, ledger=ledger, feed=feed, sources=sources, days=days,
            instrument_symbol=str(profile.section("instrument").get("symbol", "NQ")), stop=stop,
            on_day_closed=reporter, on_event=on_event, sampler=ProcessSampler(), wall_clock=hooks.wall_clock,
            **execution)
        if run["status"] != RUN_COMPLETED:
            try:
                outcome = orchestrator.run()
            except Exception:
                if not at_close:  # the days closed before the failure keep their reports, as at each close
                    _reports_after_failure(hooks.reports, ledger, config, output_dir)
                raise
        closed, final, reports = write_run_reports(hooks.reports, ledger, config, output_dir, run_dir)
        exit_note = outcome.status
        failed = dict(feed.failures) if isinstance(feed, PhasedReplayFeed) else {}
        return ShadowRunResult(run_id=run["run_id"], run_dir=run_dir, status=ledger.run()["status"],
                               days_closed=len(closed), events=outcome.events, final=final, reports=tuple(reports),
                               failed_days=failed)
    finally:
        if feed is not None:
            feed.close()
        if execution.get("broker") is not None:
            execution["broker"].close()
        try:
            ledger.end_session(session, hooks.wall_clock(), events=outcome.events, exit=exit_note)
        except sqlite3.Error as exc:  # the failure being reported is this ledger's; say it once, above
            log.error("could not close the session row of %s: %s", ledger.path, exc)
        try:
            ledger.close()
        except sqlite3.Error as exc:
            log.error("could not close %s cleanly: %s", ledger.path, exc)


def write_run_reports(reports: RunReports | None, ledger: Ledger, config: ShadowTradingConfig, output_dir: Path,
                      run_dir: Path) -> tuple[list[str], dict[str, Any], list[Path]]:
    """Every closed day's reports again (so a resumed run has them all) and the final results:
    (the closed days, the final document, the files written); nothing without a report writer."""
    closed = queries.closed_days(ledger)
    final: dict[str, Any] = {}
    paths: list[Path] = []
    if reports is not None:
        for day in closed:
            paths.extend(reports.write_day_reports(ledger, day, config, output_dir))
        final, written = reports.write_final_report(ledger, config, run_dir)
        paths.extend(written)
    return closed, final, paths


# --- new run / resume ----------------------------------------------------------------------

def _create(request: ShadowRunRequest, hooks: RunHooks
            ) -> tuple[Profile, ShadowTradingConfig, Ledger, dict[str, Any], Path, RunLock]:
    profile = load_profile(request.profile, env=hooks.env)
    export_profile_state_dir(profile.data.get("state_dir"))  # spend ledger, baselines: as run_pipeline does
    config = ShadowTradingConfig.from_profile(profile)
    days_wanted = request.days if request.days is not None else config.days
    if days_wanted < 1 or (not request.replay and days_wanted > MAX_DAYS):
        raise ConfigError(f"--days {days_wanted}: a live run covers 1..{MAX_DAYS} trading days "
                          f"(a replay takes up to its recording's length)")
    output_dir = Path(request.output_dir or _default_output_dir(profile, config, request.limited_live))
    if request.limited_live:
        _check_limited_live(profile, config, request)
    calendar = TradingCalendar(str(profile.section("instrument").get("exchange_calendar", "CMES")), config.window)
    mode = "replay" if request.replay else "live"
    data_note = ""
    is_sample = False
    price_path = None
    if request.replay:
        recording = open_recording(request.replay, price_path=request.price_path)
        price_path = recording.price_path
        is_sample = recording.is_sample
        data_note = recording.description
        start = request.start or _first_recorded_day(recording, calendar)
    else:
        if request.price_path:
            raise ConfigError("--price-path needs --replay (live runs take prices from the data sources)")
        clock = hooks.clock or RealClock()
        start = request.start or clock.now().tz_convert(config.window.timezone).date()
    days = calendar.days(start, days_wanted)
    if len(days) < days_wanted:
        raise ConfigError(f"only {len(days)} trading day(s) on or after {start} in the {calendar.name} calendar")
    if request.replay:
        _check_recording_length(recording, days)
    if request.replay and price_path is not None:
        _check_price_coverage(price_path, _price_path(recording, config, profile), days)
    run_id = request.run_id or f"{mode}-{days[0].session:%Y%m%d}-{hooks.wall_clock():%Y%m%dT%H%M%S}"
    run_dir = output_dir / RUNS_DIR / run_id
    if (run_dir / LEDGER_FILE).exists():
        raise ConfigError(f"run {run_id} already exists in {run_dir}; continue it with --resume {run_id}")
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(run_dir, run_id).acquire()
    if (run_dir / LEDGER_FILE).exists():  # another process created it between the check and the lock
        lock.release()
        raise ConfigError(f"run {run_id} already exists in {run_dir}; continue it with --resume {run_id}")
    try:
        ledger = Ledger(run_dir / LEDGER_FILE, after_commit=hooks.after_commit)
        # the pace (--speed) is not part of the run: a resumed replay may go at another pace
        settings = {"profile": profile.masked(),
                    "request": {"replay": str(request.replay) if request.replay else None,
                                "price_path": str(price_path) if price_path else None,
                                "days": days_wanted, "start": start.isoformat(), "is_sample": is_sample,
                                "data_note": data_note, "limited_live": request.limited_live,
                                "broker": request.broker, "confirm_live": request.confirm_live}}
        run = {"run_id": run_id, "mode": mode, "profile": profile.name, "config_json": json.dumps(settings, sort_keys=True),
               "data_dir": str(request.replay) if request.replay else None,
               "price_path": str(price_path) if price_path else None, "start_date": days[0].label, "days": len(days),
               "trading_days_json": json.dumps([d.label for d in days]), "status": RUN_RUNNING,
               "status_reason": "started", "status_at": iso(days[0].window_open)}
        with ledger.transaction(day=None, event_index=None, sim_time=None) as tx:
            tx.insert("runs", run)
        log.info("run %s: %s over %s (%d day(s)); ledger %s", run_id, mode, ", ".join(d.label for d in days), len(days),
                 ledger.path)
    except BaseException:
        lock.release()
        raise
    return profile, config, ledger, ledger.run(), output_dir, lock


def _reopen(request: ShadowRunRequest, hooks: RunHooks
            ) -> tuple[Profile, ShadowTradingConfig, Ledger, dict[str, Any], Path, RunLock]:
    guess = Path(request.output_dir) if request.output_dir else None
    if guess is None:
        profile_for_dir = load_profile(request.profile, env=hooks.env)
        guess = _default_output_dir(profile_for_dir, ShadowTradingConfig.from_profile(profile_for_dir),
                                    request.limited_live)
    path = guess / RUNS_DIR / str(request.resume) / LEDGER_FILE
    if not path.is_file():
        raise InputFileError(f"ledger {path}: no such file (was the run id right? runs live in <output-dir>/runs/)")
    lock = RunLock(path.parent, str(request.resume)).acquire()
    try:
        profile, config, ledger, run = _reopen_locked(request, hooks, path)
    except BaseException:
        lock.release()
        raise
    return profile, config, ledger, run, guess, lock


def _reopen_locked(request: ShadowRunRequest, hooks: RunHooks, path: Path
                   ) -> tuple[Profile, ShadowTradingConfig, Ledger, dict[str, Any]]:
    ledger = Ledger.open_existing(path, after_commit=hooks.after_commit)
    run = ledger.run()
    if run is None:
        ledger.close()
        raise InputFileError(f"ledger {path}: it has no run row; it cannot be resumed")
    stored = run["config"]
    profile = load_profile(run["profile"], env=hooks.env)
    export_profile_state_dir(profile.data.get("state_dir"))
    if _comparable(profile.masked()) != _comparable(stored["profile"]):
        ledger.close()
        raise ConfigError(f"profile {run['profile']!r} changed since run {run['run_id']} started; a resumed run must "
                          f"use the settings it started with (restore the profile, or start a new run)")
    config = ShadowTradingConfig.from_profile(profile)
    for given, name in ((request.replay, "--replay"), (request.price_path, "--price-path"), (request.days, "--days"),
                        (request.start, "--start")):
        if given is not None:
            log.warning("%s is ignored with --resume: the run keeps the data and days it started with", name)
    log.info("resuming run %s at %s", run["run_id"], ledger.progress())
    return profile, config, ledger, run


def _price_path(recording: Any, config: ShadowTradingConfig, profile: Profile) -> PricePath:
    """The recording's price path as the replay reads it (empty when it has none)."""
    return recording.prices(default_timezone=config.replay.csv_timezone, bar_seconds=config.replay.bar_seconds,
                            root=str(profile.section("instrument").get("symbol", "NQ")))


def _check_price_coverage(path: Path, prices: PricePath, days: list[TradingDay]) -> None:
    """A price path with no bar inside any of the replay's windows would replay nothing and still
    "complete": refuse it, naming both ranges."""
    if any(len(prices.between(d.window_open, d.window_close)) for d in days):
        return
    days_text = f"{days[0].label} .. {days[-1].label}"
    if len(prices) == 0:
        raise InputFileError(f"--price-path {path}: no bars could be read; the replay covers {days_text}")
    first = pd.Timestamp(int(prices.start[0]), tz="UTC")
    last = pd.Timestamp(int(prices.end[-1]), tz="UTC")
    raise InputFileError(
        f"--price-path {path}: its bars cover {first:%Y-%m-%d %H:%M} .. {last:%Y-%m-%d %H:%M} UTC, the replay's days "
        f"are {days_text}: not one bar falls inside a trading window. Record or generate the replay on the path's "
        f"own days (python3 scripts/make_sample_data.py week --price-path {path} --output DIR)")


def _default_output_dir(profile: Profile, config: ShadowTradingConfig, limited_live: bool) -> Path:
    if limited_live:
        return Path(str(profile.section("limited_live").get("output_dir") or "outputs/limited_live"))
    return Path(config.output_dir)


def _check_limited_live(profile: Profile, config: ShadowTradingConfig, request: ShadowRunRequest) -> None:
    """Refuse a limited-live run whose settings cannot work, before anything is created (exit 2)."""
    from .limited_live_trading_orchestrator import limited_live_risk
    limited_live_risk(profile)
    section = dict(profile.section("broker"))
    name = request.broker or str(section.get("name") or "paper")
    if name == "tradovate" and section.get("name") == "tradovate" and section.get("environment") == "live":
        if not request.confirm_live:
            raise ConfigError("broker.environment is \"live\": orders would use REAL MONEY. Add --confirm-live to "
                              "the command line to trade it, or set broker.environment to \"demo\"")
        if request.replay:
            raise ConfigError("--replay cannot trade the live Tradovate environment: a replay's market is not live")
    if name == "tradovate" and request.replay and section.get("name") != "tradovate":
        raise ConfigError("--broker tradovate --replay needs the profile's broker section pointing at the Tradovate "
                          "stand-in (broker.name \"tradovate\", rest_url and ws_url on 127.0.0.1)")


def _execution(profile: Profile, config: ShadowTradingConfig, run: Mapping[str, Any], ledger: Ledger
               ) -> dict[str, Any]:
    """The orchestrator's risk engine, broker and market clock: none (paper, derived shadow caps)
    for a shadow run; the profile's broker under `limited_live.risk` for a limited-live run."""
    asked = run["config"].get("request", {})
    if not asked.get("limited_live"):
        return {}
    from .brokers.tradovate.standin_clock import StandInClock
    from .guards import LedgerSpendReader, RiskEngine, SqliteRiskStore
    from .limited_live_trading_orchestrator import limited_live_risk, make_broker
    risk_config = limited_live_risk(profile)
    section = dict(profile.section("broker"))
    name = asked.get("broker") or str(section.get("name") or "paper")
    spend_root = Path(str(profile.section("limited_live").get("spend_root") or "outputs"))
    spend = LedgerSpendReader.under(spend_root) \
        if risk_config.data_cost.enabled or risk_config.cost_per_signal.enabled else None
    risk = RiskEngine(risk_config, store=SqliteRiskStore(ledger.connection), spend=spend)
    clock = StandInClock(str(section.get("rest_url") or "")) \
        if name == "tradovate" and run["mode"] == "replay" else None
    broker = make_broker(section, config, confirm_live=bool(asked.get("confirm_live")), name=name,
                         market_clock=clock.market_time if clock is not None else None)
    if broker.real_money:
        log.warning("!!! LIMITED LIVE TRADING WITH REAL MONEY through %s: every order is real !!!", broker.name)
    broker.connect()
    return {"risk": risk, "broker": broker, "market_sync": clock.advance if clock is not None else None}


def _comparable(masked: Mapping[str, Any]) -> str:
    return json.dumps(masked, sort_keys=True)


def _check_recording_length(recording: Any, days: list[TradingDay]) -> None:
    """A replay covers at most the recording's days: past its last recorded day there is nothing
    to replay (a recording of a price path alone has no recorded days, and no such limit)."""
    if recording.days and days[-1].session > recording.days[-1]:
        recorded = [d for d in days if d.session <= recording.days[-1]]
        raise ConfigError(f"--days {len(days)}: the recording {recording.root} ends on {recording.days[-1]}, "
                          f"{len(recorded)} trading day(s) from {days[0].label}; ask for at most {len(recorded)}")


def _first_recorded_day(recording: Any, calendar: TradingCalendar) -> date:
    if recording.days:
        return recording.days[0]
    if recording.price_path is not None:
        raise ConfigError(f"--replay {recording.root}: no chain snapshots or MBO days; give --start to replay the "
                          f"price path alone")
    raise ConfigError(f"--replay {recording.root}: nothing recorded")


# --- feeds ---------------------------------------------------------------------------------

def _feed(run: Mapping[str, Any], profile: Profile, config: ShadowTradingConfig, days: list[TradingDay],
          run_dir: Path, sources: list[Any], hooks: RunHooks, request: ShadowRunRequest,
          resumed_at: str | None, executor: DayExecutor, remaining: list[TradingDay]) -> MarketFeed:
    if run["mode"] == "replay":
        recording = open_recording(Path(run["data_dir"]), price_path=Path(run["price_path"]) if run["price_path"] else None)
        prices = _price_path(recording, config, profile)
        if len(prices) == 0:
            log.warning("replay %s: no price path; no signal can be entered or judged", recording.root)
        clock = hooks.clock or SimulatedClock(replay_clock_start(days, resumed_at), speed=_speed(request, config))
        # phase A on the executor (IFD v3.0's baselines in the run's folder when it runs here),
        # phase B in this process: the orchestrator reading the results in day order
        run_key = f"{run['run_id']}#{uuid.uuid4().hex[:8]}"
        snapshots = snapshot_store(config, sources, run_dir.parent.parent)  # <output_dir>/runs/<id>
        tasks = [DayTask(run_key=run_key, day=day, recording=recording.root.absolute(),  # as workers elsewhere see it
                         bars=prices.between(day.session_open, day.session_close), sources=tuple(sources),
                         baseline_dir=run_dir if executor.in_process else None, snapshots=snapshots,
                         mbo_cache=day_cache_dir_under(run_dir.parent.parent) if config.replay.snapshot_cache else None,
                         day_cache=replay_day_cache_under(run_dir.parent.parent) if config.replay.snapshot_cache
                         else None)
                 for day in remaining]
        log.info("replay %s: %d day(s) of signal work on %s", run["run_id"], len(tasks), executor.describe())
        stream = OutcomeStream(executor.map_days(compute_day, tasks, key=task_key, content=task_content_key))
        return PhasedReplayFeed(stream, run_key, prices, clock)
    # live only: its data sources, the MBO stream client (databento) and the cycle timers, which a
    # replay never needs, are imported here rather than at every start
    from ...data_ingestion.sources_registry import ChainLoader, ChainRequest, SourceContext, build_sources
    from .feeds.cycle_timer import ClockCycleTimer, ScheduleCycleTimer
    from .feeds.live_feed import LiveFeed
    clock = hooks.clock or RealClock()
    timer = hooks.timer or (ScheduleCycleTimer(config.live.cycle_seconds) if isinstance(clock, RealClock)
                            else ClockCycleTimer(clock, config.live.cycle_seconds))
    env = hooks.env if hooks.env is not None else load_environment()
    context = SourceContext(profile=profile, output_root=Path(run_dir), env=env)
    sources_cfg = profile.section("data_sources")
    instrument = profile.section("instrument")
    loader = ChainLoader(build_sources(sources_cfg.get("priority", ()), context))

    def request_for(session: date, now: pd.Timestamp) -> ChainRequest:
        return ChainRequest(trade_date=session, now=now, symbol=str(instrument.get("symbol", "NQ")),
                            multiplier=float(instrument.get("multiplier", 20)),
                            timeout_s=float(sources_cfg.get("timeout_s", 20)))

    channels, notes = _live_mbo_channels(sources, env, hooks)
    live_sources = [name for name in sources_cfg.get("priority", ()) if name != "saved"]
    if not live_sources:
        message = (f"profile {profile.name}: no live data source (data_sources.priority lists only saved data); "
                   f"live mode never trades the bundled sample or old captures, so nothing will be traded")
        log.error(message)
        notes.append(message)
    return LiveFeed(loader, request_for, clock, timer, Path(run_dir) / "recording", mbo_channels=channels,
                    notes=notes)


def snapshot_store(config: ShadowTradingConfig, sources: list[Any], output_dir: Path) -> SnapshotStore:
    """Each snapshot parsed once, with the greeks the sources read (one set of settings: the
    profile's `pipeline.greeks`), kept under `output_dir` unless `replay.snapshot_cache` is off."""
    greeks = next((s.greeks_config for s in sources if s.greeks_config is not None), None)
    cache = cache_dir_under(output_dir) if config.replay.snapshot_cache else None
    return SnapshotStore(greeks=greeks, cache_dir=cache)


def replay_clock_start(days: list[TradingDay], resumed_at: str | None) -> pd.Timestamp:
    """Where a replay's simulated clock starts: just before the first window, or for a resumed
    run at the ledger's last simulated time, so a paced (--speed) resume does not first wait out
    the days already done."""
    first = days[0].window_open - pd.Timedelta(seconds=1)
    return max(first, pd.Timestamp(resumed_at)) if resumed_at else first


def _live_mbo_channels(sources: list[Any], env: Mapping[str, str], hooks: RunHooks
                       ) -> tuple[list[LiveMboChannel], list[str]]:
    """A live MBO channel per IFD v3.0 source; without a key the source is noted as unfed, not faked."""
    from ...data_ingestion.mbo.live_client import LiveMBOFeed, api_key
    from .feeds.live_mbo import LiveMboChannel
    channels: list[LiveMboChannel] = []
    notes: list[str] = []
    for source in (s for s in sources if s.event_kind == EVENT_MBO):
        try:
            key = api_key(source.config.live, env)
        except ConfigError as exc:
            notes.append(f"{source.name}: no live MBO stream, so no IFD v3.0 signal ({exc})")
            continue
        # the SDK's databento.Live (LiveMBOFeed's default) unless a test gives a stand-in
        client = {"client_factory": hooks.mbo_client_factory} if hooks.mbo_client_factory else {}

        def make_feed(sink: Any, on_gap: Any, source: Any = source, key: str = key, client: Any = client) -> Any:
            return LiveMBOFeed(source.config.live, key=key, sink=sink, on_gap=on_gap, **client)

        channels.append(LiveMboChannel(source, make_feed, baseline_db=source.baseline_db))
    return channels, notes


def _planned(feed: MarketFeed, days: list[TradingDay]) -> int | None:
    counts = [feed.planned_events(d) for d in days]
    return None if any(c is None for c in counts) else int(sum(c for c in counts if c is not None))


def _speed(request: ShadowRunRequest, config: ShadowTradingConfig) -> float:
    """A replay's pace in simulated seconds per second (0: as fast as possible)."""
    return request.speed if request.speed is not None else config.replay.speed


def _reports_after_failure(reports: RunReports | None, ledger: Ledger, config: ShadowTradingConfig,
                           output_dir: Path) -> None:
    """The reports of the days a failing full-speed replay closed (best effort: the failure may be
    the ledger's own, and it is the one to report)."""
    if reports is None:
        return
    try:
        for day in queries.closed_days(ledger):
            reports.write_day_reports(ledger, day, config, output_dir)
    except Exception as exc:  # noqa: BLE001 - the run's own failure is raised next
        log.error("the closed days' reports could not be written after the failure: %s", exc)


def _reporter(reports: RunReports | None, ledger: Ledger, config: ShadowTradingConfig,
              output_dir: Path) -> Callable[[TradingDay], None] | None:
    if reports is None:
        return None

    def write(day: TradingDay) -> None:
        reports.write_day_reports(ledger, day.label, config, output_dir)
    return write


def emergency_flatten(request: ShadowRunRequest, run_id: str, *, now: pd.Timestamp | None = None) -> str:
    """The emergency stop for `run_id`: its risk engine HALTED in the ledger (so every entry is
    refused and, level-triggered, whatever is open is flattened at the next cycle, or at the next
    start of a stopped run) and a `flatten` control the running orchestrator carries out (cancel
    every working order, flatten every position). With a real broker configured, its positions
    are also flattened here and now. Returns what was done, for the command line."""
    from .guards import RiskEngine, SqliteRiskStore
    from .limited_live_trading_orchestrator import limited_live_risk, make_broker
    profile = load_profile(request.profile, env=None)
    config = ShadowTradingConfig.from_profile(profile)
    root = Path(request.output_dir) if request.output_dir else _default_output_dir(profile, config,
                                                                                    request.limited_live)
    ledger = Ledger.open_existing(root / RUNS_DIR / run_id / LEDGER_FILE)
    now = now or pd.Timestamp.now(tz="UTC")
    done = []
    try:
        asked = (ledger.run() or {}).get("config", {}).get("request", {})
        risk_config = limited_live_risk(profile) if asked.get("limited_live") else config.risk_config()
        risk = RiskEngine(risk_config, store=SqliteRiskStore(ledger.connection),
                          spend=_NoSpend() if risk_config.data_cost.enabled or risk_config.cost_per_signal.enabled
                          else None)
        risk.halt(by="flatten command", reason=f"--flatten {run_id}", now=now)
        ledger.request_control("flatten", reason=f"--flatten {run_id}", requested_by="command line",
                               requested_at=now)
        done.append(f"run {run_id}: risk engine HALTED, flatten control queued (obeyed within one cycle)")
        name = asked.get("broker") or str(profile.section("broker").get("name") or "paper")
        if asked.get("limited_live") and name != "paper":
            broker = make_broker(profile.section("broker"), config, confirm_live=request.confirm_live, name=name)
            try:
                broker.connect()
                states = broker.flatten()
                done.append(f"{name}: {len(states)} order(s) cancelled or liquidated; positions now "
                            f"{[(p.instrument, p.quantity) for p in broker.positions()] or 'flat'}")
            finally:
                broker.close()
    finally:
        ledger.close()
    done.append(f"resume with the dashboard's token-guarded resume control once the cause is understood")
    return "\n".join(done)


class _NoSpend:
    """The spend totals are not needed to halt (a halt reads no guard); present so the engine builds."""

    def totals(self, now: pd.Timestamp) -> Any:
        from .guards import SpendTotals
        return SpendTotals(day_usd=0.0, month_usd=0.0)
