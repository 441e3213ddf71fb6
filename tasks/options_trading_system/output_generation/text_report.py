"""The daily report as plain text: the same essentials as the HTML page, for a terminal, an
e-mail or a diff. Rendered from the validated export document; `top_n` (profile `outputs.top_n`)
bounds each ranked list.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from . import formatting as fmt
from .ev_view import EvSection, ev_section
from .report_view import AnalysisView, exchange_time, headline, not_run_reasons

__all__ = ["render_text", "table"]

RULE = "=" * 78
SECTION_RULE = "-" * 78
Column = tuple[str, Callable[[Mapping[str, Any]], str], str]  # (header, cell, align "<" or ">")


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> list[str]:
    """Fixed-width table lines: header, rule, one line per row."""
    cells = [[cell(row) for _, cell, _ in columns] for row in rows]
    widths = [max([len(header)] + [len(r[i]) for r in cells]) for i, (header, _, _) in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(f"{v:{align}{w}}" for v, w, (_, _, align) in zip(values, widths, columns)).rstrip()

    return [line([h for h, _, _ in columns]), line(["-" * w for w in widths])] + [line(r) for r in cells]


def render_text(document: Mapping[str, Any], *, top_n: int) -> str:
    """The plain-text report for one export document."""
    view = headline(document)
    out: list[str] = []
    for banner in view.banners:
        out += ["!" * 78, f"!!! {banner}", "!" * 78]
    out += [RULE, view.title, RULE,
            f"Data source : {view.source} (as of {view.as_of})",
            f"Profile     : {view.profile}; run started {view.started_at_exchange} (New York)",
            f"Underlying  : {view.underlying_symbol} {fmt.points(view.underlying_price)} — {view.underlying_origin_text}",
            f"Contracts   : {fmt.count(view.contracts)} analysed, {fmt.count(view.quarantined)} quarantined"]
    out += _risk(view.risk, top_n)
    out += _ev(ev_section(document), top_n)
    out += _spikes(view.spikes, top_n)
    out += _flow(view.flow, top_n)
    out += _sources(document)
    out += _chain(document)
    out += _pipeline(document)
    if view.warnings:
        out += _section("WARNINGS") + [f"- {w}" for w in view.warnings]
    out += ["", f"Export: {document['outputs']['export_json']}"]
    return "\n".join(out) + "\n"


def _section(title: str) -> list[str]:
    return ["", title, SECTION_RULE]


def _risk(risk: AnalysisView, top_n: int) -> list[str]:
    out = _section("RISK: who has more skin in the game")
    if not risk.ran:
        return out + [str(risk.reason)]
    note = f" ({risk.get('ratio_note')})" if risk.get("ratio_note") else ""
    out += [f"Verdict        : {fmt.text(risk.get('verdict'))}",
            f"Call/put ratio : {fmt.ratio(risk.get('call_put_ratio'))}{note} — calls "
            f"{fmt.dollars(risk.get('call_dollars_at_risk'))} vs puts {fmt.dollars(risk.get('put_dollars_at_risk'))} at risk",
            f"Zero gamma     : {fmt.points(risk.get('zero_gamma_level'))}"
            + (f" — {risk.get('zero_gamma_note')}" if risk.get("zero_gamma_note") else ""),
            f"  method       : {risk.get('zero_gamma_method') or 'n/a'}",
            f"Cumulative GEX : crosses zero at {fmt.points(risk.get('cumulative_gex_crossing'))} (secondary figure: "
            f"per-strike GEX summed upwards, not re-priced)"
            + (f" — {risk.get('cumulative_gex_note')}" if risk.get("cumulative_gex_note") else ""),
            f"Net GEX        : {fmt.dollars(risk.get('total_gex'))} per 1% move",
            "", f"Battle zones (top {min(top_n, len(risk.get('top_zones') or []))} by danger):"]
    zones = list(risk.get("top_zones") or [])[:top_n]
    if not zones:
        return out + ["  none: no strike has dollars at risk"]
    return out + table(zones, [
        ("strike", lambda z: fmt.strike(z.get("strike")), ">"), ("side", lambda z: fmt.text(z.get("side")), "<"),
        ("dist", lambda z: fmt.points(z.get("distance")), ">"), ("zone", lambda z: fmt.text(z.get("zone")), "<"),
        ("dollars at risk", lambda z: fmt.dollars(z.get("dollars_at_risk")), ">"),
        ("danger", lambda z: fmt.dollars(z.get("danger")), ">")])


def _ev(ev: EvSection, top_n: int) -> list[str]:
    out = _section("EXPECTED VALUE setups")
    out.append(ev.status)
    if not ev.ran:
        return out
    if ev.note:
        out.append(ev.note)
    rows = list(ev.setups)[:top_n]
    if not rows:
        return out
    out += table(rows, [
        ("#", lambda s: str(s.rank), ">"), ("dir", lambda s: s.direction, "<"),
        ("target", lambda s: s.target, ">"), ("move", lambda s: s.target_move, ">"),
        ("sigma", lambda s: s.target_sigma, ">"), ("stop", lambda s: s.stop, ">"),
        ("move", lambda s: s.stop_move, ">"), ("sigma", lambda s: s.stop_sigma, ">"),
        ("expires", lambda s: s.expiry_text, "<"),
        ("model p", lambda s: s.model_p, ">"), ("market p", lambda s: s.market_p, ">"),
        ("EV pts", lambda s: s.ev_points, ">"), ("EV $/contract", lambda s: s.ev_dollars, ">")])
    out += ["", "Model vs market (and dollars per contract to target / stop):"]
    return out + [f"  #{s.rank} {s.market_note} ({s.target_dollars} / {s.stop_dollars})" for s in rows]


def _spikes(spikes: AnalysisView, top_n: int) -> list[str]:
    out = _section("IFD v1.0 volume spikes")
    if not spikes.ran:
        return out + [str(spikes.reason)]
    out.append(f"Day bias: {fmt.text(spikes.get('day_bias'))} (calls {fmt.percent(spikes.get('call_share'))} of spike "
               f"dollars); {fmt.count(spikes.get('spikes'))} spikes, {fmt.count(spikes.get('actionable'))} actionable")
    rows = list(spikes.rows)[:top_n]
    if not rows:
        return out + ["  no contract spiked"]
    return out + table(rows, [
        ("contract", lambda s: fmt.text(s.get("contract")), "<"), ("strike", lambda s: fmt.strike(s.get("strike")), ">"),
        ("vol", lambda s: fmt.count(s.get("volume")), ">"), ("OI", lambda s: fmt.count(s.get("open_interest")), ">"),
        ("vol/OI", lambda s: fmt.ratio(s.get("vol_oi")), ">"), ("notional", lambda s: fmt.dollars(s.get("notional")), ">"),
        ("tier", lambda s: fmt.text(s.get("tier")), "<"), ("dir", lambda s: fmt.text(s.get("direction")), "<"),
        ("target", lambda s: fmt.points(s.get("target")), ">"), ("stop", lambda s: fmt.points(s.get("stop")), ">"),
        ("actionable", lambda s: "yes" if s.get("actionable") else "no", "<")])


def _flow(flow: AnalysisView, top_n: int) -> list[str]:
    out = _section("IFD v3.0 institutional flow (MBO)")
    if not flow.ran:
        return out + [str(flow.reason)]
    if flow.get("status") != "ok":
        return out + [fmt.text(flow.get("status"))]
    baseline, engine = flow.get("baseline") or {}, flow.get("engine") or {}
    out.append(f"{fmt.text(flow.get('mbo_file'))}: {fmt.count(engine.get('events'))} MBO events, "
               f"{fmt.count(flow.get('signal_count'))} signals; baseline {fmt.count(baseline.get('days_available'))} "
               f"of {fmt.count(baseline.get('lookback_days'))} days (data quality {fmt.percent(baseline.get('data_quality'))})")
    rows = list(flow.rows)[:top_n]
    if not rows:
        return out + ["  no signal above the profile's confidence threshold"]
    return out + table(rows, [
        ("time NY", lambda s: exchange_time(s.get("time")), "<"), ("contract", lambda s: fmt.text(s.get("contract")), "<"),
        ("dir", lambda s: fmt.text(s.get("direction")), "<"), ("conf", lambda s: fmt.ratio(s.get("confidence")), ">"),
        ("tier", lambda s: fmt.text(s.get("tier")), "<"), ("buy", lambda s: fmt.count(s.get("buy_volume")), ">"),
        ("sell", lambda s: fmt.count(s.get("sell_volume")), ">"), ("notional", lambda s: fmt.dollars(s.get("notional")), ">"),
        ("z", lambda s: fmt.ratio(s.get("z_score")), ">"), ("MM", lambda s: "yes" if s.get("market_making") else "no", "<")])


def _sources(document: Mapping[str, Any]) -> list[str]:
    return _section("DATA SOURCES (every attempt, in order)") + table(document["data"]["attempts"], [
        ("source", lambda a: fmt.text(a.get("source")), "<"), ("outcome", lambda a: fmt.text(a.get("outcome")), "<"),
        ("latency", lambda a: fmt.millis(a.get("latency_ms")), ">"), ("cost", lambda a: fmt.cost(a.get("cost_usd")), ">"),
        ("contracts", lambda a: fmt.count(a.get("contracts")), ">"), ("reason", lambda a: fmt.text(a.get("reason")), "<")])


def _chain(document: Mapping[str, Any]) -> list[str]:
    chain = document["chain"]
    out = _section("CHAIN")
    out.append(f"{fmt.count(chain['contracts'])} contracts, {fmt.count(chain['strikes']['count'])} strikes "
               f"{fmt.strike(chain['strikes']['min'])}..{fmt.strike(chain['strikes']['max'])}, "
               f"expirations: {', '.join(fmt.text(e['expiration']) for e in chain['expirations'])}")
    quarantined = chain["quarantined"]
    out.append(f"Quarantined: {fmt.count(quarantined['total'])}"
               + "".join(f"\n  {n:>6,}  {reason}" for reason, n in quarantined["by_reason"].items()))
    return out


def _pipeline(document: Mapping[str, Any]) -> list[str]:
    out = _section("PIPELINE") + table(document["stages"], [
        ("stage", lambda t: fmt.text(t.get("name")), "<"), ("in", lambda t: fmt.count(t.get("candidates_in")), ">"),
        ("kept", lambda t: fmt.count(t.get("candidates_out")), ">"), ("time", lambda t: fmt.seconds(t.get("seconds")), ">"),
        ("dropped", lambda t: "; ".join(f"{r}: {n:,}" for r, n in (t.get("reasons") or {}).items()) or "none", "<")])
    return out + [f"{name}: {reason}" for name, reason in not_run_reasons(document)]
