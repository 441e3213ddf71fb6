"""Fixed contracts: always `contracts` (1 by default)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .base import SizeDecision, Sizer, SizingContext


@dataclass(frozen=True)
class FixedSettings:
    contracts: int = 1


class FixedContracts(Sizer):
    name = "fixed"

    def __init__(self, settings: FixedSettings = FixedSettings()) -> None:
        if settings.contracts < 0:
            raise ValueError(f"fixed sizing: contracts must be >= 0, got {settings.contracts}")
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "FixedContracts":
        return cls(FixedSettings(**settings))

    def size(self, context: SizingContext) -> SizeDecision:
        return SizeDecision(self.settings.contracts, f"fixed: {self.settings.contracts} contract(s)")
