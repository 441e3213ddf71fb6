"""The analysis pipeline: named stages in the profile's order, run over the canonical chain.

A stage is a `PipelineAnalysis`. The runner (`Pipeline.run`) first builds the run's shared
`RunTables` once (the chain's columns as arrays, calls and puts as numpy masks, the rows of each
set of expirations a stage asks for), then does, for each stage in order:

1. `enrich(chain, ctx)`: add columns to the chain (never drops rows; later stages see them);
2. `prepare(chain, ctx)`: the stage's per-run work that the next steps share (its rows, per-strike
   tables...), computed once and handed to them as `ctx.prepared`;
3. `candidates(chain, ctx)`: the stage's opportunity table (strikes, setups, spikes...);
4. `filter_reasons(candidates, ctx)`: one reason per row, "" keeps it; reasons are counted
   (steps 3 and 4 are `select`, which a stage may do in one go from its arrays, building only the
   rows it keeps);
5. `sort(kept, ctx)`: rank what is kept (skipped when the stage's `select` ranks already,
   `select_ranks`: re-reading the table's columns to find nothing to move costs more than the ranking);
6. `summarize(chain, kept, ctx)`: the stage's JSON-able figures for the report.

and records a `StageTrace` (rows in/out, time, reasons). Stages never do I/O and never see the
runner. Adding a stage is a new module plus a line in `STAGE_CLASSES` (and its schema file).
A stage called outside the runner (tests) gets the same figures: `ctx.tables` and `ctx.prepared`
are then built on demand (`run_tables`, `prepared`).
"""
from __future__ import annotations

import dataclasses
import importlib
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo
import logging
import time
import typing
from abc import ABC
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, Sequence

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray
from pandas.arrays import DatetimeArray

from .stage_tools import column_dict, letter_masks, reason_series
from ..config_manager import Profile
from ..data_ingestion.canonical import OptionsChain, front_expiration
from ..errors import ConfigError
from ..expiry import SECONDS_PER_YEAR, SETTLEMENT_HOUR, SETTLEMENT_TZ, years_to_settlement

log = logging.getLogger(__name__)

STAGE_CLASSES: dict[str, str] = {
    "greeks": "tasks.options_trading_system.analysis_engine.greeks:GreeksAnalysis",
    "risk": "tasks.options_trading_system.analysis_engine.risk:RiskAnalysis",
    "expected_value": "tasks.options_trading_system.analysis_engine.expected_value:ExpectedValueAnalysis",
    "volume_spike": "tasks.options_trading_system.analysis_engine.volume_spike:VolumeSpikeAnalysis",
    "institutional_flow_v3": "tasks.options_trading_system.analysis_engine.ifd_v3.stage:InstitutionalFlowV3Analysis",
}


@dataclass(frozen=True)
class AnalysisContext:
    """Chain-level facts every stage may read. Built once per run, never mutated."""

    underlying_price: float
    as_of: pd.Timestamp
    multiplier: float
    front_expiration: pd.Timestamp
    tick_size: float = 0.25
    tables: "RunTables | None" = None  # the run's shared tables (built by the runner, once)
    prepared: Any = None                 # what the running stage's `prepare` returned

    @classmethod
    def from_chain(cls, chain: OptionsChain, tick_size: float = 0.25) -> "AnalysisContext":
        return cls(underlying_price=float(chain.meta.underlying_price), as_of=chain.meta.as_of,
                   multiplier=float(chain.meta.multiplier), front_expiration=front_expiration(chain.frame),
                   tick_size=tick_size)

    def with_run(self, tables: "RunTables | None", prepared: Any) -> "AnalysisContext":
        """This context with the run's tables and a stage's prepared work (`dataclasses.replace`,
        without its per-call introspection of the fields)."""
        if type(self) is not AnalysisContext:
            return dataclasses.replace(self, tables=tables, prepared=prepared)
        new = object.__new__(AnalysisContext)  # a copy of the fields (all plain), two of them replaced
        fields = new.__dict__
        fields.update(self.__dict__)
        fields["tables"] = tables
        fields["prepared"] = prepared
        return new

    def years_to(self, expiration: Any) -> Any:
        """Year fraction from `as_of` to each expiration's settlement (`expiry.years_to_settlement`)."""
        return years_to_settlement(expiration, self.as_of)


