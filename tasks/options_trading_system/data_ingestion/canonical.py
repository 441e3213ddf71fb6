"""The canonical options chain every source produces, and the data-quality gate it must pass.

One row per contract with the columns of `CHAIN_COLUMNS`; chain-level facts in `ChainMeta`.
Missing is NaN, never 0; a value given but not a number is flagged by `build_chain_frame` and
quarantined ("non-numeric <field>"), never silently NaN. `ChainBounds` (profile:
`data_sources.validation`) bounds open interest, volume, prices and the number of contracts.
`validate_chain` quarantines bad rows (with a reason each), refuses a
chain that cannot be trusted (`ChainValidationError`), and settles the underlying price: the
source's own quote when it gave one, else the forward implied by put-call parity near the money.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..errors import ChainValidationError, DataSourceError

CHAIN_COLUMNS: dict[str, str] = {
    "contract": "str",
    "root": "str",
    "expiration": "datetime64[ns]",
    "strike": "float64",
    "right": "str",
    "bid": "float64",
    "ask": "float64",
    "last": "float64",
    "mark": "float64",
    "volume": "float64",
    "open_interest": "float64",
    "iv": "float64",
    "delta": "float64",
    "gamma": "float64",
    "source_ts": "datetime64[ns, UTC]",
}
PRICE_COLUMNS = ("bid", "ask", "last")

ORIGIN_SOURCE = "source"
ORIGIN_PARITY = "put_call_parity"

# Row checks (reason strings appear in reports, keep them readable).
REASON_MISSING_KEY = "missing strike or right"
REASON_NEGATIVE = "negative price"
REASON_CROSSED = "crossed quote (bid above ask)"
REASON_SCALE = "strike scale off (strike/underlying outside 1/20..20)"
REASON_DUPLICATE = "duplicate contract"
REASON_NON_NUMERIC = "non-numeric {field}"          # e.g. "non-numeric open_interest": a text where a number belongs
REASON_NON_FINITE = "non-finite number (infinity)"
REASON_OI_BOUND = "open interest above the bound (data_sources.validation.max_open_interest)"
REASON_VOLUME_BOUND = "volume above the bound (data_sources.validation.max_volume)"
REASON_PRICE_ABSURD = "price above max_price_to_underlying x the underlying"
STRIKE_SCALE_LIMIT = 20.0
MAX_QUARANTINE_SHARE = 0.5
PARITY_STRIKES = 3


@dataclass(frozen=True, kw_only=True)
class ChainBounds:
    """Sane bounds of a chain's numbers (profile: `data_sources.validation`, schema `sources.schema.json`).

    A row beyond them is quarantined with a reason and counted, never fatal; a chain with more
    than `max_contracts` rows is refused before it is all parsed (memory stays bounded)."""

    max_open_interest: float = 10_000_000      # contracts, per contract; NQ's largest series hold ~1e4-1e5
    max_volume: float = 10_000_000             # contracts traded per contract and day
    max_price_to_underlying: float = 1.0       # an option premium above the underlying's price is absurd
    max_contracts: int = 50_000                # a whole NQ chain (all expirations) is a few thousand

    @classmethod
    def from_section(cls, section: Mapping[str, Any] | None) -> "ChainBounds":
        """From the profile's `data_sources.validation` (schema-checked; absent keys keep the defaults)."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in dict(section or {}).items() if k in known})

    def refuse_too_many(self, count: int, label: str, how: str) -> None:
        """Refuse a chain of `count` contracts above `max_contracts`, before building it."""
        if count > self.max_contracts:
            raise DataSourceError(
                f"{label}: {count:,} contracts ({how}) is more than max_contracts {self.max_contracts:,} "
                f"(data_sources.validation.max_contracts); refused before parsing the rest", code="TOO_LARGE")

    def refuse_too_big(self, size_bytes: int, label: str) -> None:
        """Refuse a capture file too large to hold `max_contracts` rows, before reading it."""
        limit = self.max_contracts * BYTES_PER_CONTRACT_LIMIT
        if size_bytes > limit:
            raise DataSourceError(
                f"{label}: {size_bytes:,} bytes is more than {limit:,} (max_contracts {self.max_contracts:,} x "
                f"{BYTES_PER_CONTRACT_LIMIT} bytes, data_sources.validation.max_contracts); refused before reading",
                code="TOO_LARGE")


