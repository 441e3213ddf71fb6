"""Small pure helpers the analysis stages share: which expirations a stage reads, JSON-ready figures.

Kept apart so each stage module holds only its own analysis.
"""
from __future__ import annotations

import math
from functools import lru_cache
from datetime import date, datetime
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError


def parse_expirations(values: Sequence[str], setting: str) -> tuple[pd.Timestamp, ...]:
    """Profile dates (YYYY-MM-DD) as Timestamps; `setting` names the key for the error message."""
    out: list[pd.Timestamp] = []
    for value in values:
        try:
            out.append(pd.Timestamp(date.fromisoformat(str(value))))
        except ValueError as exc:
            raise ConfigError(f"`{setting}`: {value!r} is not a date (expected YYYY-MM-DD)") from exc
    return tuple(out)


def reason_series(codes: np.ndarray, labels: Sequence[str], index: pd.Index) -> pd.Series:
    """`filter_reasons`' answer from a code per row and the label of each code (labels[0] = "" keeps
    the row): a categorical Series, which the runner counts by code instead of by string."""
    return pd.Series(pd.Categorical.from_codes(np.asarray(codes, dtype=np.int64), dtype=category_dtype(tuple(labels))),
                     index=index)


@lru_cache(maxsize=256)
def category_dtype(labels: tuple[str, ...]) -> pd.CategoricalDtype:
    """The categorical dtype of these labels, built once per set of labels (its string index is
    costly: building it costs more than most of a stage's arithmetic)."""
    return pd.CategoricalDtype(list(labels))


def float_column(chain: pd.DataFrame, name: str, rows: np.ndarray) -> np.ndarray:
    """A float column at the given row positions (all NaN when the chain lacks it)."""
    if name not in chain.columns:
        return np.full(rows.size, np.nan)
    return chain[name].to_numpy(dtype=np.float64)[rows]


def group_sum(codes: np.ndarray, size: int, values: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Per group: the sum of the known values among `where` rows; NaN where there is none (pandas
    `sum(min_count=1)`)."""
    take = where & ~np.isnan(values)
    sums = np.bincount(codes[take], weights=values[take], minlength=size)
    counts = np.bincount(codes[take], minlength=size)
    return np.where(counts > 0, sums, np.nan)


def json_value(value: Any) -> Any:
    """One value as plain JSON: numpy scalars to Python, NaN/inf to None, dates to ISO strings."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is None and value == value.normalize():
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        return [json_value(v) for v in value]
    if isinstance(value, str):
        return value
    if pd.isna(value):
        return None
    return str(value)


def json_list(values: Iterable[Any]) -> list[Any]:
    """A column as a JSON list (NaN -> None)."""
    return [json_value(v) for v in values]


def fast_json_list(values: Iterable[Any]) -> list[Any]:
    """`json_list`, fast for numbers: a float array becomes Python floats with NaN/inf as None in
    one pass (a chart's hundreds of values); anything else goes through `json_value`."""
    array = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if array.dtype.kind in "fiu":
        array = array.astype(np.float64, copy=False)
        out = array.tolist()
        for i in np.flatnonzero(~np.isfinite(array)).tolist():  # NaN and inf: no JSON number
            out[i] = None
        return out
    return json_list(values)


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts, column order kept: the frame as Python objects in one conversion
    (reading it column by column costs more than the values), then plain values as they are."""
    if frame.empty:
        return []
    names = frame.columns.tolist()
    return [dict(zip(names, map(_json_scalar, row))) for row in frame.to_numpy(dtype=object).tolist()]


def _json_scalar(value: Any) -> Any:
    """`json_value`, with Python's own floats, text, ints and bools passed straight through."""
    kind = type(value)
    if kind is float:
        return value if value == value and value not in (math.inf, -math.inf) else None
    if kind is str or kind is int or kind is bool:
        return value
    return json_value(value)
