"""The shadow-trading orchestrator: every event of every day, from market data to judged outcome.

One code path for live and replay; only the feed (where events and data come from) and the clock
differ. For each event of a day, in order (`_process`):

1. `_apply_controls`: obey halt / resume / stop records a monitor queued in the ledger;
2. `_follow`: walk every open signal along the price path up to the event's time; each one that
   reached its target or stop is closed (outcome, and for a paper trade the exit order, fill,
   position close and commission), one transaction each, in the order they happened;
3. `_observe` (chain and mbo events): load the data, run each signal source that reads this kind
   of event, keep ideas whose levels make sense at the current price and that are not repeats
   inside the cooldown, validate them, and record observation + signals + validations in one
   transaction (while halted, only the observation);
4. `_decide`: for each passed signal of a traded source, refuse it (halted, position limits,
   no price) or fill it on paper: order + fill + position + commission, one transaction each;
5. on the `close` event, `_close_day`: flatten what is still open at the last price of the
   window, then write the day's summary row (one transaction) and call `on_day_closed`.

Every step re-derives what is left to do from the ledger, so re-running an event after a crash
does exactly the part that was not committed: a resumed replay ends with the same ledger as one
never interrupted. Times written are the event's (simulated) times; wall-clock latency and process
samples go to the ledger's perf tables.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ...data_ingestion.canonical import OptionsChain, number_or_nan
from ...expiry import years_to_settlement
from ...state.ledger import (CONTROL_HALT, CONTROL_RESUME, CONTROL_STOP, RUN_COMPLETED, RUN_FAILED,
                             RUN_INTERRUPTED, RUN_RUNNING, Ledger, iso)
from .. import black76
from ..pipeline import AnalysisContext
from .results import metrics
from .feeds.market_events import EVENT_CHAIN, EVENT_CLOSE, MarketEvent, MarketFeed
from .execution.outcome_tracker import close_at_session_end, move_points, resolve
from .execution.paper import REFUSED_NO_PRICE, EntryQuote, PaperBroker
from .performance import ProcessSampler, Stopwatch
from .feeds.price_path import PricePath
from .shadow_config import ShadowTradingConfig
from .signals import SignalInput, SignalSource
from .signals.interval_volume import with_interval_volume
from .feeds.trading_calendar import TradingDay
from .signals.validation import DIRECTION_SIGN, MarketSnapshot, validate_signals

log = logging.getLogger(__name__)

REFUSED_HALTED = "HALTED"


@dataclass(frozen=True)
class RunOutcome:
    """How a call to `run` ended: completed, interrupted (resumable) or stopped by a control."""

    status: str
    days_closed: int
    events: int


class ShadowTradingOrchestrator:
    """Runs `days` through `feed`, recording everything in `ledger` (see the module docstring)."""

    def __init__(self, *, config: ShadowTradingConfig, ledger: Ledger, feed: MarketFeed,
                 sources: Sequence[SignalSource], days: Sequence[TradingDay], instrument_symbol: str = "NQ",
                 stop: threading.Event | None = None, on_day_closed: Callable[[TradingDay], None] | None = None,
                 on_event: Callable[[MarketEvent], None] | None = None,
                 sampler: ProcessSampler | None = None, wall_clock: Callable[[], pd.Timestamp] | None = None) -> None:
        self.config = config
        self.ledger = ledger
        self.feed = feed
        self.sources = list(sources)
        self.days = list(days)
        self.instrument_symbol = instrument_symbol
        self.stop = stop or threading.Event()
        self.on_day_closed = on_day_closed
        self.on_event = on_event
        self.sampler = sampler
        self.wall_clock = wall_clock or (lambda: pd.Timestamp.now(tz="UTC"))
        self.broker = PaperBroker(config.execution)
        self._bars: dict[str, PricePath] = {}
        self._events_done = 0

    # --- the run ---------------------------------------------------------------------------

    def run(self) -> RunOutcome:
        """Process every remaining event of every remaining day; resumable at any point."""
        run = self.ledger.run()
        if run is None:
            raise RuntimeError("the ledger has no run row: create the run before running it")
        if run["status"] in (RUN_INTERRUPTED, RUN_FAILED):
            self._set_status(RUN_RUNNING, "resumed", None)
        progress = self.ledger.progress()
        closed = {r["day"] for r in self.ledger.rows("SELECT day FROM daily_summaries")}
        try:
            for day in self.days:
                if day.label in closed:
                    continue
                start = 0
                if progress["day"] == day.label and progress["event_index"] is not None:
                    start = int(progress["event_index"]) + (1 if self.feed.mode == "live" else 0)
                for event in self.feed.events(day, start, self.stop):
                    self._process(day, event)
                    if self.on_event is not None:
                        self.on_event(event)
                    if self.stop.is_set():
                        break
                if self.stop.is_set() or day.label not in self._closed_days():
                    return self._interrupted()
        except BaseException as exc:
            if not isinstance(exc, (KeyboardInterrupt, SystemExit)):
                self._set_status(RUN_FAILED, f"{type(exc).__name__}: {exc}", None)
            raise
        finally:
            self.ledger.flush_perf()
        last = self.days[-1].window_close if self.days else None
        if self.ledger.run()["status"] != RUN_COMPLETED:
            self._set_status(RUN_COMPLETED, "all days closed", last)
        return RunOutcome(RUN_COMPLETED, len(self._closed_days()), self._events_done)

    def _interrupted(self) -> RunOutcome:
        progress = self.ledger.progress()
        self._set_status(RUN_INTERRUPTED, "stopped before the last day closed; resume with --resume",
                         pd.Timestamp(progress["sim_time"]) if progress["sim_time"] else None)
        return RunOutcome(RUN_INTERRUPTED, len(self._closed_days()), self._events_done)

    def _closed_days(self) -> set[str]:
        return {r["day"] for r in self.ledger.rows("SELECT day FROM daily_summaries")}

    def _set_status(self, status: str, reason: str, at: pd.Timestamp | None) -> None:
        progress = self.ledger.progress()
        with self.ledger.transaction(day=progress["day"], event_index=progress["event_index"],
                                     sim_time=pd.Timestamp(progress["sim_time"]) if progress["sim_time"] else None) as tx:
            tx.execute("UPDATE runs SET status = ?, status_reason = ?, status_at = ?", (status, reason, iso(at)))

    # --- one event -------------------------------------------------------------------------

    def _process(self, day: TradingDay, event: MarketEvent) -> None:
        with Stopwatch() as cycle:
            self._apply_controls(day, event)
            self._follow(day, event, event.time)
            if event.kind == EVENT_CLOSE:
                self._close_day(day, event)
            else:
                if not self.ledger.scalar("SELECT 1 FROM observations WHERE event_key = ?", (event.key,)):
                    self._observe(day, event)
                self._decide(day, event)
        self.ledger.add_latency(day.label, event.key, "cycle", cycle.ms)
        self._events_done += 1
        every = self.config.performance.process_sample_every
        if self.sampler is not None and (self._events_done % every == 1 or every == 1):
            sample = self.sampler.sample()
            self.ledger.add_process_sample(self.wall_clock(), day.label, event.key, sample.cpu_percent,
                                           sample.cpu_seconds, sample.rss_mb)

    def _apply_controls(self, day: TradingDay, event: MarketEvent) -> None:
        for control in self.ledger.rows("SELECT control_id, command FROM controls WHERE status = 'pending' "
                                        "ORDER BY control_id"):
            with self.ledger.transaction(day=day.label, event_index=event.index, sim_time=event.time) as tx:
                tx.execute("UPDATE controls SET status = 'applied', applied_at = ?, applied_event = ? "
                           "WHERE control_id = ?", (iso(event.time), event.key, control["control_id"]))
            log.warning("control %s applied at %s (%s)", control["command"], event.time, event.key)
            if control["command"] == CONTROL_STOP:
                self.stop.set()

    def halted(self) -> bool:
        """True while the last applied halt has not been followed by a resume."""
        last = self.ledger.scalar("SELECT command FROM controls WHERE status = 'applied' AND command IN (?, ?) "
                                  "ORDER BY control_id DESC LIMIT 1", (CONTROL_HALT, CONTROL_RESUME))
        return last == CONTROL_HALT

    def _day_bars(self, day: TradingDay) -> PricePath:
        if self.feed.mode == "live" or day.label not in self._bars:
            self._bars[day.label] = self.feed.bars(day)
        return self._bars[day.label]

    # --- following open signals ------------------------------------------------------------

    def _open_followers(self, day: TradingDay) -> pd.DataFrame:
        return self.ledger.frame(
            "SELECT s.signal_id, s.source, s.direction, s.entry_reference, s.target, s.stop, s.sim_time, "
            "p.position_id, p.entry_price, p.contract AS position_contract, p.option_strike, p.option_right, "
            "p.option_iv, p.option_expiration, p.quantity "
            "FROM signals s LEFT JOIN outcomes o ON o.signal_id = s.signal_id "
            "LEFT JOIN positions p ON p.signal_id = s.signal_id AND p.status = 'open' "
            "WHERE s.day = ? AND o.signal_id IS NULL ORDER BY s.signal_id", (day.label,))

    def _follow(self, day: TradingDay, event: MarketEvent, until: pd.Timestamp) -> None:
        followers = self._open_followers(day)
        if followers.empty:
            return
        followers = _with_follow_columns(followers)
        bars = self._day_bars(day)
        start = pd.Timestamp(int(followers["start_ns"].min()), tz="UTC")
        hits = resolve(followers, bars.between(start, until),
                       stop_first=self.config.execution.same_bar_rule == "stop_first")
        self._record_exits(day, event, followers, hits)

    def _record_exits(self, day: TradingDay, event: MarketEvent, followers: pd.DataFrame, exits: pd.DataFrame) -> None:
        by_id = followers.set_index("signal_id")
        for hit in exits.itertuples(index=False):
            row = by_id.loc[hit.signal_id]
            at = pd.Timestamp(int(hit.exit_ns), tz="UTC")
            sign = DIRECTION_SIGN[row["direction"]]
            move = float(move_points(sign, row["entry_reference"], hit.exit_reference))
            correct = None if np.isnan(move) else int(move > 0)
            outcome = {"signal_id": hit.signal_id, "position_id": None, "day": day.label, "resolved_at": iso(at),
                       "exit_reason": hit.exit_reason, "exit_reference": hit.exit_reference, "move_points": move,
                       "correct": correct, "pnl_points": None, "pnl_usd": None, "costs_usd": None}
            with self.ledger.transaction(day=day.label, event_index=event.index, sim_time=at) as tx:
                if isinstance(row["position_id"], str):
                    self._close_position(tx, day, at, hit, row, outcome)
                tx.insert("outcomes", outcome)

    def _close_position(self, tx: Any, day: TradingDay, at: pd.Timestamp, hit: Any, row: pd.Series,
                        outcome: dict[str, Any]) -> None:
        quote = None
        years_at_exit = float("nan")
        if self.broker.trades_options and isinstance(row["option_right"], str):
            quote = EntryQuote(price=float(row["entry_price"]), contract=row["position_contract"],
                               strike=float(row["option_strike"]), is_call=row["option_right"] == "C",
                               iv=number_or_nan(row["option_iv"]))
            years_at_exit = years_to_settlement(row["option_expiration"], at)
        price, origin = self.broker.exit_price(row["direction"], hit.exit_reason, float(hit.exit_reference),
                                               quote=quote, years_at_exit=years_at_exit)
        # what the fill is measured against, in the traded instrument's own price (an option's mark,
        # not the futures level: that one is the outcome's exit_reference)
        reference = self.broker.exit_quote(float(hit.exit_reference), quote=quote, years_at_exit=years_at_exit)
        points, dollars, commissions = self.broker.pnl(row["direction"], float(row["entry_price"]), price)
        position_id = row["position_id"]
        quantity = int(row["quantity"])
        exit_side = "SELL" if self.broker.order_side(row["direction"]) == "BUY" else "BUY"
        order_id = f"{hit.signal_id}/exit"
        order_type = "limit" if self.broker.exit_is_limit(hit.exit_reason) else "market"
        tx.insert("orders", {"order_id": order_id, "signal_id": hit.signal_id, "day": day.label, "sim_time": iso(at),
                             "instrument": row["position_contract"] or self.config.execution.instrument,
                             "side": exit_side, "quantity": quantity, "order_type": order_type,
                             "purpose": f"exit:{hit.exit_reason}", "status": "filled", "reason": ""})
        slippage = self.broker.exit_slippage(hit.exit_reason)
        commission = self.config.execution.commission * quantity
        tx.insert("fills", {"fill_id": f"{order_id}/fill", "order_id": order_id, "day": day.label, "sim_time": iso(at),
                            "price": price, "quantity": quantity, "reference_price": reference,
                            "slippage_points": slippage, "commission_usd": commission})
        tx.insert("costs", {"cost_id": f"{order_id}/commission", "day": day.label, "sim_time": iso(at),
                            "kind": "commission", "amount_usd": commission, "ref": order_id, "note": ""})
        tx.execute("UPDATE positions SET status = 'closed', exit_time = ?, exit_price = ?, exit_reason = ?, "
                   "exit_price_origin = ? WHERE position_id = ?", (iso(at), price, hit.exit_reason, origin, position_id))
        valid = not np.isnan(points)
        outcome.update(position_id=position_id, pnl_points=points if valid else None,
                       pnl_usd=dollars if valid else None, costs_usd=commissions)

    # --- new signals -----------------------------------------------------------------------

    def _observe(self, day: TradingDay, event: MarketEvent) -> None:
        data = self.feed.load(event)
        if np.isfinite(data.load_ms):
            self.ledger.add_latency(day.label, event.key, "data_load", data.load_ms)
        bars = self._day_bars(day)
        price, bar_end = bars.last_close(event.time)
        staleness = (event.time - bar_end).total_seconds() if bar_end is not None else float("nan")
        chain = data.chain if event.kind == EVENT_CHAIN else self.feed.latest_chain(event.time)
        notes = list(data.notes)
        if data.chain_error:
            notes.append(f"chain refused: {data.chain_error}")
        halted = self.halted()
        interval = with_interval_volume(data.chain.frame, data.previous) if data.chain is not None else None
        ideas: list[pd.DataFrame] = []
        if halted:
            notes.append("halted: no new signals")
        elif not np.isfinite(price):
            notes.append("no price bar yet today: nothing can be entered")
        else:
            inputs = SignalInput(time=event.time, price=price, chain=data.chain, interval_chain=interval,
                                 mbo_signals=data.mbo_signals)
            for source in self.sources:
                if source.event_kind != event.kind:
                    continue
                with Stopwatch() as watch:
                    frame = source.generate(inputs)
                self.ledger.add_latency(day.label, event.key, f"algorithm:{source.algorithm}", watch.ms)
                if not frame.empty:
                    ideas.append(frame.assign(source=source.name, algorithm=source.algorithm,
                                              traded_source=int(source.trade)))
        signals = pd.concat(ideas, ignore_index=True) if ideas else pd.DataFrame()
        if not signals.empty:
            signals, note = _sensible_levels(signals, price)
            notes.extend(note)
            signals = self._drop_repeats(day, event, signals)
        context_chain = interval if interval is not None else (chain.frame if chain is not None else None)
        validations = pd.DataFrame()
        if not signals.empty:
            signals = self._stamp(event, signals, price, chain)
            history = self.ledger.frame(
                "SELECT s.source, s.direction, o.resolved_at, o.correct FROM outcomes o "
                "JOIN signals s ON s.signal_id = o.signal_id WHERE o.correct IS NOT NULL AND o.resolved_at <= ? "
                "ORDER BY o.resolved_at, o.signal_id", (iso(event.time),))
            market = MarketSnapshot(chain=context_chain, window_open=day.window_open, window_close=day.window_close,
                                    timezone=self.config.window.timezone)
            with Stopwatch() as watch:
                validations = validate_signals(signals, market, history, self.config.validation)
            self.ledger.add_latency(day.label, event.key, "validation", watch.ms)
        observation = {
            "event_key": event.key, "day": day.label, "event_index": event.index, "sim_time": iso(event.time),
            "kind": event.kind, "input": event.input or (chain.meta.source if chain is not None else ""),
            "halted": int(halted),
            "contracts": len(data.chain.frame) if data.chain is not None else None,
            "quarantined": len(data.chain.quarantine) if data.chain is not None else None,
            "missing_share": _missing_share(data.chain) if data.chain is not None else None,
            "underlying_price": data.chain.meta.underlying_price if data.chain is not None else None,
            "price": price, "price_staleness_s": staleness, "signals": len(signals), "notes": "; ".join(notes)}
        with self.ledger.transaction(day=day.label, event_index=event.index, sim_time=event.time) as tx:
            tx.insert("observations", observation)
            if not signals.empty:
                tx.insert("signals", _signal_rows(signals))
                tx.insert("validations", _validation_rows(signals, validations))
            if data.cost_usd:
                tx.insert("costs", {"cost_id": f"{event.key}/data", "day": day.label, "sim_time": iso(event.time),
                                    "kind": "data", "amount_usd": data.cost_usd, "ref": event.key,
                                    "note": data.cost_note})

    def _drop_repeats(self, day: TradingDay, event: MarketEvent, signals: pd.DataFrame) -> pd.DataFrame:
        """Ideas a source already signalled within the cooldown (same contract and direction, or for
        ideas without a contract the same direction, target and stop) are not signalled again."""
        minutes = self.config.signals.cooldown_minutes
        if minutes <= 0:
            return signals
        since = event.time - pd.Timedelta(minutes=minutes)
        recent = self.ledger.frame(
            "SELECT source, contract, direction, target, stop FROM signals WHERE day = ? AND sim_time > ? "
            "AND sim_time <= ?", (day.label, iso(since), iso(event.time)))
        seen = set(_repeat_keys(recent))
        keys = _repeat_keys(signals)
        keep = []
        for key in keys:
            keep.append(key not in seen)
            seen.add(key)
        return signals[np.array(keep, dtype=bool)].reset_index(drop=True)

    def _stamp(self, event: MarketEvent, signals: pd.DataFrame, price: float, chain: OptionsChain | None
               ) -> pd.DataFrame:
        counters: dict[str, int] = {}
        ids = []
        for source in signals["source"]:
            k = counters.get(source, 0)
            counters[source] = k + 1
            ids.append(f"{event.key}/{source}/{k}")
        instrument = chain.meta.underlying_symbol if chain is not None else self.instrument_symbol
        return signals.assign(signal_id=ids, event_key=event.key, day=event.day, sim_time=event.time,
                              instrument=instrument, entry_reference=price)

    # --- paper execution -------------------------------------------------------------------

    def _decide(self, day: TradingDay, event: MarketEvent) -> None:
        pending = self.ledger.frame(
            "SELECT s.* FROM signals s JOIN validations v ON v.signal_id = s.signal_id "
            "LEFT JOIN orders o ON o.signal_id = s.signal_id "
            "WHERE s.event_key = ? AND v.passed = 1 AND s.traded_source = 1 AND o.order_id IS NULL "
            "ORDER BY s.signal_id", (event.key,))
        for signal in pending.to_dict("records"):
            open_positions = self.ledger.frame("SELECT source FROM positions WHERE status = 'open'")
            reason = REFUSED_HALTED if self.halted() else self.broker.refusal(open_positions, signal["source"])
            quote = self._entry_quote(signal, event) if not reason else None
            if quote is not None and not np.isfinite(quote.price):
                reason = f"{REFUSED_NO_PRICE}: no {'option quote' if self.broker.trades_options else 'price'} " \
                         f"at {event.time.isoformat()}"
            order_id = f"{signal['signal_id']}/entry"
            side = self.broker.order_side(signal["direction"])
            quantity = self.config.execution.quantity
            with self.ledger.transaction(day=day.label, event_index=event.index, sim_time=event.time) as tx:
                if reason:
                    tx.insert("orders", {"order_id": order_id, "signal_id": signal["signal_id"], "day": day.label,
                                         "sim_time": iso(event.time), "instrument": self.config.execution.instrument,
                                         "side": side, "quantity": quantity, "order_type": "market",
                                         "purpose": "entry", "status": "refused", "reason": reason})
                    continue
                assert quote is not None
                instrument = self.broker.instrument_name(quote)
                price = self.broker.entry_price(signal["direction"], quote)
                commission = self.config.execution.commission * quantity
                tx.insert("orders", {"order_id": order_id, "signal_id": signal["signal_id"], "day": day.label,
                                     "sim_time": iso(event.time), "instrument": instrument, "side": side,
                                     "quantity": quantity, "order_type": "market", "purpose": "entry",
                                     "status": "filled", "reason": ""})
                tx.insert("fills", {"fill_id": f"{order_id}/fill", "order_id": order_id, "day": day.label,
                                    "sim_time": iso(event.time), "price": price, "quantity": quantity,
                                    "reference_price": quote.price,
                                    "slippage_points": self.config.execution.slippage_points,
                                    "commission_usd": commission})
                tx.insert("costs", {"cost_id": f"{order_id}/commission", "day": day.label,
                                    "sim_time": iso(event.time), "kind": "commission", "amount_usd": commission,
                                    "ref": order_id, "note": ""})
                tx.insert("positions", {
                    "position_id": f"{signal['signal_id']}/position", "signal_id": signal["signal_id"],
                    "source": signal["source"], "day": day.label, "instrument": instrument,
                    "contract": quote.contract, "direction": signal["direction"], "quantity": quantity,
                    "multiplier": self.config.execution.multiplier, "entry_time": iso(event.time),
                    "entry_price": price, "target": signal["target"], "stop": signal["stop"],
                    "option_strike": quote.strike if quote.contract else None,
                    "option_right": ("C" if quote.is_call else "P") if quote.contract else None,
                    "option_iv": quote.iv if quote.contract else None,
                    "option_expiration": quote.expiration if quote.contract else None,
                    "status": "open", "exit_time": None, "exit_price": None, "exit_reason": None,
                    "exit_price_origin": None})

    def _entry_quote(self, signal: dict[str, Any], event: MarketEvent) -> EntryQuote:
        if not self.broker.trades_options:
            return EntryQuote(price=float(signal["entry_reference"]))
        chain = self.feed.latest_chain(event.time)
        if chain is None:
            return EntryQuote(price=float("nan"))
        return option_quote(chain, signal, event.time)

    # --- end of day ------------------------------------------------------------------------

    def _close_day(self, day: TradingDay, event: MarketEvent) -> None:
        for metric, ms in self.feed.day_latency(day).items():
            self.ledger.add_latency(day.label, event.key, metric, ms)
        followers = self._open_followers(day)
        if not followers.empty:
            followers = _with_follow_columns(followers)
            exits = close_at_session_end(followers, self._day_bars(day), day.window_close)
            self._record_exits(day, event, followers, exits)
        if self.ledger.scalar("SELECT 1 FROM daily_summaries WHERE day = ?", (day.label,)):
            return
        summary = day_summary(self.ledger, day.label)
        summary["window"] = {"open": iso(day.window_open), "close": iso(day.window_close),
                             "timezone": self.config.window.timezone, "early_close": day.early_close,
                             "local": f"{day.window_open.tz_convert(self.config.window.timezone):%H:%M}-"
                                      f"{day.window_close.tz_convert(self.config.window.timezone):%H:%M}"}
        summary["price"] = self._price_coverage(day)
        with self.ledger.transaction(day=day.label, event_index=event.index, sim_time=event.time) as tx:
            tx.insert("daily_summaries", {
                "day": day.label, "closed_at": iso(event.time), "signals": summary["signals"]["signals"],
                "validated": summary["signals"]["validated"], "resolved": summary["signals"]["resolved"],
                "correct": summary["signals"]["correct"], "trades": summary["trades"]["trades"],
                "pnl_usd": summary["trades"]["pnl_usd"], "costs_usd": summary["costs_usd"],
                "summary_json": json.dumps(summary, sort_keys=True)})
        log.info("day %s closed: %d signals, %d trades, P&L $%.2f", day.label, summary["signals"]["signals"],
                 summary["trades"]["trades"], summary["trades"]["pnl_usd"])
        if self.on_day_closed is not None:
            self.on_day_closed(day)


    def _price_coverage(self, day: TradingDay) -> dict[str, Any]:
        """Bars of the price path inside the window against the window's length in bars (replay);
        a live path has one point per cycle, so it has no expected count."""
        bars = len(self._day_bars(day).between(day.window_open, day.window_close))
        if self.feed.mode != "replay":
            return {"bars": bars, "expected": None, "completeness": None}
        expected = int((day.window_close - day.window_open).total_seconds() // self.config.replay.bar_seconds)
        return {"bars": bars, "expected": expected, "completeness": bars / expected if expected else None}


# --- pure helpers ------------------------------------------------------------------------------

def day_summary(ledger: Ledger, day: str) -> dict[str, Any]:
    """The day's figures, by query over its ledger rows (what `daily_summaries` stores)."""
    signals = ledger.frame(
        "SELECT s.signal_id, v.passed, v.false_positive, o.correct FROM signals s "
        "JOIN validations v ON v.signal_id = s.signal_id LEFT JOIN outcomes o ON o.signal_id = s.signal_id "
        "WHERE s.day = ?", (day,))
    trades = ledger.frame(
        "SELECT o.signal_id, o.pnl_usd, o.pnl_points, o.costs_usd, o.resolved_at AS exit_time FROM outcomes o "
        "WHERE o.day = ? AND o.position_id IS NOT NULL", (day,))
    costs = float(ledger.scalar("SELECT COALESCE(SUM(amount_usd), 0) FROM costs WHERE day = ?", (day,)))
    return {"signals": metrics.signal_metrics(signals), "trades": metrics.trade_metrics(trades), "costs_usd": costs}


