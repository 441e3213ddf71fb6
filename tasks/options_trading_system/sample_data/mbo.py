"""A synthetic day of NQ options MBO (Databento DBN) with planted institutional-flow episodes.

Nothing here is market data. A day is written as Databento delivers GLBX.MDP3 history, one schema
per file, every record built with databento_dbn: `<name>.definition.dbn.zst` (one InstrumentDefMsg
per contract: NQM5 calls and puts on a strike grid), `<name>.mbo.dbn.zst` (the day's MBOMsg
records) and `<name>.truth.json` (the planted episodes). How the day is made:

- **Books**: the session opens with a snapshot per contract (R clear, then adds flagged
  F_SNAPSHOT, F_LAST on the last). Then market makers add orders a few ticks either side of a
  Black-76 fair value (`analysis_engine.black76.price` on an underlying random walk, refreshed
  every `fair_refresh_s`), cancel and modify them; a bid is never placed at or above the best ask
  (nor an ask at or below the best bid), so books never cross. Contracts near the money are more
  active (weight exp(-|K - F| / `activity_width`)).
- **Trades**: a trade is a CME-style packet: T (aggressor side B/A, size), F (the resting order's
  fill) and C or M reducing the resting order, sharing one timestamp, F_LAST on the last record.
  Background aggressors are 50/50 buy/sell with small sizes.
- **Institutional episodes** (`n_episodes`): one near-the-money contract, one aggressor side,
  `episode_contracts` contracts in prints of `episode_print` contracts over `episode_seconds`,
  against market makers who refill the side being hit. Ground truth (start, end, contract,
  strike, right, side, contracts, kind 'institutional') goes into the truth file.
- **Straddle decoys** (`n_straddles`): call and put of one strike bought together, print for
  print; ground truth kind 'straddle' (market making: IFD v3.0 should discount, not signal).
- **Timestamps**: events arrive as a Poisson stream sized to `n_events` records; ts_recv =
  ts_event + a small latency, shared by the records of a packet and increasing from packet to
  packet.

Everything comes from one seeded numpy Generator, so a seed and parameters give the same file.
History days for the baselines are the same generator with no episodes (`write_history`).
"""
from __future__ import annotations

import bisect
import io
import json
import logging
import math
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import databento_dbn as dbn
import numpy as np
import pandas as pd
import zstandard

from ..analysis_engine import black76
from ..data_ingestion.mbo.dbn_file import definition_path_for, is_sample_day, truth_path_for

__all__ = ["MBOSampleParams", "Contract", "Episode", "SampleDay", "contracts_for", "write_sample_day",
           "write_history", "write_sample_set", "truth_path_for", "is_sample_day", "read_truth", "match_signals", "KIND_INSTITUTIONAL", "KIND_STRADDLE"]

log = logging.getLogger(__name__)

PUBLISHER_GLBX = 1
PRICE_UNIT = 1_000_000_000
NS = 1_000_000_000
KIND_INSTITUTIONAL = "institutional"
KIND_STRADDLE = "straddle"


