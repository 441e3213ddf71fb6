#!/usr/bin/env python3
"""Compare Barchart's and Databento's NQ option chains for the same day, side by side.

For each source the chain comes from, in order: a file given on the command line (any capture
the saved source reads), else the newest capture of that source saved under
`<output-dir>/YYYYMMDD/api_data/`, else a live fetch through the profile's settings (retries,
time limit and, for Databento, the budget apply). Both chains pass the data-quality gate.

The comparison (pure, vectorized) works on the expirations both chains have:

1. coverage: contracts (strike, right) in both, only in Barchart, only in Databento;
2. per strike: open interest and volume of calls + puts in each source and the difference;
3. per contract: mark (mid, else last) in each source and the difference;
4. a verdict: `agree` when coverage, open interest and prices are all within the thresholds
   (command-line options, defaults below), `disagree` with the reasons otherwise, `no overlap`
   when no contract is in both.

Written atomically as JSON + HTML under `<output-dir>/YYYYMMDD/reports/compare_barchart_databento_HHMMSS.*`.
Exit codes: 0 compared (whatever the verdict), 2 bad arguments, 3 a chain could not be obtained.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Sequence
from zoneinfo import ZoneInfo

import jinja2
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks.options_trading_system.config_manager import load_environment, load_profile  # noqa: E402
from tasks.options_trading_system.data_ingestion.canonical import OptionsChain, validate_chain  # noqa: E402
from tasks.options_trading_system.data_ingestion.saved.formats import read_capture  # noqa: E402
from tasks.options_trading_system.data_ingestion.sources_registry import (ChainLoader, ChainRequest,  # noqa: E402
                                                                          SourceContext, build_sources)
from tasks.options_trading_system.errors import OptionsSystemError  # noqa: E402
from tasks.options_trading_system.state.atomic import atomic_write_text  # noqa: E402

log = logging.getLogger("compare_barchart_databento")
EXCHANGE_TZ = ZoneInfo("America/New_York")
SOURCES = ("barchart", "databento")
KEY = ["expiration", "strike", "right"]


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """When the two chains are said to agree (each is a command-line option)."""

    min_coverage: float = 0.90        # share of the union of contracts present in both
    oi_tolerance: float = 0.05        # relative open-interest difference per strike still counted as equal
    min_oi_agreement: float = 0.90    # share of strikes (OI known in both) within oi_tolerance
    price_tolerance: float = 0.25     # index points of mark difference still counted as equal (one NQ tick)
    min_price_agreement: float = 0.90  # share of contracts (mark known in both) within price_tolerance
    top_n: int = 25                   # rows of the largest differences shown in the HTML


THRESHOLD_HELP = {
    "min_coverage": "verdict: least share of the union of contracts present in both",
    "oi_tolerance": "verdict: relative open-interest difference per strike still counted as equal",
    "min_oi_agreement": "verdict: least share of strikes (OI known in both) within --oi-tolerance",
    "price_tolerance": "verdict: index points of mark difference still counted as equal",
    "min_price_agreement": "verdict: least share of contracts (mark known in both) within --price-tolerance",
    "top_n": "rows of the largest differences shown in the HTML",
}


@dataclass
class Comparison:
    """What `compare_chains` found; `per_strike` and `prices` are tables, the rest JSON-able."""

    verdict: str
    reasons: list[str]
    summary: dict[str, Any]
    coverage: dict[str, Any]
    per_strike: pd.DataFrame
    prices: pd.DataFrame
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)


def _contracts(chain: OptionsChain) -> pd.DataFrame:
    frame = chain.frame[KEY + ["mark", "volume", "open_interest"]].copy()
    frame["expiration"] = frame["expiration"].dt.strftime("%Y-%m-%d")
    return frame.groupby(KEY, as_index=False).first()


def compare_chains(barchart: OptionsChain, databento: OptionsChain, thresholds: Thresholds) -> Comparison:
    """Compare two validated chains on their common expirations (see the module docstring)."""
    a, b = _contracts(barchart), _contracts(databento)
    common_exp = sorted(set(a["expiration"]) & set(b["expiration"]))
    a, b = a[a["expiration"].isin(common_exp)], b[b["expiration"].isin(common_exp)]
    merged = a.merge(b, on=KEY, how="outer", suffixes=("_barchart", "_databento"), indicator=True)
    both = merged[merged["_merge"] == "both"]
    only_a = merged[merged["_merge"] == "left_only"]
    only_b = merged[merged["_merge"] == "right_only"]
    union = len(merged)
    coverage = {
        "common_expirations": common_exp,
        "barchart_only_expirations": sorted(set(_contracts(barchart)["expiration"]) - set(common_exp)),
        "databento_only_expirations": sorted(set(_contracts(databento)["expiration"]) - set(common_exp)),
        "contracts_in_both": int(len(both)), "only_barchart": int(len(only_a)), "only_databento": int(len(only_b)),
        "share_in_both": (len(both) / union) if union else None,
        "strikes_only_barchart": sorted(set(only_a["strike"])), "strikes_only_databento": sorted(set(only_b["strike"])),
    }
    per_strike = _per_strike(both)
    prices = both[KEY + ["mark_barchart", "mark_databento"]].assign(
        diff=lambda f: f["mark_databento"] - f["mark_barchart"]).reset_index(drop=True)
    price_known = prices.dropna(subset=["diff"])
    oi_known = per_strike.dropna(subset=["oi_rel_diff"])
    price_ok = float((price_known["diff"].abs() <= thresholds.price_tolerance + 1e-12).mean()) if len(price_known) else None
    oi_ok = float((oi_known["oi_rel_diff"].abs() <= thresholds.oi_tolerance + 1e-12).mean()) if len(oi_known) else None
    summary = {
        "underlying_barchart": _num(barchart.meta.underlying_price),
        "underlying_databento": _num(databento.meta.underlying_price),
        "underlying_diff": _num(databento.meta.underlying_price - barchart.meta.underlying_price),
        "contracts_compared_prices": int(len(price_known)),
        "price_agreement": price_ok,
        "median_abs_price_diff": _num(price_known["diff"].abs().median()) if len(price_known) else None,
        "max_abs_price_diff": _num(price_known["diff"].abs().max()) if len(price_known) else None,
        "strikes_compared_oi": int(len(oi_known)),
        "oi_agreement": oi_ok,
        "total_oi_barchart": _num(per_strike["oi_barchart"].sum(min_count=1)),
        "total_oi_databento": _num(per_strike["oi_databento"].sum(min_count=1)),
        "total_volume_barchart": _num(per_strike["volume_barchart"].sum(min_count=1)),
        "total_volume_databento": _num(per_strike["volume_databento"].sum(min_count=1)),
    }
    verdict, reasons = _verdict(coverage, summary, thresholds)
    return Comparison(verdict=verdict, reasons=reasons, summary=summary, coverage=coverage,
                      per_strike=per_strike, prices=prices)


def _per_strike(both: pd.DataFrame) -> pd.DataFrame:
    """OI and volume of calls + puts per (expiration, strike) in each source; NaN only when all are missing."""
    grouped = both.groupby(["expiration", "strike"])
    table = pd.DataFrame({
        "oi_barchart": grouped["open_interest_barchart"].sum(min_count=1),
        "oi_databento": grouped["open_interest_databento"].sum(min_count=1),
        "volume_barchart": grouped["volume_barchart"].sum(min_count=1),
        "volume_databento": grouped["volume_databento"].sum(min_count=1),
    }).reset_index()
    table["oi_diff"] = table["oi_databento"] - table["oi_barchart"]
    # relative to the larger of the two; both zero is agreement (0), a missing side stays NaN
    base = table[["oi_barchart", "oi_databento"]].abs().max(axis=1, skipna=False)
    table["oi_rel_diff"] = (table["oi_diff"] / base.where(base > 0)).mask(base == 0, 0.0)
    table["volume_diff"] = table["volume_databento"] - table["volume_barchart"]
    return table


def _verdict(coverage: dict[str, Any], summary: dict[str, Any], t: Thresholds) -> tuple[str, list[str]]:
    if coverage["contracts_in_both"] == 0:
        why = ("no expiration in common" if not coverage["common_expirations"]
               else "no contract (strike, right) in common")
        return "no overlap", [why]
    reasons = []
    if coverage["share_in_both"] < t.min_coverage:
        reasons.append(f"only {coverage['share_in_both']:.0%} of contracts are in both (want {t.min_coverage:.0%})")
    if summary["oi_agreement"] is None:
        reasons.append("open interest is missing in one source for every common strike")
    elif summary["oi_agreement"] < t.min_oi_agreement:
        reasons.append(f"open interest within {t.oi_tolerance:.0%} at {summary['oi_agreement']:.0%} of strikes "
                       f"(want {t.min_oi_agreement:.0%})")
    if summary["price_agreement"] is None:
        reasons.append("no contract has a mark in both sources")
    elif summary["price_agreement"] < t.min_price_agreement:
        reasons.append(f"marks within {t.price_tolerance:g} points for {summary['price_agreement']:.0%} of contracts "
                       f"(want {t.min_price_agreement:.0%})")
    return ("agree" if not reasons else "disagree"), reasons


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (_num(v) if isinstance(v, (float, np.floating)) else v) for k, v in row.items()}
            for row in frame.to_dict(orient="records")]


def comparison_document(comparison: Comparison, *, run_date: date, generated_at: pd.Timestamp,
                        thresholds: Thresholds) -> dict[str, Any]:
    """The JSON export (NaN as null)."""
    per_strike = comparison.per_strike.assign(strike=lambda f: f["strike"].astype(float))
    return {"format": "nq-compare-barchart-databento/1", "run_date": run_date.isoformat(),
            "generated_at": generated_at.isoformat(), "verdict": comparison.verdict, "reasons": comparison.reasons,
            "thresholds": thresholds.__dict__, "sources": comparison.sources, "summary": comparison.summary,
            "coverage": comparison.coverage, "per_strike": _records(per_strike),
            "prices": _records(comparison.prices)}


HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Barchart vs Databento — {{ doc.run_date }}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}.l{text-align:left}
.agree{color:#176a2c}.disagree{color:#a11}.nooverlap{color:#a60}</style></head><body>
<h1>Barchart vs Databento — {{ doc.run_date }}</h1>
<p class="{{ doc.verdict | replace(' ', '') }}"><strong>Verdict: {{ doc.verdict }}</strong></p>
{% if doc.reasons %}<ul>{% for r in doc.reasons %}<li>{{ r }}</li>{% endfor %}</ul>{% endif %}
<h2>Sources</h2><table><tr><th class="l">Source</th><th class="l">From</th><th class="l">As of</th><th>Contracts</th><th>Underlying</th></tr>
{% for name, s in doc.sources.items() %}<tr><td class="l">{{ name }}</td><td class="l">{{ s.origin }}</td><td class="l">{{ s.as_of }}</td><td>{{ s.contracts }}</td><td>{{ fmt(s.underlying_price) }}</td></tr>{% endfor %}</table>
<h2>Coverage</h2><p>Common expirations: {{ doc.coverage.common_expirations | join(', ') or 'none' }}.
In both: {{ doc.coverage.contracts_in_both }}; only Barchart: {{ doc.coverage.only_barchart }}; only Databento: {{ doc.coverage.only_databento }}
({{ pct(doc.coverage.share_in_both) }} in both).</p>
<h2>Summary</h2><table>{% for k, v in doc.summary.items() %}<tr><td class="l">{{ k }}</td><td>{{ fmt(v) }}</td></tr>{% endfor %}</table>
<h2>Open interest and volume per strike (largest OI differences first)</h2>
<table><tr><th class="l">Expiration</th><th>Strike</th><th>OI Barchart</th><th>OI Databento</th><th>OI diff</th><th>Vol Barchart</th><th>Vol Databento</th><th>Vol diff</th></tr>
{% for r in strikes %}<tr><td class="l">{{ r.expiration }}</td><td>{{ fmt(r.strike) }}</td><td>{{ fmt(r.oi_barchart) }}</td><td>{{ fmt(r.oi_databento) }}</td><td>{{ fmt(r.oi_diff) }}</td><td>{{ fmt(r.volume_barchart) }}</td><td>{{ fmt(r.volume_databento) }}</td><td>{{ fmt(r.volume_diff) }}</td></tr>
{% else %}<tr><td class="l" colspan="8">no common strike</td></tr>{% endfor %}</table>
<h2>Marks (largest differences first)</h2>
<table><tr><th class="l">Expiration</th><th>Strike</th><th class="l">Right</th><th>Barchart</th><th>Databento</th><th>Diff</th></tr>
{% for r in prices %}<tr><td class="l">{{ r.expiration }}</td><td>{{ fmt(r.strike) }}</td><td class="l">{{ r.right }}</td><td>{{ fmt(r.mark_barchart) }}</td><td>{{ fmt(r.mark_databento) }}</td><td>{{ fmt(r.diff) }}</td></tr>
{% else %}<tr><td class="l" colspan="6">no common contract</td></tr>{% endfor %}</table>
<p>Generated {{ doc.generated_at }}. Missing values are shown as "missing", never as 0.</p></body></html>
"""


