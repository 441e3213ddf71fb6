"""The expected-value section as every report reads it (pure: the export document in, text out).

The console summary, the text report and the HTML page show the same EV lines: the expiration
and the time left to it, target and stop as a move in points, in standard deviations of the move
to settlement (sigma) and in dollars per contract, the EV per contract, and the model's
probability beside the market's in words (`market_note`, written by the stage). When realism
could not be applied (no ATM IV, or the expiration has settled) the section says why nothing is
shown. Every figure is read from the export; nothing is recomputed here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from . import formatting as fmt
from .report_view import AnalysisView, analysis
from ..analysis_engine.expected_value import WITHHELD

__all__ = ["EvSection", "EvSetupLine", "ev_section", "sigmas", "time_left"]


@dataclass(frozen=True)
class EvSetupLine:
    """One setup as display text."""

    rank: int
    direction: str
    target: str
    target_move: str
    target_sigma: str  # standard deviations of the move to settlement, as a number ("1.78")
    target_dollars: str
    stop: str
    stop_move: str
    stop_sigma: str
    stop_dollars: str
    expiration: str
    time_left: str
    model_p: str
    market_p: str
    market_note: str
    ev_points: str
    ev_dollars: str
    realism: str

    @property
    def target_text(self) -> str:
        return f"{self.target} ({self.target_move}, {sigmas(self.target_sigma)}, {self.target_dollars})"

    @property
    def stop_text(self) -> str:
        return f"{self.stop} ({self.stop_move}, {sigmas(self.stop_sigma)}, {self.stop_dollars})"

    @property
    def expiry_text(self) -> str:
        return f"{self.expiration}, {self.time_left}"


@dataclass(frozen=True)
class EvSection:
    """The EV stage for a report: whether it ran, one status sentence, why nothing is shown
    (when so), and the setups."""

    ran: bool
    status: str
    note: str | None
    setups: Sequence[EvSetupLine]


def ev_section(document: Mapping[str, Any]) -> EvSection:
    """The EV section of an export document."""
    ev = analysis(document, "expected_value")
    if not ev.ran:
        return EvSection(ran=False, status=str(ev.reason), note=None, setups=())
    setups = tuple(_setup(i, s, ev) for i, s in enumerate(ev.rows, start=1))
    realism = ev.get("realism") or {}
    note = None
    if not setups:
        withheld = _dropped(document, ev).get(WITHHELD, 0)  # setups withheld for want of sigma
        if realism.get("on") and not realism.get("applied"):
            note = f"{realism.get('note')}." + (
                f" {withheld:,} setups passed the model's filters and are withheld (set "
                f"`missing_iv: \"flag\"` to list them marked unchecked)." if withheld else "")
        else:
            note = "No (target, stop) pair passed the profile's EV filters" + _why_none(document, ev) + "."
    return EvSection(ran=True, status=_status(ev, len(setups)), note=note, setups=setups)


def _status(ev: AnalysisView, shown: int) -> str:
    realism = ev.get("realism") or {}
    expiration = fmt.text(ev.get("horizon_expiration"))
    if ev.get("sigma_points") is None:
        horizon = (f"expiration {expiration} ({time_left(ev.get('years_to_horizon'))}, "
                   f"ATM IV {fmt.percent(ev.get('atm_iv'))}): no sigma")
    else:
        horizon = (f"1 sigma = {fmt.points(ev.get('sigma_points'))} pts to the {expiration} settlement "
                   f"({time_left(ev.get('years_to_horizon'))}, ATM IV {fmt.percent(ev.get('atm_iv'))})")
    if not realism.get("on"):
        rule = "realism off (the original algorithm)"
    elif not realism.get("applied"):
        rule = "realism not applied"
    else:
        target = realism.get("max_target_sigma")
        rule = ((f"targets within {target:g} sigma" if target is not None else "targets at any distance")
                + f", stops beyond {realism.get('min_stop_sigma', 0):g} sigma"
                + (", one setup per target" if realism.get("collapse_duplicates") else ""))
    return f"{shown if shown else 'none'} shown — {rule}; {horizon}"


def _setup(rank: int, s: Mapping[str, Any], ev: AnalysisView) -> EvSetupLine:
    entry = s.get("entry")
    unchecked = s.get("realism") == "unchecked"
    return EvSetupLine(
        rank=rank,
        direction=fmt.text(s.get("direction")),
        target=fmt.strike(s.get("target")),
        target_move=_move(s.get("target"), entry),
        target_sigma=fmt.ratio(s.get("target_sigma")),
        target_dollars=fmt.dollars(s.get("reward_dollars")),
        stop=fmt.strike(s.get("stop")),
        stop_move=_move(s.get("stop"), entry),
        stop_sigma=fmt.ratio(s.get("stop_sigma")),
        stop_dollars=fmt.dollars(s.get("risk_dollars")),
        expiration=fmt.text(s.get("expiration") or ev.get("horizon_expiration")),
        time_left=time_left(ev.get("years_to_horizon")),
        model_p=fmt.ratio(s.get("probability")),
        market_p=fmt.ratio(s.get("market_probability")),
        market_note=fmt.text(s.get("market_note")) + (" [realism unchecked: no sigma]" if unchecked else ""),
        ev_points=fmt.points(s.get("ev_points")),
        ev_dollars=fmt.dollars(s.get("ev_dollars")),
        realism=fmt.text(s.get("realism")),
    )


def _move(level: Any, entry: Any) -> str:
    """Signed points from the entry: +1,045.63 pts / -104.38 pts."""
    if level is None or entry is None:
        return fmt.MISSING
    return f"{float(level) - float(entry):+,.2f} pts"


def sigmas(text: str) -> str:
    """A distance in standard deviations as read: '1.78' -> '1.78 sigma', 'n/a' -> 'sigma n/a'."""
    return "sigma n/a" if text == fmt.MISSING else f"{text} sigma"


def time_left(years: Any) -> str:
    """Time to expiry from a year fraction (365-day years, `expiry.py`): 12.0 days / 5.2 hours / settled."""
    if years is None:
        return fmt.MISSING
    days = float(years) * 365.0
    if days <= 0:
        return "settled"
    if days >= 2:
        return f"{days:.1f} days"
    return f"{days * 24:.1f} hours"


def _why_none(document: Mapping[str, Any], ev: AnalysisView) -> str:
    """': 2,812 risk above ..., 58 stop inside noise ...' from the pruned pairs and the stage's trace."""
    counts = _dropped(document, ev)
    if not counts:
        return ""
    return ": " + "; ".join(f"{n:,} {reason}" for reason, n in sorted(counts.items(), key=lambda item: -item[1]))


def _dropped(document: Mapping[str, Any], ev: AnalysisView) -> dict[str, int]:
    """Pairs the EV stage dropped, by reason: those pruned before scoring (its summary's
    `pairs_pruned`) plus those its filters dropped (its trace)."""
    counts: dict[str, int] = dict(ev.get("pairs_pruned") or {})
    for stage in document.get("stages") or ():
        if stage.get("name") == "expected_value":
            for reason, n in (stage.get("reasons") or {}).items():
                counts[reason] = counts.get(reason, 0) + int(n)
    return counts
