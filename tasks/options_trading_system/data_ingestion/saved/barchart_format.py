"""Barchart's `proxies/core-api/v1/quotes/get` options response, parsed into the canonical chain.

The response (`list=futures.options`, `groupBy=optionType`, `raw=1`) is
`{"count": <groups>, "total": <contracts>, "data": {"Call": [row...], "Put": [row...]}, "meta": ...}`.
Each row has display strings (`"21,500.00C"`, `"N/A"`, `"2,965.62s"`) and a `raw` block with
numbers. Parsing rules (checked against the real captures in `../shared/data/barchart/`):

- numbers come from `raw`; a value is missing (NaN) when `raw` holds null *or* the display
  string is `N/A`: Barchart sends `raw.bidPrice = 0` under a displayed `N/A`, and a missing quote
  is not a zero quote;
- `right` from the row's `optionType` (else its group name), `strike` from `raw.strike`;
- `source_ts` from `raw.tradeTime`, Unix epoch seconds;
- `contract` is the CME Globex name (`contract_names`): Barchart's `MC6M5|21500C` is
  `Q1AM5 C21500` and `root` the Globex product (`Q1A`), as Databento names the same contract;
  a root that cannot be decoded keeps Barchart's symbol;
- the rows carry no expiration: it comes from the capture envelope or sidecar when they state
  one, else it is derived from the option root (see `barchart_symbols`);
- `as_of` is the envelope's `captured_at` when there is one, else the latest trade time in the
  response (the response does not say when it was fetched);
- the response carries no underlying price: NaN unless the envelope brings the page quote, so
  `validate_chain` derives it from put-call parity and records that origin.

The project's own capture envelope wraps a response with what the response lacks:
`{"format": "nq-options-capture/1", "source": "barchart", "captured_at": ISO-8601 UTC,
"payload": <response>, "expiration"?, "underlying_symbol"?, "underlying_price"?, "multiplier"?,
"request"?}`; `barchart_capture_document` builds it.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from ...errors import DataSourceError
from ..canonical import (DEFAULT_BOUNDS, ChainBounds, ChainMeta, OptionsChain, RawCapture, as_utc,
                         build_chain_frame, number_or_nan)
from ..contract_names import globex_name
from .barchart_symbols import decode_root, underlying_future

log = logging.getLogger(__name__)

CAPTURE_FORMAT = "nq-options-capture/1"
SOURCE_NAME = "barchart"
NQ_MULTIPLIER = 20.0  # dollars per index point of one NQ option (CME contract spec)
MISSING_DISPLAY = "N/A"
GROUP_RIGHTS = {"call": "C", "put": "P"}

# canonical column <- Barchart field
PRICE_FIELDS = {"bid": "bidPrice", "ask": "askPrice", "last": "lastPrice",
                "volume": "volume", "open_interest": "openInterest", "strike": "strike"}


@dataclass(frozen=True)
class CaptureFacts:
    """What a capture envelope or sidecar adds to a response; None / NaN where it says nothing."""

    captured_at: pd.Timestamp | None = None
    expiration: date | None = None
    underlying_symbol: str | None = None
    underlying_price: float = float("nan")
    multiplier: float | None = None


def is_barchart_response(document: Any) -> bool:
    """True for the shape of a quotes/get response: `total` and `data` (groups or a row list)."""
    if not isinstance(document, Mapping) or "total" not in document or "data" not in document:
        return False
    data = document["data"]
    if isinstance(data, Mapping):
        return all(str(k).lower() in GROUP_RIGHTS and isinstance(v, list) for k, v in data.items())
    return isinstance(data, list)


def is_barchart_capture(document: Any) -> bool:
    """True for the project's capture envelope around a Barchart response."""
    return isinstance(document, Mapping) and document.get("format") == CAPTURE_FORMAT \
        and document.get("source") == SOURCE_NAME