def render_html(document: dict[str, Any], top_n: int) -> str:
    """The HTML page; everything from the data is escaped (autoescape)."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)

    def fmt(value: Any) -> str:
        if value is None:
            return "missing"
        if isinstance(value, float):
            return f"{value:,.2f}" if abs(value) < 1e6 else f"{value:,.0f}"
        return str(value)

    def pct(value: Any) -> str:
        return "missing" if value is None else f"{value:.0%}"

    strikes = sorted(document["per_strike"], key=lambda r: -abs(r["oi_diff"] or 0))[:top_n]
    prices = sorted(document["prices"], key=lambda r: -abs(r["diff"] or 0))[:top_n]
    return env.from_string(HTML_TEMPLATE).render(doc=document, strikes=strikes, prices=prices, fmt=fmt, pct=pct)


# --- edges: getting the chains, writing the files ------------------------------------------------

def newest_capture(api_data: Path, source: str) -> tuple[OptionsChain, Path] | None:
    """The newest readable capture of `source` in a day's api_data/ (by file time)."""
    if not api_data.is_dir():
        return None
    for path in sorted(api_data.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            chain = read_capture(path)
        except OptionsSystemError as exc:
            log.info("skipping %s: %s", path, exc)
            continue
        if chain.meta.source == source:
            return chain, path
    return None


def obtain_chain(source: str, *, file: Path | None, api_data: Path, profile_name: str, output_root: Path,
                 run_date: date, now: pd.Timestamp) -> tuple[OptionsChain, dict[str, Any]]:
    """The validated chain of one source and where it came from (see the module docstring)."""
    if file is not None:
        chain, origin = read_capture(file), f"file {file}"
    elif (found := newest_capture(api_data, source)) is not None:
        chain, origin = found[0], f"saved capture {found[1].name}"
    else:
        profile = load_profile(profile_name)
        context = SourceContext(profile=profile, output_root=output_root, env=load_environment())
        request = ChainRequest.from_profile(profile, trade_date=run_date, now=now)
        loaded = ChainLoader(build_sources([source], context)).load(request)
        chain, origin = loaded.chain, f"live ({loaded.attempts[-1].latency_ms:.0f} ms, ${loaded.attempts[-1].cost_usd:.2f})"
    chain = validate_chain(chain)
    return chain, {"origin": origin, "as_of": chain.meta.as_of.isoformat(), "contracts": int(len(chain.frame)),
                   "underlying_symbol": chain.meta.underlying_symbol,
                   "underlying_price": _num(chain.meta.underlying_price)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--date", help="trading date YYYY-MM-DD (default: today in New York)")
    parser.add_argument("--profile", default="all_sources", help="profile for live fetches (default all_sources)")
    parser.add_argument("--output-dir", type=Path, default=Path("outputs"), help="output root (default outputs)")
    parser.add_argument("--barchart-file", type=Path, help="a Barchart capture to use instead of saved/live data")
    parser.add_argument("--databento-file", type=Path, help="a Databento capture to use instead of saved/live data")
    for name, value in Thresholds().__dict__.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value,
                            help=f"{THRESHOLD_HELP[name]} (default {value})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        run_date = date.fromisoformat(args.date) if args.date else datetime.now(EXCHANGE_TZ).date()
    except ValueError:
        print(f"--date {args.date!r}: expected YYYY-MM-DD", file=sys.stderr)
        return 2
    thresholds = Thresholds(**{k: getattr(args, k) for k in Thresholds().__dict__})
    now = pd.Timestamp.now(tz="UTC")
    day = args.output_dir / run_date.strftime("%Y%m%d")
    chains: dict[str, OptionsChain] = {}
    origins: dict[str, dict[str, Any]] = {}
    for source in SOURCES:
        try:
            chains[source], origins[source] = obtain_chain(
                source, file=getattr(args, f"{source}_file"), api_data=day / "api_data", profile_name=args.profile,
                output_root=args.output_dir, run_date=run_date, now=now)
        except OptionsSystemError as exc:
            print(f"{source}: no chain to compare: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 3
    comparison = compare_chains(chains["barchart"], chains["databento"], thresholds)
    comparison.sources = origins
    document = comparison_document(comparison, run_date=run_date, generated_at=now, thresholds=thresholds)
    stem = day / "reports" / f"compare_barchart_databento_{now.tz_convert(EXCHANGE_TZ):%H%M%S}"
    json_path = atomic_write_text(stem.with_suffix(".json"), json.dumps(document, indent=2, allow_nan=False))
    html_path = atomic_write_text(stem.with_suffix(".html"), render_html(document, thresholds.top_n))
    print(f"Verdict: {comparison.verdict}" + (f" ({'; '.join(comparison.reasons)})" if comparison.reasons else ""))
    print(f"Written: {json_path}\n         {html_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