DEFAULT_BOUNDS = ChainBounds()
BYTES_PER_CONTRACT_LIMIT = 2048   # Barchart's rows are ~700 bytes, canonical snapshot rows ~300


@dataclass(frozen=True)
class ChainMeta:
    """Facts about the whole chain. `underlying_price` is NaN until validation settles it."""

    underlying_symbol: str
    source: str
    as_of: pd.Timestamp
    multiplier: float
    underlying_price: float = float("nan")
    underlying_price_origin: str = ""
    is_sample: bool = False
    is_proxy: bool = False
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["as_of"] = self.as_of.isoformat()
        out["notes"] = list(self.notes)
        out["underlying_price"] = None if np.isnan(self.underlying_price) else float(self.underlying_price)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ChainMeta":
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["as_of"] = pd.Timestamp(values["as_of"])
        if values["as_of"].tzinfo is None:
            values["as_of"] = values["as_of"].tz_localize("UTC")
        price = values.get("underlying_price")
        values["underlying_price"] = float("nan") if price is None else float(price)
        values["notes"] = tuple(values.get("notes") or ())
        return cls(**values)


@dataclass(frozen=True)
class RawCapture:
    """The input exactly as received, kept so the run can save it under api_data/."""

    content: bytes
    filename: str


@dataclass(frozen=True)
class OptionsChain:
    """A chain: canonical rows, chain facts, quarantined rows (with `reason`), the raw input."""

    frame: pd.DataFrame
    meta: ChainMeta
    quarantine: pd.DataFrame = field(default_factory=lambda: empty_chain().assign(reason=pd.Series(dtype="str")))
    raw: RawCapture | None = None

    def quarantine_counts(self) -> dict[str, int]:
        if self.quarantine.empty:
            return {}
        return {str(k): int(v) for k, v in self.quarantine["reason"].value_counts().items()}


