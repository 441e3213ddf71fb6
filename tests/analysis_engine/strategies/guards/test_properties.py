"""Property: random floods of brackets, exits, price paths, data requests and waits, driven through
the engine (only what it approves is sent to a simulated broker), never take any guarded quantity
past its cap: contracts, the day's loss to the stops (and so at the mark), dollars at risk, data
spend, orders per window; and nothing is approved while HALTED.

The simulated broker nets positions per instrument, fills market orders at the mark with the
configured slippage against us, limit entries at their limit, works each bracket's stop and target
once its entry fills (one cancels the other), fills a stop at its price less the slippage
allowance, and carries out every action the engine returns (cancel, flatten at the mark). Its
bookkeeping (per bracket) is independent of the engine's arithmetic (`exposure.py`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tasks.options_trading_system.analysis_engine.strategies.execution.orders import (Bracket, Fill, Order,
                                                                                      OrderType, Position,
                                                                                      Purpose, Side)
from tasks.options_trading_system.analysis_engine.strategies.guards import (CancelOrders, FlattenPositions,
                                                                            RiskConfig, RiskEngine, RiskState,
                                                                            TradingSnapshot)

from .builders import NOW, FakeSpend, bracket

EPS = 1e-6
INSTRUMENTS = ("MNQ", "NQ")


@dataclass
class Trade:
    """One approved bracket at the simulated broker."""

    bracket: Bracket
    filled_at: float | None = None  # entry fill price; None while the entry works

    @property
    def entry(self) -> Order:
        return self.bracket.entry

    @property
    def sign(self) -> int:
        return self.entry.side.sign


@dataclass
class Market:
    config: RiskConfig
    engine: RiskEngine
    spend: FakeSpend
    now: pd.Timestamp = NOW
    marks: dict[str, float] = field(default_factory=lambda: {"MNQ": 21500.0, "NQ": 21500.0})
    trades: list[Trade] = field(default_factory=list)
    realized: float = 0.0
    commission: float = 0.0
    signals: int = 0
    approvals: list[pd.Timestamp] = field(default_factory=list)
    fills: int = 0
    gapped: bool = False  # a price gap filled a stop worse than the slippage allowance

    # --- what the engine sees ----------------------------------------------------------------

    def snapshot(self) -> TradingSnapshot:
        positions = []
        for instrument in INSTRUMENTS:
            open_trades = [t for t in self.trades if t.entry.instrument == instrument and t.filled_at is not None]
            quantity = sum(t.sign * t.entry.quantity for t in open_trades)
            if quantity:
                average = sum(t.filled_at * t.entry.quantity for t in open_trades) / sum(
                    t.entry.quantity for t in open_trades)
                positions.append(Position(instrument, quantity, average))
        working: list[Order] = []
        for t in self.trades:
            working.extend(t.bracket.orders if t.filled_at is None else (t.bracket.stop, t.bracket.target))
        return TradingSnapshot(now=self.now, positions=tuple(positions), working_orders=tuple(working),
                               marks=dict(self.marks), realized_pnl_usd=self.realized,
                               commission_usd=self.commission, signals=self.signals)

    def spec(self, instrument: str):
        return self.config.instrument(instrument)

    def slip(self, instrument: str) -> float:
        return self.config.slippage_points(instrument)

    # --- the simulated broker -----------------------------------------------------------------

    def fill(self, trade: Trade, price: float, opening: bool) -> None:
        if trade not in self.trades:  # closed meanwhile (an action carried out inside a hook)
            return
        spec = self.spec(trade.entry.instrument)
        quantity = trade.entry.quantity
        fee = spec.commission_per_side_usd * quantity
        self.commission += fee
        self.realized -= fee
        self.fills += 1
        if opening:
            trade.filled_at = price
        else:
            self.realized += trade.sign * (price - trade.filled_at) * spec.multiplier * quantity
            self.trades.remove(trade)
        side = trade.entry.side if opening else trade.entry.side.opposite
        fill = Fill(f"f{self.fills}", trade.entry.client_order_id, trade.entry.instrument, side, quantity, price,
                    self.now, fee)
        self.obey(self.engine.on_fill(fill, self.snapshot()).actions)

    def obey(self, actions) -> None:
        for action in actions:
            if isinstance(action, CancelOrders):
                for trade in [t for t in self.trades if t.filled_at is None
                              and t.entry.client_order_id in action.client_order_ids]:
                    self.trades.remove(trade)
            elif isinstance(action, FlattenPositions):
                for trade in [t for t in self.trades if t.entry.instrument in action.instruments]:
                    if trade.filled_at is None:
                        self.trades.remove(trade)
                    else:
                        self.fill(trade, self.marks[trade.entry.instrument] - trade.sign * self.slip(
                            trade.entry.instrument), opening=False)

    def move(self, instrument: str, points: float) -> None:
        """Walk the price to its new level without gaps: stop at every order price on the way."""
        goal = max(self.marks[instrument] + points, 1000.0)
        while True:
            mark = self.marks[instrument]
            levels = [p for p in self.levels(instrument) if min(mark, goal) < p < max(mark, goal)]
            step = (min(levels) if goal > mark else max(levels)) if levels else goal
            self.marks[instrument] = step
            self.trigger(instrument)
            self.obey(self.engine.on_price(instrument, step, self.snapshot()).actions)
            if step == goal:
                return

    def gap(self, instrument: str, points: float) -> None:
        """Jump the price: stops it passes fill at the new price, worse than their allowance."""
        self.gapped = True
        mark = self.marks[instrument] = max(self.marks[instrument] + points, 1000.0)
        for trade in [t for t in self.trades if t.entry.instrument == instrument and t.filled_at is not None]:
            if trade.sign * (mark - trade.bracket.stop.stop_price) <= 0:
                self.fill(trade, mark - trade.sign * self.slip(instrument), opening=False)
        self.trigger(instrument)
        self.obey(self.engine.on_price(instrument, mark, self.snapshot()).actions)

    def levels(self, instrument: str) -> list[float]:
        prices = []
        for t in self.trades:
            if t.entry.instrument == instrument:
                prices += ([t.entry.limit_price] if t.filled_at is None and t.entry.limit_price is not None
                           else [t.bracket.stop.stop_price, t.bracket.target.limit_price])
        return prices

    def trigger(self, instrument: str) -> None:
        mark = self.marks[instrument]
        for trade in [t for t in self.trades if t.entry.instrument == instrument]:
            if trade not in self.trades:
                continue
            if trade.filled_at is None and trade.entry.order_type is OrderType.LIMIT \
                    and trade.sign * (mark - trade.entry.limit_price) <= 0:
                self.fill(trade, trade.entry.limit_price, opening=True)
            if trade in self.trades and trade.filled_at is not None:
                stop, target = trade.bracket.stop.stop_price, trade.bracket.target.limit_price
                if trade.sign * (mark - stop) <= 0:
                    self.fill(trade, stop - trade.sign * self.slip(instrument), opening=False)
                elif trade.sign * (mark - target) >= 0:
                    self.fill(trade, target, opening=False)

    def send(self, request) -> None:
        state_before = self.engine.state
        decision = self.engine.check(request, self.snapshot())
        assert not (decision.approved and state_before is RiskState.HALTED), "approved while HALTED"
        self.obey(decision.actions)
        if not decision.approved:
            return
        self.approvals.append(self.now)
        if isinstance(request, Bracket):
            trade = Trade(request)
            self.trades.append(trade)
            if request.entry.order_type is OrderType.MARKET:
                instrument = request.entry.instrument
                self.fill(trade, self.marks[instrument] + trade.sign * self.slip(instrument), opening=True)
        else:  # an exit: close the instrument's trades at the mark
            for trade in [t for t in self.trades if t.entry.instrument == request.instrument]:
                if trade.filled_at is not None:
                    self.fill(trade, self.marks[request.instrument] - trade.sign * self.slip(request.instrument),
                              opening=False)

    # --- the caps, computed per bracket -----------------------------------------------------------

    def assert_within_caps(self) -> None:
        config = self.config
        contracts = 0
        risk = 0.0
        worst = 0.0
        at_mark = 0.0
        for instrument in INSTRUMENTS:
            sides = {t.sign for t in self.trades if t.entry.instrument == instrument}
            assert len(sides) <= 1, f"long and short at once in {instrument}"
        for trade in self.trades:
            spec, slip = self.spec(trade.entry.instrument), self.slip(trade.entry.instrument)
            quantity, stop = trade.entry.quantity, trade.bracket.stop.stop_price
            contracts += quantity
            if trade.filled_at is None:
                points = trade.sign * (trade.entry.limit_price - stop) + 2 * slip
                risk += points * spec.multiplier * quantity
                worst -= points * spec.multiplier * quantity + 2 * spec.commission_per_side_usd * quantity
            else:
                points = trade.sign * (trade.filled_at - stop) + slip
                risk += max(points, 0.0) * spec.multiplier * quantity
                worst -= points * spec.multiplier * quantity + spec.commission_per_side_usd * quantity
                at_mark += (trade.sign * (self.marks[trade.entry.instrument] - trade.filled_at) * spec.multiplier
                            * quantity - spec.commission_per_side_usd * quantity)
        assert contracts <= config.max_position.max_contracts
        assert risk <= config.max_total_risk.limit_usd + EPS
        if not self.gapped:
            assert -(self.realized + worst) <= config.max_daily_loss.limit_usd + EPS
            assert -(self.realized + at_mark) <= config.max_daily_loss.limit_usd + EPS
        elif -(self.realized + at_mark) >= config.max_daily_loss.limit_usd:
            # a gap took the day past the cap: the engine halted and nothing is left open or working
            assert self.engine.state is RiskState.HALTED and not self.trades
        assert self.spend.day_usd <= config.data_cost.daily_usd + EPS
        assert self.spend.month_usd <= config.data_cost.monthly_usd + EPS
        window = pd.Timedelta(seconds=config.order_rate.per_seconds)
        for at in self.approvals:
            assert sum(1 for t in self.approvals if at - window < t <= at) <= config.order_rate.max_orders


configs = st.builds(
    lambda contracts, loss, risk, orders, daily, reduce_at: RiskConfig.from_dict({
        "max_position": {"max_contracts": contracts}, "max_daily_loss": {"limit_usd": loss,
                                                                          "reduce_at_fraction": reduce_at},
        "max_total_risk": {"limit_usd": risk}, "order_rate": {"max_orders": orders},
        "data_cost": {"daily_usd": daily, "monthly_usd": 200}}),
    st.integers(1, 3), st.sampled_from([20.0, 50.0, 150.0]), st.sampled_from([60.0, 200.0, 500.0]),
    st.integers(1, 6), st.sampled_from([2.0, 8.0]), st.sampled_from([0.5, 0.8, 1.0]))

points = st.one_of(st.floats(0.25, 10.0), st.floats(0.25, 60.0)).map(lambda p: max(round(p * 4) / 4, 0.25))
instruments = st.sampled_from(("MNQ", "MNQ", "MNQ", "NQ"))
steps = st.lists(st.one_of(
    st.tuples(st.just("bracket"), instruments, st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 2), points, points, st.sampled_from([None, 0.25, 2.0, 10.0])),
    st.tuples(st.just("price"), instruments, st.floats(-25.0, 25.0).map(lambda p: round(p * 4) / 4)),
    st.tuples(st.just("price"), instruments, st.floats(-25.0, 25.0).map(lambda p: round(p * 4) / 4)),
    st.tuples(st.just("exit"), instruments),
    st.tuples(st.just("gap"), instruments, st.floats(-60.0, 60.0).map(lambda p: round(p * 4) / 4)),
    st.tuples(st.just("control"), st.sampled_from(["halt", "reduce", "resume"])),
    st.tuples(st.just("spend"), st.floats(0.01, 3.0)),
    st.tuples(st.just("wait"), st.integers(1, 90)),
), min_size=10, max_size=80)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs, steps=steps, day_spend=st.floats(0.0, 1.5), month_spend=st.floats(0.0, 190.0),
       lost_share=st.sampled_from([0.0, 0.0, 0.5, 0.75]), gaps=st.booleans())
def test_no_flood_of_orders_and_prices_takes_a_guarded_quantity_past_its_cap(
        config: RiskConfig, steps: list[tuple], day_spend: float, month_spend: float, lost_share: float,
        gaps: bool) -> None:
    spend = FakeSpend(day_usd=day_spend, month_usd=max(month_spend, day_spend))
    market = Market(config=config, engine=RiskEngine(config, spend=spend), spend=spend,
                    realized=-lost_share * config.max_daily_loss.limit_usd)  # the day so far
    for number, step in enumerate(steps):
        kind = step[0]
        if kind == "bracket":
            _, instrument, side, quantity, stop_points, target_points, offset = step
            market.signals += 1
            if offset is None:
                request = bracket(f"s{number}", instrument=instrument, side=side, quantity=quantity,
                                  stop_points=stop_points, target_points=target_points,
                                  reference=market.marks[instrument])
            else:
                request = bracket(f"s{number}", instrument=instrument, side=side, quantity=quantity,
                                  stop_points=stop_points, target_points=target_points,
                                  entry_type=OrderType.LIMIT,
                                  entry_price=market.marks[instrument] - side.sign * offset)
            market.send(request)
        elif kind == "price":
            market.move(step[1], step[2])
        elif kind == "exit":
            position = market.snapshot().position(step[1])
            if position:
                side = Side.SELL if position > 0 else Side.BUY
                market.send(Order(f"x{number}", f"x{number}", step[1], side, abs(position), OrderType.MARKET,
                                  Purpose.EXIT))
        elif kind == "gap":
            (market.gap if gaps else market.move)(step[1], step[2])
        elif kind == "control":
            engine, state = market.engine, market.snapshot()
            if step[1] == "resume":
                update = engine.resume(by="trader", token_ok=True, now=market.now, snapshot=state)
            else:
                update = getattr(engine, step[1])(by="trader", reason="test", now=market.now, snapshot=state)
            market.obey(update.actions)
        elif kind == "spend":
            if market.engine.check_spend(step[1], "quote", market.now) is None:
                spend.day_usd += step[1]
                spend.month_usd += step[1]
            market.obey(market.engine.evaluate(market.snapshot()).actions)
        else:
            market.now += pd.Timedelta(seconds=step[1])
        market.assert_within_caps()
    event(f"final state {market.engine.state.value} ({market.engine.status.code or 'no change'})")
    event(f"approved orders: {'0' if not market.approvals else '1-3' if len(market.approvals) <= 3 else '4+'}")
    event(f"closed with a loss: {market.realized < -market.commission}")
