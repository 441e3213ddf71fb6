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
from pandas.arrays import ArrowStringArray, DatetimeArray, NumpyExtensionArray
from pandas._libs.internals import BlockPlacement
from pandas.core.internals.blocks import (DatetimeLikeBlock, ExtensionBlock, NumpyBlock, ensure_block_shape,
                                         new_block, new_block_2d)
from pandas.core.internals.managers import BlockManager

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
_TEXT_EMPTY = _TEXT.construct_array_type()._from_sequence([], dtype=_TEXT)
if isinstance(_TEXT_EMPTY, ArrowStringArray):  # pandas stores text with pyarrow: it is installed
    import pyarrow as _PA
    _PA_TEXT = _PA.large_string()


def text_array(values: Sequence[str]) -> ExtensionArray:
    """A column of text with the dtype pandas infers for str values, built directly (inference costs more;
    pyarrow-backed text straight from a pyarrow array of the values)."""
    values = list(values)
    if isinstance(_TEXT_EMPTY, ArrowStringArray) and all(type(v) is str for v in values):
        return _TEXT_EMPTY._from_pyarrow_array(_PA.array(values, type=_PA_TEXT))
    return _TEXT.construct_array_type()._from_sequence(values, dtype=_TEXT)


@lru_cache(maxsize=256)
def column_index(names: tuple[str, ...]) -> pd.Index:
    """The column labels of a table, built once per set of names (a string Index costs more to
    build than a small table's values)."""
    return pd.Index(list(names))


_DATE_UNITS = tuple(np.dtype(f"datetime64[{unit}]") for unit in ("s", "ms", "us", "ns"))  # pandas' own
_STACK_CELLS = 40_000  # a table of at most this many numbers per dtype is built as one block (copied)


def fast_frame(columns: Mapping[str, Any], index: pd.Index | None = None,
               refs: Sequence[Any] | None = None) -> pd.DataFrame:
    """`pd.DataFrame(columns, index=index)` for columns that are already typed arrays (numpy arrays
    of numbers, bools or datetimes, or pandas extension arrays such as categoricals and strings),
    all of one length: built without re-checking each column (that checking costs more than a
    stage's small table). Anything else (lists, object arrays, Series) goes the ordinary way.
    `refs`: per column, the copy-on-write references of the frame it was taken from (None for a
    new array), so that writing into either frame later copies instead of changing both.

    A small table's numeric columns of one dtype are copied into one block, as pandas' own
    constructor does (building a block per column costs more than copying a few thousand
    numbers); a large table's columns each stay their own block, uncopied."""
    arrays = list(columns.values())
    size = len(arrays[0]) if arrays else 0
    for a in arrays:
        kind = type(a)
        if not ((kind is np.ndarray and a.ndim == 1 and a.dtype.kind in "fiubM")
                or (isinstance(a, ExtensionArray) and kind is not NumpyExtensionArray)) or len(a) != size:
            return pd.DataFrame(dict(columns), index=index, copy=False)
    if not arrays or (index is not None and len(index) != size):
        return pd.DataFrame(dict(columns), index=index, copy=False)
    axes = [column_index(tuple(columns)), index if index is not None else pd.RangeIndex(size)]
    manager = BlockManager(tuple(_blocks(arrays, refs, size)), axes, verify_integrity=False)
    return pd.DataFrame._from_mgr(manager, axes=manager.axes)


def _blocks(arrays: list[Any], refs: Sequence[Any] | None, size: int,
            places: Sequence[int] | None = None) -> list[Any]:
    """The blocks of a table of typed 1-D columns (`fast_frame`): numeric numpy columns of one dtype
    stacked into one block while they hold at most `_STACK_CELLS` numbers, every other column its
    own block (sharing its array and its copy-on-write references). `places`: each column's
    position in the table (default: their order)."""
    at = list(range(len(arrays))) if places is None else list(places)
    groups: dict[np.dtype, list[int]] = {}
    if size:
        for i, a in enumerate(arrays):
            if type(a) is np.ndarray and a.dtype.kind in "fiub":
                groups.setdefault(a.dtype, []).append(i)
    stacked: set[int] = set()
    blocks = []
    for dtype, positions in groups.items():
        if len(positions) < 2 or len(positions) * size > _STACK_CELLS:
            continue
        values = np.empty((len(positions), size), dtype=dtype)
        for row, i in enumerate(positions):
            values[row] = arrays[i]
        blocks.append(NumpyBlock(values, BlockPlacement(np.asarray([at[i] for i in positions], dtype=np.intp)), 2))
        stacked.update(positions)
    for i, a in enumerate(arrays):
        if i not in stacked:
            blocks.append(_column_block(a, at[i], refs[i] if refs is not None else None))
    return blocks