def as_utc(stamp: Any) -> pd.Timestamp:
    """`stamp` as a UTC timestamp; a naive one is taken to be UTC already."""
    stamp = pd.Timestamp(stamp)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def number_or_nan(value: Any) -> float:
    """A vendor's or a file's number as a float; NaN when it is missing (None), a bool, or not a
    number at all. Missing is NaN, never 0."""
    if value is None or isinstance(value, bool):
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def empty_chain() -> pd.DataFrame:
    """A zero-row frame with the canonical columns and dtypes."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in CHAIN_COLUMNS.items()})


def build_chain_frame(columns: Mapping[str, Any]) -> pd.DataFrame:
    """Coerce source columns to the canonical schema: absent numeric columns are NaN, `mark` computed.

    `columns` maps canonical names to array-likes of equal length; `expiration` may be dates or
    strings, `source_ts` epoch seconds or timestamps.
    """
    lengths = {len(v) for v in columns.values() if not np.isscalar(v)}
    n = lengths.pop() if lengths else 0
    frame = pd.DataFrame(index=pd.RangeIndex(n))
    non_numeric: dict[int, str] = {}
    for name, dtype in CHAIN_COLUMNS.items():
        value = columns.get(name)
        if name == "mark":
            continue
        if value is None:
            frame[name] = pd.Series(np.nan if dtype == "float64" else None, index=frame.index).astype(
                dtype if dtype != "str" else "object")
            if dtype == "str":
                frame[name] = frame[name].astype("str")
            continue
        if dtype == "float64":
            given = pd.Series(value, index=frame.index)
            if given.dtype == object:
                given = given.where(~given.map(lambda v: isinstance(v, bool)), "bool")  # True is not 1 contract
                numbers = pd.to_numeric(given, errors="coerce").astype("float64")
                # a value that was given but is not a number: quarantined by validate_chain, not silently NaN
                for row in np.flatnonzero((numbers.isna() & given.notna()).to_numpy()):
                    non_numeric.setdefault(int(row), name)
            else:
                numbers = pd.to_numeric(given, errors="coerce").astype("float64")
            frame[name] = numbers
        elif dtype == "datetime64[ns]":
            frame[name] = pd.to_datetime(pd.Series(value, index=frame.index), errors="coerce").dt.normalize().astype(dtype)
        elif dtype == "datetime64[ns, UTC]":
            series = pd.Series(value, index=frame.index)
            if pd.api.types.is_numeric_dtype(series):
                frame[name] = pd.to_datetime(series, unit="s", utc=True, errors="coerce").astype(dtype)
            else:
                # ISO8601: mixed precisions ("14:10:00" beside "14:10:00.000000001") must all parse;
                # pandas otherwise guesses one format from the first value and NaTs the rest
                frame[name] = pd.to_datetime(series, utc=True, errors="coerce", format="ISO8601").astype(dtype)
        else:
            frame[name] = pd.Series(value, index=frame.index).astype("str")
    frame["right"] = frame["right"].str.upper().str[:1]
    frame.insert(list(CHAIN_COLUMNS).index("mark"), "mark", compute_mark(frame))
    out = frame[list(CHAIN_COLUMNS)]
    out.attrs[NON_NUMERIC_ATTR] = tuple(sorted(non_numeric.items()))  # (row, first non-numeric field)
    return out


NON_NUMERIC_ATTR = "non_numeric_fields"


def compute_mark(frame: pd.DataFrame) -> pd.Series:
    """Mid when both sides are positive and not crossed, else the last trade (NaN if none)."""
    bid, ask, last = frame["bid"], frame["ask"], frame["last"]
    two_sided = (bid > 0) & (ask > 0) & (bid <= ask)
    return pd.Series(np.where(two_sided, (bid + ask) / 2.0, last), index=frame.index, dtype="float64")


def validate_chain(chain: OptionsChain, bounds: ChainBounds = DEFAULT_BOUNDS) -> OptionsChain:
    """Quarantine bad rows, refuse an untrustworthy chain, settle the underlying price.

    Steps: (1) row checks (missing key, negative price, crossed quote, duplicate, and strike scale
    when the source gave an underlying price); (2) refuse when more than half the rows are bad;
    (3) settle the underlying (the source's, else put-call parity over the rows kept); (4) with a
    parity price, run the strike-scale check now and refuse again if that makes most rows bad;
    (5) refuse when no strike is left, open interest is missing everywhere (checked before and
    after step 4), or the median strike is off the underlying's scale.
    Row checks include `bounds` (non-numeric or non-finite numbers, open interest and volume above
    their bounds, prices above `max_price_to_underlying` x the underlying once it is known).
    Raises `ChainValidationError` with a reason a trader understands.
    """
    frame = chain.frame
    meta = chain.meta
    if frame.empty:
        raise ChainValidationError(f"{meta.source}: the chain has no contracts")
    flagged = dict(frame.attrs.get(NON_NUMERIC_ATTR, ()))
    frame = frame.copy()
    frame.attrs = {}
    reasons = _row_reasons(frame, meta.underlying_price, bounds, flagged)
    _refuse_mostly_bad(reasons, meta)
    kept = frame[reasons == ""]
    if kept["strike"].nunique() == 0:
        raise ChainValidationError(f"{meta.source}: no usable strikes")
    _refuse_without_open_interest(kept, meta)
    meta = _settle_underlying(kept, meta)
    if meta.underlying_price_origin == ORIGIN_PARITY:
        off_scale = (reasons == "") & _scale_off(frame["strike"], meta.underlying_price)
        reasons = reasons.where(~off_scale, REASON_SCALE)
    absurd = (reasons == "") & (frame[list(PRICE_COLUMNS)] > bounds.max_price_to_underlying
                                * meta.underlying_price).any(axis=1)
    reasons = reasons.where(~absurd, REASON_PRICE_ABSURD)
    _refuse_mostly_bad(reasons, meta)
    bad = reasons != ""
    quarantine = frame[bad].assign(reason=reasons[bad].astype("str"))
    kept = frame[~bad].reset_index(drop=True)
    _refuse_without_open_interest(kept, meta)
    low, high = kept["strike"].min(), kept["strike"].max()
    ratio = kept["strike"].median() / meta.underlying_price
    if not (1 / STRIKE_SCALE_LIMIT <= ratio <= STRIKE_SCALE_LIMIT):
        raise ChainValidationError(
            f"{meta.source}: strike scale off: median strike {kept['strike'].median():g} against "
            f"underlying {meta.underlying_price:g} (strikes {low:g}..{high:g})")
    return dataclasses.replace(chain, frame=kept, meta=meta, quarantine=quarantine.reset_index(drop=True))


def _refuse_mostly_bad(reasons: pd.Series, meta: ChainMeta) -> None:
    bad = reasons != ""
    if float(bad.mean()) > MAX_QUARANTINE_SHARE:
        top = reasons[bad].value_counts().idxmax()
        raise ChainValidationError(
            f"{meta.source}: {int(bad.sum())} of {len(reasons)} contracts failed validation "
            f"(most often: {top}); refusing the chain")


def _refuse_without_open_interest(kept: pd.DataFrame, meta: ChainMeta) -> None:
    if kept["open_interest"].isna().all():
        raise ChainValidationError(f"{meta.source}: open interest is missing for every contract")


def _scale_off(strike: pd.Series, underlying: float) -> pd.Series:
    """Strikes more than STRIKE_SCALE_LIMIT times away from the underlying (e.g. quoted x1000)."""
    ratio = strike / underlying
    return (ratio > STRIKE_SCALE_LIMIT) | (ratio < 1 / STRIKE_SCALE_LIMIT)


def _row_reasons(frame: pd.DataFrame, underlying: float, bounds: ChainBounds = DEFAULT_BOUNDS,
                 non_numeric: Mapping[int, str] | None = None) -> pd.Series:
    prices = frame[list(PRICE_COLUMNS)]
    numbers = frame[[name for name, dtype in CHAIN_COLUMNS.items() if dtype == "float64"]]
    flagged = pd.Series("", index=frame.index, dtype="str")
    for row, name in (non_numeric or {}).items():
        if row < len(flagged):
            flagged.iloc[row] = REASON_NON_NUMERIC.format(field=name)
    non_finite = np.isinf(numbers.to_numpy(dtype="float64")).any(axis=1)
    oi_bound = frame["open_interest"] > bounds.max_open_interest
    volume_bound = frame["volume"] > bounds.max_volume
    missing_key = frame["strike"].isna() | ~frame["right"].isin(["C", "P"])
    negative = (prices < 0).any(axis=1) | (frame["strike"] <= 0)
    crossed = (frame["bid"] > frame["ask"]) & (frame["ask"] > 0)
    if np.isfinite(underlying) and underlying > 0:
        scale = _scale_off(frame["strike"], underlying)
    else:
        scale = pd.Series(False, index=frame.index)
    duplicate = frame["contract"].duplicated(keep="first")
    reasons = np.select(
        [flagged != "", non_finite, oi_bound, volume_bound, missing_key, negative, crossed, scale, duplicate],
        [flagged, REASON_NON_FINITE, REASON_OI_BOUND, REASON_VOLUME_BOUND, REASON_MISSING_KEY, REASON_NEGATIVE,
         REASON_CROSSED, REASON_SCALE, REASON_DUPLICATE],
        default="")
    return pd.Series(reasons, index=frame.index, dtype="str")


def _settle_underlying(frame: pd.DataFrame, meta: ChainMeta) -> ChainMeta:
    if np.isfinite(meta.underlying_price) and meta.underlying_price > 0:
        return dataclasses.replace(meta, underlying_price_origin=meta.underlying_price_origin or ORIGIN_SOURCE)
    forward = implied_forward(frame)
    if np.isnan(forward):
        raise ChainValidationError(
            f"{meta.source}: no underlying price from the source and put-call parity is impossible "
            f"(no strike of the front expiration has both a call and a put price)")
    return dataclasses.replace(meta, underlying_price=forward, underlying_price_origin=ORIGIN_PARITY)


def front_expiration(frame: pd.DataFrame) -> pd.Timestamp:
    """The nearest expiration in the chain."""
    return frame["expiration"].min()


def implied_forward(frame: pd.DataFrame, n_strikes: int = PARITY_STRIKES) -> float:
    """Forward from put-call parity, F = C - P + K, at the strikes of the front expiration where
    the call and put prices are closest (nearest the money); the median over `n_strikes`."""
    priced = frame[frame["mark"] > 0]
    if priced.empty:
        return float("nan")
    front = priced[priced["expiration"] == front_expiration(priced)]
    calls = front[front["right"] == "C"].groupby("strike")["mark"].first()
    puts = front[front["right"] == "P"].groupby("strike")["mark"].first()
    both = pd.concat({"call": calls, "put": puts}, axis=1).dropna()
    if both.empty:
        return float("nan")
    gap = (both["call"] - both["put"]).abs()
    nearest = both.loc[gap.nsmallest(n_strikes).index]
    return float(np.median(nearest["call"] - nearest["put"] + nearest.index.to_numpy()))
