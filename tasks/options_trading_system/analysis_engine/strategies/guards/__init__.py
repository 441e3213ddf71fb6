"""Guards and the risk engine: every order checked before it is sent, every fill and price after.

One guard per file, each one rule with its default (see its docstring), registered by name in
`GUARD_CLASSES` and configured from the profile's `limited_live.risk` (or `shadow_trading.risk`)
section (`config/schema/risk.schema.json`, frozen as `RiskConfig`). `RiskEngine` runs them, keeps
the ACTIVE -> REDUCING -> HALTED state in a `RiskStateStore` (in memory, or SQLite tables in the
run's ledger so a halt survives restarts) and returns the actions the caller must take.
"""
from .base import (Demand, Figure, Guard, GuardServices, Refusal, RiskControlError, RiskState, SpendReader,
                   SpendTotals, TradingSnapshot)
from .config import RiskConfig
from .registry import GUARD_CLASSES, build_guards
from .risk_engine import (Action, CancelOrders, CapUsage, FlattenPositions, RiskDecision, RiskEngine,
                          RiskUpdate)
from .spend import LedgerSpendReader
from .store import EventKind, InMemoryRiskStore, RiskEvent, RiskStateStore, RiskStatus, SqliteRiskStore

__all__ = [
    "Action", "CancelOrders", "CapUsage", "Demand", "EventKind", "Figure", "FlattenPositions", "GUARD_CLASSES",
    "Guard", "GuardServices", "InMemoryRiskStore", "LedgerSpendReader", "Refusal", "RiskConfig",
    "RiskControlError", "RiskDecision", "RiskEngine", "RiskEvent", "RiskState", "RiskStateStore", "RiskStatus",
    "RiskUpdate", "SpendReader", "SpendTotals", "SqliteRiskStore", "TradingSnapshot", "build_guards",
]