@dataclass(frozen=True, kw_only=True)
class MBOSampleParams:
    """Every knob of the generator; defaults make the sample day `make_sample_data.py mbo` writes."""

    seed: int = 20250602
    trade_date: date = date(2025, 6, 2)
    session_open: time = time(13, 30)            # UTC (09:30 New York)
    session_close: time = time(20, 0)            # UTC (16:00 New York)
    underlying_symbol: str = "NQM5"
    option_root: str = "NQ"
    expiration: date = date(2025, 6, 20)         # NQM5 quarterly options
    underlying: float = 21500.0
    vol: float = 0.20                            # annualized, for fair values and the random walk
    multiplier: float = 20.0
    tick: float = 0.25
    n_strikes: int = 41
    strike_step: float = 25.0
    n_events: int = 150_000                      # MBO records (approximately; packets are kept whole)
    trade_share: float = 0.07                    # share of actions that are trade packets
    cancel_share: float = 0.36
    modify_share: float = 0.10
    target_orders: int = 24                      # resting orders per contract the makers aim for
    activity_width: float = 300.0                # points; activity falls as exp(-|K-F|/width)
    fair_refresh_s: float = 10.0
    quote_offset_ticks: tuple[int, int] = (1, 6)
    order_size: tuple[int, int] = (1, 20)
    background_print: tuple[int, int] = (1, 6)
    latency_us: tuple[int, int] = (20, 200)
    first_instrument_id: int = 42_000_001
    n_episodes: int = 6
    n_straddles: int = 2
    episode_contracts: tuple[int, int] = (400, 900)
    episode_print: tuple[int, int] = (10, 40)
    episode_seconds: tuple[float, float] = (90.0, 240.0)
    episode_moneyness: float = 250.0             # episodes pick strikes within this of the money
    episode_spacing_s: float = 1200.0            # episodes are at least this far apart
    edge_s: float = 1800.0                       # and this far from the open and the close

    def session_bounds(self) -> tuple[int, int]:
        start = datetime.combine(self.trade_date, self.session_open, tzinfo=timezone.utc)
        end = datetime.combine(self.trade_date, self.session_close, tzinfo=timezone.utc)
        return int(start.timestamp()) * NS, int(end.timestamp()) * NS


@dataclass(frozen=True)
class Contract:
    instrument_id: int
    raw_symbol: str
    strike: float
    right: str


@dataclass(frozen=True)
class Episode:
    """Ground truth of one planted flow."""

    kind: str
    start: int
    end: int
    instrument_id: int
    contract: str
    strike: float
    right: str
    side: str          # aggressor: 'B' buy, 'A' sell
    contracts: int
    prints: int

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["start_time"] = pd.Timestamp(self.start, unit="ns", tz="UTC").isoformat()
        out["end_time"] = pd.Timestamp(self.end, unit="ns", tz="UTC").isoformat()
        return out


@dataclass(frozen=True)
class SampleDay:
    path: Path
    definition_path: Path
    truth_path: Path
    records: int
    episodes: tuple[Episode, ...]


def contracts_for(params: MBOSampleParams) -> list[Contract]:
    """Calls and puts on `n_strikes` strikes, `strike_step` apart, centred on the underlying."""
    centre = round(params.underlying / params.strike_step) * params.strike_step
    half = params.n_strikes // 2
    strikes = [centre + (i - half) * params.strike_step for i in range(params.n_strikes)]
    out: list[Contract] = []
    for i, k in enumerate(strikes):
        for j, right in enumerate(("C", "P")):
            iid = params.first_instrument_id + 2 * i + j
            out.append(Contract(iid, f"{params.underlying_symbol} {right}{k:g}", float(k), right))
    return out


