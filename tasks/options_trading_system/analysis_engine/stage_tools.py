"""Small pure helpers the analysis stages share: which expirations a stage reads, JSON-ready figures.

Kept apart so each stage module holds only its own analysis.
"""
from __future__ import annotations

import math
from functools import lru_cache
from datetime import date, datetime
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray
from pandas.arrays import NumpyExtensionArray
from pandas.core.internals.managers import create_block_manager_from_column_arrays

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


_TEXT = pd.Series([""]).dtype  # pandas' own dtype for a column of text (what it infers from str values)


def text_array(values: Sequence[str]) -> ExtensionArray:
    """A column of text with the dtype pandas infers for str values, built directly (inference costs more)."""
    return _TEXT.construct_array_type()._from_sequence(list(values), dtype=_TEXT)


@lru_cache(maxsize=256)
def column_index(names: tuple[str, ...]) -> pd.Index:
    """The column labels of a table, built once per set of names (a string Index costs more to
    build than a small table's values)."""
    return pd.Index(list(names))


def fast_frame(columns: Mapping[str, Any], index: pd.Index | None = None,
               refs: Sequence[Any] | None = None) -> pd.DataFrame:
    """`pd.DataFrame(columns, index=index)` for columns that are already typed arrays (numpy arrays
    of numbers, bools or datetimes, or pandas extension arrays such as categoricals and strings),
    all of one length: built without re-checking each column (that checking costs more than a
    stage's small table). Anything else (lists, object arrays, Series) goes the ordinary way.
    `refs`: per column, the copy-on-write references of the frame it was taken from (None for a
    new array), so that writing into either frame later copies instead of changing both."""
    arrays = list(columns.values())
    typed = all((isinstance(a, np.ndarray) and a.ndim == 1 and a.dtype.kind in "fiubM")
                or (isinstance(a, ExtensionArray) and not isinstance(a, NumpyExtensionArray)) for a in arrays)
    size = len(arrays[0]) if arrays else 0
    if not typed or not arrays or any(len(a) != size for a in arrays) or \
            (index is not None and len(index) != size):
        return pd.DataFrame(dict(columns), index=index, copy=False)
    # pandas' own constructor below `DataFrame(dict)`, minus its checks and its consolidation (copying
    # the float columns into one block costs more than the table is then used for)
    axes = [column_index(tuple(columns)), index if index is not None else pd.RangeIndex(size)]
    manager = create_block_manager_from_column_arrays(arrays, axes, consolidate=False,
                                                      refs=list(refs) if refs is not None else [None] * len(arrays))
    return pd.DataFrame._from_mgr(manager, axes=manager.axes)


def column_arrays(frame: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
    """A frame's columns as their own arrays (no Series built), and each one's copy-on-write
    references (for `fast_frame`'s `refs` when a new frame reuses them)."""
    manager = frame._mgr
    names = frame.columns.tolist()
    block_refs = [manager.blocks[b].refs for b in manager.blknos]
    return dict(zip(names, frame._iter_column_arrays())), dict(zip(names, block_refs))


def select_first(conditions: Sequence[np.ndarray], choices: Sequence[Any], default: Any) -> np.ndarray:
    """`np.select` with scalar choices: per element the choice of the first true condition, else
    `default`; the same values and dtype, without `np.select`'s per-call overhead (which costs more
    than the comparisons on a chain of a few hundred contracts)."""
    conditions = [np.asarray(c, dtype=bool) for c in conditions]
    out = np.full(np.broadcast_shapes(*(c.shape for c in conditions)), default,
                  dtype=np.result_type(*choices, default))
    for condition, choice in zip(reversed(conditions), reversed(list(choices))):  # the first true one wins
        np.copyto(out, choice, where=condition)
    return out


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


def json_records(frame: pd.DataFrame, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows (the first `limit` of them, None = all) as JSON-ready dicts, column order kept: each column
    made JSON-ready in one go (the values `frame.to_numpy(dtype=object)` holds, as `json_value` turns
    them; going value by value through one interleaved object array costs more than the values), then
    zipped into rows. `limit` = `json_records(frame.head(limit))` without building that frame."""
    if frame.empty or limit == 0:
        return []
    names = frame.columns.tolist()
    rows = slice(None) if limit is None else slice(0, max(limit, 0))
    columns = [json_column(values[rows]) for values in frame._iter_column_arrays()]
    return [dict(zip(names, row)) for row in zip(*columns)]


def json_column(values: Any) -> list[Any]:
    """One column's values as plain JSON (`json_value` of each): floats via `fast_json_list`, ints and
    bools as they are, categorical text by code, anything else value by value."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        return fast_json_list(values)
    if isinstance(values, np.ndarray) and values.dtype.kind in "iub":  # Python ints and bools, as they are
        return values.tolist()
    if isinstance(values, pd.Categorical) and values.size and values.codes.min() >= 0:
        labels, plain = _category_objects(values.dtype)
        picked = labels[values.codes].tolist()  # no missing values: the labels by code
        return picked if plain else [_json_scalar(v) for v in picked]
    objects = values.to_numpy(dtype=object) if hasattr(values, "to_numpy") else np.asarray(values, dtype=object)
    return [_json_scalar(v) for v in np.asarray(objects, dtype=object).tolist()]


def python_values(values: Any) -> list[Any]:
    """A column (array, categorical or Series) as a list of Python values; categorical labels by code
    (iterating a categorical goes through its string index value by value)."""
    array = values.array if isinstance(values, pd.Series) else values
    if isinstance(array, pd.Categorical) and array.size and array.codes.min() >= 0:
        return _category_objects(array.dtype)[0][array.codes].tolist()
    return np.asarray(array, dtype=object).tolist()


@lru_cache(maxsize=256)
def _category_objects(dtype: pd.CategoricalDtype) -> tuple[np.ndarray, bool]:
    """A categorical dtype's labels as a Python object array, and whether they are all plain text
    (JSON as they are), once per dtype (converting a categorical column label by label goes through
    its string index every time)."""
    labels = np.asarray(dtype.categories.to_numpy(dtype=object), dtype=object)
    return labels, all(type(label) is str for label in labels.tolist())


def _json_scalar(value: Any) -> Any:
    """`json_value`, with Python's own floats, text, ints and bools passed straight through."""
    kind = type(value)
    if kind is float:
        return value if value == value and value not in (math.inf, -math.inf) else None
    if kind is str or kind is int or kind is bool:
        return value
    return json_value(value)
