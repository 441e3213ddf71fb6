"""One daily analysis run: profile -> chain (sources or one file) -> pipeline -> outputs.

`run_daily` is what `run_pipeline.py` calls. I/O lives at its edges: the sources read data, the
output writer writes files; everything between is the pure pipeline over the canonical chain.

Dates: a run is filed under its trading date. For `--input FILE` that is the capture's own date
(`capture_trading_date`: the exchange session its `as_of` belongs to), never the day it is run;
otherwise `--date` or today in New York, unless the chain served is of another session (the
saved-data fallback serving an old capture, say): then the data's own session, and the run's
`date_basis` says what was asked for. The analyses time everything from the chain's `as_of`
(time to expiry included), never from the wall clock; the wall clock only says when the run
started. A chain older than the last trading session is flagged (`stale_data_note`): in the
export's banners and warnings, so the console, both reports and the log say so.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable, Mapping

import pandas as pd

from .config_manager import Profile, load_environment
from .analysis_engine.pipeline import AnalysisContext, Pipeline, PipelineResult
from .data_ingestion.canonical import DEFAULT_BOUNDS, ChainBounds, OptionsChain, as_utc, validate_chain
from .data_ingestion.market_hours import exchange_calendar, session_for, session_of
from .data_ingestion.sources_registry import (OUTCOME_SERVED, ChainLoader, ChainRequest, SourceAttempt,
                                              SourceContext, build_sources)
from .errors import ChainValidationError, ConfigError, InputFileError

log = logging.getLogger(__name__)
EXCHANGE_TZ = "America/New_York"


@dataclass(frozen=True)
class DailyRunResult:
    """Everything a report needs about one run. Figures come only from `chain` and `pipeline`."""

    profile: Profile
    run_date: date
    started_at: pd.Timestamp
    chain: OptionsChain
    attempts: tuple[SourceAttempt, ...]
    pipeline: PipelineResult
    load_seconds: float
    input_path: Path | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    run_stamp: str | None = None  # `HHMMSS-<pid>` of this run's files (`run_stamp`); None: derived
    date_basis: str = ""          # why the run is filed under `run_date` (capture as_of, --date, today)
    stale_note: str | None = None  # set when the chain is older than the last trading session

    @property
    def is_sample(self) -> bool:
        return self.chain.meta.is_sample


def day_folder(output_root: Path, run_date: date) -> Path:
    """outputs/YYYYMMDD for a run date."""
    return output_root / run_date.strftime("%Y%m%d")


def load_input_file(path: Path, bounds: ChainBounds = DEFAULT_BOUNDS) -> OptionsChain:
    """Read one saved capture (Barchart raw response or canonical snapshot) and validate it."""
    from .data_ingestion.saved.formats import read_capture  # the saved source owns the formats

    if not path.is_file():
        raise InputFileError(f"--input {path}: no such file")
    chain = read_capture(path, bounds)
    try:
        return validate_chain(chain, bounds)
    except ChainValidationError as exc:
        raise InputFileError(f"--input {path}: chain refused: {exc}") from exc


def capture_trading_date(chain: OptionsChain, calendar_name: str = "CMES") -> date:
    """The trading date a capture belongs to: the exchange session of its `as_of`."""
    return session_of(calendar_name, chain.meta.as_of)


def stale_data_note(chain: OptionsChain, *, now: pd.Timestamp, run_date: date, calendar_name: str = "CMES",
                    present: bool = True) -> str | None:
    """A warning when the chain is older than the last trading session, else None.

    The last session is the present one as of `now` (today's in New York, or the one before on a
    day the exchange is shut) for a run about the present (`present`: no past `--date`, or an
    `--input` file); for a run of a past `--date` it is that date's session.
    """
    today = as_utc(now).tz_convert(EXCHANGE_TZ).date()
    reference_day = today if present else min(run_date, today)
    try:
        reference = session_for(calendar_name, reference_day).session
    except ConfigError:
        return None  # outside the exchange calendar: nothing sound to compare with
    data_session = capture_trading_date(chain, calendar_name)
    if data_session >= reference:
        return None
    sessions = _sessions_between(calendar_name, data_session, reference)
    behind = f"{sessions} trading session{'s' if sessions != 1 else ''} behind" if sessions else "behind"
    return (f"OLD DATA — the chain is as of {as_utc(chain.meta.as_of):%Y-%m-%d %H:%M} UTC (session "
            f"{data_session.isoformat()}), {behind} the last trading session {reference.isoformat()}")


def run_daily(profile: Profile, *, run_date: date, output_root: Path, input_path: Path | None = None,
              env: Mapping[str, str] | None = None, now: pd.Timestamp | None = None,
              clock: Callable[[], float] = time.perf_counter, input_chain: OptionsChain | None = None,
              run_stamp: str | None = None, date_basis: str = "") -> DailyRunResult:
    """Load the chain and run the profile's pipeline. Writes nothing (see output_generation).

    `input_chain` is the `input_path` capture when the caller already read it (to date the run);
    `now` is the wall clock of the run's start, used for nothing but saying when it ran and
    whether the data is old."""
    started_at = now if now is not None else pd.Timestamp.now(tz="UTC")
    instrument = profile.section("instrument")
    calendar_name = str(instrument.get("exchange_calendar", "CMES"))
    pipeline = Pipeline.from_profile(profile, clock=clock)  # config errors surface before any I/O
    bounds = ChainBounds.from_section(profile.section("data_sources", "validation"))
    t0 = clock()
    requested_date = run_date
    if input_path is not None:
        chain = input_chain if input_chain is not None else load_input_file(input_path, bounds)
        attempts: tuple[SourceAttempt, ...] = (SourceAttempt(
            source=f"file:{input_path.name}", outcome=OUTCOME_SERVED, reason="--input",
            latency_ms=round((clock() - t0) * 1000, 3), contracts=len(chain.frame)),)
    else:
        context = SourceContext(profile=profile, output_root=output_root,
                                env=env if env is not None else load_environment())
        loader = ChainLoader(build_sources(profile.section("data_sources").get("priority", ()), context), clock=clock,
                             bounds=bounds)
        loaded = loader.load(ChainRequest.from_profile(profile, trade_date=run_date, now=started_at))
        chain, attempts = loaded.chain, loaded.attempts
        served_date = capture_trading_date(chain, calendar_name)
        if served_date != run_date:  # e.g. the saved-data fallback: the data's own day, never the asked one
            asked = f"{run_date} ({date_basis})" if date_basis else str(run_date)
            date_basis = (f"the data served, as of {as_utc(chain.meta.as_of):%Y-%m-%d %H:%M} UTC (session "
                          f"{served_date}); {asked} was asked for")
            log.warning("the chain served is of session %s, not %s: the run is filed under %s", served_date,
                        run_date, served_date)
            requested_date, run_date = run_date, served_date
    load_seconds = clock() - t0
    ctx = AnalysisContext.from_chain(chain, tick_size=float(instrument.get("tick_size", 0.25)))
    result = pipeline.run(chain.frame, ctx)
    stale = stale_data_note(chain, now=started_at, run_date=requested_date, calendar_name=calendar_name,
                            present=input_path is not None
                            or requested_date >= as_utc(started_at).tz_convert(EXCHANGE_TZ).date())
    if stale:
        log.warning("%s", stale)
    return DailyRunResult(profile=profile, run_date=run_date, started_at=started_at, chain=chain,
                          attempts=attempts, pipeline=result, load_seconds=load_seconds,
                          input_path=input_path, warnings=tuple(_warnings(chain, stale)), run_stamp=run_stamp,
                          date_basis=date_basis, stale_note=stale)


def _sessions_between(calendar_name: str, first: date, last: date) -> int:
    """Trading sessions after `first` up to and including `last` (0 when the calendar cannot say)."""
    calendar = exchange_calendar(calendar_name)
    start, end = pd.Timestamp(first), pd.Timestamp(last)
    if start < calendar.first_session or end > calendar.last_session:
        return 0
    return max(0, len(calendar.sessions_in_range(start, end)) - 1)


def _warnings(chain: OptionsChain, stale: str | None = None) -> list[str]:
    out: list[str] = []
    if stale:
        out.append(stale)
    meta = chain.meta
    if meta.is_sample:
        out.append("SAMPLE DATA: this chain was generated by scripts/make_sample_data.py; it is not the market")
    if meta.is_proxy:
        out.append(f"PROXY DATA: {meta.underlying_symbol} options stand in for NQ; levels are not NQ levels")
    counts = chain.quarantine_counts()
    if counts:
        detail = ", ".join(f"{n} {reason}" for reason, n in counts.items())
        out.append(f"{sum(counts.values())} contracts quarantined ({detail})")
    if meta.underlying_price_origin == "put_call_parity":
        out.append("underlying price derived from put-call parity near the money (the source gave none)")
    out.extend(meta.notes)
    return out
