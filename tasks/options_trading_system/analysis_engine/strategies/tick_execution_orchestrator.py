"""The tick-execution orchestrator: every trade of the future through strategies, sizing, the risk
engine and the broker, every decision in the run's ledger.

The loop, for each trade (tick) inside the session (`tick_execution.session`), in exchange time:

1. **exits on ticks**: each open position's bracket folds the tick in (`exits.exit_on_tick`: the
   trailing stop follows the best price, then the stop, then the target); a position that leaves is
   closed at the broker (paper: `PaperBroker.exit_at`; a real broker's own stop or target fill) and
   recorded (exit order, fill, commission, position closed, outcome), then the guards see the fill;
2. **decisions**: the tick goes to the `TickDecisionEngine` (bars, indicators, strategies,
   aggregation); for each bar end it decides on, one transaction records the decision moment
   (`observations`, kind `tick_decision`), every strategy's intent (`signals`, source = the
   strategy) with the aggregator's verdict (`validations`: passed = taken, the verdict and note in
   `reasons_json`), and for the taken intent the sizing (the sizer again, with the ledger's
   realised outcomes and the account's equity), the guards' answer and the order: refused
   (`SIZE_ZERO`, `NO_PRICE`, or the guard's code and numbers) or placed as one bracket (entry +
   stop + target, client order ids from the signal id) and filled at this tick (order, fill,
   commission, position);
3. at the session's end the last bars close (decisions without a later trade are refused
   `NO_PRICE`), open positions exit at the last trade (`session_end`) and the day's summary row is
   written; the reports follow (`on_day_closed`).

Replay and streaming are one set of rules: `mode="stream"` feeds ticks one at a time
(`TickDecisionEngine.on_tick`, `exit_on_tick`); `mode="replay"` takes each recorded day as arrays
(`TickDecisionEngine.replay`, `exits.scan_exits` between decisions) and applies the same steps at
the same ticks, in the same order, so both write the same ledger rows (tested). Controls (halt,
resume, stop, flatten) are obeyed at every decision moment and each day's start; the post-trade
guards run after every entry, exit and decision.

Resuming: a replay re-runs the recording from its first day (the strategies' indicators are
rebuilt from the ticks); days already closed only warm the strategies up, and in the day that was
open every decision and exit already committed is recognised by its id and not written again.
"""
from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ...data_ingestion.ticks.feed import ReplayTickFeed, TickFeed
from ...state import queries
from ...state.ledger import (CONTROL_FLATTEN, CONTROL_HALT, CONTROL_RESUME, CONTROL_STOP, RUN_COMPLETED, RUN_FAILED,
                             RUN_INTERRUPTED, Ledger, iso)
from ...state.trade_rows import (CostRow, FillRow, OrderRow, PositionRow, close_position, write_cost, write_fill,
                                 write_order, write_position)
from .execution.broker import Broker, BrokerError, OrderRejectedError, cancel_each
from .execution.orders import EventKind, Fill
from .execution.paper import PaperBroker
from .execution.paper_pricing import EXIT_ORIGIN_MARKET, REFUSED_NO_PRICE, EntryQuote
from .execution.risk_view import LedgerRiskView
from .execution.signal_orders import signal_bracket
from .results.day_summary import day_summary
from .guards import CancelOrders, FlattenPositions, RiskEngine, RiskState, SqliteRiskStore
from .execution.exit_recording import EXIT_FLATTEN
from .shadow_orchestrator import RunOutcome, refusal_reason
from .sizing import OutcomeStats, SizeDecision, build_sizer
from .strategies_futures import build_strategies
from .strategies_futures.aggregator import TAKEN, SignalAggregator
from .strategies_futures.base import LONG, MarketState
from .strategies_futures.engine import Decision, SizingInputs, TickDecisionEngine
from .strategies_futures.exits import (EXIT_NAMES, EXIT_NONE, EXIT_SESSION_END, EXIT_STOP, T_STOP, bracket_state,
                                       exit_on_tick, scan_exits)
from .tick_config import TickExecutionConfig

log = logging.getLogger(__name__)

EVENT_KIND = "tick_decision"
REFUSED_SIZE_ZERO = "SIZE_ZERO"
EXIT_TRAILING = "trailing_stop"
MODES = ("replay", "stream")