def _column_block(values: Any, place: int, ref: Any) -> Any:
    """One column's block, as `new_block_2d(ensure_block_shape(values, 2), ...)` makes it, built
    directly for the usual arrays (numbers, dates, text, categoricals)."""
    kind = type(values)
    if kind is np.ndarray and values.dtype.kind in "fiub":
        return NumpyBlock(values.reshape(1, -1), BlockPlacement(place), 2, refs=ref)
    if kind is np.ndarray and values.dtype.kind == "M" and values.dtype in _DATE_UNITS:
        # pandas' wrapper for dates, without re-validating them
        dates = DatetimeArray._simple_new(values, dtype=values.dtype)
        return DatetimeLikeBlock(dates.reshape(1, -1), BlockPlacement(place), 2, refs=ref)
    if kind is ArrowStringArray or kind is pd.Categorical:
        return ExtensionBlock(values, BlockPlacement(place), 2, refs=ref)
    return new_block_2d(ensure_block_shape(values, ndim=2), placement=BlockPlacement(place), refs=ref)


def add_columns(frame: pd.DataFrame, added: Mapping[str, Any]) -> pd.DataFrame:
    """The frame with `added` columns (typed 1-D arrays of its length; one of the same name is
    replaced in place in the column order, the others follow), built from its blocks: the blocks it
    keeps whole are shared (with pandas' copy-on-write references, so writing into either frame
    later never changes the other), a block losing a replaced column keeps its other columns (a
    view when they are adjacent, else a copy), and the new columns are blocks as `fast_frame` makes
    them. Anything else goes through `fast_frame` column by column."""
    names = column_names(frame.columns)
    size = len(frame.index)
    position = {name: i for i, name in enumerate(names)}
    arrays = list(added.values())
    typed = all((type(a) is np.ndarray and a.ndim == 1 and a.dtype.kind in "fiubM")
                or (isinstance(a, ExtensionArray) and type(a) is not NumpyExtensionArray) for a in arrays)
    if not typed or any(len(a) != size for a in arrays) or len(position) != len(names):
        existing, refs = column_arrays(frame)
        data: dict[str, Any] = {name: added[name] if name in added else existing[name] for name in existing}
        data.update({name: values for name, values in added.items() if name not in data})
        return fast_frame(data, frame.index, [None if name in added else refs[name] for name in data])
    replaced = {position[name] for name in added if name in position}
    blocks = []
    for block in frame._mgr.blocks:
        locs = block.mgr_locs.as_array.tolist()
        if replaced.isdisjoint(locs):
            blocks.append(block.copy(deep=False))  # shares the values and registers the reference
            continue
        keep = [row for row, loc in enumerate(locs) if loc not in replaced]
        if keep:
            values = block.values
            places = BlockPlacement(np.array([locs[row] for row in keep], dtype=np.intp))
            if len(keep) == keep[-1] - keep[0] + 1:  # adjacent rows of the block: a view of them
                blocks.append(type(block)(values[keep[0]:keep[-1] + 1], places, ndim=2, refs=block.refs))
            else:
                blocks.append(new_block(values[keep], placement=places, ndim=2))
    out_names = list(names)
    places = []
    for name in added:
        if name in position:
            places.append(position[name])
        else:
            places.append(len(out_names))
            out_names.append(name)
    blocks.extend(_blocks(arrays, None, size, places))
    axes = [column_index(tuple(out_names)), frame.index]
    manager = BlockManager(tuple(blocks), axes, verify_integrity=False)
    return pd.DataFrame._from_mgr(manager, axes=manager.axes)


def letter_masks(values: Any, letters: tuple[str, str]) -> list[np.ndarray] | None:
    """For each of two letters, `values == letter` as a bool array (missing values False) for a
    pyarrow-backed text column, read off pyarrow's offset and data buffers in one compiled pass
    (comparing the values as Python strings costs more); None when the column is not such a column
    or a letter is not one ASCII byte."""
    from . import kernels  # compiled passes (numba): loaded when first needed

    if not isinstance(values, ArrowStringArray) or any(len(x) != 1 or not x.isascii() for x in letters):
        return None
    chunks = values._pa_array.chunks
    if not chunks or any(str(chunk.type) != "large_string" for chunk in chunks):
        return None
    parts: list[list[np.ndarray]] = [[], []]
    for chunk in chunks:
        n = len(chunk)
        validity, offsets_buffer, data_buffer = chunk.buffers()
        offsets = np.frombuffer(offsets_buffer, dtype=np.int64, count=n + 1, offset=chunk.offset * 8)
        data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None and data_buffer.size \
            else np.zeros(1, dtype=np.uint8)
        masks = kernels.single_letters(offsets, data, ord(letters[0]), ord(letters[1]))
        if chunk.null_count:
            valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
            valid = valid[chunk.offset:chunk.offset + n].astype(bool)
            masks = tuple(mask & valid for mask in masks)
        for part, mask in zip(parts, masks):
            part.append(mask)
    return [part[0] if len(part) == 1 else np.concatenate(part) for part in parts]


