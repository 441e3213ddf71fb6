"""The guard interface and the records a guard speaks: risk states, refusals, demands, the snapshot.

A guard is one rule with one number (in the manner of nautilus_trader's risk engine and
freqtrade's protections). It is asked twice:
- pre-trade, `check(request, snapshot) -> Refusal | None`, before an order or bracket goes to the
  broker; a `Refusal` names the guard, a reason code and the numbers that broke the rule;
- post-trade, `on_fill(fill, snapshot)` / `on_price(instrument, price, snapshot) -> Demand | None`,
  after every execution and price update; a `Demand` asks the engine to move to REDUCING (only
  orders that reduce exposure pass) or HALTED (cancel, flatten, refuse everything).

Guards are pure: they read the `TradingSnapshot` they are given (positions, working orders, marks,
today's realised P&L, all at the simulated `now`) and the read interfaces passed to them at
construction (the data-spend reader, the engine's submission log). They never talk to a broker,
never read a clock and never write; the engine records what they decide.
"""
from __future__ import annotations

import math
from abc import ABC
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar, Mapping, Protocol, Sequence, Union

import pandas as pd

from ....errors import OptionsSystemError
from ..execution.orders import Bracket, Fill, Order, Position

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .config import RiskConfig

#: what a guard is asked about before it reaches the broker
Request = Union[Order, Bracket]


class RiskControlError(OptionsSystemError):
    """A risk control was refused: a resume without a valid token or without naming who resumes.

    Operational: the engine stays as it was; supply the control token and your name."""


class RiskState(str, Enum):
    """The engine's state. Ordered by severity: ACTIVE < REDUCING < HALTED.

    - ACTIVE: every order the guards pass goes out;
    - REDUCING: only orders that reduce exposure pass (exits, protective stops); working entries
      are cancelled;
    - HALTED: everything is refused; working orders are cancelled and positions flattened. Only a
      person resumes (`RiskEngine.resume`), and the halt survives restarts (the state store)."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {RiskState.ACTIVE: 0, RiskState.REDUCING: 1, RiskState.HALTED: 2}


@dataclass(frozen=True)
class Figure:
    """One number behind a decision: `loss=52.30 USD`."""

    name: str
    value: float
    unit: str = ""

    def __str__(self) -> str:
        value = self.value
        if isinstance(value, float) and not math.isfinite(value):
            text = "unbounded" if value > 0 else ("-unbounded" if value < 0 else "unknown")
        elif float(value).is_integer() and self.unit not in ("USD", "points"):
            text = f"{int(value)}"
        else:
            text = f"{value:.2f}"
        return f"{self.name}={text}" + (f" {self.unit}" if self.unit else "")


def usd_text(value: float) -> str:
    """Dollars with two decimals; an amount nothing bounds reads `unbounded`."""
    return f"{value:.2f}" if math.isfinite(value) else ("unbounded" if value < 0 or value > 0 else "unknown")


def figures_text(figures: Sequence[Figure]) -> str:
    return ", ".join(str(f) for f in figures)


@dataclass(frozen=True)
class Refusal:
    """A pre-trade refusal: which guard, why (reason code), the numbers, and for which order.

    `str(refusal)` reads `MAX_DAILY_LOSS: loss=52.30 USD, limit=50.00 USD (...)`."""

    guard: str
    code: str
    figures: tuple[Figure, ...] = ()
    detail: str = ""
    client_order_id: str = ""

    @property
    def message(self) -> str:
        text = f"{self.code}: {figures_text(self.figures)}" if self.figures else self.code
        return text + (f" ({self.detail})" if self.detail else "")

    def __str__(self) -> str:
        return self.message

    def numbers(self) -> dict[str, float]:
        return {f.name: f.value for f in self.figures}


@dataclass(frozen=True)
class Demand:
    """A post-trade demand: move the engine to `state` (REDUCING or HALTED), with the reason."""

    state: RiskState
    guard: str
    code: str
    figures: tuple[Figure, ...] = ()
    detail: str = ""

    @property
    def message(self) -> str:
        text = f"{self.code}: {figures_text(self.figures)}" if self.figures else self.code
        return text + (f" ({self.detail})" if self.detail else "")

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class TradingSnapshot:
    """What the guards judge: the account at simulated time `now`, as the caller's ledger knows it.

    - `positions`: net position per instrument (signed), as the broker reports them;
    - `working_orders`: every order still working *as it was sent* (with its prices), including
      the stop and target legs of brackets (a filled entry's stop is the position's protection; the
      stop leg of a still-working entry is that entry's protection). A partly filled order is
      passed with its remaining quantity;
    - `marks`: last price per instrument;
    - `realized_pnl_usd`: today's (the exchange trading day's) realised P&L, net of commissions;
    - `commission_usd`: today's commissions (for cost per signal);
    - `signals`: signals generated today (for cost per signal).
    """

    now: pd.Timestamp
    positions: tuple[Position, ...] = ()
    working_orders: tuple[Order, ...] = ()
    marks: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    realized_pnl_usd: float = 0.0
    commission_usd: float = 0.0
    signals: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.now, pd.Timestamp) or self.now.tzinfo is None:
            raise ValueError(f"TradingSnapshot.now must be a tz-aware pd.Timestamp, got {self.now!r}")
        object.__setattr__(self, "positions", tuple(self.positions))
        object.__setattr__(self, "working_orders", tuple(self.working_orders))
        object.__setattr__(self, "marks", MappingProxyType(dict(self.marks)))

    def with_mark(self, instrument: str, price: float) -> "TradingSnapshot":
        marks = dict(self.marks)
        marks[instrument] = float(price)
        return TradingSnapshot(now=self.now, positions=self.positions, working_orders=self.working_orders,
                               marks=marks, realized_pnl_usd=self.realized_pnl_usd,
                               commission_usd=self.commission_usd, signals=self.signals)

    def position(self, instrument: str) -> int:
        return sum(p.quantity for p in self.positions if p.instrument == instrument)


@dataclass(frozen=True)
class SpendTotals:
    """Data spend of every paid source together, in the budget day and month of `now` (UTC)."""

    day_usd: float
    month_usd: float


class SpendReader(Protocol):
    """Reads the data sources' spend ledger (see `spend.py` for the real one; tests pass a fake)."""

    def totals(self, now: pd.Timestamp) -> SpendTotals:  # pragma: no cover - protocol
        ...


