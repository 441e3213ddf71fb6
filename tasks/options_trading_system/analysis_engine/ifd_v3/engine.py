"""The IFD v3.0 engine: MBO events in, signals out, one kernel for replay and streaming.

`run_events` (numba) is the only place events are processed. For each event, in order:

1. room check: an add/modify needs a free order and level slot (`order_book.has_room`), a
   packet end needs room for signals; if not, return the index so Python grows the table and
   calls again with the same event (nothing was touched);
2. `order_book.book_apply`: the book changes (add, cancel, modify, clear; trade/fill counted);
3. a trade (action T) of a scored option goes into the contract's rolling window and the
   market-wide ring (`flow_metrics.add_trade`) with its aggressor side, size and notional (price x
   size x the definition's multiplier); trades of anything else (a future, another product, an
   undefined id) are only counted, so they cannot dilute `concentration`;
4. the instrument is marked touched in the current packet;
5. at F_LAST (packet end, the only moment the book is consistent): every touched book is checked
   (best bid < best ask) and its top published; every touched contract that traded and is a
   scored option is evaluated (`_evaluate`: window sums, the five confidence components, the
   baseline z-score and percentile, the market-making filter, threshold and cooldown) and a
   signal row is written when it fires.

`IFDv3Engine.process_batch` maps a DBN MBO array's instrument ids to dense indexes and runs the
kernel over all of it. `IFDv3Engine.on_event` / `on_record` (live, one record at a time) append the
record's raw 56 bytes to a pending buffer and run the kernel over the buffer (`flush`, through the
one-table call of `stream.py`) when a packet holding a trade ends (F_LAST) or `MAX_PENDING`
records wait. That is exact: the kernel is sequential, so where the input is cut changes nothing,
and a signal can only be written at the F_LAST of a packet with a trade, so it comes out on the
same record as if every record ran alone. Every reader (`signals`, `stats`, `top_of_book`, ...)
and every change of definitions or baselines flushes first. Same input, same state transitions,
same signals.
"""
from __future__ import annotations

import logging
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ...errors import OptionsSystemError
from . import counters as C
from . import flow_metrics as flow
from . import order_book as ob
from .baselines import KEY, BaselineArrays, baseline_arrays, percentile, zscore
from .confidence import ConfidenceParams, anomaly, combine, concentration, confidence_params, persistence, \
    significance, trend
from .config import NS_PER_S, IFDv3Config
from ...data_ingestion.mbo.dbn_file import MBO_RECORD_CLASS, RECORD_DEFINITION, record_kind
from ...data_ingestion.mbo.definitions import definitions_from_records, empty_definitions, future_root, options_on
from ...data_ingestion.mbo.events import ACTION_ADD, ACTION_CANCEL, ACTION_CLEAR, ACTION_MODIFY, ACTION_TRADE, F_LAST, F_SNAPSHOT, \
    PRICE_UNIT, UNDEF_PRICE, EventColumns, Gap, columns_from_ndarray, empty_columns
from .jit import kernel
from .stream import BAD_RECORD, MBO_RAW_DTYPE, MBO_RECORD_SIZE, NEED_INSTRUMENT, OFF_ACTION, OFF_FLAGS, StateTable, \
    stream_kernel
from .market_making import NO_PAIR, pair_index, straddle_like
from .signals import (F_ANO, F_ASK, F_ASK_REST, F_BASE_DAYS, F_BASE_MEAN, F_BASE_STD, F_BID, F_BID_REST, F_BUY,
                      F_CON, F_CONFIDENCE, F_IMBALANCE, F_MARKET, F_MM_OTHER, F_MM_OWN, F_NET, F_NOTIONAL, F_PCT,
                      F_PER, F_PERSIST_HITS, F_PRESSURE, F_QUALITY, F_RAW, F_SELL, F_SIG, F_TRADES,
                      F_TRE, F_UNKNOWN, F_Z, S_DIRECTION, S_INST, S_MM, S_TS, SignalBuffer, empty_signals, grown,
                      new_signal_buffer, signal_table)

