"""Limited live trading: validated signals sent to a broker, 1 contract at a time, under hard caps.

Two ways in, one execution path (the risk engine, then the broker, everything in a run ledger):

- `run_limited_live(request, ...)` / `run_shadow_trading.py --limited-live`: the shadow
  orchestrator's loop (signals, validation, following, reports) over a replay or the live feed,
  executing through the profile's broker (`broker.name`, paper when none) and the risk engine
  configured from the profile's `limited_live.risk` section;
- `LimitedLiveTradingOrchestrator` (the documented entry point): signals handed in one at a time
  (`process_signal_for_live_trading`), each checked by the guards and, if approved, placed as one
  bracket (entry + stop + target, client order ids from the signal id) at the broker; the market
  handed in as it trades (`update_market(price, timestamp)`): the paper broker fills a working
  stop or target on it (a real broker fills on its own market), every exit the broker filled is
  recorded (exit order and fill, commission, position closed, realised P&L net of commissions:
  the rows the CLI path writes, `execution/exit_recording.py`), and the fills and the price go
  through the risk engine's post-trade rules (a day's loss past its cap halts and flattens,
  `execution/post_trade.py`). `start_live_trading()` reconciles the ledger with the broker
  first: exits the broker made while this process was down are recorded then.

Example (docs/limited_live.md; a test runs it verbatim)::

    from tasks.options_trading_system.analysis_engine.strategies.limited_live_trading_orchestrator import (
        LimitedLiveTradingConfig, LimitedLiveTradingOrchestrator)
    config = LimitedLiveTradingConfig(start_date="2025-06-02", duration_days=5, max_position_size=1,
                                      daily_cost_limit=8.0, monthly_budget_limit=200.0, auto_shutoff_enabled=True)
    orchestrator = LimitedLiveTradingOrchestrator(config)
    orchestrator.start_live_trading()
    accepted = orchestrator.process_signal_for_live_trading({
        "signal_id": "demo-1", "direction": "LONG", "entry_price": 21500.0, "target_price": 21520.0,
        "stop_loss": 21490.0, "timestamp": "2025-06-02T14:00:00Z"})
    print(orchestrator.get_trading_status()["status_line"])
    orchestrator.update_market(21520.0, "2025-06-02T14:07:00Z")   # the market reaches the target
    print(orchestrator.get_trading_status()["status_line"])
    orchestrator.stop_live_trading()

prints (and writes `outputs/limited_live/runs/limited-20250602-paper/ledger.sqlite`)::

    limited live [paper] ACTIVE: 1 open position(s), total risk $21.00, P&L today $0.00, 1 order(s), 0 refused
    limited live [paper] ACTIVE: 0 open position(s), total risk $0.00, P&L today $38.26, 2 order(s), 0 refused
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ...config_manager import load_profile
from ...errors import ConfigError
from ...state.ledger import LEDGER_FILE, RUN_RUNNING, Ledger, iso
from ...state.trade_rows import (CostRow, FillRow, OrderRow, PositionRow, write_cost, write_fill, write_order,
                                 write_position)
from ...state import queries
from .execution.adoption import ledger_books, record_adoption
from .execution.broker import Broker
from .execution.exit_recording import ExitRecorder, leg_exits, liquidation_exits, with_follow_columns
from .execution.orders import Fill
from .execution.paper import PaperBroker
from .execution.paper_pricing import EntryQuote
from .execution.risk_view import LedgerRiskView
from .execution.post_trade import cancel_orders, fill_checks, flatten_reason, price_check
from .execution.signal_orders import signal_bracket
from .feeds.price_path import PricePath
from .guards import LedgerSpendReader, RiskConfig, RiskEngine, SqliteRiskStore
from .guards.risk_engine import Action
from .guards.config import NETTING_ACCOUNT, DataCostConfig
from .guards.exposure import exposure
from .shadow_config import ShadowTradingConfig, thaw
from .shadow_orchestrator import refusal_reason

log = logging.getLogger(__name__)

PROFILE = "limited_live"
DIRECT_SOURCE = "direct"


@dataclass(frozen=True)
class LimitedLiveTradingConfig:
    """The documented settings (the rest comes from the `limited_live` profile).

    - `max_position_size`: contracts open or working at once (max_position guard, 1..10);
    - `daily_cost_limit` / `monthly_budget_limit`: data spend caps in USD (data_cost guard);
    - `auto_shutoff_enabled`: the data-cost shutoff (data_cost and cost_per_signal guards); the
      loss, risk, position, rate and window caps are always on.
    """

    start_date: str | date | None = None
    duration_days: int = 5
    max_position_size: int = 1
    daily_cost_limit: float = 8.0
    monthly_budget_limit: float = 200.0
    auto_shutoff_enabled: bool = True
    profile: str = PROFILE
    output_dir: str | None = None
    run_id: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= int(self.duration_days) <= 7:
            raise ConfigError(f"duration_days = {self.duration_days}: expected 1..7 trading days")
        if not 1 <= int(self.max_position_size) <= 10:
            raise ConfigError(f"max_position_size = {self.max_position_size}: expected 1..10 contracts")
        for name in ("daily_cost_limit", "monthly_budget_limit"):
            value = float(getattr(self, name))
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} = {value}: expected a finite amount of dollars >= 0")
        if float(self.daily_cost_limit) > float(self.monthly_budget_limit):
            raise ConfigError(f"daily_cost_limit ({self.daily_cost_limit}) is above monthly_budget_limit "
                              f"({self.monthly_budget_limit})")

    def risk_config(self, base: RiskConfig) -> RiskConfig:
        """The profile's `limited_live.risk` with this config's caps laid over it."""
        return replace(base,
                       max_position=replace(base.max_position, enabled=True, max_contracts=int(self.max_position_size)),
                       data_cost=DataCostConfig(enabled=bool(self.auto_shutoff_enabled),
                                                daily_usd=float(self.daily_cost_limit),
                                                monthly_usd=float(self.monthly_budget_limit)),
                       cost_per_signal=replace(base.cost_per_signal, enabled=base.cost_per_signal.enabled
                                               and bool(self.auto_shutoff_enabled)))


def limited_live_risk(profile: Any) -> RiskConfig:
    """The risk engine's settings of a profile's `limited_live` section (ConfigError naming the key).
    A real account nets positions, so `max_position.netting` must stay "account" here."""
    config = RiskConfig.from_dict(thaw(profile.section("limited_live").get("risk") or {}), where="limited_live.risk")
    if config.max_position.netting != NETTING_ACCOUNT:
        raise ConfigError(f"`limited_live.risk.max_position.netting` = {config.max_position.netting!r}: a broker nets "
                          f"every position in an instrument, so limited live counts them as one account "
                          f"(\"account\"); \"per_signal\" is for shadow runs' paper books")
    return config


def make_broker(section: Mapping[str, Any], config: ShadowTradingConfig, *, confirm_live: bool = False,
                market_clock: Any = None, name: str | None = None) -> Broker:
    """The profile's broker (`broker.name`, or `name` from the command line); paper when none."""
    name = name or str(section.get("name") or "paper")
    if name == "paper":
        return PaperBroker(config.execution)
    if name == "tradovate":
        from .brokers.tradovate import TradovateBroker
        settings = dict(section) if section.get("name") == "tradovate" else {}
        if not confirm_live and settings.get("environment") == "live":
            raise ConfigError("broker.environment is \"live\" (real money): add --confirm-live to the command line "
                              "to trade it, or set broker.environment to \"demo\"")
        return TradovateBroker.from_profile(settings, confirm_live=confirm_live, market_clock=market_clock)
    raise ConfigError(f"broker {name!r}: expected paper or tradovate")


