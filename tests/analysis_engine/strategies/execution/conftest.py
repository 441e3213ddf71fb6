"""Four hand-made 1-minute bars shared by the exit tests (outcome tracker, paper broker), from 14:30 UTC."""
from __future__ import annotations

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.feeds.price_path import PricePath

T0 = pd.Timestamp("2025-06-02 14:30", tz="UTC")


@pytest.fixture
def four_bars() -> PricePath:
    """14:30 open 100 / high 101 / low 99 / close 100.5; 14:31 100.5/104/100/103; 14:32 103/111/102/110;
    14:33 95/96/94/95 (a gap down)."""
    frame = pd.DataFrame({
        "start": [T0 + pd.Timedelta(minutes=i) for i in range(4)],
        "open": [100.0, 100.5, 103.0, 95.0], "high": [101.0, 104.0, 111.0, 96.0],
        "low": [99.0, 100.0, 102.0, 94.0], "close": [100.5, 103.0, 110.0, 95.0], "volume": [1, 1, 1, 1]})
    return PricePath.from_frame(frame, bar_seconds=60)
