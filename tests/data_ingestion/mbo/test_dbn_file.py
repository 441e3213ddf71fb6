"""Reading MBO files: real Databento recordings (one-schema and mixed live), the project's sample
layout with its definitions beside the MBO, and the errors a trader sees for a wrong file."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import databento_dbn as dbn
import pytest

from tasks.options_trading_system.data_ingestion.mbo.dbn_file import MBOFile, day_stem, definition_path_for
from tasks.options_trading_system.errors import InputFileError
from tasks.options_trading_system.sample_data.mbo import MBOSampleParams, write_sample_day

ESM4 = "databento/nautilus/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"
LIVE = "databento/LIVE/test_data.live.dbn.zst"


def test_a_real_one_schema_mbo_file_streams_in_chunks(shared_data: Path) -> None:
    mbo = MBOFile(shared_data / ESM4)
    assert mbo.dataset == "GLBX.MDP3" and mbo.trade_date() == date(2024, 5, 8)
    assert [len(c) for c in mbo.iter_mbo(5000)] == [5000, 5000, 3796]
    assert mbo.definitions().empty  # no <name>.definition.dbn.zst beside it


def test_a_mixed_live_recording_carries_its_own_definitions(shared_data: Path) -> None:
    mbo = MBOFile(shared_data / LIVE)
    assert mbo.definitions()["raw_symbol"].tolist() == ["ESZ4"]
    assert sum(len(c) for c in mbo.iter_mbo(2)) == 5
    assert mbo.trade_date() == date(2023, 11, 19)  # no start in its metadata: the first MBO record's day
    records = list(mbo.records())
    assert len(records) == 46 and sum(isinstance(r, dbn.MBOMsg) for r in records) == 5


def test_the_sample_layout_reads_definitions_beside_the_mbo(tmp_path: Path) -> None:
    day = write_sample_day(tmp_path / "nq_mbo_20250602.mbo.dbn.zst", MBOSampleParams(n_events=3000, n_episodes=0,
                                                                                     n_straddles=0))
    assert day.definition_path == tmp_path / "nq_mbo_20250602.definition.dbn.zst"
    mbo = MBOFile(day.path)
    assert len(mbo.definitions()) == 82 and mbo.definition_file == day.definition_path
    records = list(mbo.records())
    assert all(isinstance(r, dbn.InstrumentDefMsg) for r in records[:82])
    assert sum(isinstance(r, dbn.MBOMsg) for r in records) == day.records


@pytest.mark.parametrize("name, stem, definitions", [
    ("x.mbo.dbn.zst", "x", "x.definition.dbn.zst"), ("x.dbn", "x", "x.definition.dbn"),
    ("glbx-mdp3-20250602.mbo.dbn", "glbx-mdp3-20250602", "glbx-mdp3-20250602.definition.dbn")])
def test_file_naming(name: str, stem: str, definitions: str) -> None:
    assert day_stem(Path(name)) == stem
    assert definition_path_for(Path("/d") / name) == Path("/d") / definitions


def test_errors_name_the_file_and_what_was_expected(shared_data: Path, tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        MBOFile(tmp_path / "missing.mbo.dbn.zst")
    wrong = tmp_path / "day.csv"
    wrong.write_text("ts,price\n")
    with pytest.raises(InputFileError, match=r"day.csv: expected a Databento DBN file ending in \.dbn or \.dbn\.zst"):
        MBOFile(wrong)
    with pytest.raises(InputFileError, match="holds definition records, expected mbo"):
        MBOFile(shared_data / "databento/GLBX.MDP3/test_data.definition.dbn.zst")
    garbage = tmp_path / "garbage.dbn"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(InputFileError, match="garbage.dbn: not a readable DBN file"):
        MBOFile(garbage)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
