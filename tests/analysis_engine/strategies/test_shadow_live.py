"""Live mode with an injected clock: started before the window it waits for the open, then runs a
cycle every N (simulated) seconds until the close, with the chain from the profile's data sources
(here a stand-in source that serves recorded snapshots as a vendor would, by time)."""
from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.output_generation import shadow_report_writer
from tasks.options_trading_system.analysis_engine.strategies.feeds.clock import SimulatedClock
from tasks.options_trading_system.analysis_engine.strategies.feeds.cycle_timer import ClockCycleTimer, ScheduleCycleTimer
from tasks.options_trading_system.analysis_engine.strategies.shadow_run import RunHooks, ShadowRunRequest, start_run
from tasks.options_trading_system.data_ingestion import sources_registry
from tasks.options_trading_system.data_ingestion.canonical import OptionsChain
from tasks.options_trading_system.data_ingestion.mbo.dbn_file import MBOFile
from tasks.options_trading_system.data_ingestion.saved.formats import read_capture
from tasks.options_trading_system.data_ingestion.sources_registry import ChainRequest, DataSource, SourceContext
from tasks.options_trading_system.errors import DataSourceError
from tasks.options_trading_system.state.ledger import Ledger

OPEN = pd.Timestamp("2025-06-02 13:30", tz="UTC")   # 09:30 New York
CLOSE = pd.Timestamp("2025-06-02 20:00", tz="UTC")


class RecordedVendor(DataSource):
    """Serves the newest recorded snapshot at or before the request's time, like a delayed vendor
    (as a vendor would: not flagged as sample; live mode refuses sample data)."""

    name = "saved"
    folder: Path = Path()

    @classmethod
    def from_context(cls, context: SourceContext) -> "RecordedVendor":
        return cls()

    def fetch(self, request: ChainRequest) -> OptionsChain:
        manifest = json.loads((self.folder / "manifest.json").read_text())
        files = [s for d in manifest["days"] for s in d["snapshots"] if pd.Timestamp(s["as_of"]) <= request.now]
        if not files:
            raise DataSourceError("no snapshot yet")
        chain = read_capture(self.folder / files[-1]["file"])
        return dataclasses.replace(chain, meta=dataclasses.replace(chain.meta, is_sample=False))


@pytest.fixture()
def live_profile(tmp_path: Path) -> Path:
    profile = {"description": "live test: saved data only, chain-based sources", "extends": "shadow_trading",
               "data_sources": {"priority": ["saved"]},
               "shadow_trading": {"live": {"cycle_seconds": 1800},
                                  "signals": {"sources": [{"name": "ifd_v1", "algorithm": "ifd_v1"},
                                                          {"name": "ev", "algorithm": "ev"}]},
                                  "ab_testing": {"a": "ifd_v1", "b": "ev"}}}
    path = tmp_path / "live_test.json"
    path.write_text(json.dumps(profile))
    return path