@dataclass(frozen=True)
class Selection:
    """The rows of some expirations: positions in the chain, which expirations were used, which are absent."""

    positions: np.ndarray
    used: list[pd.Timestamp]
    missing: list[pd.Timestamp]


QUOTED = ("mark", "open_interest", "volume", "last")  # the chain's quoted figures, as the source gave them
IDENTITY = ("contract", "right", "expiration", "strike")  # which contract each row is: fixed for the run


class RunTables:
    """Per-run tables every stage shares, built once from the chain: its columns as their own
    arrays (read from its blocks, no Series), `is_call`/`is_put` as numpy masks (read off the
    `right` column's pyarrow buffers: comparing a pandas string column costs more than most of the
    arithmetic), the expiration of each row as a code into the sorted expirations, and the rows of
    each set of expirations asked for (memoized). Enrichment only adds columns, so row positions and
    the identity columns (`IDENTITY`) hold for the whole run; what an `enrich` computes it hands
    over (`provide`), so no stage reads the enriched frame back."""

    def __init__(self, chain: pd.DataFrame) -> None:
        self.rows = len(chain)
        self._source: pd.DataFrame | None = None
        self._arrays: dict[str, Any] = {}
        arrays = self._columns(chain)
        self._identity = {name: arrays[name] for name in IDENTITY if name in arrays}
        self._arrays_provided: dict[str, Any] = {}
        right = arrays.get("right")
        masks = letter_masks(right, ("C", "P"))  # pyarrow text: read off its buffers
        if masks is not None:
            self.is_call, self.is_put = masks
        elif self.rows > 5_000 or not isinstance(right, ExtensionArray):  # the column's own comparison
            self.is_call = (chain["right"] == "C").to_numpy(dtype=bool, na_value=False)
            self.is_put = (chain["right"] == "P").to_numpy(dtype=bool, na_value=False)
        else:  # as Python objects: cheaper for a few hundred rows
            right = right.to_numpy(dtype=object, na_value=None)
            self.is_call = right == "C"
            self.is_put = right == "P"
        strike = arrays.get("strike")
        self.strike = strike if isinstance(strike, np.ndarray) and strike.dtype == np.float64 \
            else chain["strike"].to_numpy(dtype=np.float64)
        expiration = arrays.get("expiration")
        self.expiration = expiration._ndarray if isinstance(expiration, DatetimeArray) and expiration.tz is None \
            else chain["expiration"].to_numpy()
        codes, uniques, first_rows = _factorize_sorted(self.expiration)
        self.expiration_codes = codes
        self._first_rows: np.ndarray | None = first_rows
        self.expirations = [pd.Timestamp(u) for u in uniques]
        # the same as int64 ticks of the expiration column's unit (None unless it holds dates)
        self.expiration_ticks = uniques.view(np.int64) if uniques.dtype.kind == "M" else None
        self._selections: dict[tuple[pd.Timestamp, ...], Selection] = {}
        self._years: tuple[pd.Timestamp, np.ndarray] | None = None
        self._floats: dict[str, np.ndarray] = {}
        self._provided: set[str] = set()
        # the greeks stage's (iv, smile): `greeks.strike_smile` of every expiration, for that iv array
        self.smile: tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None

    def first_rows(self) -> np.ndarray:
        """Per expiration (in `expirations`' order) the position of its first row."""
        if self._first_rows is None:
            codes = self.expiration_codes
            listed = np.flatnonzero(codes >= 0)
            self._first_rows = listed[np.unique(codes[listed], return_index=True)[1]]
        return self._first_rows

    def _columns(self, chain: pd.DataFrame) -> dict[str, Any]:
        """The chain's columns as their own arrays (no Series built), read once per chain."""
        if chain is not self._source:
            self._source = chain
            self._arrays = column_dict(chain)
        return self._arrays

    def column(self, chain: pd.DataFrame, name: str) -> Any:
        """One of the chain's columns as its own array (no Series built): an identity column
        (`IDENTITY`, fixed for the run like the masks and strikes read from it) as the first chain
        held it, a column an `enrich` provided as it computed it, else read from this chain."""
        if name in IDENTITY and self._identity is not None and name in self._identity:
            return self._identity[name]
        provided = self._arrays_provided.get(name)
        if provided is not None:
            return provided
        column = self._columns(chain).get(name)
        return column if column is not None else chain[name].array

    def quoted(self, chain: pd.DataFrame, name: str) -> np.ndarray:
        """One of the chain's quoted figures (`QUOTED`) as a float array, read once per run (every
        stage reads them; enrichment adds columns and never replaces these); NaN if the chain lacks it."""
        if name not in QUOTED:
            raise ValueError(f"{name!r} is not a quoted figure ({', '.join(QUOTED)})")
        return self.floats(chain, name)

    def floats(self, chain: pd.DataFrame, name: str) -> np.ndarray:
        """A float column of the chain as an array, read once per run (reading a DataFrame column
        costs more than most of a stage's arithmetic on it); NaN if the chain lacks it. An enriching
        stage hands over the columns it adds (`provide`), so they are never read back."""
        values = self._floats.get(name)
        if values is None:
            column = self._columns(chain).get(name)
            if isinstance(column, np.ndarray) and column.dtype == np.float64:
                values = column
            else:
                values = chain[name].to_numpy(dtype=np.float64) if column is not None else np.full(self.rows, np.nan)
            self._floats[name] = values
        return values

    def provide(self, columns: Mapping[str, Any]) -> None:
        """The columns an `enrich` adds, as it computed them (read by `floats` and `column` from now on)."""
        for name, values in columns.items():
            if isinstance(values, np.ndarray) and values.dtype == np.float64:
                self._floats[name] = values
            self._arrays_provided[name] = values
            self._provided.add(name)

    def enriching(self) -> None:
        """Before a stage's `enrich`: start noting which columns it provides."""
        self._provided = set()

    def enriched(self, changed: bool) -> None:
        """After a stage's `enrich`: if it changed the chain, forget the columns read before that it
        did not provide (it may have replaced them); the quoted figures are never replaced."""
        if changed:
            self._floats = {name: values for name, values in self._floats.items()
                            if name in QUOTED or name in self._provided}
            self._arrays_provided = {name: values for name, values in self._arrays_provided.items()
                                     if name in self._provided}  # what this stage provided

    def years_to_expiry(self, ctx: "AnalysisContext") -> np.ndarray:
        """Year fraction to each row's expiration (`ctx.years_to`, once per distinct expiration); NaN if none."""
        if self._years is None or self._years[0] != ctx.as_of:
            per_expiration = _years_to_settlement(self.expirations, ctx)
            codes = self.expiration_codes
            years = np.where(codes >= 0, per_expiration[np.maximum(codes, 0)] if per_expiration.size else np.nan,
                             np.nan)
            self._years = (ctx.as_of, years)
        return self._years[1]

    def select(self, wanted: Sequence[pd.Timestamp], front: pd.Timestamp) -> Selection:
        """Rows of the wanted expirations (none wanted = the front one), which were used, which are absent."""
        targets = tuple(wanted) if wanted else ((front,) if not pd.isna(front) else ())
        cached = self._selections.get(targets)
        if cached is None:
            present = {e: i for i, e in enumerate(self.expirations)}
            used = [t for t in targets if t in present]
            missing = [t for t in targets if t not in present]
            wanted_codes = [present[t] for t in used]
            mask = self.expiration_codes == wanted_codes[0] if len(wanted_codes) == 1 else \
                np.isin(self.expiration_codes, wanted_codes)
            cached = self._selections[targets] = Selection(np.flatnonzero(mask), used, missing)
        return cached


