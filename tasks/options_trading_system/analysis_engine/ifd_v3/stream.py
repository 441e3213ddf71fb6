"""The streaming path's one cheap call into the kernel: raw MBO records plus one table of addresses.

Why: calling a numba function costs per argument, and a NamedTuple argument is typed in Python
(`numba.typeof` walks every field): measured on the 2-core reference machine, a trivial njit takes
0.6 us with one array, 1.8 us with 17 arrays and 6.3 us with one NamedTuple of 8 arrays, and the
engine's kernel takes 8 NamedTuples/arrays of state (about 60 arrays). Replay pays that once per
million records; the streaming path paid it per record.

Here the whole state is described once by a flat int64 table (`StateTable`: for every array of
every state tuple, its address and shape; the scalar settings as numbers) and a generated kernel
(`stream_kernel`) rebuilds the very same NamedTuples inside nopython code with numba's carray
intrinsic (no copy, no allocation, no reference counting: NRT stays off; `numba.carray` itself
cannot be used there because without NRT numba refuses a callee that returns a new array) and calls the same `engine.run_events`. One call carries
any number of records as the raw 56-byte DBN MBO records (`MBOMsg.__bytes__`), parsed in the
kernel; instrument ids are mapped to the engine's dense index by binary search over the engine's
sorted id table.

Safety: the table holds raw addresses, so it is valid only while the arrays it was built from
are alive and unchanged in shape. `StateTable` keeps references to every state tuple it was built
from, and the engine rebuilds it whenever any of them is replaced (growth, new baselines).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import numba as nb
import numpy as np
from numba.core import cgutils, types
from numba.extending import intrinsic
from numba.np.arrayobj import get_cfarray_intrinsic
from numba.np.numpy_support import from_dtype

from ...errors import OptionsSystemError
from ...data_ingestion.mbo.events import EventColumns
from .jit import kernel

# DBN MBO record layout (56 bytes, identical in DBN versions 1-3): header, then the body
MBO_RECORD_SIZE = 56
RTYPE_MBO = 0xA0
OFF_FLAGS = 36
OFF_ACTION = 38
MBO_RAW_DTYPE = np.dtype({
    "names": ["length", "rtype", "publisher_id", "instrument_id", "ts_event", "order_id", "price", "size",
              "flags", "channel_id", "action", "side", "ts_recv", "ts_in_delta", "sequence"],
    "formats": ["u1", "u1", "<u2", "<u4", "<u8", "<u8", "<i8", "<u4", "u1", "u1", "S1", "S1", "<u8", "<i4", "<u4"],
    "offsets": [0, 1, 2, 4, 8, 16, 24, 32, 36, 37, 38, 39, 40, 48, 52],
    "itemsize": MBO_RECORD_SIZE,
})

NEED_INSTRUMENT = 10   # a record's instrument id is not in the engine's id table yet
BAD_RECORD = 11        # a record that is not a 56-byte MBO record (returned with its index)
NEVER = np.iinfo(np.int64).min


@intrinsic
def _pointer(typingctx: Any, address: Any) -> Any:
    """An int64 address as a void pointer (for numba.carray)."""
    sig = types.voidptr(address)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return sig, codegen


@kernel
def parse_records(raw: np.ndarray, n: int, ts: np.ndarray, inst: np.ndarray, oid: np.ndarray, price: np.ndarray,
                  size: np.ndarray, flags: np.ndarray, action: np.ndarray, side: np.ndarray,
                  sorted_ids: np.ndarray, sorted_idx: np.ndarray) -> tuple[int, int]:
    """Raw records -> event columns (instrument ids mapped to dense indexes). Returns (-1, 0) when
    every record was parsed, else (index, NEED_INSTRUMENT or BAD_RECORD) of the first that was not."""
    m = sorted_ids.shape[0]
    for j in range(n):
        b = j * MBO_RECORD_SIZE
        if np.int64(raw[b]) * 4 != MBO_RECORD_SIZE or raw[b + 1] != RTYPE_MBO:
            return j, BAD_RECORD
        iid = np.int64(raw[b + 4]) | (np.int64(raw[b + 5]) << 8) | (np.int64(raw[b + 6]) << 16) \
            | (np.int64(raw[b + 7]) << 24)
        lo, hi = 0, m
        while lo < hi:
            mid = (lo + hi) >> 1
            if sorted_ids[mid] < iid:
                lo = mid + 1
            else:
                hi = mid
        if lo == m or sorted_ids[lo] != iid:
            return j, NEED_INSTRUMENT
        inst[j] = sorted_idx[lo]
        o = np.uint64(0)
        p = np.uint64(0)
        t = np.uint64(0)
        for k in range(7, -1, -1):
            o = (o << np.uint64(8)) | np.uint64(raw[b + 16 + k])
            p = (p << np.uint64(8)) | np.uint64(raw[b + 24 + k])
            t = (t << np.uint64(8)) | np.uint64(raw[b + 40 + k])
        oid[j] = o
        price[j] = np.int64(p)
        ts[j] = np.int64(t)
        size[j] = np.int64(raw[b + 32]) | (np.int64(raw[b + 33]) << 8) | (np.int64(raw[b + 34]) << 16) \
            | (np.int64(raw[b + 35]) << 24)
        flags[j] = raw[b + OFF_FLAGS]
        action[j] = raw[b + OFF_ACTION]
        side[j] = raw[b + 39]
    return -1, 0


class StateTable:
    """The flat description of the engine's state the generated kernel reads: `table` (int64:
    address, shape of every array; integer settings) and `floats` (float64 settings).

    `parts` are the kernel's state arguments in order (NamedTuples of arrays or of scalars, or
    plain arrays); `extras` are further arrays the caller needs (scratch columns, id tables).
    """

    def __init__(self, parts: Sequence[Any], extras: Sequence[np.ndarray]) -> None:
        self.parts = tuple(parts)     # kept alive: the table points into them
        self.extras = tuple(extras)
        ints: list[int] = []
        floats: list[float] = []
        layout: list[tuple[Any, ...]] = []
        for part in (*self.parts, *self.extras):
            if isinstance(part, tuple):
                fields = []
                for name in part._fields:
                    fields.append((name, *_describe(getattr(part, name), ints, floats, f"{type(part).__name__}.{name}")))
                layout.append((type(part), tuple(fields)))
            else:
                layout.append((None, _describe(part, ints, floats, "array")))
        self.table = np.array(ints, np.int64)
        self.floats = np.array(floats or [0.0], np.float64)
        self.layout = tuple(layout)

    def bound_to(self, parts: Sequence[Any], extras: Sequence[np.ndarray]) -> bool:
        """True when built from exactly these objects (then every address is still valid)."""
        return len(parts) == len(self.parts) and len(extras) == len(self.extras) and \
            all(a is b for a, b in zip(parts, self.parts)) and all(a is b for a, b in zip(extras, self.extras))


def _describe(value: Any, ints: list[int], floats: list[float], what: str) -> tuple[Any, ...]:
    """Append `value` to the table; returns how the generated kernel reads it back:
    ("array", dtype, ndim, position) or ("int"/"float", position)."""
    if isinstance(value, np.ndarray):
        if not value.flags.c_contiguous or not value.flags.writeable:
            raise OptionsSystemError(f"IFD v3.0 streaming state {what}: expected a writable C-contiguous array")
        pos = len(ints)
        ints.append(value.ctypes.data)
        ints.extend(int(s) for s in value.shape)
        return ("array", value.dtype, value.ndim, pos)
    if isinstance(value, (bool, np.bool_)):
        raise OptionsSystemError(f"IFD v3.0 streaming state {what}: booleans are not supported as settings")
    if isinstance(value, (int, np.integer)):
        ints.append(int(value))
        return ("int", len(ints) - 1)
    if isinstance(value, (float, np.floating)):
        floats.append(float(value))
        return ("float", len(floats) - 1)
    raise OptionsSystemError(f"IFD v3.0 streaming state {what}: expected an array or a number, got {type(value).__name__}")


_KERNELS: dict[tuple[Any, ...], Callable[..., tuple[int, int, int]]] = {}


def stream_kernel(layout: tuple[Any, ...], n_parts: int, run: Callable[..., tuple[int, int]],
                  counted: tuple[int, str]) -> Callable[..., tuple[int, int, int]]:
    """The compiled `(raw: bytearray, n, start, table, floats) -> (next, status, added)` for a state
    layout: parse the records into the scratch columns, then `run(columns..., start, *parts)`;
    `added` is the growth of the int64[1] field `counted` = (part index, field name), e.g. the
    signal rows written.

    The extras must be, in order: the 8 scratch columns of `EventColumns`, the sorted instrument
    ids, their dense indexes, and an int64[2] array (first, last event time). Generated once per
    layout (dtypes and dimensions, not sizes) and process. What is returned is the compiled
    function's own entry point: it skips numba's dispatch by argument types (measured 365 ns ->
    206 ns per call), so the argument types must always be the ones above."""
    key = (layout, n_parts, run, counted)
    if key in _KERNELS:
        return _KERNELS[key]
    namespace: dict[str, Any] = {"np": np, "nb": nb, "_pointer": _pointer, "parse_records": parse_records,
                                 "run": run, "OK": 0, "NEED_INSTRUMENT": NEED_INSTRUMENT, "NEVER": NEVER}
    lines = ["def _stream(raw, n, start, table, floats):"]
    names = []
    for i, (cls, spec) in enumerate(layout):
        var = f"v{i}"
        names.append(var)
        if cls is None:
            length = "n" if n_parts <= i < n_parts + len(EventColumns.__dataclass_fields__) else None
            lines.append(f"    {var} = {_read(spec, namespace, f'{var}_dtype', length)}")
        else:
            namespace[f"T{i}"] = cls
            args = ", ".join(_read(f[1:], namespace, f"{var}_{f[0]}_dtype") for f in spec)
            lines.append(f"    {var} = T{i}({args})")
    state, extras = names[:n_parts], names[n_parts:]
    columns = len(EventColumns.__dataclass_fields__)
    if len(extras) != columns + 3:
        raise OptionsSystemError(f"IFD v3.0 streaming: expected {columns + 3} extra arrays, got {len(extras)}")
    cols = extras[:columns]
    sorted_ids, sorted_idx, times = extras[columns:]
    count = f"{names[counted[0]]}.{counted[1]}[0]"
    lines += [
        f"    at, status = parse_records(raw, n, {', '.join(cols)}, {sorted_ids}, {sorted_idx})",
        "    if status != OK:",
        "        return at, status, 0",
        f"    before = {count}",
        f"    nxt, status = run({', '.join(cols)}, start, {', '.join(state)})",
        "    if n > 0:",
        f"        if {times}[0] == NEVER:",
        f"            {times}[0] = {extras[0]}[0]",
        f"        {times}[1] = {extras[0]}[nxt - 1] if nxt > 0 else {times}[1]",
        f"    return nxt, status, {count} - before",
    ]
    exec(compile("\n".join(lines), f"<ifd_v3 stream kernel {len(_KERNELS)}>", "exec"), namespace)  # noqa: S102
    compiled = nb.njit(_nrt=False)(namespace["_stream"])  # generated source: numba cannot cache it on disk
    signature = (nb.typeof(bytearray(1)), types.int64, types.int64, nb.typeof(np.zeros(1, np.int64)),
                 nb.typeof(np.zeros(1, np.float64)))
    compiled.compile(signature)
    entry = compiled.overloads[signature].entry_point
    _KERNELS[key] = entry
    return entry


def _read(spec: tuple[Any, ...], namespace: dict[str, Any], dtype_name: str, length: str | None = None) -> str:
    """Source text that reads one described value back from `table` / `floats` (an array of
    `length` elements when given: the scratch columns are used up to the records passed)."""
    if spec[0] == "int":
        return f"table[{spec[1]}]"
    if spec[0] == "float":
        return f"floats[{spec[1]}]"
    _, dtype, ndim, pos = spec
    namespace[dtype_name] = get_cfarray_intrinsic("C", types.DType(from_dtype(np.dtype(dtype))))
    shape = length if length is not None else ", ".join(f"table[{pos + 1 + d}]" for d in range(ndim))
    return f"{dtype_name}(_pointer(table[{pos}]), ({shape},))"
