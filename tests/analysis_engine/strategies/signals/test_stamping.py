"""From ideas to signal rows: levels on the wrong side are dropped with a note, repeats inside the
cooldown are not signalled again, and ids number each source's signals within the event."""
from __future__ import annotations

import pandas as pd

from tasks.options_trading_system.analysis_engine.strategies.feeds.market_events import MarketEvent
from tasks.options_trading_system.analysis_engine.strategies.signals.stamping import (new_ideas_only,
                                                                                      sensible_levels, stamp)

T = pd.Timestamp("2025-06-02 14:45", tz="UTC")


def _ideas(*rows: tuple[str, str, float, float, str | None]) -> pd.DataFrame:
    return pd.DataFrame([{"source": s, "direction": d, "target": t, "stop": st, "contract": c}
                         for s, d, t, st, c in rows])


def test_ideas_whose_target_or_stop_is_already_passed_are_not_signals() -> None:
    kept, notes = sensible_levels(_ideas(("ev", "LONG", 110.0, 95.0, None), ("ev", "LONG", 99.0, 95.0, None),
                                         ("ifd_v1", "SHORT", 90.0, 105.0, None)), 100.0)
    assert list(kept["target"]) == [110.0, 90.0]
    assert notes and "1 idea(s) not signalled" in notes[0] and "ev: 1" in notes[0]


def test_a_repeat_of_a_recent_signal_or_of_an_earlier_idea_in_the_same_event_is_dropped() -> None:
    recent = _ideas(("ifd_v1", "LONG", 110.0, 95.0, "C21000"))
    ideas = _ideas(("ifd_v1", "LONG", 111.0, 96.0, "C21000"),    # same contract and direction: a repeat
                   ("ev", "LONG", 110.0, 95.0, None),
                   ("ev", "LONG", 110.0, 95.0, None))             # same levels twice in one event
    kept = new_ideas_only(ideas, recent)
    assert list(kept["source"]) == ["ev"]


def test_ids_number_each_sources_signals_within_the_event() -> None:
    event = MarketEvent(day="2025-06-02", index=3, time=T, kind="chain")
    out = stamp(event, _ideas(("ev", "LONG", 110.0, 95.0, None), ("ifd_v1", "LONG", 110.0, 95.0, None),
                              ("ev", "SHORT", 90.0, 105.0, None)), 100.0, "NQ")
    assert list(out["signal_id"]) == ["2025-06-02#00003/ev/0", "2025-06-02#00003/ifd_v1/0", "2025-06-02#00003/ev/1"]
    assert set(out["entry_reference"]) == {100.0} and set(out["instrument"]) == {"NQ"}