def barchart_capture_document(payload: Mapping[str, Any], *, captured_at: pd.Timestamp,
                              expiration: date | None = None, underlying_symbol: str | None = None,
                              underlying_price: float | None = None, multiplier: float | None = None,
                              request: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Wrap a raw response in the capture envelope (what a live Barchart source should save)."""
    document: dict[str, Any] = {"format": CAPTURE_FORMAT, "source": SOURCE_NAME,
                                "captured_at": as_utc(captured_at).isoformat()}
    optional = {"expiration": expiration.isoformat() if expiration else None,
                "underlying_symbol": underlying_symbol,
                "underlying_price": underlying_price if underlying_price is not None
                and math.isfinite(underlying_price) else None,
                "multiplier": multiplier, "request": dict(request) if request else None}
    document.update({k: v for k, v in optional.items() if v is not None})
    document["payload"] = payload
    return document


def capture_facts(document: Mapping[str, Any], label: str) -> CaptureFacts:
    """Read the envelope's (or a sidecar's) facts, checking their types."""
    captured = document.get("captured_at")
    stamp = None
    if captured is not None:
        stamp = _timestamp(captured, f"{label}: captured_at")
        if stamp.tzinfo is None:
            raise DataSourceError(f"{label}: captured_at {captured!r} has no time zone (expected ISO-8601 with an offset)")
    expiration = document.get("expiration") or document.get("expiration_date")
    price = document.get("underlying_price")
    multiplier = document.get("multiplier")
    for field_name, value in (("underlying_price", price), ("multiplier", multiplier)):
        if value is not None and not isinstance(value, (int, float)):
            raise DataSourceError(f"{label}: {field_name} {value!r} is not a number")
    return CaptureFacts(
        captured_at=stamp.tz_convert("UTC") if stamp is not None else None,
        expiration=_timestamp(expiration, f"{label}: expiration").date() if expiration else None,
        underlying_symbol=document.get("underlying_symbol"),
        underlying_price=float(price) if price is not None else float("nan"),
        multiplier=float(multiplier) if multiplier is not None else None)


def parse_barchart_capture(document: Mapping[str, Any], raw: RawCapture | None = None, *,
                           label: str = "barchart capture", bounds: ChainBounds = DEFAULT_BOUNDS) -> OptionsChain:
    """Parse the project's envelope: its payload with the envelope's facts."""
    payload = document.get("payload")
    if not is_barchart_response(payload):
        raise DataSourceError(f"{label}: envelope \"payload\" is not a Barchart quotes/get response "
                              "(expected an object with \"total\" and \"data\": {\"Call\": [...], \"Put\": [...]})")
    return parse_barchart_response(payload, capture_facts(document, label), raw=raw, label=label, bounds=bounds)


def parse_barchart_response(payload: Mapping[str, Any], facts: CaptureFacts = CaptureFacts(), *,
                            raw: RawCapture | None = None, label: str = "barchart response",
                            bounds: ChainBounds = DEFAULT_BOUNDS) -> OptionsChain:
    """The canonical (unvalidated) chain of one quotes/get response.

    `facts` supplies what the response lacks (capture time, expiration, underlying quote).
    Raises `DataSourceError` saying what is wrong when the response cannot be read.
    """
    if not is_barchart_response(payload):
        raise DataSourceError(f"{label}: not a Barchart quotes/get response "
                              "(expected \"total\" and \"data\": {\"Call\": [...], \"Put\": [...]})")
    total = payload.get("total")
    if isinstance(total, int) and not isinstance(total, bool):
        bounds.refuse_too_many(total, label, "the response's total")
    data = payload["data"]
    bounds.refuse_too_many(sum(len(rows) for rows in (data.values() if isinstance(data, Mapping) else [data])),
                           label, "rows in the response")
    rows, groups = _rows(data, label)
    columns = _columns(rows, groups)
    notes: list[str] = []
    if isinstance(total, int) and total != len(rows):
        notes.append(f"Barchart response holds {len(rows)} of the {total} contracts it reports")
        log.warning("%s: %s", label, notes[-1])

    as_of = facts.captured_at
    if as_of is None:
        latest = pd.Series(columns["source_ts"], dtype="float64").max()
        if not np.isfinite(latest):
            raise DataSourceError(f"{label}: no capture time: the response has no trade times and no "
                                  "envelope gives captured_at")
        as_of = pd.Timestamp(int(latest), unit="s", tz="UTC")
    roots = sorted({c.split("|")[0] for c in columns["contract"] if c})
    expiration_by_root, underlying_symbol, series_note = _expirations(roots, facts, as_of.date(), label)
    columns["expiration"] = [expiration_by_root.get(c.split("|")[0]) if c else None for c in columns["contract"]]
    columns["contract"], columns["root"] = _globex_names(columns, as_of.date())
    if series_note:
        notes.append(series_note + ("" if facts.captured_at is not None
                                    else f"; as of its latest trade, {as_of:%Y-%m-%d %H:%M} UTC"))

    meta = ChainMeta(underlying_symbol=facts.underlying_symbol or underlying_symbol, source=SOURCE_NAME,
                     as_of=as_of, multiplier=facts.multiplier or NQ_MULTIPLIER,
                     underlying_price=facts.underlying_price, notes=tuple(notes))
    return OptionsChain(frame=build_chain_frame(columns), meta=meta, raw=raw)


def _rows(data: Any, label: str) -> tuple[list[Mapping[str, Any]], list[str | None]]:
    """Flatten the groups; keep each row's group right (None for an ungrouped list)."""
    rows: list[Mapping[str, Any]] = []
    groups: list[str | None] = []
    items: Iterable[tuple[str | None, Any]] = data.items() if isinstance(data, Mapping) else [(None, data)]
    for group, group_rows in items:
        for index, row in enumerate(group_rows):
            if not isinstance(row, Mapping):
                raise DataSourceError(f"{label}: data.{group}[{index}] is {type(row).__name__}, expected an object")
            rows.append(row)
            groups.append(GROUP_RIGHTS.get(str(group).lower()) if group is not None else None)
    return rows, groups


