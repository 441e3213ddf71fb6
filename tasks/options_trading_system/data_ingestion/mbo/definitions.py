"""Instrument definitions: DBN definition records -> one row per instrument id.

Columns: instrument_id, raw_symbol, root (the product, DBN `asset`), group, security_type,
right ('C'/'P', '' for non-options), strike (points), expiration (UTC), underlying (raw symbol of
the future), underlying_id, multiplier (dollars per point: DBN `unit_of_measure_qty`), tick_size,
currency. Fixed-point fields are int64 units of 1e-9; undefined values (UNDEF_PRICE, i32 max,
u64 max timestamps) become NaN/NaT, never 0. When an instrument is defined more than once, the
last record wins; a `security_update_action` of 'D' removes it.

Selecting NQ options by the underlying (`underlying_root`), not by the root, keeps the weekly and
daily roots CME lists for the same future.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from .events import PRICE_UNIT, UNDEF_PRICE

DEFINITION_COLUMNS: dict[str, str] = {
    "instrument_id": "int64",
    "raw_symbol": "str",
    "root": "str",
    "group": "str",
    "security_type": "str",
    "right": "str",
    "strike": "float64",
    "expiration": "datetime64[ns, UTC]",
    "underlying": "str",
    "underlying_id": "int64",
    "multiplier": "float64",
    "tick_size": "float64",
    "currency": "str",
}
UNDEF_TIMESTAMP = np.iinfo(np.uint64).max
MONTH_CODES = "FGHJKMNQUVXZ"


def empty_definitions() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype if dtype != "str" else "object")
                         for name, dtype in DEFINITION_COLUMNS.items()})


def definitions_from_ndarray(records: np.ndarray) -> pd.DataFrame:
    """Decode a DBN definition structured array (DBNStore.to_ndarray(schema='definition'), any DBN
    version) into the definitions table."""
    if len(records) == 0:
        return empty_definitions()
    frame = pd.DataFrame({
        "instrument_id": records["instrument_id"].astype(np.int64),
        "raw_symbol": _text(records["raw_symbol"]),
        "root": _text(records["asset"]),
        "group": _text(records["group"]),
        "security_type": _text(records["security_type"]),
        "right": _right(_text(records["instrument_class"])),
        "strike": _fixed(records["strike_price"]),
        "expiration": _timestamps(records["expiration"]),
        "underlying": _text(records["underlying"]),
        "underlying_id": records["underlying_id"].astype(np.int64),
        "multiplier": _fixed(records["unit_of_measure_qty"]),
        "tick_size": _fixed(records["min_price_increment"]),
        "currency": _text(records["currency"]),
        "_action": _text(records["security_update_action"]),
    })
    last = frame.drop_duplicates("instrument_id", keep="last")
    kept = last[last["_action"] != "D"].drop(columns="_action")
    return kept.sort_values("instrument_id").reset_index(drop=True)[list(DEFINITION_COLUMNS)]


def definitions_from_records(records: Iterable[object]) -> pd.DataFrame:
    """Decode databento_dbn InstrumentDefMsg objects (the live path) through the same table code:
    each record's bytes are read with its own DBN layout."""
    by_type: dict[type, list[bytes]] = {}
    for record in records:
        by_type.setdefault(type(record), []).append(bytes(record))  # type: ignore[call-overload]
    frames = [definitions_from_ndarray(np.frombuffer(b"".join(chunks), dtype=np.dtype(cls._dtypes)))  # type: ignore[attr-defined]
              for cls, chunks in by_type.items()]
    if not frames:
        return empty_definitions()
    merged = pd.concat(frames, ignore_index=True)
    return merged.drop_duplicates("instrument_id", keep="last").sort_values("instrument_id").reset_index(drop=True)


def options_on(definitions: pd.DataFrame, underlying_root: str) -> pd.DataFrame:
    """Options (right C/P, a strike) whose underlying future's root is `underlying_root`
    (NQ matches NQM5, NQU25; empty keeps every option)."""
    is_option = definitions["right"].isin(["C", "P"]) & definitions["strike"].notna()
    if underlying_root:
        roots = definitions["underlying"].map(future_root)
        is_option &= roots == underlying_root
    return definitions[is_option].reset_index(drop=True)


def future_root(symbol: str) -> str:
    """'NQM5' -> 'NQ', 'MNQU25' -> 'MNQ', 'ESH4' -> 'ES': the symbol without month code and year."""
    text = str(symbol).strip()
    end = len(text)
    while end > 0 and text[end - 1].isdigit():
        end -= 1
    if end > 0 and end < len(text) and text[end - 1] in MONTH_CODES:
        return text[: end - 1]
    return text


def _text(column: np.ndarray) -> np.ndarray:
    if column.dtype.kind == "S":
        return np.char.decode(np.char.rstrip(column, b"\x00"), "utf-8", errors="replace").astype(object)
    return column.astype(str).astype(object)


def _right(instrument_class: np.ndarray) -> np.ndarray:
    return np.where(np.isin(instrument_class, ["C", "P"]), instrument_class, "").astype(object)


def _fixed(column: np.ndarray) -> np.ndarray:
    values = column.astype(np.int64)
    return np.where(values == UNDEF_PRICE, np.nan, values / PRICE_UNIT)


def _timestamps(column: np.ndarray) -> pd.Series:
    values = column.astype(np.uint64)
    undefined = values == UNDEF_TIMESTAMP
    as_int = np.where(undefined, 0, values).astype(np.int64)
    out = pd.to_datetime(as_int, unit="ns", utc=True)
    return pd.Series(out).where(~undefined, pd.NaT).astype("datetime64[ns, UTC]")