def _factorize_sorted(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """`pd.factorize(values, sort=True)`: a code per row into the sorted distinct values (-1 for a
    missing one); dates as their int64 ticks (pandas' general factorize costs more on a small chain).
    Also each value's first row when that comes for free (rows already in order), else None."""
    if values.dtype.kind != "M":
        return (*pd.factorize(values, sort=True), None)
    from . import kernels  # compiled passes (numba): loaded when first needed

    ticks = values.view(np.int64)
    # already in order without NaT (a chain listed by expiration): codes count the changes, one pass
    in_order, codes, first = kernels.sorted_codes(np.ascontiguousarray(ticks), np.iinfo(np.int64).min)
    if in_order:
        return codes, ticks[first].view(values.dtype), first
    missing = ticks == np.iinfo(np.int64).min  # NaT
    if not missing.any():
        uniques, codes = np.unique(ticks, return_inverse=True)
    else:
        uniques, known_codes = np.unique(ticks[~missing], return_inverse=True)
        codes = np.full(ticks.size, -1, dtype=known_codes.dtype)
        codes[~missing] = known_codes
    return codes, uniques.view(values.dtype), None


def _years_to_settlement(expirations: list[pd.Timestamp], ctx: "AnalysisContext") -> np.ndarray:
    """`expiry.years_to_settlement` of the chain's expirations: the same arithmetic on Python
    datetimes (microseconds, exact in float like pandas' nanoseconds), about 2 µs each instead of
    pandas' fixed ~0.4 ms; pandas when there are hundreds, or when `as_of` carries nanoseconds."""
    as_of = pd.Timestamp(ctx.as_of)
    if len(expirations) > 200 or as_of.tzinfo is None or as_of.nanosecond:
        return np.asarray(ctx.years_to(pd.Series(expirations, dtype="datetime64[ns]")), dtype=np.float64) \
            if expirations else np.zeros(0)
    start = as_of.value // 1_000  # microseconds since the epoch (no nanoseconds: checked above)
    out = np.empty(len(expirations))
    for i, expiration in enumerate(expirations):
        # (settle - start).total_seconds(): whole microseconds over 10**6, as Python's timedelta does
        seconds = (_settlement_microseconds(expiration.year, expiration.month, expiration.day) - start) / 1_000_000
        out[i] = max(seconds, 0.0) / SECONDS_PER_YEAR
    return out


_EPOCH = datetime(1970, 1, 1)


@lru_cache(maxsize=4096)
def _settlement_microseconds(year: int, month: int, day: int) -> int:
    """The settlement instant of a date (SETTLEMENT_HOUR in SETTLEMENT_TZ, as an aware datetime of
    that wall time) in microseconds since the epoch: a calendar fact, worked out once per date."""
    settle = datetime(year, month, day, SETTLEMENT_HOUR, tzinfo=ZoneInfo(SETTLEMENT_TZ))
    return (settle.replace(tzinfo=None) - settle.utcoffset() - _EPOCH) // timedelta(microseconds=1)


def run_tables(chain: pd.DataFrame, ctx: AnalysisContext) -> RunTables:
    """The run's shared tables: the runner's (`ctx.tables`), or built now for a stage called on its own."""
    tables = ctx.tables
    return tables if tables is not None and tables.rows == len(chain) else RunTables(chain)


@dataclass(frozen=True)
class StageTrace:
    """What one stage did: rows through it, time taken, why rows were dropped."""

    name: str
    chain_rows: int
    candidates_in: int
    candidates_out: int
    seconds: float
    reasons: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "chain_rows": self.chain_rows, "candidates_in": self.candidates_in,
                "candidates_out": self.candidates_out, "seconds": round(self.seconds, 6),
                "reasons": dict(self.reasons)}