log = logging.getLogger(__name__)

OK = 0
NEED_ORDERS = ob.NEED_ORDERS
NEED_LEVELS = ob.NEED_LEVELS
NEED_SIGNALS = 3

NEVER = np.iinfo(np.int64).min
MAX_PENDING = 64  # streaming: records held before a flush even without a trade packet end (bounds one call)
_MBO = MBO_RECORD_CLASS
_PENDING_BYTES = MAX_PENDING * MBO_RECORD_SIZE
_OFF_ACTION, _OFF_FLAGS, _TRADE, _LAST = OFF_ACTION, OFF_FLAGS, ACTION_TRADE, F_LAST  # module globals: one lookup
_LAST_FLAGS = OFF_FLAGS - MBO_RECORD_SIZE  # flags of the last record of a buffer
_MAX_GROWTHS = 200  # doublings per call; 2**200 rows is beyond any feed
TOUCHED = 1
TRADED = 2
# columns of InstrumentState.tob (published at F_LAST)
TOB_BID_PX, TOB_BID_SZ, TOB_ASK_PX, TOB_ASK_SZ, TOB_BID_REST, TOB_ASK_REST = range(6)


class InstrumentState(NamedTuple):
    """Per instrument index: what the kernel needs to know about the contract, and packet state."""

    scored: np.ndarray        # bool[I]  a defined option on the configured underlying
    multiplier: np.ndarray    # float64[I] dollars per point (NaN unknown)
    pair: np.ndarray          # int64[I] other right at the same strike/expiration, or -1
    touched: np.ndarray       # int8[I]  TOUCHED | TRADED in the current packet
    touched_list: np.ndarray  # int32[I] instruments touched in the current packet, in order
    n_touched: np.ndarray     # int64[1]
    last_signal: np.ndarray   # int64[I, 2] last above-threshold time per direction (buy, sell)
    tob: np.ndarray           # int64[I, 6] top of book published at the last F_LAST


class KernelParams(NamedTuple):
    slice_ns: np.int64
    mm_slices: np.int64
    mm_min_ratio: float
    mm_discount: float
    min_std: float
    min_confidence: float
    min_net: np.int64
    min_notional: float
    cooldown_ns: np.int64


def new_instrument_state(n: int) -> InstrumentState:
    tob = np.zeros((n, 6), np.int64)
    tob[:, TOB_BID_PX] = UNDEF_PRICE
    tob[:, TOB_ASK_PX] = UNDEF_PRICE
    return InstrumentState(scored=np.zeros(n, np.bool_), multiplier=np.full(n, np.nan), pair=np.full(n, NO_PAIR, np.int64),
                           touched=np.zeros(n, np.int8), touched_list=np.zeros(n, np.int32),
                           n_touched=np.zeros(1, np.int64), last_signal=np.full((n, 2), NEVER, np.int64), tob=tob)


