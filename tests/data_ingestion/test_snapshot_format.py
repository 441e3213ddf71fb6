"""The canonical snapshot: written atomically, read back exactly (NaN, dtypes, the sample flag)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.data_ingestion.canonical import (CHAIN_COLUMNS, ChainMeta, OptionsChain,
                                                                   build_chain_frame, validate_chain)
from tasks.options_trading_system.data_ingestion.saved import snapshot_format
from tasks.options_trading_system.data_ingestion.saved.formats import read_capture
from tasks.options_trading_system.data_ingestion.saved.snapshot_format import (SNAPSHOT_FORMAT, read_snapshot,
                                                                              write_snapshot)
from tasks.options_trading_system.errors import InputFileError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BUNDLED_SAMPLE = PROJECT_ROOT / "data" / "sample" / "nq_options_sample.json"


def _chain(is_sample: bool = True) -> OptionsChain:
    frame = build_chain_frame({
        "contract": ["MQ1M5|21500C", "MQ1M5|21500P", "MQ1M5|21600C"],
        "root": ["MQ1M5"] * 3,
        "expiration": ["2025-06-06"] * 3,
        "strike": [21500.0, 21500.0, 21600.0],
        "right": ["C", "P", "C"],
        "bid": [120.25, 101.0, None],
        "ask": [121.5, 102.25, 80.5],
        "last": [121.0, None, 79.75],
        "volume": [1520.0, None, 3.0],
        "open_interest": [4100.0, 2250.0, None],
        "iv": [0.181234, None, 0.17],
        "delta": [0.52, -0.48, None],
        "gamma": [0.000912, 0.000912, None],
        "source_ts": [1748885400.0, None, 1748880000.0],
    })
    meta = ChainMeta(underlying_symbol="NQM25", source="sample", as_of=pd.Timestamp("2025-06-02T18:30:00Z"),
                     multiplier=20.0, underlying_price=21510.5, is_sample=is_sample,
                     notes=("SAMPLE DATA: not market data",))
    return OptionsChain(frame=frame, meta=meta)


def test_round_trip_preserves_values_nan_dtypes_and_meta(tmp_path: Path) -> None:
    chain = _chain()
    path = write_snapshot(chain, tmp_path / "snap.json")
    back = read_snapshot(path)
    pd.testing.assert_frame_equal(back.frame, chain.frame)
    assert {c: str(t) for c, t in back.frame.dtypes.items()} == CHAIN_COLUMNS
    assert back.meta == chain.meta
    assert back.meta.is_sample is True
    assert math.isnan(back.frame.loc[1, "volume"]) and pd.isna(back.frame.loc[1, "source_ts"])
    assert back.frame.loc[0, "source_ts"] == pd.Timestamp("2025-06-02T17:30:00Z")
    assert back.raw is not None and back.raw.content == path.read_bytes()


def test_missing_values_are_json_null_never_zero_or_nan_text(tmp_path: Path) -> None:
    path = write_snapshot(_chain(), tmp_path / "snap.json")
    text = path.read_text()
    document = json.loads(text)
    assert document["format"] == SNAPSHOT_FORMAT
    assert document["contracts"][1]["volume"] is None and document["contracts"][2]["open_interest"] is None
    assert "NaN" not in text and "Infinity" not in text
    assert document["meta"]["is_sample"] is True


def test_a_market_chain_stays_a_market_chain(tmp_path: Path) -> None:
    back = read_capture(write_snapshot(_chain(is_sample=False), tmp_path / "m.json"))
    assert back.meta.is_sample is False


def test_a_validated_chain_round_trips_with_its_settled_underlying(tmp_path: Path) -> None:
    valid = validate_chain(_chain())
    back = read_snapshot(write_snapshot(valid, tmp_path / "v.json"))
    assert back.meta.underlying_price == 21510.5 and back.meta.underlying_price_origin == "source"


def test_write_is_atomic_an_old_file_survives_a_failed_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_snapshot(_chain(), tmp_path / "snap.json")
    before = path.read_bytes()

    def broken(chain: OptionsChain) -> str:
        raise ValueError("serialization failed")

    monkeypatch.setattr(snapshot_format, "snapshot_text", broken)
    with pytest.raises(ValueError):
        write_snapshot(_chain(is_sample=False), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap.json"]


def test_the_bundled_sample_reads_as_sample_and_passes_the_gate() -> None:
    chain = read_capture(BUNDLED_SAMPLE)
    assert chain.meta.is_sample is True and chain.meta.source == "sample"
    valid = validate_chain(chain)
    assert 300 <= len(valid.frame) <= 2000 and valid.quarantine_counts() == {}


@pytest.mark.parametrize("document,field", [
    ({"format": SNAPSHOT_FORMAT, "contracts": []}, '"meta" must be an object'),
    ({"format": SNAPSHOT_FORMAT, "meta": {"source": "x"}, "contracts": []}, "meta lacks underlying_symbol, as_of"),
    ({"format": SNAPSHOT_FORMAT, "meta": {"underlying_symbol": "NQM25", "source": "x", "as_of": "2025-06-02T00:00Z",
                                          "multiplier": 20}, "contracts": {}}, '"contracts" must be a list'),
])
def test_malformed_snapshot_names_the_field(tmp_path: Path, document: dict, field: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(InputFileError) as caught:
        read_snapshot(path)
    assert field in str(caught.value) and str(path) in str(caught.value)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