class SubmissionLog(Protocol):
    """The times of the orders the engine approved (the engine keeps it; order_rate reads it)."""

    def times_since(self, start: pd.Timestamp) -> Sequence[pd.Timestamp]:  # pragma: no cover - protocol
        ...


@dataclass(frozen=True)
class GuardServices:
    """Read-only collaborators a guard may need, passed in at construction (never globals)."""

    spend: SpendReader | None = None
    submissions: SubmissionLog | None = None


class Guard(ABC):
    """One rule. Subclasses set `name` (the registry key and the config section) and override
    `check` (pre-trade) and/or `evaluate` (post-trade, on every fill and price update).

    `checks_reducing`: whether the guard also judges orders that only reduce exposure (exits,
    protective stops). Most guards do not: a rule meant to stop risk must never stop its removal.
    `resets_daily`: see the attribute."""

    name: ClassVar[str]
    checks_reducing: ClassVar[bool] = False
    #: True when the guarded quantity is a trading day's (today's loss): a REDUCING it demanded
    #: lapses when the next trading day starts; a HALT never lapses by itself
    resets_daily: ClassVar[bool] = False

    def __init__(self, config: "RiskConfig", services: GuardServices | None = None) -> None:
        self.config = config
        self.services = services or GuardServices()

    def check(self, request: Request, snapshot: TradingSnapshot) -> Refusal | None:
        """Pre-trade: refuse `request` (with the numbers) or pass it (None)."""
        return None

    def on_fill(self, fill: Fill, snapshot: TradingSnapshot) -> Demand | None:
        """Post-trade, after an execution (`snapshot` already includes it)."""
        return self.evaluate(snapshot)

    def on_price(self, instrument: str, price: float, snapshot: TradingSnapshot) -> Demand | None:
        """Post-trade, after a price update (`snapshot.marks` already carries it)."""
        return self.evaluate(snapshot)

    def evaluate(self, snapshot: TradingSnapshot) -> Demand | None:
        """The level-triggered post-trade rule both hooks share by default."""
        return None

    def refusal(self, code: str, request: Request, *figures: Figure, detail: str = "") -> Refusal:
        return Refusal(guard=self.name, code=code, figures=tuple(figures), detail=detail,
                       client_order_id=request_id(request))

    def demand(self, state: RiskState, code: str, *figures: Figure, detail: str = "") -> Demand:
        return Demand(state=state, guard=self.name, code=code, figures=tuple(figures), detail=detail)


def request_id(request: Request) -> str:
    """The client order id a decision is filed under (a bracket's entry id)."""
    return request.entry.client_order_id if isinstance(request, Bracket) else request.client_order_id


def request_orders(request: Request) -> tuple[Order, ...]:
    return request.orders if isinstance(request, Bracket) else (request,)