def kernel_params(config: IFDv3Config) -> KernelParams:
    s = config.signals
    return KernelParams(
        slice_ns=np.int64(config.window.slice_s * NS_PER_S),
        mm_slices=np.int64(config.market_making.interval_s // config.window.slice_s),
        mm_min_ratio=float(config.market_making.min_ratio), mm_discount=float(config.market_making.discount),
        min_std=float(config.baseline.min_std_contracts), min_confidence=float(s.min_confidence),
        min_net=np.int64(s.min_net_contracts), min_notional=float(s.min_notional),
        cooldown_ns=np.int64(s.cooldown_s * NS_PER_S))


# --- the kernel -----------------------------------------------------------------------------

@kernel
def _publish(book: ob.BookState, st: InstrumentState, inst: int, counters: np.ndarray) -> None:
    """Packet end: check the book of `inst` and publish its top."""
    bid_px, bid_sz = ob.best_quote(book, inst, ob.BID)
    ask_px, ask_sz = ob.best_quote(book, inst, ob.ASK)
    counters[C.BOOK_CHECKS] += 1
    if bid_px != UNDEF_PRICE and ask_px != UNDEF_PRICE and bid_px >= ask_px:
        counters[C.CROSSED_AT_LAST] += 1
    st.tob[inst, TOB_BID_PX] = bid_px
    st.tob[inst, TOB_BID_SZ] = bid_sz
    st.tob[inst, TOB_ASK_PX] = ask_px
    st.tob[inst, TOB_ASK_SZ] = ask_sz
    st.tob[inst, TOB_BID_REST] = book.resting[inst, ob.BID]
    st.tob[inst, TOB_ASK_REST] = book.resting[inst, ob.ASK]


@kernel
def _evaluate(ts: np.int64, inst: int, f: flow.FlowState, st: InstrumentState, base: BaselineArrays,
              kp: KernelParams, cp: ConfidenceParams, out: SignalBuffer, counters: np.ndarray) -> None:
    """Score the window of contract `inst` at time `ts`; write a signal row when it fires."""
    bucket = ts // kp.slice_ns
    flow.advance(f, inst, bucket)
    flow.advance_market(f, bucket)
    buy, sell, unknown, trades, notional = flow.window_sums(f, inst)
    net = buy - sell
    abs_net = abs(net)
    if net == 0 or abs_net < kp.min_net or not (notional >= kp.min_notional):
        return
    counters[C.EVALUATIONS] += 1
    direction = 1 if net > 0 else -1
    volume = buy + sell
    pressure = max(buy, sell) / volume
    sig = significance(pressure, cp.full_pressure_ratio)
    hits = flow.slices_with_direction(f, inst, cp.persistence_slices, direction)
    per = persistence(hits, cp.persistence_slices)
    recent_buy, recent_sell = flow.recent_sums(f, inst, cp.trend_slices)
    recent_net = direction * (recent_buy - recent_sell)
    tre = trend(recent_net, abs_net)
    market = flow.market_volume(f)
    con = concentration(volume, market, cp.full_concentration_share)
    z = zscore(base, inst, abs_net, kp.min_std)
    pct = percentile(base, inst, abs_net)
    ano = anomaly(z, pct, base.quality[inst], cp.full_z, cp.percentile_floor)
    raw = combine(cp, sig, per, tre, con, ano)
    mm, own, other = straddle_like(f, inst, st.pair[inst], bucket, kp.mm_slices, kp.mm_min_ratio)
    confidence = raw * (1.0 - kp.mm_discount) if mm else raw
    if mm:
        counters[C.MM_DISCOUNTED] += 1
    if confidence < kp.min_confidence:
        return
    d = 0 if direction > 0 else 1
    last = st.last_signal[inst, d]
    st.last_signal[inst, d] = ts
    if last != NEVER and ts - last < kp.cooldown_ns:
        counters[C.COOLDOWN_SUPPRESSED] += 1
        return
    row = out.n[0]
    out.n[0] += 1
    counters[C.SIGNALS] += 1
    out.ints[row, S_TS] = ts
    out.ints[row, S_INST] = inst
    out.ints[row, S_DIRECTION] = direction
    out.ints[row, S_MM] = 1 if mm else 0
    r = out.floats[row]
    r[F_CONFIDENCE] = confidence
    r[F_RAW] = raw
    r[F_SIG] = sig
    r[F_PER] = per
    r[F_TRE] = tre
    r[F_CON] = con
    r[F_ANO] = ano
    r[F_BUY] = buy
    r[F_SELL] = sell
    r[F_UNKNOWN] = unknown
    r[F_TRADES] = trades
    r[F_NOTIONAL] = notional
    r[F_PRESSURE] = pressure
    r[F_NET] = abs_net
    r[F_MARKET] = market
    r[F_Z] = z
    r[F_PCT] = pct
    r[F_QUALITY] = base.quality[inst]
    r[F_BASE_DAYS] = base.days[inst]
    r[F_BASE_MEAN] = base.mean[inst]
    r[F_BASE_STD] = base.std[inst]
    bid_px = st.tob[inst, TOB_BID_PX]
    ask_px = st.tob[inst, TOB_ASK_PX]
    r[F_BID] = bid_px / PRICE_UNIT if bid_px != UNDEF_PRICE else np.nan
    r[F_ASK] = ask_px / PRICE_UNIT if ask_px != UNDEF_PRICE else np.nan
    bid_rest = st.tob[inst, TOB_BID_REST]
    ask_rest = st.tob[inst, TOB_ASK_REST]
    r[F_BID_REST] = bid_rest
    r[F_ASK_REST] = ask_rest
    r[F_IMBALANCE] = (bid_rest - ask_rest) / (bid_rest + ask_rest) if bid_rest + ask_rest > 0 else np.nan
    r[F_MM_OWN] = own
    r[F_MM_OTHER] = other
    r[F_PERSIST_HITS] = hits


@kernel
def run_events(ts: np.ndarray, inst: np.ndarray, oid: np.ndarray, price: np.ndarray, size: np.ndarray,
               flags: np.ndarray, action: np.ndarray, side: np.ndarray, start: int,
               book: ob.BookState, f: flow.FlowState, st: InstrumentState, base: BaselineArrays,
               kp: KernelParams, cp: ConfidenceParams, out: SignalBuffer, counters: np.ndarray) -> tuple[int, int]:
    """Process events[start:]; returns (next index, status). Status != OK means a table is full
    and event `next index` has not been touched: grow and call again from there."""
    n = ts.shape[0]
    cap = out.ints.shape[0]
    for i in range(start, n):
        a = np.int64(action[i])
        k = np.int64(inst[i])
        if a == ACTION_ADD or a == ACTION_MODIFY:
            room = ob.has_room(book)
            if room != ob.OK:
                return i, room
        last = (np.int64(flags[i]) & F_LAST) != 0
        if last and out.n[0] + st.n_touched[0] + 1 > cap:
            return i, NEED_SIGNALS
        counters[C.EVENTS] += 1
        if (np.int64(flags[i]) & F_SNAPSHOT) != 0:
            counters[C.SNAPSHOT_RECORDS] += 1
        ob.book_apply(book, k, a, np.int64(side[i]), oid[i], price[i], size[i], counters)
        mark = TOUCHED
        if a == ACTION_TRADE:
            mark = TOUCHED | TRADED
            if st.scored[k]:  # only scored options feed the windows and the market ring (concentration)
                bucket = ts[i] // kp.slice_ns
                notional = price[i] / PRICE_UNIT * size[i] * st.multiplier[k]
                flow.add_trade(f, k, bucket, np.int64(side[i]), size[i], notional, counters)
            else:
                counters[C.UNDEFINED_TRADES] += 1
        elif a != ACTION_ADD and a != ACTION_CANCEL and a != ACTION_MODIFY and a != ACTION_CLEAR:
            mark = 0
        if mark != 0:
            if st.touched[k] == 0:
                st.touched_list[st.n_touched[0]] = k
                st.n_touched[0] += 1
            st.touched[k] |= mark
        if last:
            counters[C.PACKETS] += 1
            for j in range(st.n_touched[0]):
                t = st.touched_list[j]
                _publish(book, st, t, counters)
                if (st.touched[t] & TRADED) != 0 and st.scored[t]:
                    _evaluate(ts[i], t, f, st, base, kp, cp, out, counters)
                st.touched[t] = 0
            st.n_touched[0] = 0
    return n, OK


# --- the engine -----------------------------------------------------------------------------

class IFDv3Engine:
    """Order books + flow windows + IFD v3.0 scoring over an MBO stream.

    Feed it with `process_batch` (a DBN MBO array, replay) or `on_event` / `on_record` (one record
    at a time, live); read `signals()`, `stats()`, `top_of_book()`. Definitions must arrive before
    a contract can be scored (`add_definitions` or definition records); baselines come from
    `set_baselines` (a `baselines.baseline_table`).
    """

    def __init__(self, config: IFDv3Config, *, definitions: pd.DataFrame | None = None,
                 baselines: pd.DataFrame | None = None) -> None:
        cap = config.capacity
        self.config = config
        self.book = ob.OrderBook(orders=cap.orders, levels=cap.levels, instruments=cap.instruments)
        self.counters = self.book.counters
        self.flow = flow.new_flow_state(cap.instruments, config.window.n_slices)
        self.inst = new_instrument_state(cap.instruments)
        self.out = new_signal_buffer(cap.signals)
        self.kp = kernel_params(config)
        self.cp = confidence_params(config)
        self.gaps: list[Gap] = []
        self.other_records = 0
        self._ids: dict[int, int] = {}
        self._sorted_ids = np.zeros(0, np.int64)
        self._sorted_idx = np.zeros(0, np.int32)
        self._instruments = pd.DataFrame(columns=["instrument_id", "raw_symbol", "root", "underlying", "expiration",
                                                  "strike", "right", "underlying_root"])
        self.definitions = empty_definitions()
        self.baseline_table = pd.DataFrame(columns=[*KEY, "days", "windows", "mean", "std", "p50", "p90", "p99",
                                                    "quality", "values"])
        self.base = baseline_arrays(self.baseline_table, pd.DataFrame(), cap.instruments)
        self._pending_definitions: list[Any] = []
        self._times = np.full(2, NEVER, np.int64)  # first and last event time (ts_recv)
        # streaming: raw records not run yet, whether their open packet has a trade, and the
        # one-table description of the state the streaming kernel is called with
        self._pending = bytearray()
        self._pending_trade = False
        self._scratch = empty_columns(MAX_PENDING)
        self._table: StateTable | None = None
        self._stream: Any = None
        if definitions is not None:
            self.add_definitions(definitions)
        if baselines is not None:
            self.set_baselines(baselines)

    # -- set-up --------------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return self.inst.scored.shape[0]

    def add_definitions(self, definitions: pd.DataFrame) -> None:
        """Register instrument definitions (later ones replace earlier ones of the same id)."""
        if definitions.empty:
            return
        self.flush()  # records received before the definitions are scored without them
        self.definitions = (pd.concat([self.definitions, definitions], ignore_index=True)
                            .drop_duplicates("instrument_id", keep="last").reset_index(drop=True))
        self._index_of(definitions["instrument_id"].to_numpy(np.int64))
        self._refresh_instruments()

    def set_baselines(self, table: pd.DataFrame) -> None:
        """Use a baseline table (baselines.baseline_table) for the z-scores and percentiles."""
        self.flush()
        self.baseline_table = table
        self._refresh_baselines()

    def note_gap(self, start: pd.Timestamp, end: pd.Timestamp) -> None:
        """Record a lost stretch of the live stream (shown in stats; windows across it are thin)."""
        gap = Gap(start, end)
        self.gaps.append(gap)
        log.warning("MBO stream gap of %.3f s (%s to %s): flow windows across it miss trades",
                    gap.seconds, start, end)

    # -- feeding -------------------------------------------------------------------------

    def process_batch(self, records: np.ndarray) -> int:
        """Replay a DBN MBO structured array through the kernel; returns new signals."""
        if len(records) == 0:
            return 0
        self.flush()
        ids = records["instrument_id"].astype(np.int64)
        inst = self._index_of(ids)
        events = columns_from_ndarray(records, inst)
        self._note_times(int(events.ts[0]), int(events.ts[-1]))
        return self._run(events)

    def on_event(self, record: Any) -> int:
        """One databento_dbn.MBOMsg (the streaming path, as `on_record`); returns new signals."""
        return self.on_record(record)

    def on_record(self, record: Any) -> int:
        """Any live record; returns new signals. An MBO record waits in the pending buffer until
        its packet ends with a trade in it (then everything pending runs and any signal comes out
        now, exactly as record by record) or `MAX_PENDING` records wait. Definitions are registered
        before the next MBO record; the rest is counted (symbol mappings, system messages...).
        The MBO branch is the hot path of live trading: every line of it is measured."""
        if type(record) is _MBO or isinstance(record, _MBO):
            if self._pending_definitions:
                self._flush_definitions()
            raw = record.__bytes__()
            pending = self._pending
            pending += raw  # in place
            if raw[_OFF_ACTION] == _TRADE:
                self._pending_trade = True
            if (raw[_OFF_FLAGS] & _LAST and self._pending_trade) or len(pending) >= _PENDING_BYTES:
                return self.flush()
            return 0
        if record_kind(record) == RECORD_DEFINITION:
            self._pending_definitions.append(record)  # registered in one go before the next MBO record
            return 0
        self.other_records += 1
        return 0

    def _flush_definitions(self) -> None:
        if self._pending_definitions:
            records, self._pending_definitions = self._pending_definitions, []
            self.add_definitions(definitions_from_records(records))

    def flush(self) -> int:
        """Run every pending streamed record through the kernel now; returns new signals."""
        raw = self._pending
        if not raw:
            return 0
        n = len(raw) // MBO_RECORD_SIZE
        self._pending = bytearray()
        if raw[_LAST_FLAGS] & _LAST:  # else the open packet keeps its trade mark for its F_LAST
            self._pending_trade = False
        table = self._table
        if table is None or table.parts[0] is not self.book.state or n > len(self._scratch):
            table = self._state_table(n)
        nxt, status, added = self._stream(raw, n, 0, table.table, table.floats)
        if status != OK:
            return added + self._stream_slow(raw, n, nxt, status)
        return added

    def _stream_slow(self, raw: bytearray, n: int, nxt: int, status: int) -> int:
        """Register new instruments / grow tables until the flush's records have all run; returns
        the signals written meanwhile."""
        start, passes, added = 0, 0, 0
        while status != OK and passes < _MAX_GROWTHS:
            passes += 1
            if status == NEED_INSTRUMENT:  # register every new id of the buffer at once; nothing ran
                self._index_of(np.frombuffer(raw, MBO_RAW_DTYPE)["instrument_id"].astype(np.int64))
            elif status == BAD_RECORD:
                raise OptionsSystemError(f"IFD v3.0 engine: streamed record {nxt} of {n} is not a 56-byte MBO record")
            else:
                start = nxt
                self._grow(status)
            table = self._state_table(n)
            nxt, status, more = self._stream(raw, n, start, table.table, table.floats)
            added += more
        self._check_grown(status, passes)
        return added

    def _state_table(self, n: int) -> StateTable:
        """The state table for the streaming kernel, rebuilt whenever a state array was replaced."""
        table = self._table
        if table is not None and table.parts[0] is self.book.state and len(self._scratch) >= n:
            return table
        if len(self._scratch) < n:
            self._scratch = empty_columns(max(n, 2 * len(self._scratch)))
        s = self._scratch
        table = StateTable((self.book.state, self.flow, self.inst, self.base, self.kp, self.cp, self.out,
                            self.counters),
                           (s.ts, s.inst, s.order_id, s.price, s.size, s.flags, s.action, s.side, self._sorted_ids,
                            self._sorted_idx, self._times))
        self._stream = stream_kernel(table.layout, len(table.parts), run_events, counted=(6, "n"))
        self._table = table
        return table

    def _run(self, e: EventColumns) -> int:
        before = int(self.out.n[0])
        start, status = run_events(e.ts, e.inst, e.order_id, e.price, e.size, e.flags, e.action, e.side, 0,
                                   self.book.state, self.flow, self.inst, self.base, self.kp, self.cp, self.out,
                                   self.counters)
        passes = 0
        while status != OK and passes < _MAX_GROWTHS:  # each pass doubles one table
            passes += 1
            self._grow(status)
            start, status = run_events(e.ts, e.inst, e.order_id, e.price, e.size, e.flags, e.action, e.side, start,
                                       self.book.state, self.flow, self.inst, self.base, self.kp, self.cp,
                                       self.out, self.counters)
        self._check_grown(status, passes)
        return int(self.out.n[0]) - before

    def _grow(self, status: int) -> None:
        """Double the table the kernel reported full."""
        if status == NEED_SIGNALS:
            self.out = grown(self.out)
        else:
            self.book.grow(status)
        self._table = None

    @staticmethod
    def _check_grown(status: int, passes: int) -> None:
        if status != OK:
            raise OptionsSystemError(f"IFD v3.0 engine: tables still full after {passes} doublings (status {status}); "
                                     f"this is a bug, please report it with the input file")

    # -- reading -------------------------------------------------------------------------

    def signals(self, since: int = 0) -> pd.DataFrame:
        """The signal table (rows `since` onwards)."""
        self.flush()
        n = int(self.out.n[0])
        if n <= since:
            return empty_signals()
        return signal_table(self.out.ints[since:n], self.out.floats[since:n], self._instruments,
                            self.baseline_table, self.config)

    def stats(self) -> dict[str, Any]:
        """Events processed, anomalies, book checks, baseline coverage, stream gaps."""
        self.flush()
        counts = C.as_dict(self.counters)
        scored = int(self.inst.scored[: len(self._instruments)].sum()) if len(self._instruments) else 0
        with_history = int((self.base.windows[: len(self._instruments)] > 0).sum()) if len(self._instruments) else 0
        days = self.base.days[: len(self._instruments)]
        return {
            "events": counts["events"],
            "counts": {k: v for k, v in counts.items() if k not in C.ANOMALIES},
            "anomalies": {k: counts[k] for k in C.ANOMALIES},
            "book_consistency": {"checks_at_f_last": counts["book_checks"], "crossed": counts["crossed_at_last"]},
            "instruments_seen": len(self._ids),
            "options_scored": scored,
            "options_with_baseline": with_history,
            "baseline_days_available": int(days.max()) if len(days) and with_history else 0,
            "baseline_lookback_days": self.config.baseline.lookback_days,
            "other_records": self.other_records,
            "first_event": _iso(self._times[0]),
            "last_event": _iso(self._times[1]),
            "gaps": [g.to_dict() for g in self.gaps],
        }

    def top_of_book(self) -> pd.DataFrame:
        """Top of every book as published at its last F_LAST, with the instrument's symbol."""
        self.flush()
        n = len(self._ids)
        tob = self.inst.tob[:n]
        frame = pd.DataFrame({
            "instrument_id": self._instruments["instrument_id"].to_numpy(np.int64)[:n],
            "contract": self._instruments["raw_symbol"].to_numpy()[:n],
        })
        for col, name in ((TOB_BID_PX, "bid"), (TOB_ASK_PX, "ask")):
            px = tob[:, col]
            frame[name] = np.where(px != UNDEF_PRICE, px / PRICE_UNIT, np.nan)
        frame["bid_size"] = tob[:, TOB_BID_SZ]
        frame["ask_size"] = tob[:, TOB_ASK_SZ]
        frame["bid_resting"] = tob[:, TOB_BID_REST]
        frame["ask_resting"] = tob[:, TOB_ASK_REST]
        return frame

    def instrument_index(self, instrument_id: int) -> int | None:
        self.flush()
        return self._ids.get(int(instrument_id))

    # -- internals -----------------------------------------------------------------------

    def _note_times(self, first: int, last: int) -> None:
        if self._times[0] == NEVER:
            self._times[0] = first
        self._times[1] = last

    def _index_of(self, ids: np.ndarray) -> np.ndarray:
        """Dense engine indexes for instrument ids, registering new ids (growing every
        per-instrument array when needed)."""
        pos = np.searchsorted(self._sorted_ids, ids)
        clipped = np.minimum(pos, max(len(self._sorted_ids) - 1, 0))
        found = (pos < len(self._sorted_ids)) & (self._sorted_ids[clipped] == ids) if len(self._sorted_ids) \
            else np.zeros(len(ids), bool)
        if not found.all():
            new_ids = pd.unique(ids[~found])
            for iid in new_ids:
                self._ids[int(iid)] = len(self._ids)
            self._ensure_capacity(len(self._ids))
            keys = np.fromiter(self._ids.keys(), np.int64, len(self._ids))
            values = np.fromiter(self._ids.values(), np.int32, len(self._ids))
            order = np.argsort(keys)
            self._sorted_ids, self._sorted_idx = keys[order], values[order]
            self._table = None
            self._refresh_instruments()
            pos = np.searchsorted(self._sorted_ids, ids)
        return self._sorted_idx[pos]

    def _ensure_capacity(self, n: int) -> None:
        if n <= self.capacity:
            return
        new = max(n, 2 * self.capacity)
        self.book.ensure_instruments(new)
        self.flow = flow.grow_flow_state(self.flow, new)
        old = self.inst
        grown_state = new_instrument_state(new)
        for name in InstrumentState._fields:
            src, dst = getattr(old, name), getattr(grown_state, name)
            if name == "n_touched":
                dst[:] = src
            else:
                dst[: src.shape[0]] = src
        self.inst = grown_state
        self._table = None
        self._refresh_baselines()

    def _refresh_instruments(self) -> None:
        """Rebuild the per-instrument view (symbols, strikes, pairs, scored flags) from the
        definitions and the id index."""
        n = len(self._ids)
        ids = np.zeros(n, np.int64)
        for iid, k in self._ids.items():
            ids[k] = iid
        defs = self.definitions.set_index("instrument_id")
        view = pd.DataFrame({"instrument_id": ids})
        joined = view.join(defs, on="instrument_id")
        scored_ids = set(options_on(self.definitions, self.config.underlying_root)["instrument_id"]) \
            if not self.definitions.empty else set()
        scored = view["instrument_id"].isin(scored_ids).to_numpy()
        joined["underlying_root"] = joined["underlying"].fillna("").map(future_root)
        joined["raw_symbol"] = joined["raw_symbol"].fillna(pd.Series(ids.astype(str), index=joined.index))
        self._instruments = joined[["instrument_id", "raw_symbol", "root", "underlying", "expiration", "strike",
                                    "right", "underlying_root"]].reset_index(drop=True)
        self.inst.scored[:n] = scored
        self.inst.multiplier[:n] = joined["multiplier"].to_numpy(float)
        pairs = pair_index(joined["strike"].to_numpy(float), joined["right"].fillna("").to_numpy(object),
                           joined["expiration"].astype(str).to_numpy(object),
                           joined["underlying_root"].to_numpy(object))
        self.inst.pair[:n] = np.where(scored, pairs, NO_PAIR)
        self._refresh_baselines()

    def _refresh_baselines(self) -> None:
        n = len(self._ids)
        keys = self._instruments.assign(inst=np.arange(len(self._instruments)))
        keys = keys[self.inst.scored[: len(keys)]][["inst", *KEY]] if n else pd.DataFrame(columns=["inst", *KEY])
        self.base = baseline_arrays(self.baseline_table, keys, self.capacity)
        self._table = None


def _iso(ts: int) -> str | None:
    return None if ts == NEVER else pd.Timestamp(int(ts), unit="ns", tz="UTC").isoformat()