def option_quote(chain: OptionsChain, signal: dict[str, Any], at: pd.Timestamp) -> EntryQuote:
    """The option a signal trades: a call for a LONG, a put for a SHORT, at the signal's own strike
    and expiration when the chain lists them (else the front expiration listing that strike), and
    for a signal without a strike the front-expiration option nearest the entry. Bought at the ask
    (the mark when there is no ask); its IV by Black-76 from the mark, for the model exit mark."""
    frame = chain.frame
    right = "C" if signal["direction"] == "LONG" else "P"
    candidates = frame[frame["right"] == right]
    strike = number_or_nan(signal.get("strike"))
    evidence = json.loads(signal.get("evidence_json") or "{}")
    rows = candidates.iloc[0:0]
    if np.isfinite(strike):
        rows = candidates[candidates["strike"] == strike].sort_values("expiration", kind="stable")
        wanted = evidence.get("expiration")
        if wanted and (rows["expiration"] == pd.Timestamp(wanted)).any():
            rows = rows[rows["expiration"] == pd.Timestamp(wanted)]
    if rows.empty:
        front = candidates[candidates["expiration"] == candidates["expiration"].min()]
        if front.empty:
            return EntryQuote(price=float("nan"))
        nearest = int(np.argmin(np.abs(front["strike"].to_numpy() - float(signal["entry_reference"]))))
        rows = front.iloc[[nearest]]
    row = rows.iloc[0]
    ask = float(row["ask"]) if pd.notna(row["ask"]) and row["ask"] > 0 else float(row["mark"])
    years = float(AnalysisContext.from_chain(chain).years_to(pd.Timestamp(row["expiration"])))
    iv = float(black76.implied_vol(float(row["mark"]), float(signal["entry_reference"]), float(row["strike"]),
                                   years, right == "C"))
    return EntryQuote(price=ask, contract=str(row["contract"]), strike=float(row["strike"]), is_call=right == "C",
                      iv=iv, years=years, expiration=pd.Timestamp(row["expiration"]).date().isoformat())


