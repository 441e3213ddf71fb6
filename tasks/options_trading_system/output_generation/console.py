"""The few lines `run_pipeline.py` prints when a run ends: what the data was, what it says, where
the files are. Longer reading is in the reports; `outputs.top_n` bounds each list.
"""
from __future__ import annotations

from typing import Any, Mapping

from . import formatting as fmt
from .daily_report import DailyOutputs
from .ev_view import EvSection, ev_section
from ..daily_run import DailyRunResult
from .report_view import AnalysisView, exchange_time, headline

__all__ = ["console_summary", "summary_lines"]


def console_summary(result: DailyRunResult, outputs: DailyOutputs) -> str:
    """The end-of-run summary of `result`, read from the export `outputs` wrote."""
    top_n = int(result.profile.section("outputs").get("top_n", 5))
    return "\n".join(summary_lines(outputs.document, outputs, top_n=top_n))


def summary_lines(document: Mapping[str, Any], outputs: DailyOutputs, *, top_n: int) -> list[str]:
    """The summary as lines (pure: the export document and the paths in, text out)."""
    view = headline(document)
    lines = [f"*** {banner} ***" for banner in view.banners]
    lines.append(f"{view.title}  [profile {view.profile}]")
    lines.append(f"Data      : {view.source}, {fmt.count(view.contracts)} contracts as of {view.as_of}"
                 f" ({fmt.count(view.quarantined)} quarantined)")
    lines.append(f"Underlying: {view.underlying_symbol} {fmt.points(view.underlying_price)} ({view.underlying_origin_text})")
    lines += _risk(view.risk)
    lines += _ev(ev_section(document), top_n)
    lines += _spikes(view.spikes, top_n)
    if view.flow.ran:  # IFD v3.0 needs an MBO file: shown only in runs whose profile has the stage
        lines += _flow(view.flow, top_n)
    lines.append("Written   :")
    lines += [f"  {path}" for path in outputs.files()]
    return lines


def _risk(risk: AnalysisView) -> list[str]:
    if not risk.ran:
        return [f"Risk      : {risk.reason}"]
    return [f"Risk      : {fmt.text(risk.get('verdict'))}, call/put ratio {fmt.ratio(risk.get('call_put_ratio'))}",
            f"Zero gamma: {fmt.points(risk.get('zero_gamma_level'))}"
            + (f" — {risk.get('zero_gamma_note')}" if risk.get("zero_gamma_note") else " (GEX re-priced by price)")
            + f"; cumulative per-strike crossing {fmt.points(risk.get('cumulative_gex_crossing'))}"]


def _ev(ev: EvSection, top_n: int) -> list[str]:
    if not ev.ran:
        return [f"EV setups : {ev.status}"]
    lines = [f"EV setups : {ev.status}"]
    if ev.note:
        lines.append(f"  {ev.note}")
    for s in list(ev.setups)[:top_n]:
        lines.append(f"  {s.direction:<5} target {s.target_text}  stop {s.stop_text}  expires {s.expiry_text}")
        lines.append(f"        EV {s.ev_points} pts = {s.ev_dollars}/contract; {s.market_note}")
    return lines


def _spikes(spikes: AnalysisView, top_n: int) -> list[str]:
    if not spikes.ran:
        return [f"Spikes    : {spikes.reason}"]
    lines = [f"Spikes    : {fmt.count(spikes.get('spikes'))}, day bias {fmt.text(spikes.get('day_bias'))}"]
    for s in list(spikes.rows)[:top_n]:
        lines.append(f"  {fmt.text(s.get('contract'))} {fmt.text(s.get('direction'))} vol/OI {fmt.ratio(s.get('vol_oi'))} "
                     f"{fmt.dollars(s.get('notional'))} {fmt.text(s.get('tier'))}"
                     + (" actionable" if s.get("actionable") else ""))
    return lines


def _flow(flow: AnalysisView, top_n: int) -> list[str]:
    if flow.get("status") != "ok":
        return [f"IFD v3.0  : {fmt.text(flow.get('status'))}"]
    tiers = ", ".join(f"{tier} {n}" for tier, n in (flow.get("tiers") or {}).items())
    baseline = flow.get("baseline") or {}
    lines = [f"IFD v3.0  : {fmt.count(flow.get('signal_count'))} signals" + (f" ({tiers})" if tiers else "")
             + f", baseline {fmt.count(baseline.get('days_available'))} of {fmt.count(baseline.get('lookback_days'))} days"]
    for s in list(flow.rows)[:top_n]:
        lines.append(f"  {exchange_time(s.get('time'))} {fmt.text(s.get('contract'))} {fmt.text(s.get('direction'))} "
                     f"confidence {fmt.ratio(s.get('confidence'))} {fmt.text(s.get('tier'))}  net "
                     f"{fmt.count(s.get('net_volume'))} ({fmt.text(s.get('aggressor'))} aggressor) "
                     f"{fmt.dollars(s.get('notional'))}  z {fmt.ratio(s.get('z_score'))}")
    return lines
