"""Execution figures of a run: fills against the signal's reference and against the paper fill of
the same signal, real vs predicted P&L, and each guard's cap at its peak use.

Pure functions of ledger frames (`state/report_queries.py`) and the run's price path:
- the **paper twin** of a position is the paper broker itself (`execution/paper.py`, priced by
  `PaperPricing`) given the same bracket at the real entry's time and reference, and walked along
  the run's own price path: entry at the reference plus slippage, target at its level, stop and
  market exits less slippage, commission per side. A real exit by flatten or session end is
  mirrored at the same moment (the paper twin is flattened there too); otherwise the twin is
  followed to its own stop, target or the day's close. In a shadow run (the paper broker) the twin
  *is* the trade, so its slippage against paper is 0 and predicted equals real;
- **slippage** is in points of the traded instrument, positive when the fill was worse for us
  (bought higher / sold lower) than the price it is measured against;
- **predicted P&L** is the paper twin's net P&L (`PREDICTED`);
- **cap usage** is each guard's quantity at its highest over the day, rebuilt from the ledger
  (positions' entry and exit times, realised P&L in exit order, approvals, costs), next to its
  limit. What the ledger cannot say (open P&L at the mark between events) is said, never guessed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..execution.orders import Side
from ..execution.paper import PaperBroker
from ..execution.paper_pricing import OPTION, EntryQuote, PaperPricing
from ..execution.signal_orders import signal_bracket
from ..feeds.price_path import PricePath
from ..guards.config import NETTING_ACCOUNT, RiskConfig
from ..shadow_config import ExecutionConfig

PREDICTED = ("predicted P&L = the paper twin's net P&L: the same signal's bracket filled by the paper broker "
             "(entry at the signal's reference plus the profile's slippage, target at its level, stop and market exits "
             "less slippage, commission per side) on this run's own price path from the real entry's time; a real exit "
             "by flatten or session end is mirrored at the same time")
SLIPPAGE = ("slippage in points of the traded instrument, positive = worse for us (bought higher or sold lower than "
            "the price it is measured against): vs reference = the signal's reference at entry and the level reached "
            "at exit (what the ledger's fill row records); vs paper = the paper twin's fill of the same leg")
MIRRORED_EXITS = ("flatten", "session_end")


@dataclass(frozen=True)
class PaperTwin:
    """The paper broker's fills of one signal on the run's price path."""

    signal_id: str
    entry_price: float
    exit_price: float
    exit_reason: str
    exit_time: pd.Timestamp
    pnl_usd: float


def paper_twins(positions: pd.DataFrame, prices: PricePath | None, execution: ExecutionConfig,
                closes: Mapping[str, pd.Timestamp]) -> dict[str, PaperTwin]:
    """The paper twin of every futures position (signal id -> twin). None for an option trade
    (its paper price needs the chain at entry), without a price path, or for a position still open
    on a day whose close is unknown."""
    twins: dict[str, PaperTwin] = {}
    if prices is None or len(prices) == 0 or execution.instrument == OPTION:
        return twins
    pricing = PaperPricing(execution)
    for row in positions.to_dict("records"):
        entry_time = pd.Timestamp(row["entry_time"])
        exited = isinstance(row["exit_time"], str)
        mirrored = exited and row["exit_reason"] in MIRRORED_EXITS
        until = pd.Timestamp(row["exit_time"]) if mirrored else closes.get(row["day"])
        if until is None or not math.isfinite(float(row["entry_reference"])):
            continue
        broker = PaperBroker(execution)
        broker.set_quote(entry_time, EntryQuote(price=float(row["entry_reference"])))
        side = Side.BUY if row["direction"] == "LONG" else Side.SELL
        broker.place_bracket(signal_bracket(str(row["signal_id"]), instrument=str(row["instrument"]), side=side,
                                            quantity=int(row["quantity"]), stop=float(row["stop"]),
                                            target=float(row["target"])))
        exits = broker.advance(prices.between(entry_time, until), until)
        reason = exits[0].client_order_id.rsplit("/", 1)[-1] if exits else ""
        if not exits:
            broker.mark(prices, until)
            broker.flatten()
            exits = [f for f in broker.fills() if f.client_order_id.endswith("/exit")]
            reason = str(row["exit_reason"]) if mirrored else "session_end"
        if not exits:
            continue
        entry = broker.fills()[0]
        _points, dollars, _commission = pricing.pnl(str(row["direction"]), entry.price, exits[0].price)
        twins[str(row["signal_id"])] = PaperTwin(signal_id=str(row["signal_id"]), entry_price=entry.price,
                                                 exit_price=exits[0].price, exit_reason=reason,
                                                 exit_time=exits[0].time, pnl_usd=dollars)
    return twins


def against_us(side: str, price: float, reference: float) -> float:
    """Points a fill at `price` is worse than `reference` for its side (negative = better)."""
    return (float(price) - float(reference)) * (1.0 if side == "BUY" else -1.0) + 0.0  # never -0.0


def fill_rows(fills: pd.DataFrame, twins: Mapping[str, PaperTwin]) -> list[dict[str, Any]]:
    """Every fill with its slippage against the reference and against the paper twin's same leg."""
    rows = []
    for fill in fills.to_dict("records"):
        twin = twins.get(str(fill["signal_id"]))
        is_entry = fill["purpose"] == "entry"
        paper = None if twin is None else (twin.entry_price if is_entry else twin.exit_price)
        multiplier = _number(fill["multiplier"])
        quantity = int(fill["quantity"])
        vs_reference = against_us(fill["side"], fill["price"], fill["reference_price"]) \
            if _finite(fill["reference_price"]) else None
        vs_paper = against_us(fill["side"], fill["price"], paper) if paper is not None else None
        rows.append({
            "fill_id": fill["fill_id"], "signal_id": fill["signal_id"], "leg": fill["purpose"], "side": fill["side"],
            "time": fill["sim_time"], "quantity": quantity, "price": float(fill["price"]),
            "reference_price": _number(fill["reference_price"]), "paper_price": paper,
            "paper_exit_reason": None if twin is None or is_entry else twin.exit_reason,
            "slippage_vs_reference_points": vs_reference, "slippage_vs_paper_points": vs_paper,
            "slippage_vs_paper_usd": None if vs_paper is None or multiplier is None
            else vs_paper * multiplier * quantity,
            "commission_usd": _number(fill["commission_usd"]),
        })
    return rows


