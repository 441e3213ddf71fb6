"""What the dashboard page shows, built from a snapshot, the monitor's samples and its alerts. Pure.

`build_view` returns a plain dict the jinja2 templates read (figures stay numbers; the templates
format them), plus the charts as plotly figures (`charts.Chart`) the page draws. Banners say, in words, what a trader
must not miss: no run, a stalled run, a halted run, a monitor that stopped sampling, anything
that could not be read.
"""
from __future__ import annotations

from dataclasses import fields
from typing import Any, Mapping, Sequence

import pandas as pd

from ..data_ingestion.canonical import number_or_nan
from ..output_generation.charts import CALL_COLOR, NEGATIVE_COLOR, POSITIVE_COLOR, PUT_COLOR
from .charts import COUNT, MS, PERCENT, SIGNED_USD, USD, Bars, Chart, Line, Reference, category_chart, time_chart
from .config import MonitoringConfig
from .formatting import local_time
from .system import SystemSample

# A monitor whose newest sample is older than this many intervals is reported as not sampling.
MONITOR_STALE_INTERVALS = 3
EVENTS_SHOWN = 50
SYSTEM_FIELDS = tuple(f.name for f in fields(SystemSample))
CPU_COLOR, MEMORY_COLOR, BUDGET_COLOR = "#2563eb", "#7c3aed", "#b91c1c"

__all__ = ["build_view"]


def build_view(latest: Mapping[str, Any], *, history: Sequence[Mapping[str, Any]], alerts: Mapping[str, Any] | None,
               monitor_updated_at: str | None, config: MonitoringConfig, now: pd.Timestamp, live: bool,
               control: Mapping[str, Any]) -> dict[str, Any]:
    """The page's data: overview, run, sources, system, alerts, charts, banners."""
    tz = config.dashboard.timezone
    now = pd.Timestamp(now)
    run = _run_view(latest.get("run"), tz)
    alerts = alerts or {}
    monitor_age = None if not monitor_updated_at else (now - pd.Timestamp(monitor_updated_at)).total_seconds()
    sources = dict(latest.get("sources") or {})
    sources["rows"] = sources.get("by_source") or []
    run_detail = latest.get("run") or {}
    latency = (run_detail.get("latency") or {}).get(config.latency_metric) or {}
    last_sample = history[-1] if history else {}
    system = {name: None for name in SYSTEM_FIELDS} | dict(latest.get("system") or {})
    system.update({
        "latency_p50_ms": latency.get("p50"), "latency_p95_ms": latency.get("p95"),
        "latency_p99_ms": latency.get("p99"), "latency_count": latency.get("count"),
        "latency_metric": config.latency_metric,
        "uptime_pct": ((last_sample.get("metrics") or {}).get("uptime_pct") or {}).get("value"),
        "run_uptime_s": (run_detail.get("process") or {}).get("uptime_s"),
        "monitor_uptime_s": (last_sample.get("system") or {}).get("process_uptime_s"),
    })
    view = {
        "live": live,
        "assets": "/static/",                 # where the page's scripts are (the static copy: beside it)
        "refresh_s": config.dashboard.refresh_s,
        "as_of": latest.get("ts"),
        "as_of_local": local_time(latest.get("ts"), tz),
        "generated_at_local": local_time(now.isoformat(), tz),
        "health": alerts.get("health", "ok") if alerts else "ok",
        "alerts": [dict(a, since_local=local_time(a.get("since"), tz)) for a in alerts.get("active", [])],
        "events": [dict(e, ts_local=local_time(e.get("ts"), tz))
                   for e in reversed(list(alerts.get("events", []))[-EVENTS_SHOWN:])],
        "run": run,
        "runs": [dict(r, started_local=local_time(r.get("started_at"), tz),
                      updated_local=local_time(r.get("updated_at"), tz)) for r in latest.get("runs", [])],
        "runs_dir": str(config.shadow_runs_dir),
        "sources": sources,
        "spend": latest.get("spend") or {},
        "exports": latest.get("exports"),
        "system": system,
        "monitor": {"age_s": monitor_age, "last_sample_local": local_time(monitor_updated_at, tz)
                    if monitor_updated_at else None},
        "control": dict(control),
        "charts": _charts(latest, history, config),
    }
    view["banners"] = _banners(view, latest, config, monitor_age)
    return view