def test_live_mode_waits_for_the_window_then_cycles_until_the_close(
        small_recording: Path, live_profile: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    RecordedVendor.folder = small_recording
    monkeypatch.setitem(sources_registry.SOURCE_CLASSES, "saved", f"{__name__}:RecordedVendor")
    clock = SimulatedClock(pd.Timestamp("2025-06-02 12:00", tz="UTC"))   # 90 minutes before the open
    timer = ClockCycleTimer(clock, 1800)
    result = start_run(ShadowRunRequest(profile=str(live_profile), days=1, start=OPEN.date(),
                                        output_dir=tmp_path / "out", run_id="live"),
                       RunHooks(reports=shadow_report_writer, clock=clock, timer=timer, env={}))
    assert result.status == "completed" and result.days_closed == 1
    ledger = Ledger.open_existing(result.run_dir / "ledger.sqlite")
    try:
        times = [pd.Timestamp(r["sim_time"]) for r in ledger.rows("SELECT sim_time FROM observations ORDER BY event_index")]
        # it waited: nothing before the open; then one cycle every 30 minutes: 13:30, 14:00 ... 19:30
        assert times[0] == OPEN
        assert times == [OPEN + pd.Timedelta(minutes=30 * i) for i in range(13)]
        assert ledger.scalar("SELECT closed_at FROM daily_summaries") == "2025-06-02T20:00:00.000000Z"
        assert ledger.run()["mode"] == "live"
        assert ledger.scalar("SELECT COUNT(*) FROM signals") > 0
        # the price path live is the chain's own underlying quote, at the chain's time: staleness shows
        stale = ledger.scalar("SELECT MAX(price_staleness_s) FROM observations")
        assert stale == pytest.approx(1800.0)   # 14:00 cycle, newest snapshot 13:30
    finally:
        ledger.close()
    # the run kept its own recording: the chains it saw and the prices, in the replay layout, so it replays
    assert len(list((result.run_dir / "recording" / "chains" / "2025-06-02").glob("*.json"))) == 13
    assert clock.waits >= 13
    # the paper twins of a live run are read from that recording: a paper run is its own twin
    pnl = result.final["execution"]["pnl"]
    assert pnl["compared"] == pnl["trades"] >= 1
    assert all(t["difference_usd"] == pytest.approx(0.0) for t in pnl["by_trade"])
    replayed = start_run(ShadowRunRequest(profile=str(live_profile), replay=result.run_dir / "recording", days=1,
                                          output_dir=tmp_path / "replayed", run_id="replayed"), RunHooks(reports=shadow_report_writer))
    assert replayed.status == "completed" and replayed.final["signals"]["signals"] > 0


def test_live_mode_never_trades_the_bundled_sample(tmp_path: Path) -> None:
    profile = tmp_path / "no_live_source.json"
    profile.write_text(json.dumps({"description": "live with saved data only", "extends": "shadow_trading",
                                   "data_sources": {"priority": ["saved"]},
                                   "shadow_trading": {"live": {"cycle_seconds": 3600}}}))
    clock = SimulatedClock(OPEN)
    result = start_run(ShadowRunRequest(profile=str(profile), days=1, start=OPEN.date(), output_dir=tmp_path / "out",
                                        run_id="nolive"),
                       RunHooks(reports=shadow_report_writer, clock=clock, timer=ClockCycleTimer(clock, 3600), env={}))
    assert result.status == "completed"
    ledger = Ledger.open_existing(result.run_dir / "ledger.sqlite")
    try:
        assert ledger.scalar("SELECT COUNT(*) FROM signals") == 0
        assert ledger.scalar("SELECT COUNT(*) FROM orders") == 0
        notes = [r["notes"] for r in ledger.rows("SELECT notes FROM observations ORDER BY event_index")]
        assert notes and all("live mode never trades sample data" in n for n in notes)
        assert "no live data source" in notes[0]
    finally:
        ledger.close()


class RecordedSession:
    """Stands in for `databento.Live`: the session streams the records of a recorded MBO day (its
    definitions first) to the callbacks from its own thread, as the gateway would."""

    path: Path = Path()

    def __init__(self, **settings: object) -> None:
        self.settings = settings
        self.callbacks: list = []
        self.subscriptions: list[dict] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def add_callback(self, record_callback, exception_callback=None) -> None:
        self.callbacks.append(record_callback)

    def add_reconnect_callback(self, callback) -> None:
        pass

    def subscribe(self, **subscription: object) -> None:
        self.subscriptions.append(subscription)

    def start(self) -> None:
        def play() -> None:
            for record in MBOFile(self.path).records():
                if self._stop.is_set():
                    return
                for callback in self.callbacks:
                    callback(record)
        self._thread = threading.Thread(target=play, daemon=True)
        self._thread.start()

    def block_for_close(self, timeout: float | None = None) -> None:
        assert self._thread is not None
        self._thread.join(timeout)

    def stop(self) -> None:
        self._stop.set()


def test_live_ifd_v3_reads_the_mbo_stream_once_per_cycle(
        small_recording: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    RecordedVendor.folder = small_recording
    RecordedSession.path = small_recording / "mbo" / "2025-06-02.mbo.dbn.zst"
    monkeypatch.setitem(sources_registry.SOURCE_CLASSES, "saved", f"{__name__}:RecordedVendor")
    profile = {"description": "live v3 test", "extends": "shadow_trading", "data_sources": {"priority": ["saved"]},
               "shadow_trading": {"live": {"cycle_seconds": 1800},
                                  "signals": {"sources": [{"name": "ifd_v1", "algorithm": "ifd_v1"},
                                                          {"name": "ifd_v3", "algorithm": "ifd_v3"}]}}}
    (tmp_path / "live_v3.json").write_text(json.dumps(profile))
    clock = SimulatedClock(pd.Timestamp("2025-06-02 13:00", tz="UTC"))
    result = start_run(ShadowRunRequest(profile=str(tmp_path / "live_v3.json"), days=1, start=OPEN.date(),
                                        output_dir=tmp_path / "out", run_id="live_v3"),
                       RunHooks(reports=shadow_report_writer, clock=clock, timer=ClockCycleTimer(clock, 1800), mbo_client_factory=RecordedSession,
                                env={"DATABENTO_API_KEY": "db-" + "a" * 29}))
    assert result.status == "completed"
    ledger = Ledger.open_existing(result.run_dir / "ledger.sqlite")
    try:
        mbo = ledger.rows("SELECT event_key, sim_time FROM observations WHERE kind = 'mbo' ORDER BY event_index")
        cycles = {r["sim_time"] for r in ledger.rows("SELECT sim_time FROM observations WHERE kind = 'chain'")}
        assert mbo and all(r["sim_time"] in cycles for r in mbo)   # emissions are read at a cycle
        # every IFD v3.0 signal was emitted by the engine before the cycle that took it
        for row in ledger.rows("SELECT sim_time, evidence_json FROM signals WHERE source = 'ifd_v3'"):
            assert json.loads(row["evidence_json"])["engine_signal_id"]
        taken = ledger.scalar("SELECT SUM(signals) FROM observations WHERE kind = 'mbo'") or 0
        noted = " ".join(r["notes"] for r in ledger.rows("SELECT notes FROM observations WHERE kind = 'mbo'"))
        assert taken > 0 or "not signalled" in noted
    finally:
        ledger.close()


def test_without_a_databento_key_ifd_v3_is_noted_not_faked(small_recording: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    RecordedVendor.folder = small_recording
    monkeypatch.setitem(sources_registry.SOURCE_CLASSES, "saved", f"{__name__}:RecordedVendor")
    profile = {"description": "live without key", "extends": "shadow_trading", "data_sources": {"priority": ["saved"]},
               "shadow_trading": {"live": {"cycle_seconds": 7200}}}
    (tmp_path / "nokey.json").write_text(json.dumps(profile))
    clock = SimulatedClock(OPEN)
    result = start_run(ShadowRunRequest(profile=str(tmp_path / "nokey.json"), days=1, start=OPEN.date(),
                                        output_dir=tmp_path / "out", run_id="nokey"),
                       RunHooks(reports=shadow_report_writer, clock=clock, timer=ClockCycleTimer(clock, 7200), env={}))
    ledger = Ledger.open_existing(result.run_dir / "ledger.sqlite")
    try:
        assert ledger.scalar("SELECT COUNT(*) FROM signals WHERE source = 'ifd_v3'") == 0
        notes = ledger.scalar("SELECT notes FROM observations WHERE kind = 'chain' LIMIT 1")
        assert "ifd_v3: no live MBO stream" in notes and "DATABENTO_API_KEY" in notes
    finally:
        ledger.close()
    ab = json.loads((tmp_path / "out" / "2025-06-02" / "ab_testing" / "ab_comparison_nokey.json").read_text())
    assert ab["arms"]["b"]["signals"] == 0 and "could not be judged" in ab["arms"]["b"]["note"]


def test_the_schedule_timer_stops_without_waiting_when_asked() -> None:
    stop = threading.Event()
    stop.set()
    assert ScheduleCycleTimer(1).wait_next(stop) is False


def test_the_schedule_timer_fires_a_real_cycle() -> None:
    assert ScheduleCycleTimer(1).wait_next(threading.Event()) is True


def test_the_clock_timer_spaces_cycles_by_the_setting() -> None:
    clock = SimulatedClock(OPEN)
    timer = ClockCycleTimer(clock, 60)
    for minute in (1, 2, 3):
        assert timer.wait_next(threading.Event())
        assert clock.now() == OPEN + pd.Timedelta(minutes=minute)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
