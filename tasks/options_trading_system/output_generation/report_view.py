"""What every report leads with, read from the validated export document (pure, no I/O).

The HTML report, the text report and the console summary all show the same essentials; this
module picks them out of the export once, so the three never disagree and never recompute a
figure. A stage that did not run yields an `AnalysisView` with `ran=False` and the reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pandas as pd

from .daily_export import EXCHANGE_TZ

__all__ = ["AnalysisView", "Headline", "analysis", "headline", "ORIGIN_TEXT", "not_run_reasons", "exchange_time"]

ORIGIN_TEXT: Mapping[str | None, str] = {
    "source": "quoted by the data source",
    "put_call_parity": "derived from put-call parity near the money (C - P + K; the source gave none)",
    None: "unknown",
}


@dataclass(frozen=True)
class AnalysisView:
    """One stage as the reports see it: ran or not (and why), its summary, its ranked rows."""

    name: str
    ran: bool
    reason: str | None
    summary: Mapping[str, Any] = field(default_factory=dict)
    rows: Sequence[Mapping[str, Any]] = ()

    def get(self, key: str, default: Any = None) -> Any:
        """A summary figure, `default` when the stage did not run or did not report it."""
        return self.summary.get(key, default) if self.summary else default


@dataclass(frozen=True)
class Headline:
    """The figures a trader reads first."""

    title: str
    run_date: str
    started_at_exchange: str
    profile: str
    source: str
    as_of: str
    banners: Sequence[str]
    underlying_symbol: str
    underlying_price: float | None
    underlying_origin: str | None
    underlying_origin_text: str
    contracts: int
    quarantined: int
    risk: AnalysisView
    ev: AnalysisView
    spikes: AnalysisView
    greeks: AnalysisView
    flow: AnalysisView
    warnings: Sequence[str]


def analysis(document: Mapping[str, Any], name: str) -> AnalysisView:
    """The stage `name` of an export document (absent = not run, reason given)."""
    entry = (document.get("analyses") or {}).get(name)
    if entry is None:
        return AnalysisView(name=name, ran=False, reason=f"not run: {name!r} is not part of this export")
    if not entry.get("ran"):
        return AnalysisView(name=name, ran=False, reason=str(entry.get("reason") or "not run"))
    return AnalysisView(name=name, ran=True, reason=None, summary=entry.get("summary") or {},
                        rows=tuple(entry.get("opportunities") or ()))


def headline(document: Mapping[str, Any]) -> Headline:
    """The essentials of an export document."""
    run, data, chain, underlying = document["run"], document["data"], document["chain"], document["underlying"]
    origin = underlying.get("origin")
    return Headline(
        title=f"NQ options daily analysis — {run['date']}",
        run_date=run["date"],
        started_at_exchange=_display_time(run["started_at_exchange"], "%Y-%m-%d %H:%M:%S %Z", tz=EXCHANGE_TZ),
        profile=run["profile"]["name"],
        source=data["source"],
        as_of=_display_time(chain["as_of"], "%Y-%m-%d %H:%M:%S %Z", tz="UTC"),
        banners=tuple(data.get("banners") or ()),
        underlying_symbol=underlying["symbol"],
        underlying_price=underlying.get("price"),
        underlying_origin=origin,
        underlying_origin_text=ORIGIN_TEXT.get(origin, str(origin)),
        contracts=int(chain["contracts"]),
        quarantined=int(chain["quarantined"]["total"]),
        risk=analysis(document, "risk"),
        ev=analysis(document, "expected_value"),
        spikes=analysis(document, "volume_spike"),
        greeks=analysis(document, "greeks"),
        flow=analysis(document, "institutional_flow_v3"),
        warnings=tuple(document.get("warnings") or ()),
    )


def not_run_reasons(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(stage, reason) for every known stage that did not run."""
    return [(name, str(entry.get("reason"))) for name, entry in (document.get("analyses") or {}).items()
            if not entry.get("ran")]


def exchange_time(iso: Any) -> str:
    """A signal's ISO-8601 time as New York wall-clock time, HH:MM:SS ('n/a' when missing)."""
    return "n/a" if iso in (None, "") else _display_time(str(iso), "%H:%M:%S", tz=EXCHANGE_TZ)


def _display_time(iso: str, pattern: str, tz: str | None = None) -> str:
    """An ISO-8601 time from the export as people read it (seconds, zone name); as given if unparsable."""
    try:
        stamp = pd.Timestamp(iso)
    except (TypeError, ValueError):
        return str(iso)
    if tz is not None:
        stamp = stamp.tz_localize(tz) if stamp.tzinfo is None else stamp.tz_convert(tz)
    return stamp.strftime(pattern).strip()
