"""What a run's risk engine says, read from its ledger without touching it.

For the dashboard's risk panel: the state (ACTIVE / REDUCING / HALTED, why, by whom, when), every
guarded quantity against its limit, the working orders, the open positions' protection, the
recent refusals and state changes, and the refusals counted by guard.

The figures are the engine's own, so the panel and the engine cannot disagree:
- the settings are the run's (`runs.config_json`, the profile it started with): for a limited-live
  run the effective caps it recorded under `request.risk` when it did, else its profile's
  `limited_live.risk`; `ShadowTradingConfig.risk_config()` (the shadow limits as guards) for a
  shadow run;
- the account is rebuilt from the ledger by the orchestrator's own `LedgerRiskView` at the run's
  last simulated time and last observed price (open positions netted per instrument, each
  position's stop and target as its working orders);
- `RiskEngine.cap_usage` computes used vs limit over a store that only reads (`_ReadingStore`:
  the order-rate window comes from the recorded approvals, the state from `risk_state`); data
  spend from the machine's spend ledger (`$NQ_STATE_DIR`, else the run profile's `state_dir`).
A run recorded before the risk engine existed has no risk tables: its state is ACTIVE with
"no risk event recorded", its caps still computed.
"""
from __future__ import annotations

import json
import math
from typing import Any, Mapping, Sequence

import pandas as pd

from ..analysis_engine.strategies.execution.risk_view import LedgerRiskView
from ..analysis_engine.strategies.guards import (EventKind, LedgerSpendReader, RiskConfig, RiskEngine, RiskEvent,
                                                 RiskState, RiskStatus)
from ..analysis_engine.strategies.shadow_config import ShadowTradingConfig
from ..data_ingestion.data_budget import SpendLedger
from ..state import report_queries as q
from ..state.reading import LedgerReading

EVENTS_SHOWN = 20
#: what the panel lists: decisions a trader must see (approvals are counted, not listed)
LISTED_KINDS = (EventKind.REFUSAL.value, EventKind.STATE_CHANGE.value, EventKind.CONTROL_REFUSED.value)

__all__ = ["read_risk", "run_risk_config", "EVENTS_SHOWN"]


class _ReadingStore:
    """A `RiskStateStore` over a read-only ledger: loads and lists, never records."""

    def __init__(self, db: LedgerReading) -> None:
        self.db = db

    def load(self) -> RiskStatus:
        row = q.risk_state(self.db)
        if row is None:
            return RiskStatus()
        return RiskStatus(state=RiskState(row["state"]), reason=row["reason"], guard=row["guard"], code=row["code"],
                          changed_by=row["changed_by"],
                          changed_at=None if row["changed_at"] is None else pd.Timestamp(row["changed_at"]))

    def record(self, event: RiskEvent, status: RiskStatus | None = None, *, escalate_only: bool = False) -> RiskStatus:
        raise PermissionError("the monitor reads a run's risk state; it never records one")

    def events(self, *, since: pd.Timestamp | None = None,
               kinds: Sequence[EventKind] | None = None) -> list[RiskEvent]:
        rows = q.risk_events(self.db, kinds=tuple(k.value for k in kinds) if kinds else None)
        events = [RiskEvent(at=pd.Timestamp(r["at"]), kind=EventKind(r["kind"]), guard=r["guard"], code=r["code"],
                            message=r["message"], client_order_id=r["client_order_id"], by=r["by"]) for r in rows]
        return [e for e in events if since is None or e.at >= since]


def run_risk_config(settings: Mapping[str, Any]) -> tuple[RiskConfig, ShadowTradingConfig]:
    """The risk settings a run started with (see the module docstring) and its shadow settings
    (the execution instrument and quantity). `ConfigError` when the stored profile cannot give them."""
    profile = settings.get("profile") or {}
    shadow = ShadowTradingConfig.from_mapping(profile.get("shadow_trading") or {})
    request = settings.get("request") or {}
    if request.get("limited_live"):
        # the effective caps when the run recorded them (`request.risk`), else its profile's
        section = request.get("risk") or (profile.get("limited_live") or {}).get("risk") or {}
        return RiskConfig.from_dict(section, where="limited_live.risk"), shadow
    return shadow.risk_config(), shadow


def read_risk(db: LedgerReading, settings: Mapping[str, Any], *, day: str | None, sim_time: str | None,
              last_price: Mapping[str, Any] | None, now: pd.Timestamp) -> dict[str, Any]:
    """The risk panel's figures for one run (see the module docstring). `now` (wall clock) stands
    in for the run's time before its first event."""
    risk_config, shadow = run_risk_config(settings)
    store = _ReadingStore(db)
    profile = settings.get("profile") or {}
    spend = LedgerSpendReader(SpendLedger.default(profile.get("state_dir")))
    engine = RiskEngine(risk_config, store=store, spend=spend)  # type: ignore[arg-type]
    at = pd.Timestamp(sim_time) if sim_time else pd.Timestamp(now)
    price = float(last_price["price"]) if last_price and last_price.get("price") is not None else math.nan
    view = LedgerRiskView(db, instrument=shadow.execution.instrument,  # type: ignore[arg-type]
                          quantity=shadow.execution.quantity)
    snapshot = view.snapshot(day or at.strftime("%Y-%m-%d"), at, price)
    status = engine.status
    stored = q.risk_state(db) is not None
    caps = [{"guard": c.guard, "name": c.name, "used": _finite(c.used), "limit": _finite(c.limit), "unit": c.unit,
             "enabled": bool(risk_config.section(c.guard).enabled),
             "share": (c.used / c.limit) if math.isfinite(c.used) and c.limit and math.isfinite(c.limit) else None}
            for c in engine.cap_usage(snapshot)]
    working = [{"client_order_id": o.client_order_id, "instrument": o.instrument, "side": o.side.value,
                "quantity": o.quantity, "type": o.order_type.value, "purpose": o.purpose.value,
                "price": o.stop_price if o.stop_price is not None else o.limit_price}
               for o in snapshot.working_orders]
    events = [dict(e, figures=_figures(e.pop("figures_json"))) for e in
              q.risk_events(db, kinds=LISTED_KINDS, newest=EVENTS_SHOWN)][::-1]
    return {
        "state": status.state.value,
        "reason": status.reason if stored else "no risk event recorded",
        "guard": status.guard, "code": status.code, "changed_by": status.changed_by,
        "changed_at": None if status.changed_at is None else pd.Timestamp(status.changed_at).isoformat(),
        "mode": "limited live" if (settings.get("request") or {}).get("limited_live") else "shadow",
        "broker": (settings.get("request") or {}).get("broker") or ((profile.get("broker") or {}).get("name"))
        or "paper",
        "as_of": at.isoformat(), "mark": _finite(price),
        "net_positions": [{"instrument": p.instrument, "quantity": p.quantity, "average_price": p.average_price}
                          for p in snapshot.positions],
        "caps": caps,
        "working_orders": working,
        "events": events,
        "refusals_by_guard": q.risk_refusals_by_guard(db),
    }


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None


def _figures(text: str | None) -> str:
    """A refusal's figures in a line: `loss=52.24 USD, limit=50.00 USD`."""
    try:
        figures = json.loads(text or "[]")
    except ValueError:
        return ""
    out = []
    for f in figures:
        try:
            out.append(f"{f['name']}={float(f['value']):,.2f} {f['unit']}".rstrip())
        except (KeyError, TypeError, ValueError):
            continue
    return ", ".join(out)