def take_rows(values: Any, rows: np.ndarray | None) -> Any:
    """`values[rows]` of a column array (None: all of it). pyarrow-backed text without missing
    values is gathered from its offset and byte buffers in one compiled pass (`kernels.gather_text`):
    pyarrow's own take goes through its compute-function machinery, which inside a pipeline run
    costs some 40 us a call; other text through pyarrow's take (pandas' indexing costs more)."""
    if rows is None:
        return values
    if isinstance(values, ArrowStringArray):
        gathered = _gather_text(values._pa_array, rows)
        return values._from_pyarrow_array(gathered if gathered is not None else values._pa_array.take(rows))
    return values[rows]


def _gather_text(text: Any, rows: np.ndarray) -> Any:
    """`text.take(rows)` for a pyarrow large_string array of one chunk without missing values, built
    from its buffers; None for anything else (or a row position out of range)."""
    import pyarrow as pa

    from . import kernels  # compiled passes (numba): loaded when first needed

    positions = np.asarray(rows)
    if text.num_chunks != 1 or positions.ndim != 1 or positions.dtype.kind not in "iu":
        return None
    chunk = text.chunk(0)
    if chunk.null_count or not pa.types.is_large_string(chunk.type):
        return None
    _, offsets_buffer, data_buffer = chunk.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64, count=len(chunk) + 1, offset=chunk.offset * 8)
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None and data_buffer.size \
        else np.zeros(1, dtype=np.uint8)
    new_offsets, new_data, ok = kernels.gather_text(offsets, data, positions.astype(np.intp, copy=False))
    if not ok:
        return None
    return pa.LargeStringArray.from_buffers(positions.size, pa.py_buffer(new_offsets), pa.py_buffer(new_data))


