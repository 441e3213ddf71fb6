"""Position sizers, registered by name (the profile's `sizing.name` picks one, `sizing.settings`
configures it). Adding one: a module with a `Sizer` subclass and a line in `SIZER_CLASSES`."""
from __future__ import annotations

from typing import Any, Mapping

from .base import OutcomeStats, SizeDecision, Sizer, SizingContext
from .fixed import FixedContracts
from .fixed_fractional import FixedFractional
from .kelly import Kelly
from .volatility_target import VolatilityTarget

SIZER_CLASSES: dict[str, type[Sizer]] = {
    FixedContracts.name: FixedContracts,
    FixedFractional.name: FixedFractional,
    Kelly.name: Kelly,
    VolatilityTarget.name: VolatilityTarget,
}

__all__ = ["OutcomeStats", "SizeDecision", "Sizer", "SizingContext", "SIZER_CLASSES", "build_sizer"]


def build_sizer(name: str, settings: Mapping[str, Any] | None = None) -> Sizer:
    if name not in SIZER_CLASSES:
        raise ValueError(f"unknown sizer {name!r}: expected one of {', '.join(sorted(SIZER_CLASSES))}")
    return SIZER_CLASSES[name].from_settings(settings or {})