def slippage_summary(rows: Sequence[Mapping[str, Any]], key: str) -> dict[str, Any]:
    """Count, mean, worst and total of one slippage column over the fills that have it."""
    values = np.asarray([r[key] for r in rows if r[key] is not None], dtype="float64")
    return {"fills": int(values.size), "fills_without": int(len(rows) - values.size),
            "mean_points": float(values.mean()) if values.size else None,
            "worst_points": float(values.max()) + 0.0 if values.size else None,
            "total_points": float(values.sum()) if values.size else None}


def pnl_comparison(positions: pd.DataFrame, twins: Mapping[str, PaperTwin]) -> dict[str, Any]:
    """Real net P&L of the closed positions against their paper twins' (trade by trade and summed)."""
    trades = []
    for row in positions.to_dict("records"):
        if not _finite(row["pnl_usd"]):
            continue
        twin = twins.get(str(row["signal_id"]))
        trades.append({"signal_id": row["signal_id"], "source": row["source"], "direction": row["direction"],
                       "real_pnl_usd": float(row["pnl_usd"]), "real_exit_reason": row["exit_reason"],
                       "predicted_pnl_usd": None if twin is None else twin.pnl_usd,
                       "paper_exit_reason": None if twin is None else twin.exit_reason,
                       "difference_usd": None if twin is None else float(row["pnl_usd"]) - twin.pnl_usd})
    compared = [t for t in trades if t["predicted_pnl_usd"] is not None]
    expected = [float(r["expected_value_points"]) * float(r["multiplier"]) * int(r["quantity"])
                for r in positions.to_dict("records")
                if _finite(r["expected_value_points"]) and _finite(r["multiplier"])]
    return {
        "definition": PREDICTED,
        "trades": len(trades), "compared": len(compared),
        "real_usd": float(sum(t["real_pnl_usd"] for t in trades)),
        "real_usd_compared": float(sum(t["real_pnl_usd"] for t in compared)) if compared else None,
        "predicted_usd": float(sum(t["predicted_pnl_usd"] for t in compared)) if compared else None,
        "difference_usd": float(sum(t["difference_usd"] for t in compared)) if compared else None,
        "same_exit": sum(1 for t in compared if t["real_exit_reason"] == t["paper_exit_reason"]),
        "signal_expected_usd": float(sum(expected)) if expected else None,
        "signal_expected_note": "the signals' own expected value (points x multiplier x quantity), where a source "
                                "states one (EV); gross of costs",
        "by_trade": trades,
    }