@dataclass(frozen=True)
class StageResult:
    name: str
    opportunities: pd.DataFrame
    summary: Mapping[str, Any]
    trace: StageTrace


@dataclass(frozen=True)
class PipelineResult:
    chain: pd.DataFrame
    stages: tuple[StageResult, ...]

    def stage(self, name: str) -> StageResult | None:
        return next((s for s in self.stages if s.name == name), None)


class PipelineAnalysis(ABC):
    """One analysis. Override what it needs; the defaults enrich nothing and rank nothing."""

    name: ClassVar[str]
    config_class: ClassVar[type]
    requires: ClassVar[tuple[str, ...]] = ()  # stages that must run earlier (their columns are read)
    select_ranks: ClassVar[bool] = False       # `select` returns its kept rows in `sort`'s order: `sort` is skipped

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.config_class()

    def enrich(self, chain: pd.DataFrame, ctx: AnalysisContext) -> pd.DataFrame:
        return chain

    def prepare(self, chain: pd.DataFrame, ctx: AnalysisContext) -> Any:
        """Per-run work the later steps share (computed once, handed to them as `ctx.prepared`)."""
        return None

    def prepared(self, chain: pd.DataFrame, ctx: AnalysisContext) -> Any:
        """`ctx.prepared` when the runner prepared this run, else `prepare` now (a step called on its own)."""
        return ctx.prepared if ctx.prepared is not None else self.prepare(chain, ctx)

    def candidates(self, chain: pd.DataFrame, ctx: AnalysisContext) -> pd.DataFrame:
        return chain.iloc[0:0]

    def filter_reasons(self, candidates: pd.DataFrame, ctx: AnalysisContext) -> pd.Series:
        return reason_series(np.zeros(len(candidates), dtype=np.int64), ("",), candidates.index)

    def select(self, chain: pd.DataFrame, ctx: AnalysisContext) -> tuple[pd.DataFrame, int, dict[str, int]]:
        """What the runner keeps: (the kept candidates, unsorted; how many candidates there were; how
        many were dropped, per reason) = `candidates`, then `filter_reasons`. A stage may override it
        to build only the kept rows from the same arrays (the same answer, without a table of every
        candidate)."""
        candidates = self.candidates(chain, ctx)
        keep, dropped = _keep_and_count(self.filter_reasons(candidates, ctx))
        return (candidates[keep] if not keep.all() else candidates), len(candidates), dropped

    def sort(self, kept: pd.DataFrame, ctx: AnalysisContext) -> pd.DataFrame:
        return kept

    def summarize(self, chain: pd.DataFrame, kept: pd.DataFrame, ctx: AnalysisContext) -> dict[str, Any]:
        return {}