class LimitedLiveTradingOrchestrator:
    """Signals in, guarded brackets out, everything in one run ledger (see the module docstring)."""

    def __init__(self, config: LimitedLiveTradingConfig | None = None, *, broker: Broker | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.config = config or LimitedLiveTradingConfig()
        profile = load_profile(self.config.profile, env=env)
        self.shadow = ShadowTradingConfig.from_profile(profile)
        self.risk_config = self.config.risk_config(limited_live_risk(profile))
        section = profile.section("limited_live")
        self.output_dir = Path(self.config.output_dir or section.get("output_dir") or "outputs/limited_live")
        self.spend_root = Path(section.get("spend_root") or "outputs")
        self.broker = broker if broker is not None else make_broker(profile.section("broker"), self.shadow)
        self.profile = profile
        self.ledger: Ledger | None = None
        self.risk: RiskEngine | None = None
        self.view: LedgerRiskView | None = None
        self.exits: ExitRecorder | None = None
        self._marks: dict[str, float] = {}
        # the last price handed to `update_market`: a one-point path (a live run's price path is
        # one point per observation) and its time; None until the first update
        self._path: PricePath | None = None
        self._mark_time: pd.Timestamp | None = None

    # --- the documented API ----------------------------------------------------------------------

    def start_live_trading(self) -> str:
        """Open (or reopen) the run's ledger, connect the broker, load the risk state and reconcile
        the ledger with the broker (exits it made while this process was down are recorded, then
        judged by the risk engine); the run id."""
        start = pd.Timestamp(self.config.start_date or pd.Timestamp.now(tz="UTC").date())
        run_id = self.config.run_id or f"limited-{start:%Y%m%d}-{self.broker.name}"
        run_dir = self.output_dir / "runs" / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(run_dir / LEDGER_FILE)
        if self.ledger.run() is None:
            days = [d.date().isoformat() for d in pd.bdate_range(start, periods=int(self.config.duration_days))]
            settings = {"profile": self.profile.masked(), "request": {"limited_live": True, "broker": self.broker.name,
                                                                      "days": len(days), "start": days[0]}}
            with self.ledger.transaction(day=None, event_index=None, sim_time=None) as tx:
                tx.insert("runs", {"run_id": run_id, "mode": "limited_live", "profile": self.profile.name,
                                   "config_json": json.dumps(settings, sort_keys=True), "data_dir": None,
                                   "price_path": None, "start_date": days[0], "days": len(days),
                                   "trading_days_json": json.dumps(days), "status": RUN_RUNNING,
                                   "status_reason": "started", "status_at": None})
        spend = LedgerSpendReader.under(self.spend_root) \
            if (self.risk_config.data_cost.enabled or self.risk_config.cost_per_signal.enabled) else None
        self.risk = RiskEngine(self.risk_config, store=SqliteRiskStore(self.ledger.connection), spend=spend)
        self.view = LedgerRiskView(self.ledger, instrument=self.shadow.execution.instrument,
                                   quantity=self.shadow.execution.quantity)
        self.exits = ExitRecorder(self.ledger, self.broker, self.shadow.execution)
        self.broker.connect()
        if self.broker.real_money:
            log.warning("!!! LIMITED LIVE TRADING WITH REAL MONEY (%s) !!!", self.broker.name)
        # a real broker's state outlives this process; the paper broker first takes the ledger's
        # open positions back (a new paper broker holds nothing), then the books must agree
        self._reconcile(pd.Timestamp.now(tz="UTC"))
        log.info("limited live run %s: broker %s, risk state %s, ledger %s", run_id, self.broker.name,
                 self.risk.state.value, self.ledger.path)
        return run_id

    def _reconcile(self, now: pd.Timestamp) -> str:
        """The ledger against the broker (`execution/adoption.py`): brackets of ours the ledger
        missed (a crash between the broker's answer and the ledger's commit) are adopted; exits the
        broker made that the ledger missed (a stop or target leg filled, a liquidation) are
        recorded at their fills and judged by the risk engine; any other difference halts the risk
        engine with a message naming it. '' when they agree."""
        ledger, risk, _view = self._running()
        followers = queries.open_position_followers(ledger)
        if not followers.empty:
            self._exits().hand_over(with_follow_columns(followers))
        books = ledger_books(ledger, self.broker)
        for adoption in books.adoptions:
            signal = queries.signal_row(ledger, adoption.signal_id)
            cancelled = self.broker.cancel(f"{adoption.signal_id}/entry") \
                if adoption.entry_working is not None else None
            with ledger.transaction(day=signal["day"], event_index=None, sim_time=now) as tx:
                note = record_adoption(tx, signal, adoption, broker=self.broker.name,
                                       instrument=self.shadow.execution.instrument,
                                       side="BUY" if signal["direction"] == "LONG" else "SELL",
                                       quantity=self.shadow.execution.quantity,
                                       multiplier=self.shadow.execution.multiplier,
                                       commission=self.shadow.execution.commission, cancelled=cancelled)
            log.warning("reconciliation: %s", note)
        last = self._record_broker_exits(now, books.liquidated)
        if books.agrees:
            message = ""
        else:
            message = "reconciliation with the broker failed: " + "; ".join(books.problems)
            log.error(message)
            risk.halt(by="reconciliation", reason=message, now=now)
        if last is not None:
            self._watch_risk(last)    # the day's loss with the exits made while away
        return message

    def _record_broker_exits(self, now: pd.Timestamp, liquidated: tuple[tuple[str, Fill], ...]
                             ) -> pd.Timestamp | None:
        """Record the exits of the ledger's open positions the broker already made: a stop or target
        leg filled by `now`, or a liquidation reconciliation matched to the position (recorded as
        `flatten`); each under the day of its fill. The time of the last one, None when none."""
        ledger = self._running()[0]
        followers = queries.open_position_followers(ledger)
        if followers.empty:
            return None
        followers = with_follow_columns(followers)
        fills = list(self.broker.fills())
        legs = leg_exits(followers, fills, now)
        open_ids = set(followers["signal_id"]) - set(legs["signal_id"])
        liquidations, fill_of = liquidation_exits([(s, f) for s, f in liquidated if s in open_ids], None)
        exits = pd.concat([e for e in (legs, liquidations) if not e.empty] or [legs], ignore_index=True)
        if exits.empty:
            return None
        exits = exits.sort_values(["exit_ns", "signal_id"], kind="stable").drop_duplicates("signal_id")
        fill_of = {f.client_order_id: f for f in fills} | fill_of
        days = pd.to_datetime(exits["exit_ns"].to_numpy(dtype="int64"), utc=True).strftime("%Y-%m-%d")
        for day in dict.fromkeys(days):
            self._exits().record(day, None, followers, exits[days == day], fills, fill_of=fill_of)
        log.warning("reconciliation: %s closed at %s while this process was not watching; exit(s) recorded at "
                    "the broker's fill(s)", ", ".join(exits["signal_id"]), self.broker.name)
        return pd.Timestamp(int(exits["exit_ns"].max()), tz="UTC")

    def process_signal_for_live_trading(self, signal: Mapping[str, Any]) -> bool:
        """Check `signal` with the guards and, if approved, place its bracket; True when placed.

        `signal`: `signal_id` (or `id`), `direction` (LONG/SHORT), `entry_price` (the reference
        price now), `target_price`, `stop_loss`, optional `timestamp` (UTC; default now) and
        `source`. A refusal is recorded (order row `refused` with the guard, code and numbers)."""
        ledger, risk, view = self._running()
        row = _signal_row(signal)
        now, day = pd.Timestamp(row["sim_time"]), row["day"]
        order_id = f"{row['signal_id']}/entry"
        side = "BUY" if row["direction"] == "LONG" else "SELL"
        quantity = self.shadow.execution.quantity
        instrument = self.shadow.execution.instrument
        handled = queries.order_status(ledger, order_id)
        if handled is not None:
            log.info("signal %s was handled before; not sent again", row["signal_id"])
            return handled == "filled"
        self._marks[instrument] = float(row["entry_reference"])
        if not queries.signal_recorded(ledger, row["signal_id"]):
            # committed before anything is sent: a crash after the broker took the bracket leaves the
            # signal known, so the next start adopts the bracket by its client order ids
            with ledger.transaction(day=day, event_index=None, sim_time=now) as tx:
                tx.insert("signals", {k: v for k, v in row.items()})
        with ledger.transaction(day=day, event_index=None, sim_time=now) as tx:
            decision = risk.check(view.request(row), view.snapshot(day, now, float(row["entry_reference"])))
            if not decision.approved:
                reason = refusal_reason(decision.refusal) if decision.refusal else "REFUSED"
                write_order(tx, OrderRow(order_id=order_id, signal_id=row["signal_id"], day=day, sim_time=iso(now),
                                         instrument=instrument, side=side, quantity=quantity, order_type="market",
                                         purpose="entry", status="refused", reason=reason))
                log.info("signal %s refused: %s", row["signal_id"], reason)
                return False
            if isinstance(self.broker, PaperBroker):
                self.broker.set_quote(now, EntryQuote(price=float(row["entry_reference"])))
            ack = self.broker.place_bracket(signal_bracket(row["signal_id"], instrument=instrument, side=side,
                                                           quantity=quantity, stop=row["stop"], target=row["target"]))
            fill = next((f for f in self.broker.fills() if f.client_order_id == ack.entry.client_order_id), None)
            status = "filled" if fill is not None else ack.entry.status.value
            write_order(tx, OrderRow(order_id=order_id, signal_id=row["signal_id"], day=day, sim_time=iso(now),
                                     instrument=instrument, side=side, quantity=quantity, order_type="market",
                                     purpose="entry", status=status, reason=ack.entry.reason))
            if fill is None:
                return False
            write_fill(tx, FillRow(fill_id=f"{order_id}/fill", order_id=order_id, day=day, sim_time=iso(fill.time),
                                   price=fill.price, quantity=fill.quantity, reference_price=row["entry_reference"],
                                   slippage_points=abs(fill.price - row["entry_reference"]),
                                   commission_usd=fill.commission_usd))
            write_cost(tx, CostRow(cost_id=f"{order_id}/commission", day=day, sim_time=iso(fill.time),
                                   kind="commission", amount_usd=fill.commission_usd, ref=order_id))
            write_position(tx, PositionRow(
                position_id=f"{row['signal_id']}/position", signal_id=row["signal_id"], source=row["source"], day=day,
                instrument=instrument, contract=None, direction=row["direction"], quantity=quantity,
                multiplier=self.shadow.execution.multiplier, entry_time=iso(fill.time), entry_price=fill.price,
                target=row["target"], stop=row["stop"]))
        return True

    def update_market(self, price: float, timestamp: Any = None) -> list[str]:
        """The market traded at `price` at `timestamp` (UTC; default now): record what the broker
        did and ask the risk engine. Returns the signal ids whose positions closed now.

        The paper broker fills a working stop (at the price less its slippage: a price through the
        stop is a gap, filled there) or target (at its level) on this price; a real broker fills on
        its own market, and its stop or target fills up to `timestamp` are read. Each exit is
        recorded (exit order and fill, commission, position closed with its price and reason,
        outcome with the realised P&L net of both commissions), then every new fill and this price
        go through the risk engine's post-trade rules: a day's loss reaching its cap halts (and
        flattens what is still open), as in the CLI path. Prices come in time order."""
        ledger, _risk, _view = self._running()
        value = float(price)
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"update_market: price {price!r}: expected a finite price above 0")
        now = _utc(timestamp)
        if self._mark_time is not None and now < self._mark_time:
            raise ConfigError(f"update_market: {now.isoformat()} is before the previous update "
                              f"({self._mark_time.isoformat()}); hand the prices in time order")
        self._marks[self.shadow.execution.instrument] = value
        self._mark_time = now
        self._path = PricePath.from_frame(pd.DataFrame({"start": [now], "open": [value], "high": [value],
                                                        "low": [value], "close": [value], "volume": [np.nan]}),
                                          bar_seconds=0, source="update_market")
        before = queries.open_position_followers(ledger)
        if not before.empty:
            path = self._path
            self._exits().follow(now.date().isoformat(), None, with_follow_columns(before), lambda: path, now)
        self._watch_risk(now)
        still = set(queries.open_position_followers(ledger)["signal_id"])
        return [s for s in (before["signal_id"] if not before.empty else []) if s not in still]

    def get_trading_status(self) -> dict[str, Any]:
        """Risk state, open positions, total risk to the stops, today's P&L, caps used vs limits."""
        ledger, risk, view = self._running()
        now = self._now()
        day = now.date().isoformat()
        mark = self._marks.get(self.shadow.execution.instrument, math.nan)
        snapshot = view.snapshot(day, now, mark)
        figures = exposure(snapshot, risk.config)
        open_positions = queries.open_position_count(ledger)
        status = {
            "run_id": (ledger.run() or {}).get("run_id"), "broker": self.broker.name,
            "real_money": bool(self.broker.real_money), "state": risk.refresh().state.value,
            "state_reason": risk.status.reason, "open_positions": open_positions,
            "total_risk": float(figures.risk_usd), "realized_pnl_usd": float(snapshot.realized_pnl_usd),
            "orders": queries.order_count(ledger), "refused": queries.refused_order_count(ledger),
            "caps": [{"guard": c.guard, "name": c.name, "used": c.used, "limit": c.limit, "unit": c.unit}
                     for c in risk.cap_usage(snapshot)],
        }
        status["status_line"] = (
            f"limited live [{status['broker']}{' REAL MONEY' if status['real_money'] else ''}] {status['state']}: "
            f"{open_positions} open position(s), total risk {_usd(status['total_risk'])}, "
            f"P&L today {_usd(status['realized_pnl_usd'])}, {status['orders']} order(s), {status['refused']} refused")
        return status

    def stop_live_trading(self) -> None:
        """Close the broker session and the ledger (working orders stay at the broker, protected)."""
        self.broker.close()
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None

    def _running(self) -> tuple[Ledger, RiskEngine, LedgerRiskView]:
        if self.ledger is None or self.risk is None or self.view is None:
            raise RuntimeError("call start_live_trading() first")
        return self.ledger, self.risk, self.view

    def _exits(self) -> ExitRecorder:
        if self.exits is None:
            raise RuntimeError("call start_live_trading() first")
        return self.exits

    def _now(self) -> pd.Timestamp:
        """The run's time: the later of the ledger's last write and the last market update (wall
        clock before either)."""
        progress = self._running()[0].progress()
        times = [t for t in (pd.Timestamp(progress["sim_time"]) if progress["sim_time"] else None,
                             self._mark_time) if t is not None]
        return max(times) if times else pd.Timestamp.now(tz="UTC")

    def _watch_risk(self, now: pd.Timestamp) -> None:
        """Post-trade, as the CLI path does (`execution/post_trade.py`): every fill the broker
        reported and the price now through the guards; carry out what they demand (HALTED: cancel
        working orders, flatten positions)."""
        _ledger, risk, view = self._running()
        snapshot = view.snapshot(now.date().isoformat(), now,
                                 self._marks.get(self.shadow.execution.instrument, math.nan))
        actions, resynced = fill_checks(risk, self.broker, snapshot)
        if resynced:          # after every reconnect: reconcile again before trading
            self._reconcile(now)
        actions.extend(price_check(risk, view.risk_instrument, snapshot))
        self._carry_out(now, actions)

    def _carry_out(self, now: pd.Timestamp, actions: list[Action]) -> None:
        """Flatten first (closing a position cancels its bracket legs), then cancel what still works.
        The paper broker flattens at the last price handed in; before the first one, the flatten
        waits for it (a HALTED engine demands it again at every check)."""
        reason = flatten_reason(actions)
        if reason is not None:
            self._flatten(now, reason)
        cancel_orders(self.broker, actions)

    def _flatten(self, now: pd.Timestamp, reason: str) -> None:
        """Close every open position at the market now, recorded as `flatten` exits."""
        followers = queries.open_position_followers(self._running()[0])
        if followers.empty:
            return
        exits, path = self._exits(), self._path
        if path is None and exits.paper:
            log.warning("flatten demanded (%s): the paper broker needs a price first (update_market)", reason)
            return
        if not exits.flatten(now.date().isoformat(), None, with_follow_columns(followers), now, reason,
                             lambda: path if path is not None else PricePath.empty()):
            self._reconcile(now)


