"""Signal sources: one small class per algorithm, loaded by name from the profile.

`SIGNAL_SOURCE_CLASSES` maps an algorithm name to "module:Class"; `build_signal_sources` builds
the profile's sources (each with its own settings). A source turns one market event into a table
of trade ideas (`SIGNAL_IDEA_COLUMNS`); the orchestrator adds ids, times and the entry reference.
"""
from __future__ import annotations

from .base import SIGNAL_IDEA_COLUMNS, SignalInput, SignalSource, build_signal_sources, empty_ideas

__all__ = ["SIGNAL_IDEA_COLUMNS", "SignalInput", "SignalSource", "build_signal_sources", "empty_ideas"]