def stage_class(name: str) -> type[PipelineAnalysis]:
    target = STAGE_CLASSES.get(name)
    if target is None:
        raise ConfigError(f"unknown pipeline stage {name!r} (expected one of: {', '.join(sorted(STAGE_CLASSES))})")
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


class Pipeline:
    """Runs stages in order over a chain; `clock` returns seconds (monotonic)."""

    def __init__(self, stages: Sequence[PipelineAnalysis], *,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        names = [s.name for s in stages]
        if len(set(names)) != len(names):
            raise ConfigError(f"pipeline stages must be unique, got {names}")
        for index, stage in enumerate(stages):
            missing = [req for req in stage.requires if req not in names[:index]]
            if missing:
                raise ConfigError(f"pipeline.stages: {stage.name!r} needs {missing} to run before it "
                                  f"(order given: {names})")
        self.stages = list(stages)
        self.clock = clock

    @classmethod
    def from_profile(cls, profile: Profile, **kwargs: Any) -> "Pipeline":
        section = profile.section("pipeline")
        stages = []
        for name in section.get("stages", ()):
            klass = stage_class(name)
            stages.append(klass(frozen_config(klass.config_class, section.get(name, {}))))
        return cls(stages, **kwargs)

    def run(self, chain: pd.DataFrame, ctx: AnalysisContext) -> PipelineResult:
        results: list[StageResult] = []
        base: AnalysisContext | None = None
        tables: RunTables | None = None
        for index, stage in enumerate(self.stages, start=1):
            log.debug("(stage %d of %d) %s", index, len(self.stages), stage.name)
            started = self.clock()
            if base is None:  # the shared tables, built once (their time counts in the first stage's)
                tables = RunTables(chain)
                base = ctx.with_run(tables, None)
            tables.enriching()
            enriched = stage.enrich(chain, base)
            tables.enriched(enriched is not chain)
            chain = enriched
            stage_ctx = base.with_run(tables, stage.prepare(chain, base))
            candidates_in, kept, dropped = rank(stage, chain, stage_ctx)
            summary = stage.summarize(chain, kept, stage_ctx)
            elapsed = self.clock() - started
            trace = StageTrace(name=stage.name, chain_rows=len(chain), candidates_in=candidates_in,
                               candidates_out=len(kept), seconds=elapsed, reasons=dropped)
            results.append(StageResult(stage.name, kept, summary, trace))
        return PipelineResult(chain=chain, stages=tuple(results))


def _positional(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame indexed 0..n-1 (`reset_index(drop=True)`, skipped when it already is)."""
    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return frame
    return frame.reset_index(drop=True)


def rank(stage: PipelineAnalysis, chain: pd.DataFrame, ctx: AnalysisContext
         ) -> tuple[int, pd.DataFrame, dict[str, int]]:
    """One stage's candidate count, the rows it keeps in its order, and how many it dropped per
    reason, over an already enriched chain (`ctx.prepared` set): the runner's step, without the
    summary, for callers that want only the ranking (a signal source on every snapshot)."""
    kept, candidates_in, dropped = stage.select(chain, ctx)
    return candidates_in, _positional(kept if stage.select_ranks else stage.sort(kept, ctx)), dropped


def _keep_and_count(reasons: pd.Series) -> tuple[np.ndarray, dict[str, int]]:
    """Which rows a stage keeps (reason "") and how many it dropped per reason, most first.
    A categorical answer (`stage_tools.reason_series`) is counted by code; plain strings by value."""
    if isinstance(reasons.dtype, pd.CategoricalDtype):
        return count_codes(reasons.cat.codes.to_numpy(), [str(c) for c in reasons.cat.categories])
    text = reasons.to_numpy(dtype=object)
    keep = text == ""
    dropped = {str(k): int(v) for k, v in pd.Series(text[~keep], dtype=object).value_counts().items()}
    return keep, dict(sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0])))


def count_codes(codes: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray, dict[str, int]]:
    """Which rows are kept (the code of the label "") and how many were dropped per label, most
    first: `filter_reasons`' answer as a code per row (-1 = no reason given, dropped uncounted)."""
    labels = list(labels)
    keep = codes == labels.index("") if "" in labels else np.zeros(codes.size, dtype=bool)
    counts = np.bincount(codes[~keep & (codes >= 0)], minlength=len(labels))
    dropped = {labels[i]: int(n) for i, n in enumerate(counts) if n}
    return keep, dict(sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0])))


def frozen_config(cls: type, mapping: Mapping[str, Any] | None) -> Any:
    """Build a frozen dataclass from a (validated) mapping; nested dataclass fields recurse,
    lists become tuples, absent keys take the dataclass default."""
    mapping = mapping or {}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in mapping:
            continue
        value = mapping[f.name]
        hint = hints.get(f.name)
        if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
            value = frozen_config(hint, value)
        elif isinstance(value, (list, tuple)):
            value = tuple(tuple(v) if isinstance(v, (list, tuple)) else v for v in value)
        values[f.name] = value
    unknown = set(mapping) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown setting(s) {sorted(unknown)}")
    return cls(**values)