@dataclass
class _Open:
    """A position this run holds, with its bracket's state on ticks."""

    signal_id: str
    strategy: str
    direction: str
    quantity: int
    entry_price: float
    entry_reference: float
    stop: float
    target: float
    state: np.ndarray
    next_index: int          # replay: the first tick of the day not folded in yet
    recorded_exit: bool      # a resumed run: the exit is already in the ledger

    @property
    def sign(self) -> float:
        return 1.0 if self.direction == LONG else -1.0


@dataclass
class _Day:
    label: str
    start_ns: int
    end_ns: int
    recording: bool          # False: a closed day replayed only to warm the strategies up
    index: int = -1          # index of the last tick taken (within the session)
    last_ns: int | None = None
    last_price: float = math.nan
    ticks: int = 0
    finished: bool = False
    midnight_ns: tuple[int, int] = (0, 0)   # the label's exchange-clock date, as UTC ns [from, to)


def tick_day_label(config: TickExecutionConfig, ts_ns: int) -> str:
    return config.session.day_of(int(ts_ns))


class TickExecutionOrchestrator:
    """Runs `days` (session labels, YYYY-MM-DD) of `feed` through the loop of the module docstring."""

    def __init__(self, *, config: TickExecutionConfig, ledger: Ledger, feed: TickFeed, days: Sequence[str],
                 mode: str = "replay", broker: Broker | None = None, risk: RiskEngine | None = None,
                 stop: threading.Event | None = None, on_day_closed: Callable[[str], None] | None = None,
                 term_structure: Callable[[int], MarketState] | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
        if mode == "replay" and not isinstance(feed, ReplayTickFeed):
            raise ValueError("mode 'replay' needs a ReplayTickFeed (its days as arrays)")
        self.config = config
        self.ledger = ledger
        self.feed = feed
        self.days = list(days)
        self.mode = mode
        self.stop = stop or threading.Event()
        self.on_day_closed = on_day_closed
        self.broker = broker if broker is not None else PaperBroker(config.execution)
        self.paper = isinstance(self.broker, PaperBroker)
        self.risk = risk if risk is not None else RiskEngine(config.risk, store=SqliteRiskStore(ledger.connection))
        self.view = LedgerRiskView(ledger, instrument=config.instrument, quantity=1)
        self.sizer = build_sizer(config.sizer, config.sizer_settings)
        self.engine = TickDecisionEngine(
            build_strategies(config.strategies), SignalAggregator(config.aggregator), self.sizer,
            sizing=SizingInputs(equity_usd=config.equity_usd, multiplier=config.multiplier),
            atr_bar=config.atr_bar, term_structure=term_structure)
        self._open: list[_Open] = []
        self._wanted = set(self.days)
        self._day: _Day | None = None
        self._decisions = 0
        self._events = 0
        self._reason = np.zeros(1, np.int64)
        self._entry_fill: Fill | None = None
        self._used_fills: set[str] = set()       # a real broker's exit fills already recorded

    # --- the run ---------------------------------------------------------------------------------

    def run(self) -> RunOutcome:
        """Every remaining day of the run; resumable (see the module docstring)."""
        self.ledger.resume_run()
        try:
            if not self.paper:
                self.reconcile(pd.Timestamp.now(tz="UTC"))
            if self.mode == "replay":
                self._run_replay()
            else:
                self._run_stream()
        except BaseException as exc:
            if not isinstance(exc, (KeyboardInterrupt, SystemExit)):
                try:
                    self._set_status(RUN_FAILED, f"{type(exc).__name__}: {exc}", None)
                except sqlite3.Error as status_exc:
                    log.error("could not record the failure in the ledger: %s", status_exc)
            raise
        finally:
            self.ledger.flush_perf()
        closed = set(queries.closed_days(self.ledger))
        if self.stop.is_set() or not set(self.days) <= closed:
            progress = self.ledger.progress()
            self._set_status(RUN_INTERRUPTED, "stopped before the last day closed; resume with --resume",
                             pd.Timestamp(progress["sim_time"]) if progress["sim_time"] else None)
            return RunOutcome(RUN_INTERRUPTED, len(closed), self._events)
        if self.ledger.run()["status"] != RUN_COMPLETED:
            last = pd.Timestamp(self.config.session.bounds(self.days[-1])[1], tz="UTC") if self.days else None
            self._set_status(RUN_COMPLETED, "all days closed", last)
        return RunOutcome(RUN_COMPLETED, len(closed), self._events)

    def _set_status(self, status: str, reason: str, at: pd.Timestamp | None) -> None:
        self.ledger.set_status(status, reason, at)

    def _new_day(self, label: str) -> _Day:
        start, end = self.config.session.bounds(label)
        recording = not queries.day_closed(self.ledger, label)
        self.engine.new_session()
        midnight = pd.Timestamp(label, tz=self.config.session.timezone)
        self._day = _Day(label, start, end, recording,
                         midnight_ns=(midnight.value, (midnight + pd.Timedelta(days=1)).value))
        return self._day

    # --- replay: a day at a time, as arrays ------------------------------------------------------

    def _run_replay(self) -> None:
        assert isinstance(self.feed, ReplayTickFeed)
        for tick_day in self.feed.days():
            t = tick_day.ticks
            if not len(t):
                continue
            label = tick_day_label(self.config, int(t.ts_ns[0]))
            if label not in self._wanted:
                if label > self.days[-1]:
                    break
                continue
            day = self._new_day(label)
            lo, hi = np.searchsorted(t.ts_ns, [day.start_ns, day.end_ns], side="left")
            ts, price, size = t.ts_ns[lo:hi], t.price[lo:hi], t.size[lo:hi]
            decisions = self.engine.replay(ts, price, size, day.end_ns)
            if not day.recording:
                continue
            self._apply_controls(day, None)
            entry = np.searchsorted(ts, np.array([d.time_ns for d in decisions], np.int64), side="left")
            for decision, k in zip(decisions, entry.tolist()):
                self._replay_exits(day, ts, price, min(k + 1, len(ts)))
                tick = (k, int(ts[k]), float(price[k])) if k < len(ts) else None
                if tick is not None:
                    day.index, day.last_ns, day.last_price = tick
                elif len(ts):                 # decided after the last trade, at the session's end
                    day.index, day.last_ns, day.last_price = len(ts) - 1, int(ts[-1]), float(price[-1])
                self._on_decision(day, decision, tick)
                if self.stop.is_set():
                    return
            self._replay_exits(day, ts, price, len(ts))
            if len(ts):
                day.index, day.last_ns, day.last_price = len(ts) - 1, int(ts[-1]), float(price[-1])
            day.ticks = len(ts)
            self._close_day(day)
            if self.stop.is_set():
                return

    def _replay_exits(self, day: _Day, ts: np.ndarray, price: np.ndarray, until: int) -> None:
        """Fold ticks up to (not including) `until` into every open bracket and take the exits in
        tick order (ties in the order the positions were opened), as the streaming path meets
        them; a position flattened by the guards at an earlier exit is gone by its own."""
        hits = []
        for order, position in enumerate(self._open):
            j = scan_exits(position.state, price, position.next_index, until, self._reason)
            position.next_index = until if j < 0 else j + 1
            if j >= 0:
                hits.append((j, order, position, int(self._reason[0])))
        for j, _, position, code in sorted(hits, key=lambda h: (h[0], h[1])):
            if position in self._open:
                day.index, day.last_ns, day.last_price = j, int(ts[j]), float(price[j])
                self._exit(day, position, self._exit_reason(position, code), float(price[j]), int(ts[j]), j)

    # --- streaming: a tick at a time -------------------------------------------------------------

    def _run_stream(self) -> None:
        for tick in self.feed:
            if self.stop.is_set() or not self.on_tick(tick.ts_ns, tick.price, tick.size):
                return
        self.finish()

    def on_tick(self, ts_ns: int, price: float, size: float) -> bool:
        """One tick of a stream (exits, then decisions); False once the run's last day is over."""
        day = self._day
        label = day.label if day is not None and day.midnight_ns[0] <= ts_ns < day.midnight_ns[1] \
            else tick_day_label(self.config, ts_ns)
        if day is not None and not day.finished and (label != day.label or ts_ns >= day.end_ns):
            self._end_stream_day(day)
        if day is None or label != day.label:
            if label not in self._wanted:
                return not (self.days and label > self.days[-1])
            day = self._new_day(label)
            if day.recording:
                self._apply_controls(day, None)
        if day.finished or ts_ns < day.start_ns:
            return True
        started = time.perf_counter_ns()
        day.index += 1
        day.ticks += 1
        day.last_ns, day.last_price = ts_ns, price
        if day.recording:
            self._stream_exits(day, ts_ns, price)
        decisions = self.engine.on_tick(ts_ns, price, size)
        if day.recording:
            for decision in decisions:
                self._on_decision(day, decision, (day.index, ts_ns, price), started)
        return True

    def finish(self) -> None:
        """The stream ended: close the day still open."""
        if self._day is not None and not self._day.finished:
            self._end_stream_day(self._day)

    def _stream_exits(self, day: _Day, ts_ns: int, price: float) -> None:
        """Paper: the tick closes what it reaches. A real broker holds each bracket's stop and
        target, so its fills close those positions; the tick only moves a trailing stop, and a
        trailed stop reached is liquidated here."""
        if not self.paper and self._open:
            self._broker_exits(day)
        for position in list(self._open):
            if position not in self._open:
                continue
            reason = exit_on_tick(position.state, price)
            if reason == EXIT_NONE:
                continue
            name = self._exit_reason(position, reason)
            if self.paper or name == EXIT_TRAILING:
                self._exit(day, position, name, price, ts_ns, day.index)

    def _end_stream_day(self, day: _Day) -> None:
        day.finished = True
        for decision in self.engine.end_session(day.end_ns):
            if day.recording:
                self._on_decision(day, decision, None)
        if day.recording:
            self._close_day(day)

    # --- one decision ----------------------------------------------------------------------------

    def _on_decision(self, day: _Day, decision: Decision, tick: tuple[int, int, float] | None,
                     started_ns: int | None = None) -> None:
        """Record one bar end's intents, verdicts and, for the taken one, sizing, guards and order."""
        self._events += 1
        at_ns = decision.time_ns if tick is None else tick[1]
        at = pd.Timestamp(at_ns, tz="UTC")
        key = f"{EVENT_KIND}:{iso(pd.Timestamp(decision.time_ns, tz='UTC'))}"
        index = day.index if tick is None else tick[0]
        if queries.event_observed(self.ledger, key):
            self._adopt(decision, tick)
            return
        self._apply_controls(day, tick)
        halted = self.risk.refresh().state is RiskState.HALTED
        taken_id = None
        with self.ledger.transaction(day=day.label, event_index=index, sim_time=at) as tx:
            size = self._size(decision) if decision.intent is not None else None
            signals, validations = [], []
            for verdict in decision.verdicts:
                intent = verdict.intent
                sid = _signal_id(intent.strategy, decision.time_ns)
                is_taken = verdict.verdict == TAKEN
                confidence = decision.intent.confidence if is_taken and decision.intent is not None \
                    else intent.confidence
                signals.append({
                    "signal_id": sid, "event_key": key, "day": day.label, "sim_time": iso(at),
                    "source": intent.strategy, "algorithm": intent.strategy, "traded_source": 1,
                    "instrument": self.config.instrument, "contract": None, "strike": None, "option_right": None,
                    "direction": intent.direction, "entry_reference": intent.entry_reference,
                    "target": intent.target, "stop": intent.stop, "confidence": intent.confidence,
                    "tier": verdict.verdict, "expected_value_points": None,
                    "evidence_json": json.dumps({"rule": intent.reason, "bar_end": iso(pd.Timestamp(intent.time_ns,
                                                                                                    tz="UTC"))},
                                                sort_keys=True)})
                reasons = {"aggregation": verdict.verdict, "note": verdict.note}
                if is_taken and size is not None:
                    reasons["sizing"] = {"contracts": size.contracts, "reason": size.reason}
                validations.append({
                    "signal_id": sid, "score": confidence, "passed": int(is_taken), "false_positive": 0,
                    "technical": None, "market_context": None, "time_of_day": None, "history": None,
                    "reasons_json": json.dumps(reasons, sort_keys=True)})
                if is_taken:
                    taken_id = sid
            notes = "; ".join(f"{v.intent.strategy} {v.intent.direction} {v.verdict}" for v in decision.verdicts)
            tx.insert("observations", {
                "event_key": key, "day": day.label, "event_index": index, "sim_time": iso(at), "kind": EVENT_KIND,
                "input": self.feed.name, "halted": int(halted), "contracts": None, "quarantined": None,
                "missing_share": None, "underlying_price": None, "price": None if tick is None else tick[2],
                "price_staleness_s": None if tick is None else (tick[1] - decision.time_ns) / 1e9,
                "signals": len(signals), "notes": notes})
            tx.insert("signals", signals)
            tx.insert("validations", validations)
            if taken_id is not None and size is not None:
                sent_ns = self._order(tx, day, decision, taken_id, size, tick)
                if started_ns is not None and sent_ns is not None:
                    self.ledger.add_latency(day.label, key, "tick_to_order", (sent_ns - started_ns) / 1e6)
        if self._entry_fill is not None and tick is not None:   # post-trade: the guards see the entry's fill
            fill, self._entry_fill = self._entry_fill, None
            self.risk.on_fill(fill, self.view.snapshot(day.label, at, tick[2]))
        if started_ns is not None:
            self.ledger.add_latency(day.label, key, "tick_to_recorded", (time.perf_counter_ns() - started_ns) / 1e6)
        self._decisions += 1
        self._watch_risk(day, tick)

    def _order(self, tx: Any, day: _Day, decision: Decision, signal_id: str, size: SizeDecision,
               tick: tuple[int, int, float] | None) -> int | None:
        """The guards and the broker for the taken intent of `size` contracts, inside the
        decision's transaction; the moment (perf_counter_ns) the bracket went to the broker, None
        when it was refused."""
        intent = decision.intent
        assert intent is not None
        side = "BUY" if intent.direction == LONG else "SELL"
        order_id = f"{signal_id}/entry"
        at = pd.Timestamp(decision.time_ns if tick is None else tick[1], tz="UTC")

        def refuse(reason: str, quantity: int) -> None:
            write_order(tx, OrderRow(order_id=order_id, signal_id=signal_id, day=day.label, sim_time=iso(at),
                                     instrument=self.config.instrument, side=side, quantity=quantity,
                                     order_type="market", purpose="entry", status="refused", reason=reason))

        if size.contracts <= 0:
            refuse(f"{REFUSED_SIZE_ZERO}: {size.reason}", 0)
            return None
        if tick is None:
            refuse(f"{REFUSED_NO_PRICE}: no trade after the decision before the session's end", size.contracts)
            return None
        price = tick[2]
        bracket = signal_bracket(signal_id, instrument=self.config.instrument, side=side, quantity=size.contracts,
                                 stop=intent.stop, target=intent.target)
        verdict = self.risk.check(bracket, self.view.snapshot(day.label, at, price))
        if not verdict.approved:
            refuse(refusal_reason(verdict.refusal) if verdict.refusal is not None else "REFUSED", size.contracts)
            return None
        if self.paper:
            self.broker.set_quote(at, EntryQuote(price=price))
        sent_ns = time.perf_counter_ns()
        try:
            ack = self.broker.place_bracket(bracket)
            fill = next((f for f in self.broker.fills() if f.client_order_id == ack.entry.client_order_id), None)
            why = "" if fill is not None else f"entry {ack.entry.status.value} {ack.entry.reason}".strip()
        except OrderRejectedError as exc:
            fill, why = None, f"rejected by {self.broker.name}: {exc}"
        if fill is None:
            write_order(tx, OrderRow(order_id=order_id, signal_id=signal_id, day=day.label, sim_time=iso(at),
                                     instrument=self.config.instrument, side=side, quantity=size.contracts,
                                     order_type="market", purpose="entry", status="rejected",
                                     reason=f"BROKER_REJECTED: {why}"))
            return sent_ns
        self._entry_fill = fill
        sign = 1.0 if intent.direction == LONG else -1.0
        commission = fill.commission_usd or self.config.commission * size.contracts
        write_order(tx, OrderRow(order_id=order_id, signal_id=signal_id, day=day.label, sim_time=iso(at),
                                 instrument=self.config.instrument, side=side, quantity=size.contracts,
                                 order_type="market", purpose="entry", status="filled"))
        write_fill(tx, FillRow(fill_id=f"{order_id}/fill", order_id=order_id, day=day.label, sim_time=iso(at),
                               price=fill.price, quantity=size.contracts, reference_price=intent.entry_reference,
                               slippage_points=(fill.price - intent.entry_reference) * sign,
                               commission_usd=commission))
        write_cost(tx, CostRow(cost_id=f"{order_id}/commission", day=day.label, sim_time=iso(at), kind="commission",
                               amount_usd=commission, ref=order_id))
        write_position(tx, PositionRow(
            position_id=f"{signal_id}/position", signal_id=signal_id, source=intent.strategy, day=day.label,
            instrument=self.config.instrument, contract=None, direction=intent.direction, quantity=size.contracts,
            multiplier=self.config.multiplier, entry_time=iso(at), entry_price=fill.price, target=intent.target,
            stop=intent.stop))
        self._open.append(_Open(signal_id, intent.strategy, intent.direction, size.contracts, fill.price,
                                intent.entry_reference, intent.stop, intent.target,
                                bracket_state(sign, intent.stop, intent.target, self.config.trail_points, fill.price),
                                tick[0] + 1, recorded_exit=False))
        return sent_ns

    def _size(self, decision: Decision) -> SizeDecision:
        """The sizer's answer at this moment: the engine's context (ATR, levels) with the account's
        equity and the ledger's realised outcomes (what Kelly needs)."""
        context = decision.sizing
        assert context is not None
        pnl = np.asarray(queries.closed_trade_pnls(self.ledger), dtype="float64")
        wins, losses = pnl[pnl > 0], -pnl[pnl < 0]
        outcomes = OutcomeStats(trades=int(pnl.size), wins=int(wins.size),
                                average_win_usd=float(wins.mean()) if wins.size else math.nan,
                                average_loss_usd=float(losses.mean()) if losses.size else math.nan)
        return self.sizer.size(replace(context, equity_usd=self._equity(float(pnl.sum())), outcomes=outcomes))

    def _equity(self, realised_usd: float) -> float:
        """The broker's cash balance when it reports one; else the profile's paper equity plus the
        run's realised P&L."""
        if not self.paper:
            cash = self.broker.account().cash_balance
            if math.isfinite(cash):
                return float(cash)
        return float(self.config.equity_usd + realised_usd)

    def _adopt(self, decision: Decision, tick: tuple[int, int, float] | None) -> None:
        """A resumed run meets a decision it already recorded: take its position back (if any)."""
        if decision.intent is None:
            return
        row = queries.position_row(self.ledger, _signal_id(decision.intent.strategy, decision.time_ns))
        if row is None or tick is None:
            return
        sign = 1.0 if row["direction"] == LONG else -1.0
        position = _Open(row["signal_id"], row["source"], row["direction"], int(row["quantity"]),
                         float(row["entry_price"]), decision.intent.entry_reference, float(row["stop"]),
                         float(row["target"]),
                         bracket_state(sign, float(row["stop"]), float(row["target"]), self.config.trail_points,
                                       float(row["entry_price"])),
                         tick[0] + 1, recorded_exit=row["status"] != "open")
        if self.paper:
            side = "BUY" if row["direction"] == LONG else "SELL"
            bracket = signal_bracket(row["signal_id"], instrument=self.config.instrument, side=side,
                                     quantity=int(row["quantity"]), stop=float(row["stop"]),
                                     target=float(row["target"]))
            self.broker.adopt(bracket, EntryQuote(price=float(row["entry_price"])),
                              pd.Timestamp(row["entry_time"]), float(row["entry_price"]))
        self._open.append(position)

    # --- exits -----------------------------------------------------------------------------------

    def _exit_reason(self, position: _Open, code: int) -> str:
        if code == EXIT_STOP and position.state[T_STOP] != position.stop:
            return EXIT_TRAILING
        return EXIT_NAMES.get(code, EXIT_NAMES[EXIT_SESSION_END])

    def _exit(self, day: _Day, position: _Open, reason: str, level: float, at_ns: int, index: int) -> None:
        """Close `position` at the broker and record it (order, fill, commission, position, outcome)."""
        self._open.remove(position)
        at = pd.Timestamp(at_ns, tz="UTC")
        exit_reference = position.target if reason == "target" else level
        if position.recorded_exit or queries.outcome_recorded(self.ledger, position.signal_id):
            if self.paper:                  # a resumed run: the paper market lets the position go
                self._broker_exit(position, reason, exit_reference, at)
            return
        fill = self._broker_exit(position, reason, exit_reference, at)
        sid, qty = position.signal_id, position.quantity
        points = (fill.price - position.entry_price) * position.sign
        commission = fill.commission_usd or self.config.commission * qty
        costs = commission + self.config.commission * qty   # the entry's commission and this one
        order_id = f"{sid}/exit"
        exit_sign = -position.sign                             # a SELL closes a LONG
        with self.ledger.transaction(day=day.label, event_index=index, sim_time=at) as tx:
            write_order(tx, OrderRow(order_id=order_id, signal_id=sid, day=day.label, sim_time=iso(at),
                                     instrument=self.config.instrument, side="SELL" if exit_sign < 0 else "BUY",
                                     quantity=qty, order_type="limit" if reason == "target" else "market",
                                     purpose=f"exit:{reason}", status="filled"))
            write_fill(tx, FillRow(fill_id=f"{order_id}/fill", order_id=order_id, day=day.label, sim_time=iso(at),
                                   price=fill.price, quantity=qty, reference_price=exit_reference,
                                   slippage_points=(exit_reference - fill.price) * position.sign,
                                   commission_usd=commission))
            write_cost(tx, CostRow(cost_id=f"{order_id}/commission", day=day.label, sim_time=iso(at),
                                   kind="commission", amount_usd=commission, ref=order_id))
            close_position(tx, f"{sid}/position", exit_time=iso(at), exit_price=fill.price, exit_reason=reason,
                           exit_price_origin=EXIT_ORIGIN_MARKET)
            move = (exit_reference - position.entry_reference) * position.sign
            tx.insert("outcomes", {
                "signal_id": sid, "position_id": f"{sid}/position", "day": day.label, "resolved_at": iso(at),
                "exit_reason": reason, "exit_reference": exit_reference, "move_points": move,
                "correct": int(move > 0), "pnl_points": points,
                "pnl_usd": points * self.config.multiplier * qty - costs, "costs_usd": costs})
        self.risk.on_fill(fill, self.view.snapshot(day.label, at, level))
        self._watch_risk(day, (index, at_ns, level))

    def _broker_exit(self, position: _Open, reason: str, exit_reference: float, at: pd.Timestamp) -> Fill:
        """The exit fill: the paper market fills it here; a real broker's stop or target leg has
        filled (or is liquidated now for a trailed stop, a session end or a flatten)."""
        if self.paper:
            leg = "stop" if reason in ("stop", EXIT_TRAILING) else reason
            return self.broker.exit_at(f"{position.signal_id}/entry", leg, exit_reference, at)
        own = (f"{position.signal_id}/{reason}",) if reason in ("stop", "target") else ()
        fill = self._unused_fill(own + (f"{position.signal_id}/exit",))
        if fill is None:
            before = {f.fill_id for f in self.broker.fills()}
            self.broker.flatten(self.config.instrument)
            fill = self._unused_fill((f"{position.signal_id}/exit",)) or next(
                (f for f in self.broker.fills() if f.fill_id not in before and f.fill_id not in self._used_fills), None)
        if fill is None:
            raise BrokerError(f"position {position.signal_id}: {reason} at {at.isoformat()} but {self.broker.name} "
                              f"reported no exit fill; reconcile before trading on")
        self._used_fills.add(fill.fill_id)
        return fill

    def _unused_fill(self, client_order_ids: tuple[str, ...]) -> Fill | None:
        """The broker's fill of one of these orders that no exit has taken yet."""
        return next((f for f in self.broker.fills() if f.client_order_id in client_order_ids
                     and f.fill_id not in self._used_fills), None)

    def reconcile(self, at: pd.Timestamp) -> str:
        """A real broker's net position and working stops against the ledger's open positions (on
        start and after every resync); a difference halts the risk engine naming it. '' = agreed."""
        held = queries.open_position_records(self.ledger)
        ledger_net = sum((1 if r["direction"] == LONG else -1) * int(r["quantity"]) for r in held)
        broker_net = sum(p.quantity for p in self.broker.positions() if p.instrument.startswith(self.config.instrument))
        working = {o.client_order_id for o in self.broker.working_orders()}
        problems = [f"net position: ledger {ledger_net:+d}, broker {broker_net:+d}"] if ledger_net != broker_net else []
        problems += [f"position of {r['signal_id']} has no working stop at the broker" for r in held
                     if f"{r['signal_id']}/stop" not in working]
        if not problems:
            log.info("reconciled with %s: net position %+d", self.broker.name, broker_net)
            return ""
        message = "reconciliation with the broker failed: " + "; ".join(problems)
        log.error(message)
        self.risk.halt(by="reconciliation", reason=message, now=at)
        return message

    def _broker_exits(self, day: _Day) -> None:
        """A real broker: its own stop or target fills (the protection it holds) close positions;
        after a resync the ledger is reconciled with it again."""
        for event in self.broker.events():
            if event.kind is EventKind.CONNECTION and "sync" in event.note.lower():
                self.reconcile(pd.Timestamp(day.last_ns or day.start_ns, tz="UTC"))
            if event.kind is not EventKind.FILL or event.fill is None:
                continue
            sid, _, leg = event.fill.client_order_id.rpartition("/")
            position = next((p for p in self._open if p.signal_id == sid), None)
            if position is not None and leg in ("stop", "target"):
                level = position.stop if leg == "stop" else position.target
                self._exit(day, position, leg, level, event.fill.time.value, day.index)

    # --- controls, guards, the day's end ---------------------------------------------------------

    def _apply_controls(self, day: _Day, tick: tuple[int, int, float] | None) -> None:
        for control in queries.pending_controls(self.ledger):
            at = pd.Timestamp(tick[1] if tick is not None else (day.last_ns or day.start_ns), tz="UTC")
            with self.ledger.transaction(day=day.label, event_index=day.index, sim_time=at) as tx:
                tx.execute("UPDATE controls SET status = 'applied', applied_at = ?, applied_event = ? "
                           "WHERE control_id = ?", (iso(at), f"tick:{day.index}", control["control_id"]))
            command, by = control["command"], control.get("requested_by") or "monitor"
            log.warning("control %s applied at %s", command, at)
            if command == CONTROL_STOP:
                self.stop.set()
            elif command in (CONTROL_HALT, CONTROL_FLATTEN):
                update = self.risk.halt(by=by, reason=control.get("reason") or f"{command} control", now=at)
                self._carry_out(day, update.actions, tick)
            elif command == CONTROL_RESUME:
                self.risk.resume(by=by, token_ok=True, now=at, reason=control.get("reason") or "")

    def _watch_risk(self, day: _Day, tick: tuple[int, int, float] | None) -> None:
        if tick is None and day.last_ns is None:
            return
        at_ns, price = (tick[1], tick[2]) if tick is not None else (day.last_ns, day.last_price)
        snapshot = self.view.snapshot(day.label, pd.Timestamp(at_ns, tz="UTC"), price)
        update = self.risk.on_price(self.config.instrument, price, snapshot) if math.isfinite(price) \
            else self.risk.evaluate(snapshot)
        self._carry_out(day, update.actions, tick)

    def _carry_out(self, day: _Day, actions: Sequence[Any], tick: tuple[int, int, float] | None) -> None:
        if any(isinstance(a, FlattenPositions) for a in actions) and self._open:
            index, at_ns, price = tick if tick is not None else (day.index, day.last_ns, day.last_price)
            if at_ns is not None and math.isfinite(price):
                log.warning("flattening %d position(s) at %s", len(self._open), pd.Timestamp(at_ns, tz="UTC"))
                for position in list(self._open):
                    self._exit(day, position, EXIT_FLATTEN, price, at_ns, index)
        for action in (a for a in actions if isinstance(a, CancelOrders)):
            cancel_each(self.broker, action.client_order_ids)

    def _close_day(self, day: _Day) -> None:
        """Positions still open exit at the session's last trade; then the day's summary row."""
        for position in list(self._open):
            self._exit(day, position, EXIT_NAMES[EXIT_SESSION_END], day.last_price, int(day.last_ns or day.end_ns),
                       day.index)
        if queries.day_closed(self.ledger, day.label):
            return
        summary = day_summary(self.ledger, day.label)
        session = self.config.session
        summary["window"] = {"open": iso(pd.Timestamp(day.start_ns, tz="UTC")),
                             "close": iso(pd.Timestamp(day.end_ns, tz="UTC")), "timezone": session.timezone,
                             "early_close": False, "local": f"{session.start}-{session.end}"}
        summary["ticks"] = day.ticks
        gaps = [g.to_dict() for g in self.feed.gaps if day.start_ns <= g.start_ns < day.end_ns]
        lo, hi = day.midnight_ns
        summary["feed"] = {"name": self.feed.name, "quarantined_so_far": self.feed.quarantined, "gaps": gaps,
                           "reconnects": [r.to_dict() for r in self.feed.reconnects if lo <= r.at_ns < hi]}
        summary["notes"] = [f"feed {self.feed.name}: {len(gaps)} gap(s) in the session"] if gaps else []
        at = pd.Timestamp(day.end_ns, tz="UTC")
        with self.ledger.transaction(day=day.label, event_index=day.index, sim_time=at) as tx:
            tx.insert("daily_summaries", {
                "day": day.label, "closed_at": iso(at), "signals": summary["signals"]["signals"],
                "validated": summary["signals"]["validated"], "resolved": summary["signals"]["resolved"],
                "correct": summary["signals"]["correct"], "trades": summary["trades"]["trades"],
                "pnl_usd": summary["trades"]["pnl_usd"], "costs_usd": summary["costs_usd"],
                "summary_json": json.dumps(summary, sort_keys=True, default=str)})
        log.info("day %s closed: %d ticks, %d intents, %d trades, P&L $%.2f", day.label, day.ticks,
                 summary["signals"]["signals"], summary["trades"]["trades"], summary["trades"]["pnl_usd"])
        if self.on_day_closed is not None:
            self.on_day_closed(day.label)


def _signal_id(strategy: str, bar_end_ns: int) -> str:
    """One id per strategy and bar end: what the bracket's client order ids derive from."""
    return f"{strategy}@{iso(pd.Timestamp(bar_end_ns, tz='UTC'))}"

