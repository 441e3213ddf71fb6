"""Fixtures shared by every test: where the real recordings are, and small canonical chains."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.data_ingestion.canonical import ChainMeta, OptionsChain, build_chain_frame

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real recorded vendor data (`../shared/data/`), read in place, never copied."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real recordings not found at {SHARED_DATA}: clone with ../shared beside the repo")
    return SHARED_DATA


def make_chain(rows: list[dict], *, underlying: float = float("nan"), source: str = "test",
               as_of: str = "2025-06-02T14:00:00Z", multiplier: float = 20.0) -> OptionsChain:
    """A canonical chain from a few hand-written rows (absent columns are NaN)."""
    columns = {key: [row.get(key) for row in rows] for key in {k for row in rows for k in row}}
    columns.setdefault("contract", [f"{r.get('right', '?')}{r.get('strike', '?')}-{i}" for i, r in enumerate(rows)])
    columns.setdefault("root", ["NQ"] * len(rows))
    meta = ChainMeta(underlying_symbol="NQM25", source=source, as_of=pd.Timestamp(as_of),
                     multiplier=multiplier, underlying_price=underlying)
    return OptionsChain(frame=build_chain_frame(columns), meta=meta)


@pytest.fixture(autouse=True)
def private_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own state directory (spend ledger, baselines): none writes to the real home."""
    folder = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("NQ_STATE_DIR", str(folder))
    return folder