def _run_view(run: Mapping[str, Any] | None, tz: str) -> dict[str, Any] | None:
    if not run:
        return None
    out = dict(run)
    out["started_local"] = local_time(run.get("started_at"), tz)
    out["updated_local"] = local_time(run.get("updated_at"), tz)
    control = run.get("control")
    out["control"] = dict(control, at_local=local_time(control.get("at"), tz)) if control else None
    out["signals"] = [dict(s, time_local=local_time(s.get("time"), tz, "%m-%d %H:%M"),
                           outcome_class=_outcome_class(s)) for s in run.get("signals", [])]
    out["risk"] = _risk_view(run.get("risk"), tz)
    return out


#: a cap at or past this share of its limit is shown as near it
CAP_NEAR_SHARE = 0.8
RISK_STATE_CLASS = {"ACTIVE": "ok", "REDUCING": "warning", "HALTED": "error"}
CAP_LABELS = {("max_position", "contracts"): "position (contracts, all instruments)",
              ("max_daily_loss", "loss"): "daily loss (realised + open at mark)",
              ("max_total_risk", "risk"): "total risk to the stops",
              ("data_cost", "day"): "data cost today", ("data_cost", "month"): "data cost this month",
              ("order_rate", "orders"): "order rate (in the window)",
              ("cost_per_signal", "per_signal"): "cost per signal (target)"}


def _risk_view(risk: Mapping[str, Any] | None, tz: str) -> dict[str, Any] | None:
    """The risk panel: state in words and colour, each cap's use against its limit, times local."""
    if not risk:
        return None
    out = {"error": None, "mode": None, "broker": None, **risk}
    out["state_class"] = RISK_STATE_CLASS.get(str(risk.get("state")), "unknown")
    out["changed_local"] = local_time(risk.get("changed_at"), tz) if risk.get("changed_at") else None
    out["as_of_local"] = local_time(risk.get("as_of"), tz) if risk.get("as_of") else None
    out["caps"] = [dict(c, label=CAP_LABELS.get((c["guard"], c["name"]), f"{c['guard']} {c['name']}"),
                        level=_cap_level(c)) for c in risk.get("caps", [])]
    out["events"] = [dict(e, at_local=local_time(e.get("at"), tz)) for e in risk.get("events", [])]
    return out


def _cap_level(cap: Mapping[str, Any]) -> str:
    """off / unknown / ok / near / at limit: how close a guarded quantity is to its cap."""
    if not cap.get("enabled"):
        return "off"
    share = cap.get("share")
    if cap.get("used") is None or share is None:
        return "unknown"
    if share >= 1.0:
        return "at limit"
    return "near" if share >= CAP_NEAR_SHARE else "ok"


def _outcome_class(signal: Mapping[str, Any]) -> str:
    if signal.get("correct") is True:
        return "hit"
    if signal.get("correct") is False:
        return "stop"
    return "pending"