def _with_follow_columns(followers: pd.DataFrame) -> pd.DataFrame:
    return followers.assign(
        sign=followers["direction"].map(DIRECTION_SIGN).astype("float64"),
        start_ns=pd.to_datetime(followers["sim_time"], utc=True).dt.as_unit("ns").astype("int64"))


def _sensible_levels(signals: pd.DataFrame, price: float) -> tuple[pd.DataFrame, list[str]]:
    """Ideas whose target lies ahead of the price and stop behind it; the rest are not signals."""
    sign = signals["direction"].map(DIRECTION_SIGN).to_numpy(dtype="float64")
    ok = ((signals["target"].to_numpy() - price) * sign > 0) & ((price - signals["stop"].to_numpy()) * sign > 0)
    notes = []
    if (~ok).any():
        by_source = signals.loc[~ok, "source"].value_counts()
        notes.append(f"{int((~ok).sum())} idea(s) not signalled: target or stop already on the wrong side of the "
                     f"price {price:g} ({', '.join(f'{k}: {v}' for k, v in by_source.items())})")
    return signals[ok].reset_index(drop=True), notes


def _repeat_keys(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    out = []
    for row in frame.itertuples(index=False):
        contract = getattr(row, "contract")
        if isinstance(contract, str) and contract:
            out.append((row.source, "contract", contract, row.direction))
        else:
            out.append((row.source, "levels", row.direction, float(row.target), float(row.stop)))
    return out


def _signal_rows(signals: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for s in signals.to_dict("records"):
        rows.append({
            "signal_id": s["signal_id"], "event_key": s["event_key"], "day": s["day"], "sim_time": iso(s["sim_time"]),
            "source": s["source"], "algorithm": s["algorithm"], "traded_source": int(s["traded_source"]),
            "instrument": s["instrument"], "contract": s["contract"] if isinstance(s["contract"], str) else None,
            "strike": s["strike"], "option_right": s["option_right"] if isinstance(s["option_right"], str) else None,
            "direction": s["direction"], "entry_reference": s["entry_reference"], "target": s["target"],
            "stop": s["stop"], "confidence": s["confidence"],
            "tier": s["tier"] if isinstance(s["tier"], str) else None,
            "expected_value_points": s["expected_value_points"],
            "evidence_json": json.dumps(s["evidence"] or {}, sort_keys=True, default=_json_default)})
    return rows


def _validation_rows(signals: pd.DataFrame, validations: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for signal_id, (_, v) in zip(signals["signal_id"], validations.iterrows()):
        rows.append({"signal_id": signal_id, "score": v["score"], "passed": int(bool(v["passed"])),
                     "false_positive": int(bool(v["false_positive"])), "technical": v["technical"],
                     "market_context": v["market_context"], "time_of_day": v["time_of_day"],
                     "history": v["history"], "reasons_json": json.dumps(list(v["reasons"]))})
    return rows


def _missing_share(chain: OptionsChain) -> float | None:
    frame = chain.frame
    if frame.empty:
        return None
    columns = ["bid", "ask", "volume", "open_interest"]
    return float(frame[columns].isna().to_numpy().mean())


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)
