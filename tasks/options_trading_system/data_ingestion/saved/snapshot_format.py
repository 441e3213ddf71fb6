"""The project's own capture format: one canonical chain as JSON, read back exactly.

```
{"format": "nq-options-canonical/1",
 "meta": ChainMeta.to_dict(),              # is_sample, source, as_of, underlying price + origin...
 "contracts": [{"contract": ..., "expiration": "2025-06-06", "strike": 21500.0, ...,
                "volume": null, "source_ts": "2025-06-02T19:00:00+00:00"}, ...]}
```

Missing values are JSON `null` and come back as NaN/NaT; dates are ISO strings; every column of
`CHAIN_COLUMNS` is present in every record. Writing is atomic (temp file + `os.replace`), so a
reader never sees half a snapshot. `meta.is_sample` travels with the file: a sample chain saved
and read back is still flagged as sample.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ...errors import DataSourceError, InputFileError
from ...state.atomic import atomic_write_bytes, atomic_write_text
from ..canonical import (CHAIN_COLUMNS, DEFAULT_BOUNDS, ChainBounds, ChainMeta, OptionsChain, RawCapture,
                         build_chain_frame)

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = "nq-options-canonical/1"


def is_snapshot(document: Any) -> bool:
    """True when a decoded JSON document declares the canonical snapshot format."""
    return isinstance(document, Mapping) and document.get("format") == SNAPSHOT_FORMAT


def snapshot_document(chain: OptionsChain) -> dict[str, Any]:
    """The JSON-able snapshot of a chain (rows as records, NaN/NaT as None)."""
    frame = chain.frame
    columns: dict[str, list[Any]] = {}
    for name, dtype in CHAIN_COLUMNS.items():
        series = frame[name]
        if dtype == "datetime64[ns]":
            columns[name] = _each_distinct(series, lambda v: v.strftime("%Y-%m-%d"))
        elif dtype == "datetime64[ns, UTC]":
            columns[name] = _each_distinct(series, lambda v: v.isoformat())
        elif dtype == "float64":
            columns[name] = [None if math.isnan(v) else v for v in series.to_numpy(dtype="float64").tolist()]
        else:
            columns[name] = [None if v is None else str(v) for v in series.to_numpy(dtype=object, na_value=None)]
    records = [dict(zip(columns, values)) for values in zip(*columns.values())]
    return {"format": SNAPSHOT_FORMAT, "meta": chain.meta.to_dict(), "contracts": records}


def _each_distinct(series: pd.Series, text: Any) -> list[Any]:
    """`text(value)` of every value of a date/time column (None when missing), computed once per
    distinct value: a chain repeats a few expirations and trade times over many rows."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    words = [text(v) for v in uniques]
    return [None if code < 0 else words[code] for code in codes.tolist()]


_ROW_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


def snapshot_text(chain: OptionsChain) -> str:
    """The snapshot as compact JSON text, one contract per line (diff-friendly, strict JSON)."""
    document = snapshot_document(chain)
    head = json.dumps({"format": document["format"], "meta": document["meta"]}, allow_nan=False)
    rows = ",\n".join(_ROW_ENCODER.encode(r) for r in document["contracts"])
    return head[:-1] + ', "contracts": [\n' + rows + "\n]}\n"


def write_snapshot(chain: OptionsChain, path: Path) -> Path:
    """Write `chain` as a canonical snapshot at `path`, atomically. Returns `path`."""
    atomic_write_text(Path(path), snapshot_text(chain))
    log.info("wrote snapshot of %d contracts to %s", len(chain.frame), path)
    return Path(path)


def save_snapshot_capture(chain: OptionsChain, folder: Path, filename: str) -> OptionsChain:
    """Save `chain` as `folder/filename` (atomically); return it with those bytes as its raw input."""
    content = snapshot_text(chain).encode("utf-8")
    atomic_write_bytes(Path(folder) / filename, content)
    log.info("saved a snapshot of %d contracts (%s) to %s", len(chain.frame), chain.meta.source, Path(folder) / filename)
    return dataclasses.replace(chain, raw=RawCapture(content=content, filename=filename))


def parse_snapshot(document: Mapping[str, Any], raw: RawCapture | None = None, *,
                   label: str | None = None, bounds: ChainBounds = DEFAULT_BOUNDS) -> OptionsChain:
    """Build the (unvalidated) chain from a decoded snapshot document.

    Raises `DataSourceError` naming the field when the document is not a well-formed snapshot;
    `label` (default: the raw file name) starts every message.
    """
    name = label or (raw.filename if raw else "snapshot")
    if not is_snapshot(document):
        raise DataSourceError(f"{name}: not a canonical snapshot (expected \"format\": \"{SNAPSHOT_FORMAT}\")")
    meta_doc, records = document.get("meta"), document.get("contracts")
    if isinstance(records, list):
        bounds.refuse_too_many(len(records), name, "in the snapshot")
    if not isinstance(meta_doc, Mapping):
        raise DataSourceError(f"{name}: \"meta\" must be an object with the chain facts (source, as_of, ...)")
    if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
        raise DataSourceError(f"{name}: \"contracts\" must be a list of contract objects")
    missing_meta = [k for k in ("underlying_symbol", "source", "as_of", "multiplier") if k not in meta_doc]
    if missing_meta:
        raise DataSourceError(f"{name}: meta lacks {', '.join(missing_meta)}")
    try:
        meta = ChainMeta.from_dict(meta_doc)
    except (TypeError, ValueError) as exc:
        raise DataSourceError(f"{name}: meta is malformed: {exc}") from exc
    unknown = sorted({k for r in records for k in r} - set(CHAIN_COLUMNS))
    if unknown:
        log.warning("%s: ignoring unknown contract fields %s", name, ", ".join(unknown))
    columns = {column: [r.get(column) for r in records] for column in CHAIN_COLUMNS if column != "mark"}
    columns["source_ts"] = [None if v is None else str(v) for v in columns["source_ts"]]
    frame = build_chain_frame(columns)
    return OptionsChain(frame=frame, meta=meta, raw=raw)


def read_snapshot(path: Path) -> OptionsChain:
    """Read a snapshot file (unvalidated chain, raw bytes kept); `InputFileError` if it is not one."""
    path = Path(path)
    try:
        content = path.read_bytes()
        document = json.loads(content)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: not JSON ({exc}); expected a {SNAPSHOT_FORMAT} snapshot") from exc
    try:
        return parse_snapshot(document, RawCapture(content=content, filename=path.name), label=str(path))
    except DataSourceError as exc:
        raise InputFileError(str(exc)) from exc