def _utc(timestamp: Any) -> pd.Timestamp:
    """`timestamp` (anything pandas reads; naive is UTC) as a UTC time; now when None."""
    when = pd.Timestamp(timestamp) if timestamp is not None else pd.Timestamp.now(tz="UTC")
    return when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")


def _usd(amount: float) -> str:
    """Dollars as a trader reads them: $38.26, -$22.24."""
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"


def _signal_row(signal: Mapping[str, Any]) -> dict[str, Any]:
    """A signals-table row from a handed-in signal (ConfigError naming a missing or bad field)."""
    def number(*names: str) -> float:
        for name in names:
            if name in signal and signal[name] is not None:
                value = float(signal[name])
                if not math.isfinite(value):
                    raise ConfigError(f"signal field {name!r} = {signal[name]!r}: expected a finite price")
                return value
        raise ConfigError(f"signal: missing {' or '.join(repr(n) for n in names)}")
    signal_id = str(signal.get("signal_id") or signal.get("id") or "")
    if not signal_id:
        raise ConfigError("signal: missing 'signal_id' (or 'id'); client order ids are derived from it")
    direction = str(signal.get("direction", "")).upper()
    if direction not in ("LONG", "SHORT"):
        raise ConfigError(f"signal {signal_id}: direction {signal.get('direction')!r}: expected LONG or SHORT")
    entry, target, stop = number("entry_price", "entry_reference"), number("target_price", "target"), \
        number("stop_loss", "stop")
    sign = 1 if direction == "LONG" else -1
    if not (sign * (target - entry) > 0 and sign * (entry - stop) > 0):
        raise ConfigError(f"signal {signal_id}: a {direction} needs stop < entry < target (or the mirror); got "
                          f"stop {stop}, entry {entry}, target {target}")
    when = _utc(signal.get("timestamp") or None)
    return {"signal_id": signal_id, "event_key": f"direct#{signal_id}", "day": when.date().isoformat(),
            "sim_time": iso(when), "source": str(signal.get("source") or DIRECT_SOURCE),
            "algorithm": str(signal.get("algorithm") or DIRECT_SOURCE), "traded_source": 1,
            "instrument": str(signal.get("instrument") or "NQ"), "contract": None, "strike": None,
            "option_right": None, "direction": direction, "entry_reference": entry, "target": target, "stop": stop,
            "confidence": signal.get("confidence"), "tier": None, "expected_value_points": None,
            "evidence_json": json.dumps({"handed_in": True}, sort_keys=True)}