def write_sample_day(path: Path | str, params: MBOSampleParams = MBOSampleParams()) -> SampleDay:
    """Generate one day: the MBO file at `path` (schema mbo; zstd when the name ends in .zst), its
    definitions beside it (`<name>.definition.dbn.zst`, schema definition), and the ground truth
    (`<name>.truth.json`). One schema per file, as Databento's historical downloads are."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    generator = _DayGenerator(params)
    definition_path = definition_path_for(path)
    with _dbn_writer(definition_path) as sink:
        sink.write(bytes(_metadata(params, generator.contracts, dbn.Schema.DEFINITION)))
        sink.write(generator.definition_bytes())
    with _dbn_writer(path) as sink:
        sink.write(bytes(_metadata(params, generator.contracts, dbn.Schema.MBO)))
        for chunk in generator.mbo_chunks():
            sink.write(chunk)
    count = generator.records
    truth_path = truth_path_for(path)
    truth = {"generator": "tasks/options_trading_system/sample_data/mbo.py", "is_sample": True,
             "mbo_file": path.name, "definition_file": definition_path.name,
             "params": _jsonable(asdict(params)), "records": count,
             "episodes": [e.to_dict() for e in generator.episodes]}
    truth_path.write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    log.info("wrote %s: %d records, %d contracts (definitions in %s), %d planted episodes, %d straddle decoys; "
             "truth in %s", path, count, len(generator.contracts), definition_path.name,
             sum(e.kind == KIND_INSTITUTIONAL for e in generator.episodes),
             len({e.start for e in generator.episodes if e.kind == KIND_STRADDLE}), truth_path.name)
    return SampleDay(path, definition_path, truth_path, count, tuple(generator.episodes))


def write_history(folder: Path | str, params: MBOSampleParams, days: int, *, prefix: str = "nq_mbo") -> list[SampleDay]:
    """`days` weekdays before `params.trade_date`, no episodes, other seeds: baseline history."""
    out = []
    day = params.trade_date
    for n in range(days):
        day -= timedelta(days=1)
        while day.weekday() >= 5:
            day -= timedelta(days=1)
        history = replace(params, trade_date=day, seed=params.seed + 1000 + n, n_episodes=0, n_straddles=0)
        out.append(write_sample_day(Path(folder) / f"{prefix}_{day:%Y%m%d}.mbo.dbn.zst", history))
    return out


def write_sample_set(folder: Path | str, params: MBOSampleParams = MBOSampleParams(), *, history_days: int = 20,
                     prefix: str = "nq_mbo") -> tuple[SampleDay, list[SampleDay]]:
    """The sample day (`<prefix>_YYYYMMDD.mbo.dbn.zst`, its definitions and truth) and `history_days`
    earlier days for its baselines, all in `folder`."""
    day = write_sample_day(Path(folder) / f"{prefix}_{params.trade_date:%Y%m%d}.mbo.dbn.zst", params)
    return day, write_history(folder, params, history_days, prefix=prefix)


def read_truth(path: Path | str) -> list[Episode]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    fields = {f for f in Episode.__dataclass_fields__}
    return [Episode(**{k: v for k, v in e.items() if k in fields}) for e in data["episodes"]]


def match_signals(signals: pd.DataFrame, episodes: Sequence[Episode], tolerance_s: float) -> dict[str, Any]:
    """Score signals against ground truth. A signal matches an episode of the same strike, right
    and aggressor side when its time is within [start, end + tolerance_s]. Precision = signals
    matching an institutional episode / all signals (signals on straddle decoys are false
    positives); recall = institutional episodes with at least one matching signal / all of them."""
    institutional = [e for e in episodes if e.kind == KIND_INSTITUTIONAL]
    tol = int(tolerance_s * NS)
    found: set[int] = set()
    true_positive = 0
    decoy_hits = 0
    for row in signals.itertuples(index=False):
        side = "B" if row.aggressor == "BUY" else "A"
        hit = None
        for i, e in enumerate(episodes):
            if (e.strike == row.strike and e.right == row.right and e.side == side
                    and e.start <= row.ts <= e.end + tol):
                hit = i
                break
        if hit is not None and episodes[hit].kind == KIND_INSTITUTIONAL:
            true_positive += 1
            found.add(hit)
        elif hit is not None:
            decoy_hits += 1
    n = len(signals)
    return {
        "signals": n, "true_positive": true_positive, "false_positive": n - true_positive,
        "straddle_signals": decoy_hits, "episodes": len(institutional), "episodes_found": len(found),
        "precision": true_positive / n if n else float("nan"),
        "recall": len(found) / len(institutional) if institutional else float("nan"),
    }


# --- the generator --------------------------------------------------------------------------

class _Draws:
    """Uniforms and normals drawn in blocks from one Generator (fast scalar access)."""

    def __init__(self, rng: np.random.Generator, block: int = 1 << 16) -> None:
        self.rng = rng
        self.block = block
        # Python floats, drawn as numpy blocks: the same numbers, without a numpy scalar per draw
        self._u = rng.random(block).tolist()
        self._n = rng.standard_normal(block).tolist()
        self._iu = 0
        self._in = 0

    def u(self) -> float:
        if self._iu == self.block:
            self._u = self.rng.random(self.block).tolist()
            self._iu = 0
        self._iu += 1
        return self._u[self._iu - 1]

    def normal(self) -> float:
        if self._in == self.block:
            self._n = self.rng.standard_normal(self.block).tolist()
            self._in = 0
        self._in += 1
        return self._n[self._in - 1]

    def int_between(self, low: int, high: int) -> int:
        return low + int(self.u() * (high - low + 1))


@dataclass
class _Book:
    """The generator's own view of one contract's resting orders: oid -> [side, ticks, size]."""

    orders: dict[int, list[int]] = field(default_factory=dict)

    def best(self, side: str) -> tuple[int, int] | None:
        """(order id, ticks) of the best order on `side` ('B' highest, 'A' lowest), oldest first."""
        best_oid, best_ticks = -1, 0
        for oid, (s, ticks, _size) in self.orders.items():
            if s != side:
                continue
            if best_oid < 0 or (ticks > best_ticks if side == "B" else ticks < best_ticks):
                best_oid, best_ticks = oid, ticks
        return None if best_oid < 0 else (best_oid, best_ticks)


class _DayGenerator:
    def __init__(self, params: MBOSampleParams) -> None:
        self.p = params
        self.rng = np.random.default_rng(params.seed)
        self.draw = _Draws(self.rng)
        self.contracts = contracts_for(params)
        self.books = [_Book() for _ in self.contracts]
        self.start_ns, self.end_ns = params.session_bounds()
        self.years = max((datetime.combine(params.expiration, time(13, 30), tzinfo=timezone.utc).timestamp()
                          - self.start_ns / NS) / (365.0 * 86400), 1e-6)
        self.forward = params.underlying
        strikes = np.array([c.strike for c in self.contracts])
        weights = np.exp(-np.abs(strikes - params.underlying) / params.activity_width)
        self.cum_weights = np.cumsum(weights / weights.sum())
        self._cum_weights = self.cum_weights.tolist()
        self.fair_ticks = np.zeros(len(self.contracts), np.int64)
        self.fair_at = -1
        self.next_oid = 1_000_000_000 + params.seed % 1_000_000 * 1000
        self.sequence = 0
        self.last_recv = 0
        self.records = 0
        self.out = io.BytesIO()
        self.episodes: list[Episode] = []
        self.special = self._plan_specials()

    # -- output --------------------------------------------------------------------------

    def definition_bytes(self) -> bytes:
        for c in self.contracts:
            self._emit_definition(c)
        return self._take()

    def mbo_chunks(self) -> Iterator[bytes]:
        self._refresh_fair(self.start_ns)
        self._snapshot(self.start_ns)
        yield self._take()
        p = self.p
        p_trade = p.trade_share
        records_per_action = 1 + 2 * p_trade
        session_s = (self.end_ns - self.start_ns) / NS
        mean_gap_ns = session_s / max(p.n_events / records_per_action, 1.0) * NS
        t = self.start_ns + NS
        special_i = 0
        while self.records < p.n_events:
            t += int(-math.log(1.0 - self.draw.u()) * mean_gap_ns) + 1
            if t >= self.end_ns:
                break
            while special_i < len(self.special) and self.special[special_i][0] <= t:
                self._special_print(*self.special[special_i])
                special_i += 1
            self._background(t)
            if self.out.tell() > (1 << 22):
                yield self._take()
        while special_i < len(self.special):
            self._special_print(*self.special[special_i])
            special_i += 1
        yield self._take()

    def _take(self) -> bytes:
        data = self.out.getvalue()
        self.out = io.BytesIO()
        return data

    def _emit_definition(self, c: Contract) -> None:
        p = self.p
        expiry = int(datetime.combine(p.expiration, time(13, 30), tzinfo=timezone.utc).timestamp()) * NS
        ts = self.start_ns - 3600 * NS
        record = dbn.InstrumentDefMsg(
            PUBLISHER_GLBX, c.instrument_id, ts, ts, int(p.tick * PRICE_UNIT), PRICE_UNIT, c.raw_symbol,
            p.option_root, "OOF", dbn.InstrumentClass.CALL if c.right == "C" else dbn.InstrumentClass.PUT,
            dbn.SecurityUpdateAction.ADD, expiration=expiry, strike_price=int(round(c.strike * PRICE_UNIT)),
            unit_of_measure_qty=int(p.multiplier * PRICE_UNIT),
            min_price_increment_amount=int(p.tick * p.multiplier * PRICE_UNIT), underlying=p.underlying_symbol,
            underlying_id=p.first_instrument_id - 1, currency="USD", group=p.option_root, exchange="XCME",
            cfi="OCAFPS" if c.right == "C" else "OPAFPS", unit_of_measure="IPNT", strike_price_currency="USD")
        self.out.write(bytes(record))

    def _mbo(self, i: int, ts_event: int, ts_recv: int, oid: int, ticks: int, size: int, action: Any,
             side: Any, flags: int) -> None:
        self.sequence += 1
        record = dbn.MBOMsg(PUBLISHER_GLBX, self.contracts[i].instrument_id, ts_event, oid,
                            int(ticks) * int(self.p.tick * PRICE_UNIT) if ticks is not None else dbn.UNDEF_PRICE,
                            size, action, side, ts_recv, flags=flags, channel_id=0, sequence=self.sequence)
        self.out.write(bytes(record))
        self.records += 1

    def _recv(self, ts_event: int) -> int:
        latency = self.draw.int_between(*self.p.latency_us) * 1000
        self.last_recv = max(self.last_recv + 1, ts_event + latency)
        return self.last_recv

    # -- market ----------------------------------------------------------------------------

    def _refresh_fair(self, t: int) -> None:
        bucket = int((t - self.start_ns) / (self.p.fair_refresh_s * NS))
        if bucket == self.fair_at:
            return
        if self.fair_at >= 0:
            steps = bucket - self.fair_at
            sd_points = self.p.vol * self.forward * math.sqrt(steps * self.p.fair_refresh_s / (252 * 23400))
            self.forward += sd_points * self.draw.normal()
        self.fair_at = bucket
        strikes = np.array([c.strike for c in self.contracts])
        is_call = np.array([c.right == "C" for c in self.contracts])
        fair = black76.price(self.forward, strikes, self.years, self.p.vol, is_call)
        self.fair_ticks = np.maximum(np.round(fair / self.p.tick).astype(np.int64), 2)

    def _pick(self) -> int:
        # bisect_left on the same floats is np.searchsorted's default ('left') side, per draw without numpy
        return bisect.bisect_left(self._cum_weights, self.draw.u() * self._cum_weights[-1])

    def _quote_ticks(self, i: int, side: str) -> int | None:
        """A maker's price for a new order on `side`, a few ticks off fair, never crossing."""
        book = self.books[i]
        offset = self.draw.int_between(*self.p.quote_offset_ticks)
        if side == "B":
            ticks = int(self.fair_ticks[i]) - offset
            ask = book.best("A")
            if ask is not None:
                ticks = min(ticks, ask[1] - 1)
        else:
            ticks = int(self.fair_ticks[i]) + offset
            bid = book.best("B")
            if bid is not None:
                ticks = max(ticks, bid[1] + 1)
        return ticks if ticks >= 1 else None

    def _add(self, i: int, ts: int, recv: int, side: str, ticks: int, size: int, flags: int) -> int:
        oid = self.next_oid
        self.next_oid += 1
        self.books[i].orders[oid] = [side, ticks, size]
        self._mbo(i, ts, recv, oid, ticks, size, dbn.Action.ADD, dbn.Side.BID if side == "B" else dbn.Side.ASK, flags)
        return oid

    def _snapshot(self, t: int) -> None:
        """Per contract: R (clear), then the opening book as F_SNAPSHOT adds; F_LAST on the very
        last record, where the books become consistent."""
        recv = self._recv(t)
        flags = dbn.F_SNAPSHOT | dbn.F_BAD_TS_RECV
        pending: list[tuple] = []
        for i in range(len(self.contracts)):
            pending.append((i, t, 0, None, 0, dbn.Action.CLEAR, dbn.Side.NONE))
            for side in ("B", "A"):
                for _ in range(self.p.target_orders // 2):
                    ticks = self._quote_ticks(i, side)
                    if ticks is None:
                        continue
                    oid = self.next_oid
                    self.next_oid += 1
                    size = self.draw.int_between(*self.p.order_size)
                    self.books[i].orders[oid] = [side, ticks, size]
                    pending.append((i, t - self.draw.int_between(1, 3600) * NS, oid, ticks, size, dbn.Action.ADD,
                                    _side(side)))
        for n, (i, ts_event, oid, ticks, size, action, side) in enumerate(pending):
            last = dbn.F_LAST if n == len(pending) - 1 else 0
            self._mbo(i, ts_event, recv, oid, ticks, size, action, side, flags | last)

    def _background(self, t: int) -> None:
        self._refresh_fair(t)
        p = self.p
        i = self._pick()
        book = self.books[i]
        u = self.draw.u()
        recv = self._recv(t)
        if u < p.trade_share:
            aggressor = "B" if self.draw.u() < 0.5 else "A"
            self._trade(i, t, recv, aggressor, self.draw.int_between(*p.background_print))
            return
        n = len(book.orders)
        cancel_cut = p.trade_share + p.cancel_share * (n / p.target_orders)
        if n and u < cancel_cut:
            oid = self._random_order(book)
            side, ticks, size = book.orders.pop(oid)
            self._mbo(i, t, recv, oid, ticks, size, dbn.Action.CANCEL, _side(side), dbn.F_LAST)
        elif n and u < cancel_cut + p.modify_share:
            oid = self._random_order(book)
            side, ticks, size = book.orders[oid]
            new_size = max(1, size + self.draw.int_between(-3, 3))
            new_ticks = ticks
            if self.draw.u() < 0.5:
                quoted = self._quote_ticks(i, side)
                new_ticks = quoted if quoted is not None else ticks
            book.orders[oid] = [side, new_ticks, new_size]
            self._mbo(i, t, recv, oid, new_ticks, new_size, dbn.Action.MODIFY, _side(side), dbn.F_LAST)
        else:
            side = "B" if self.draw.u() < 0.5 else "A"
            ticks = self._quote_ticks(i, side)
            if ticks is not None:
                self._add(i, t, recv, side, ticks, self.draw.int_between(*p.order_size), dbn.F_LAST)

    def _random_order(self, book: _Book) -> int:
        keys = list(book.orders)
        return keys[int(self.draw.u() * len(keys))]

    def _trade(self, i: int, t: int, recv: int, aggressor: str, size: int, *, last: bool = True) -> int:
        """An aggressor of `size` against the other side in price-time priority: per resting order
        a T (aggressor side), an F (the resting fill) and a C or M reducing it, in one packet
        (F_LAST on its final record when `last`). Returns the contracts traded."""
        book = self.books[i]
        resting_side = "A" if aggressor == "B" else "B"
        remaining = size
        pending: list[tuple] = []
        for _ in range(16):  # a print sweeps a bounded number of resting orders
            best = book.best(resting_side)
            if best is None or remaining <= 0:
                break
            oid, ticks = best
            resting = book.orders[oid][2]
            qty = min(remaining, resting)
            pending.append((0, ticks, qty, dbn.Action.TRADE, _side(aggressor)))
            pending.append((oid, ticks, qty, dbn.Action.FILL, _side(resting_side)))
            if qty == resting:
                del book.orders[oid]
                pending.append((oid, ticks, qty, dbn.Action.CANCEL, _side(resting_side)))
            else:
                book.orders[oid][2] = resting - qty
                pending.append((oid, ticks, resting - qty, dbn.Action.MODIFY, _side(resting_side)))
            remaining -= qty
        for n, (oid, ticks, qty, action, side) in enumerate(pending):
            flags = dbn.F_LAST if last and n == len(pending) - 1 else 0
            self._mbo(i, t, recv, oid, ticks, qty, action, side, flags)
        return size - remaining

    def _refill(self, i: int, t: int, aggressor: str, size: int) -> None:
        """A market maker makes sure `size` contracts can be taken: a new order at the best price
        of the side being hit (or a fresh quote when that side is empty), its own packet."""
        resting_side = "A" if aggressor == "B" else "B"
        best = self.books[i].best(resting_side)
        ticks = best[1] if best is not None else self._quote_ticks(i, resting_side)
        if ticks is not None:
            self._add(i, t, self._recv(t), resting_side, ticks, size + self.draw.int_between(*self.p.order_size),
                      dbn.F_LAST)

    # -- planted flow ----------------------------------------------------------------------

    def _plan_specials(self) -> list[tuple[int, tuple[int, ...], str, int]]:
        """(time, contract indexes, aggressor, size) of every planted print, sorted by time."""
        p = self.p
        n = p.n_episodes + p.n_straddles
        if n == 0:
            return []
        kinds = [KIND_INSTITUTIONAL] * p.n_episodes + [KIND_STRADDLE] * p.n_straddles
        order = self.rng.permutation(n)
        kinds = [kinds[j] for j in order]
        usable = (self.end_ns - self.start_ns) / NS - 2 * p.edge_s
        slot = usable / n
        if slot < p.episode_spacing_s:
            raise ValueError(f"{n} planted episodes need {n * p.episode_spacing_s + 2 * p.edge_s:.0f} s of session; "
                             f"the session has {(self.end_ns - self.start_ns) / NS:.0f} s")
        near = [j for j in range(0, len(self.contracts), 2)
                if abs(self.contracts[j].strike - p.underlying) <= p.episode_moneyness]
        prints: list[tuple[int, tuple[int, ...], str, int]] = []
        for e, kind in enumerate(kinds):
            start = self.start_ns + int((p.edge_s + e * slot + self.draw.u() * (slot - p.episode_spacing_s / 2)) * NS)
            duration = p.episode_seconds[0] + self.draw.u() * (p.episode_seconds[1] - p.episode_seconds[0])
            total = self.draw.int_between(*p.episode_contracts)
            call = near[int(self.draw.u() * len(near))]
            if kind == KIND_INSTITUTIONAL:
                legs = [call + (0 if self.draw.u() < 0.5 else 1)]
                aggressor = "B" if self.draw.u() < 0.5 else "A"
            else:
                legs = [call, call + 1]
                aggressor = "B"
            sizes = []
            while sum(sizes) < total:
                sizes.append(self.draw.int_between(*p.episode_print))
            times = np.sort(start + (np.array([self.draw.u() for _ in sizes]) * duration * NS).astype(np.int64))
            times[0] = start
            for ts, size in zip(times, sizes):
                prints.append((int(ts), tuple(legs), aggressor, size))
            for leg in legs:
                c = self.contracts[leg]
                self.episodes.append(Episode(kind, int(times[0]), int(times[-1]) + len(legs) * 1000,
                                             c.instrument_id, c.raw_symbol, c.strike, c.right, aggressor,
                                             int(sum(sizes)), len(sizes)))
        self.episodes.sort(key=lambda e: (e.start, e.instrument_id))
        prints.sort()
        return prints

    def _special_print(self, t: int, legs: tuple[int, ...], aggressor: str, size: int) -> None:
        """One planted print: makers refill every leg, then all legs trade in one packet (a
        straddle is executed as a package, so its legs share a packet)."""
        self._refresh_fair(t)
        for leg in legs:
            self._refill(leg, t, aggressor, size)
            t += 1000
        recv = self._recv(t)
        for n, leg in enumerate(legs):
            self._trade(leg, t, recv, aggressor, size, last=(n == len(legs) - 1))


def _side(side: str) -> Any:
    return dbn.Side.BID if side == "B" else dbn.Side.ASK


def _metadata(params: MBOSampleParams, contracts: list[Contract], schema: dbn.Schema) -> dbn.Metadata:
    start, end = params.session_bounds()
    return dbn.Metadata(dataset="GLBX.MDP3", start=start - 3600 * NS, end=end, stype_in=dbn.SType.RAW_SYMBOL,
                        stype_out=dbn.SType.INSTRUMENT_ID, schema=schema, symbols=[c.raw_symbol for c in contracts])


class _dbn_writer:
    """File sink: zstd-compressed when the name ends in .zst."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")

    def __enter__(self) -> Any:
        self.raw = open(self.tmp, "wb")
        if self.path.name.endswith(".zst"):
            self.sink = zstandard.ZstdCompressor(level=3).stream_writer(self.raw)
        else:
            self.sink = self.raw
        return self.sink

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if self.sink is not self.raw:
            self.sink.close()
        else:
            self.raw.close()
        if exc_type is None:
            self.tmp.replace(self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (date, time)):
        return value.isoformat()
    return value