def _columns(rows: list[Mapping[str, Any]], groups: list[str | None]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {name: [] for name in (*PRICE_FIELDS, "right", "contract", "source_ts")}
    for row, group in zip(rows, groups):
        raw = row.get("raw") if isinstance(row.get("raw"), Mapping) else {}
        for name, field_name in PRICE_FIELDS.items():
            columns[name].append(_number(row, raw, field_name))
        option_type = raw.get("optionType") or row.get("optionType")
        right = GROUP_RIGHTS.get(str(option_type).lower()) if option_type else None
        columns["right"].append(right or group)
        symbol = raw.get("symbol") or row.get("symbol")
        columns["contract"].append(str(symbol) if symbol else None)
        columns["source_ts"].append(_number(row, raw, "tradeTime"))
    return columns


def _number(row: Mapping[str, Any], raw: Mapping[str, Any], field_name: str) -> Any:
    """The raw number, NaN when raw is null or the display says N/A; anything else that is not a
    number is passed on as given, so the chain gate quarantines it by name (not silently NaN)."""
    display = row.get(field_name)
    if isinstance(display, str) and display.strip() == MISSING_DISPLAY:
        return float("nan")
    value = raw.get(field_name)
    return float("nan") if value is None else value


def _globex_names(columns: Mapping[str, list[Any]], reference: date) -> tuple[list[Any], list[Any]]:
    """(contract, root) per row in CME Globex terms; Barchart's symbol and root where not decodable."""
    series = {root: decode_root(root, reference) for root in {c.split("|")[0] for c in columns["contract"] if c}}
    contracts, roots = [], []
    for symbol, right, strike in zip(columns["contract"], columns["right"], columns["strike"]):
        root = symbol.split("|")[0] if symbol else None
        decoded = series.get(root) if root else None
        if decoded is None or not decoded.globex or right not in ("C", "P") or not math.isfinite(strike):
            contracts.append(symbol)
            roots.append(root)
            continue
        contracts.append(globex_name(decoded.globex, right, strike))
        roots.append(decoded.globex[:-2])  # the product: series minus month code and year digit
    return contracts, roots


def _expirations(roots: list[str], facts: CaptureFacts, reference: date, label: str
                 ) -> tuple[dict[str, date], str, str]:
    """Expiration per root (the envelope's wins), the underlying future, and a note saying how."""
    if facts.expiration is not None:
        return ({root: facts.expiration for root in roots}, underlying_future(facts.expiration),
                f"expiration {facts.expiration} as stated by the capture")
    out: dict[str, date] = {}
    described: list[str] = []
    underlying = ""
    for root in roots:
        series = decode_root(root, reference)
        if series is None:
            raise DataSourceError(
                f"{label}: cannot tell the expiration of option root {root!r}: Barchart's rows carry no "
                "date and the root is not a known NQ series (NQ<month><year>, MQ1-5/MC1-9/MM1-9/MQ6); "
                "give it as \"expiration\" in the capture envelope or the _metadata.json sidecar")
        out[root] = series.expiration
        underlying = series.underlying_symbol
        described.append(f"{root} = {series.kind}, expiring {series.expiration}")
    return out, underlying, "Barchart root " + "; ".join(described) + " (derived from the root)"


def _timestamp(value: Any, what: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise DataSourceError(f"{what}: {value!r} is not a date/time ({exc})") from exc
    if pd.isna(stamp):
        raise DataSourceError(f"{what}: {value!r} is not a date/time")
    return stamp