def cap_usage(positions: pd.DataFrame, config: RiskConfig, *, approvals: Sequence[str], data_day_usd: float,
              data_month_usd: float, signals: int, commissions_usd: float, in_replay: bool) -> list[dict[str, Any]]:
    """Each guard's peak use over the day (from the ledger) against its limit."""
    events = _open_close_events(positions)
    contracts = _peak_contracts(events, netting=config.max_position.netting)
    risk = _peak_risk(events, config)
    loss = _worst_realised_loss(positions)
    rate = _peak_rate(approvals, config.order_rate.per_seconds)
    spend_note = ("this run's data costs (a replay buys no data); the guard itself reads every source's spend ledger"
                  if in_replay else "this run's data costs; the guard itself reads every source's spend ledger")
    per_signal = (data_day_usd + commissions_usd) / signals if signals else None
    return [
        _cap("max_position", "contracts", contracts, config.max_position.max_contracts, "contracts",
             config.max_position.enabled, f"most contracts open at once ({config.max_position.netting} netting)"),
        _cap("max_daily_loss", "loss", loss, config.max_daily_loss.limit_usd, "USD", config.max_daily_loss.enabled,
             "largest realised loss of the day, in exit order; open P&L at the mark between events is not in the "
             "ledger (the guard also counts it, and every stop, before each entry)"),
        _cap("max_total_risk", "risk", risk, config.max_total_risk.limit_usd, "USD", config.max_total_risk.enabled,
             "largest sum over open positions of (distance to stop + slippage) x multiplier x quantity"),
        _cap("data_cost", "day", data_day_usd, config.data_cost.daily_usd, "USD", config.data_cost.enabled, spend_note),
        _cap("data_cost", "month", data_month_usd, config.data_cost.monthly_usd, "USD", config.data_cost.enabled,
             spend_note + " (this month so far)"),
        _cap("cost_per_signal", "per_signal", per_signal, config.cost_per_signal.target_usd, "USD",
             config.cost_per_signal.enabled, "(data + commissions) / signals of the day; a target, never a halt"
             if signals else "no signal that day"),
        _cap("order_rate", "orders", rate, config.order_rate.max_orders, "orders", config.order_rate.enabled,
             f"most approvals inside any {config.order_rate.per_seconds:g} s"),
    ]


def _cap(guard: str, name: str, used: float | None, limit: float, unit: str, enabled: bool, note: str
         ) -> dict[str, Any]:
    used = None if used is None or not math.isfinite(float(used)) else float(used)
    return {"guard": guard, "name": name, "used": used, "limit": float(limit), "unit": unit, "enabled": bool(enabled),
            "share": used / float(limit) if used is not None and limit else None, "note": note}


def _open_close_events(positions: pd.DataFrame) -> list[tuple[pd.Timestamp, int, dict[str, Any]]]:
    """(time, +1 open / -1 close, position) in time order; a close before an open at the same time."""
    events = []
    for row in positions.to_dict("records"):
        events.append((pd.Timestamp(row["entry_time"]), 1, row))
        if isinstance(row["exit_time"], str):
            events.append((pd.Timestamp(row["exit_time"]), -1, row))
    return sorted(events, key=lambda e: (e[0], e[1]))


def _walk(events: list[tuple[pd.Timestamp, int, dict[str, Any]]]):
    held: dict[str, dict[str, Any]] = {}
    for _at, kind, row in events:
        if kind > 0:
            held[row["position_id"]] = row
            yield list(held.values())
        else:
            held.pop(row["position_id"], None)


def _peak_contracts(events: list, *, netting: str) -> float:
    peak = 0.0
    for held in _walk(events):
        if netting == NETTING_ACCOUNT:
            net: dict[str, int] = {}
            for row in held:
                net[row["instrument"]] = net.get(row["instrument"], 0) + \
                    (1 if row["direction"] == "LONG" else -1) * int(row["quantity"])
            peak = max(peak, float(sum(abs(v) for v in net.values())))
        else:
            peak = max(peak, float(sum(int(r["quantity"]) for r in held)))
    return peak


def _peak_risk(events: list, config: RiskConfig) -> float | None:
    peak = 0.0
    for held in _walk(events):
        total = 0.0
        for row in held:
            option = isinstance(row["contract"], str) and row["contract"]
            instrument = OPTION if option else str(row["instrument"])
            spec = config.instrument(instrument)
            if spec is None:
                return None
            entry = float(row["entry_reference"] if option else row["entry_price"])
            sign = 1.0 if row["direction"] == "LONG" else -1.0
            points = max(sign * (entry - float(row["stop"])), 0.0) + config.slippage_points(instrument)
            total += points * spec.multiplier * int(row["quantity"])
        peak = max(peak, total)
    return peak


def _worst_realised_loss(positions: pd.DataFrame) -> float:
    closed = positions[positions["pnl_usd"].notna()] if len(positions) else positions
    if closed.empty:
        return 0.0
    pnl = closed.sort_values(["exit_time", "signal_id"], kind="stable")["pnl_usd"].astype("float64").to_numpy()
    return float(max(0.0, -np.min(np.cumsum(pnl))))


def _peak_rate(approvals: Sequence[str], per_seconds: float) -> float:
    times = np.sort(pd.to_datetime(list(approvals), utc=True).as_unit("ns").asi8) if approvals else np.zeros(0, "int64")
    if times.size == 0:
        return 0.0
    window = int(per_seconds * 1e9)
    # approvals in (t - window, t] for every approval time t
    starts = np.searchsorted(times, times - window, side="right")
    return float(np.max(np.arange(times.size) - starts + 1))


def _finite(value: Any) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _number(value: Any) -> float | None:
    return float(value) if _finite(value) else None