def empty_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame.iloc[0:0]`: the frame's columns with no rows, built from its blocks directly (an
    empty array per block; the empty text and categorical arrays are made once per dtype: with no
    values there is nothing to share or write)."""
    blocks = []
    for block in frame._mgr.blocks:
        values = block.values
        if isinstance(values, np.ndarray):
            empty = values[:, :0]
        else:
            # keyed by the dtype object itself (held in the entry, so its id is not reused): comparing
            # equal categorical dtypes compares their categories, which costs more than the rest
            dtype = values.dtype
            key = (type(values), id(dtype), values.shape[:-1])
            entry = _EMPTY_ARRAYS.get(key)
            if entry is not None and entry[0] is dtype:
                empty = entry[1]
            else:
                if len(_EMPTY_ARRAYS) >= 256:
                    _EMPTY_ARRAYS.clear()
                empty = values[:, :0] if values.ndim == 2 else values[:0]
                _EMPTY_ARRAYS[key] = (dtype, empty)
        blocks.append(type(block)(empty, block._mgr_locs, ndim=2))
    axes = [frame.columns, frame.index[:0]]
    manager = BlockManager(tuple(blocks), axes, verify_integrity=False)
    return pd.DataFrame._from_mgr(manager, axes=manager.axes)


_EMPTY_ARRAYS: dict[tuple[type, int, tuple[int, ...]], tuple[Any, Any]] = {}  # (dtype, empty array) by dtype id


def column_dict(frame: pd.DataFrame) -> dict[str, Any]:
    """A frame's columns by name as their own arrays (what `frame[name].array` holds, unwrapped for
    numpy columns: a row of a block), read block by block without building a Series."""
    names = column_names(frame.columns)
    if len(set(names)) != len(names):
        return dict(zip(names, frame._iter_column_arrays()))
    arrays: list[Any] = [None] * len(names)
    for block in frame._mgr.blocks:
        values = block.values
        locs = block.mgr_locs.as_array.tolist()
        if getattr(values, "ndim", 1) == 2:
            for row, loc in enumerate(locs):
                arrays[loc] = values[row]
        else:
            arrays[locs[0]] = values
    return dict(zip(names, arrays))


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
    kind = type(value)
    if kind is float:  # the usual cases first: Python floats, text, ints
        return value if math.isfinite(value) else None
    if kind is str or kind is int:
        return value
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
        return _timestamp_text(value.value, value.tzinfo, value.unit)
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


@lru_cache(maxsize=4096)
def _timestamp_text(nanoseconds: int, tz: Any, unit: str) -> str:
    """A Timestamp as JSON text, once per instant: its date (YYYY-MM-DD) at a naive midnight, else
    its ISO form (the same expirations and as-of times recur in every run)."""
    value = pd.Timestamp(nanoseconds, tz=tz).as_unit(unit)
    if value.tzinfo is None and not (value.hour or value.minute or value.second or value.microsecond
                                     or value.nanosecond):  # midnight: `value == value.normalize()`
        return value.date().isoformat()
    return value.isoformat()


def json_list(values: Iterable[Any]) -> list[Any]:
    """A column as a JSON list (NaN -> None)."""
    return [json_value(v) for v in values]


def fast_json_list(values: Iterable[Any]) -> list[Any]:
    """`json_list`, fast for numbers: a float array becomes Python floats with NaN/inf as None in
    one pass (a chart's hundreds of values); anything else goes through `json_value`."""
    if isinstance(values, (list, tuple)) and values and isinstance(values[0], (str, date)):
        return json_list(values)  # text or dates (numpy would make them an object or text array)
    array = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if array.dtype.kind in "fiu":
        array = array.astype(np.float64, copy=False)
        out = array.tolist()
        if not np.isfinite(array.sum()):  # some NaN or inf (or a sum too large): find them
            for i in np.flatnonzero(~np.isfinite(array)).tolist():  # NaN and inf: no JSON number
                out[i] = None
        return out
    return json_list(values)


def fast_json_lists(*arrays: np.ndarray) -> list[list[Any]]:
    """`fast_json_list` of each of several float arrays of one length, converted together."""
    if len(arrays) < 2 or any(type(a) is not np.ndarray or a.ndim != 1 or a.dtype != np.float64 or
                              a.size != arrays[0].size for a in arrays):
        return [fast_json_list(a) for a in arrays]
    block = np.empty((len(arrays), arrays[0].size))  # np.stack, without its per-array checks
    for row, values in enumerate(arrays):
        block[row] = values
    lists = block.tolist()
    if not np.isfinite(block.sum()):
        for r, c in np.argwhere(~np.isfinite(block)).tolist():  # NaN and inf: no JSON number
            lists[r][c] = None
    return lists


def json_records(frame: pd.DataFrame, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows (the first `limit` of them, None = all) as JSON-ready dicts, column order kept: each column
    made JSON-ready in one go (the values `frame.to_numpy(dtype=object)` holds, as `json_value` turns
    them; going value by value through one interleaved object array costs more than the values), then
    zipped into rows. `limit` = `json_records(frame.head(limit))` without building that frame.
    The frame is read block by block: a block of float columns becomes Python lists in one call."""
    rows = len(frame.index)
    names = column_names(frame.columns)
    if not rows or not names or limit == 0:
        return []
    stop = rows if limit is None else min(max(limit, 0), rows)
    columns: list[Any] = [None] * len(names)
    for block in frame._mgr.blocks:
        values, locs = block.values, block.mgr_locs.as_array.tolist()
        if isinstance(values, np.ndarray) and values.ndim == 2 and values.dtype.kind in "fiub":
            part = values[:, :stop]
            if part.dtype.kind == "f":
                part = part.astype(np.float64, copy=False)
                lists = part.tolist()
                for r, c in np.argwhere(~np.isfinite(part)).tolist():  # NaN and inf: no JSON number
                    lists[r][c] = None
            else:  # Python ints and bools, as they are
                lists = part.tolist()
            for loc, values_ in zip(locs, lists):
                columns[loc] = values_
        elif getattr(values, "ndim", 1) == 2:
            for row, loc in enumerate(locs):
                columns[loc] = json_column(values[row], stop)
        else:
            columns[locs[0]] = json_column(values, stop)
    return [dict(zip(names, row)) for row in zip(*columns)]


def table_records(columns: Mapping[str, Any], limit: int | None = None) -> list[dict[str, Any]]:
    """`json_records(fast_frame(columns), limit)` from the table's columns themselves (typed 1-D
    arrays of one length, as `fast_frame` takes them), without reading the frame back: the float
    columns converted together, the others as `json_column` converts them."""
    names = list(columns)
    arrays = [columns[name] for name in names]
    rows = len(arrays[0]) if arrays else 0
    if not rows or limit == 0:
        return []
    stop = rows if limit is None else min(max(limit, 0), rows)
    out: list[Any] = [None] * len(names)
    floats = [i for i, a in enumerate(arrays) if type(a) is np.ndarray and a.dtype == np.float64]
    for i, values in zip(floats, fast_json_lists(*(arrays[i][:stop] for i in floats)) if floats else ()):
        out[i] = values
    for i, a in enumerate(arrays):
        if out[i] is None:
            if type(a) is np.ndarray and a.dtype.kind == "M" and a.dtype in _DATE_UNITS:
                a = DatetimeArray._simple_new(a, dtype=a.dtype)  # as the table holds it
            out[i] = json_column(a, stop)
    return [dict(zip(names, row)) for row in zip(*out)]


_NAMES: dict[int, tuple[pd.Index, list[str]]] = {}


def column_names(columns: pd.Index) -> list[str]:
    """A table's column labels as a list, once per column Index (`fast_frame`'s are built once per
    set of names; converting one costs more than a small table's values)."""
    known = _NAMES.get(id(columns))
    if known is not None and known[0] is columns:
        return known[1]
    names = columns.tolist()
    if len(_NAMES) >= 512:
        _NAMES.clear()
    _NAMES[id(columns)] = (columns, names)  # the Index is held, so its id is not reused
    return names


def json_column(values: Any, stop: int | None = None) -> list[Any]:
    """One column's values (the first `stop` of them, None = all) as plain JSON (`json_value` of
    each): floats via `fast_json_list`, ints and bools as they are, categorical text by code, dates
    once per distinct value, anything else value by value."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        values = values[:stop]
        # floats: NaN/inf as None; Python ints and bools as they are
        return fast_json_list(values) if values.dtype.kind == "f" else values.tolist()
    if isinstance(values, pd.Categorical):
        codes = values.codes[:stop]
        if codes.size and codes.min() >= 0:  # no missing values: the labels by code
            labels, plain = _category_objects(values.dtype)
            picked = _labels_of(labels, codes)
            return picked if plain else [_json_scalar(v) for v in picked]
    if isinstance(values, DatetimeArray):  # one Timestamp and its text per distinct value
        ticks = values.asi8[:stop].tolist()
        done: dict[int, Any] = {}
        for i, tick in enumerate(ticks):
            if tick not in done:
                done[tick] = _json_scalar(values[i])
        return [done[tick] for tick in ticks]
    if stop is not None and stop < len(values):
        values = values[:stop]
    if isinstance(values, ArrowStringArray):  # text and missing values (None) straight from pyarrow
        return values._pa_array.to_pylist()
    objects = values.to_numpy(dtype=object) if hasattr(values, "to_numpy") else np.asarray(values, dtype=object)
    return [_json_scalar(v) for v in np.asarray(objects, dtype=object).tolist()]


def python_values(values: Any) -> list[Any]:
    """A column (array, categorical or Series) as a list of Python values; categorical labels by code
    (iterating a categorical goes through its string index value by value)."""
    array = values.array if isinstance(values, pd.Series) else values
    if isinstance(array, pd.Categorical) and array.size and array.codes.min() >= 0:
        return _labels_of(_category_objects(array.dtype)[0], array.codes)
    return np.asarray(array, dtype=object).tolist()


@lru_cache(maxsize=256)
def _category_objects(dtype: pd.CategoricalDtype) -> tuple[np.ndarray, bool]:
    """A categorical dtype's labels as a Python object array, and whether they are all plain text
    (JSON as they are), once per dtype (converting a categorical column label by label goes through
    its string index every time)."""
    labels = np.asarray(dtype.categories.to_numpy(dtype=object), dtype=object)
    return labels, all(type(label) is str for label in labels.tolist())


_FEW = 64  # up to this many values, a Python loop over a list costs less than numpy's calls


def _labels_of(labels: np.ndarray, codes: np.ndarray) -> list[Any]:
    """The labels of these codes (none missing) as a list: numpy's indexing for a long column, a
    Python loop for a table's few rows."""
    if codes.size > _FEW:
        return labels[codes].tolist()
    return [labels[code] for code in codes.tolist()]


def _json_scalar(value: Any) -> Any:
    """`json_value`, with Python's own floats, text, ints and bools passed straight through."""
    kind = type(value)
    if kind is float:
        return value if value == value and value not in (math.inf, -math.inf) else None
    if kind is str or kind is int or kind is bool:
        return value
    return json_value(value)
