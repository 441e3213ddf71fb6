"""The MBO sample generator: deterministic, a realistic mix of actions in CME-style packets,
books that never cross, planted episodes inside the session with their ground truth beside the
file, and the `mbo` command of make_sample_data.py."""
from __future__ import annotations

import collections
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import databento as db
import numpy as np
import pytest

from tasks.options_trading_system.analysis_engine.ifd_v3.config import IFDv3Config
from tasks.options_trading_system.analysis_engine.ifd_v3.engine import IFDv3Engine
from tasks.options_trading_system.data_ingestion.mbo.dbn_file import MBOFile
from tasks.options_trading_system.sample_data.mbo import (KIND_INSTITUTIONAL, KIND_STRADDLE, MBOSampleParams,
                                                          read_truth, write_sample_day)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT_ROOT / "scripts" / "make_sample_data.py"
PARAMS = MBOSampleParams(n_events=30_000, seed=99)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return write_sample_day(tmp_path_factory.mktemp("mbo") / "nq_mbo_20250602.mbo.dbn.zst", PARAMS)


def test_same_seed_same_bytes_other_seed_other_day(day, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    again = write_sample_day(tmp_path / "again.mbo.dbn.zst", PARAMS)
    assert again.path.read_bytes() == day.path.read_bytes()
    assert again.definition_path.read_bytes() == day.definition_path.read_bytes()
    other = write_sample_day(tmp_path / "other.mbo.dbn.zst", MBOSampleParams(n_events=30_000, seed=100))
    assert other.path.read_bytes() != day.path.read_bytes()


def test_a_realistic_mix_of_actions_in_packets(day) -> None:  # type: ignore[no-untyped-def]
    records = db.DBNStore.from_file(day.path).to_ndarray()
    assert len(records) == day.records == 30_000
    counts = collections.Counter(records["action"].tobytes().decode())
    share = {k: v / len(records) for k, v in counts.items()}
    assert set(counts) == set("ACMTFR")
    assert counts["R"] == 82 and counts["T"] == counts["F"]          # one clear per contract; a fill per print
    assert 0.30 < share["A"] < 0.50 and 0.25 < share["C"] < 0.45 and 0.08 < share["M"] < 0.20
    assert 0.04 < share["T"] < 0.15
    # every trade print has an aggressor side; records of a packet share ts_recv, later packets are later
    trades = records[records["action"] == b"T"]
    assert set(trades["side"].tobytes().decode()) == {"A", "B"}
    assert records["flags"][-1] & dbn_flag("F_LAST")
    ts = records["ts_recv"].astype(np.int64)
    packet_end = (records["flags"] & dbn_flag("F_LAST")) != 0
    assert np.all(np.diff(ts) >= 0) and np.all(ts[1:][packet_end[:-1]] > ts[:-1][packet_end[:-1]])
    assert packet_end.sum() < len(records)  # some packets hold several records (trades, the snapshot)
    # prices on the 0.25 tick, sizes positive
    priced = records[records["action"] != b"R"]
    assert np.all(priced["price"] % 250_000_000 == 0) and np.all(priced["size"] > 0)


def dbn_flag(name: str) -> int:
    import databento_dbn
    return int(getattr(databento_dbn, name))


def test_the_books_never_cross_and_nothing_is_anomalous(day) -> None:  # type: ignore[no-untyped-def]
    mbo = MBOFile(day.path)
    engine = IFDv3Engine(IFDv3Config(), definitions=mbo.definitions())
    for chunk in mbo.iter_mbo(10_000):
        engine.process_batch(chunk)
    stats = engine.stats()
    assert stats["book_consistency"]["crossed"] == 0 and stats["book_consistency"]["checks_at_f_last"] > 10_000
    assert all(v == 0 for v in stats["anomalies"].values())
    tob = engine.top_of_book()
    assert (tob["bid"] < tob["ask"]).all()


def test_definitions_describe_an_nq_options_chain(day) -> None:  # type: ignore[no-untyped-def]
    defs = MBOFile(day.path).definitions()
    assert len(defs) == 82 and set(defs["right"]) == {"C", "P"}
    assert defs["strike"].min() == 21000.0 and defs["strike"].max() == 22000.0
    assert set(defs["underlying"]) == {"NQM5"} and set(defs["multiplier"]) == {20.0}
    assert defs["raw_symbol"].iloc[0] == "NQM5 C21000"


def test_ground_truth_lists_the_planted_episodes_inside_the_session(day) -> None:  # type: ignore[no-untyped-def]
    truth = json.loads(day.truth_path.read_text())
    assert truth["is_sample"] is True and truth["mbo_file"] == day.path.name
    episodes = read_truth(day.truth_path)
    assert sum(e.kind == KIND_INSTITUTIONAL for e in episodes) == PARAMS.n_episodes
    assert sum(e.kind == KIND_STRADDLE for e in episodes) == 2 * PARAMS.n_straddles  # two legs each
    open_ns, close_ns = PARAMS.session_bounds()
    records = db.DBNStore.from_file(day.path).to_ndarray()
    for e in episodes:
        assert open_ns + PARAMS.edge_s * 1e9 <= e.start < e.end <= close_ns
        assert abs(e.strike - PARAMS.underlying) <= PARAMS.episode_moneyness
        prints = records[(records["instrument_id"] == e.instrument_id) & (records["action"] == b"T")
                         & (records["ts_event"] >= e.start) & (records["ts_event"] <= e.end)]
        planted = prints[prints["side"] == e.side.encode()]["size"].sum()
        assert planted >= e.contracts  # the episode's contracts were printed on its side (plus background)


def test_make_sample_data_mbo_command_writes_the_day_and_its_history(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "-q", "mbo", "--output-dir", str(tmp_path), "--events", "3000",
                           "--history-days", "2", "--date", "2025-06-03"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "nq_mbo_20250603.mbo.dbn.zst")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["nq_mbo_20250530.definition.dbn.zst", "nq_mbo_20250530.mbo.dbn.zst", "nq_mbo_20250530.truth.json",
                     "nq_mbo_20250602.definition.dbn.zst", "nq_mbo_20250602.mbo.dbn.zst", "nq_mbo_20250602.truth.json",
                     "nq_mbo_20250603.definition.dbn.zst", "nq_mbo_20250603.mbo.dbn.zst", "nq_mbo_20250603.truth.json"]
    assert MBOFile(tmp_path / "nq_mbo_20250603.mbo.dbn.zst").trade_date() == date(2025, 6, 3)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
