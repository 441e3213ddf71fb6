"""Combining the strategies' intents into at most one trade decision per moment.

Rules, applied to the intents of one bar close (all strategies that decided at that time), in
this order:
1. cool-down: within `cooldown_minutes` (15) of the last accepted decision, nothing new is taken
   (the intents are recorded as `cooldown`);
2. conflict: when intents point both ways, nothing is taken (`conflict`): the strategies disagree
   and neither side has the evidence of the other's silence;
3. agreement: the intents all point one way; the one with the highest confidence is taken, its
   confidence raised by `agreement_bonus` (0.1) for every other strategy that agrees (capped at 1);
   a single intent needs `min_confidence` (0.0 by default: every strategy's own rule is enough).
Every intent gets a verdict, so the ledger shows why each one was or was not traded.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

from .base import Intent

NS_PER_MINUTE = 60_000_000_000
TAKEN = "taken"
AGREED = "agreed"        # agreed with the taken intent, not traded itself
CONFLICT = "conflict"
COOLDOWN = "cooldown"
WEAK = "weak"


@dataclass(frozen=True)
class AggregatorSettings:
    cooldown_minutes: float = 15.0
    agreement_bonus: float = 0.1
    min_confidence: float = 0.0


@dataclass(frozen=True)
class Verdict:
    intent: Intent
    verdict: str
    note: str = ""


class SignalAggregator:
    def __init__(self, settings: AggregatorSettings = AggregatorSettings()) -> None:
        self.settings = settings
        self._last_taken_ns: int | None = None

    def decide(self, intents: Sequence[Intent]) -> tuple[Intent | None, list[Verdict]]:
        """The intent to trade (with its combined confidence), and a verdict for each input."""
        if not intents:
            return None, []
        s = self.settings
        now = max(i.time_ns for i in intents)
        if self._last_taken_ns is not None and now - self._last_taken_ns < s.cooldown_minutes * NS_PER_MINUTE:
            minutes = (now - self._last_taken_ns) / NS_PER_MINUTE
            return None, [Verdict(i, COOLDOWN, f"{minutes:.1f} min after the last trade, cool-down "
                                                f"{s.cooldown_minutes:g} min") for i in intents]
        directions = {i.direction for i in intents}
        if len(directions) > 1:
            names = ", ".join(f"{i.strategy} {i.direction}" for i in intents)
            return None, [Verdict(i, CONFLICT, names) for i in intents]
        best = max(intents, key=lambda i: (i.confidence, i.strategy))
        others = [i for i in intents if i is not best]
        confidence = min(best.confidence + s.agreement_bonus * len(others), 1.0)
        if confidence < s.min_confidence:
            return None, [Verdict(i, WEAK, f"confidence {confidence:.2f} < {s.min_confidence:.2f}") for i in intents]
        self._last_taken_ns = now
        agreed = ", ".join(i.strategy for i in others)
        taken = replace(best, confidence=confidence,
                        reason=best.reason + (f"; agreed by {agreed}" if agreed else ""))
        return taken, [Verdict(best, TAKEN, f"confidence {confidence:.2f}")] + \
            [Verdict(i, AGREED, f"agrees with {best.strategy}") for i in others]