def _banners(view: Mapping[str, Any], latest: Mapping[str, Any], config: MonitoringConfig,
             monitor_age: float | None) -> list[dict[str, str]]:
    banners: list[dict[str, str]] = []
    run = view["run"]
    if run is None:
        banners.append({"level": "info", "text": f"No shadow run found under {config.shadow_runs_dir}."})
    elif run["state"] == "stalled":
        process = run.get("process") or {}
        why = "its process has exited" if process.get("alive") is False else \
            f"its ledger has not changed since {run['updated_local']}"
        banners.append({"level": "error", "text": f"Run {run['run_id']} says it is running but {why}: "
                                                  "it is stalled. Check its log and resume it."})
    elif run["state"] == "halted":
        risk = run.get("risk") or {}
        if risk.get("state") == "HALTED":
            by = f" by {risk['changed_by']}" if risk.get("changed_by") else ""
            banners.append({"level": "warning", "text": f"Run {run['run_id']} is HALTED{by}: {risk.get('reason')}. "
                                                        "Every order is refused, working orders are cancelled and "
                                                        "positions flattened. Resume it from Control once the "
                                                        "cause is understood."})
        else:
            banners.append({"level": "warning", "text": f"Run {run['run_id']} is HALTED: no new signals or orders; "
                                                        "open positions are still tracked. Resume it from Control."})
    elif latest.get("active_run_id") is None:
        banners.append({"level": "info", "text": f"No run is active; showing the most recent run, "
                                                 f"{run['run_id']} ({run['state']})."})
    if monitor_age is None:
        banners.append({"level": "warning", "text": "The production monitor has not written any sample yet: "
                                                    "alerts and history are empty. Start scripts/production_monitor.py."})
    elif monitor_age > MONITOR_STALE_INTERVALS * config.interval_s:
        banners.append({"level": "warning", "text": f"The production monitor has not sampled for "
                                                    f"{int(monitor_age)} s (every {config.interval_s:g} s expected): "
                                                    "alerts may be out of date."})
    for problem in latest.get("problems", []):
        banners.append({"level": "error", "text": f"Could not read: {problem}"})
    return banners


def _charts(latest: Mapping[str, Any], history: Sequence[Mapping[str, Any]], config: MonitoringConfig) -> dict[str, Chart]:
    tz = config.dashboard.timezone
    run = latest.get("run") or {}
    equity = run.get("equity") or []
    daily = run.get("daily") or []
    times = [s.get("ts") for s in history]

    def series(section: str, key: str) -> list[float]:
        return [number_or_nan((s.get(section) or {}).get(key)) for s in history]

    spend = latest.get("spend") or {}
    daily_budget = number_or_nan(spend.get("daily_budget_usd"))
    sources = (latest.get("sources") or {}).get("by_source") or []
    charts = [
        time_chart(
            [Line("net P&L", [e["ts"] for e in equity], [e["pnl_usd"] for e in equity], POSITIVE_COLOR, step=True)],
            key="equity", title="Equity curve (cumulative net P&L after each closed trade)", y_label="net P&L ($)",
            value_format=USD, timezone=tz, include_zero=True, empty="no closed trade yet"),
        category_chart(
            [d["date"] for d in daily],
            [Bars("net P&L", [number_or_nan(d["pnl_usd"]) for d in daily], POSITIVE_COLOR,
                  negative_color=NEGATIVE_COLOR)],
            key="daily-pnl", title="Daily P&L", y_label="net P&L ($)", value_format=SIGNED_USD,
            empty="no trading day yet"),
        category_chart(
            [s["source"] for s in sources],
            [Bars(outcome, [number_or_nan(s.get(outcome)) for s in sources], color)
             for outcome, color in (("served", POSITIVE_COLOR), ("failed", NEGATIVE_COLOR), ("skipped", PUT_COLOR))],
            key="sources", title="Source health (attempts by outcome)", y_label="attempts", value_format=COUNT,
            empty="no data-source attempts recorded"),
        time_chart(
            [Line("spend today", times, series("spend", "today_usd"), CALL_COLOR, step=True)],
            key="spend", title="Data spend today vs daily budget", y_label="dollars", value_format=USD, timezone=tz,
            include_zero=True, references=[Reference("daily budget", daily_budget, BUDGET_COLOR)],
            empty="no monitor samples yet"),
        time_chart(
            [Line("p50", times, series("run", "latency_p50_ms"), CALL_COLOR),
             Line("p95", times, series("run", "latency_p95_ms"), PUT_COLOR),
             Line("p99", times, series("run", "latency_p99_ms"), NEGATIVE_COLOR)],
            key="latency", title=f"Run latency ({config.latency_metric}) percentiles", y_label="ms", value_format=MS,
            timezone=tz, include_zero=True, empty="no latency samples yet"),
        time_chart(
            [Line("CPU", times, series("system", "cpu_pct"), CPU_COLOR),
             Line("memory", times, series("system", "memory_pct"), MEMORY_COLOR)],
            key="system", title="CPU and memory", y_label="percent", value_format=PERCENT, timezone=tz,
            include_zero=True, empty="no monitor samples yet"),
    ]
    return {chart.key: chart for chart in charts}
