"""The dashboard in a real browser (headless Debian chromium driven by Playwright).

What a trader with the tab open must be able to trust: the page shows the ledger's figures and
its plotly charts (hover included), raises no console error (no Content-Security-Policy refusal
either), moves by itself when the ledger moves (pushed by server-sent events; fetched when the
stream is refused), carries halt/resume and the emergency stop with the token, and shows names it did not write as text. A screenshot of each page is saved in
the test's temporary folder (pytest prints where on failure).
"""
from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tasks.options_trading_system.monitoring.collector import SnapshotCollector
from tasks.options_trading_system.monitoring.monitor import ProductionMonitor
from tasks.options_trading_system.monitoring.sources_reader import Budgets
from tasks.options_trading_system.monitoring.system import SystemProbe

pytestmark = pytest.mark.browser

TOKEN = "test-control-token-0123456789"
EVIL = "<script>alert('pwned')</script>"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
WAIT_MS = 15_000  # longest wait for the page to catch up (it refreshes every 0.3 s in these tests)


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class Watched:
    """A page with its console errors, uncaught exceptions and dialogs recorded."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("dialog", self._dialog)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _dialog(self, dialog) -> None:  # an alert() would mean injected script ran
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@pytest.fixture()
def page(browser: Browser, tmp_path: Path) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    watched = Watched(context.new_page())
    yield watched
    watched.page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    context.close()


def sample_once(config) -> None:
    """One monitor sample, so the page has history and alerts like a real deployment."""
    budgets = Budgets(daily_usd={"databento": 8.0}, monthly_usd={"databento": 200.0}, profile="test")
    probe = SystemProbe(config.monitoring_dir, cpu_sample_s=0.05)
    ProductionMonitor(config, SnapshotCollector(config, budgets=budgets, probe=probe)).sample_once()


def text(page: Page, selector: str) -> str:
    return page.locator(selector).inner_text().strip()


def figure(page: Page, key: str, trace: int, field: str) -> list:
    """A field of one trace of a chart as plotly holds it on the page."""
    return page.evaluate(f"document.getElementById('plot-{key}').data[{trace}].{field}")


def test_page_shows_the_ledger_figures_and_charts_without_console_errors(kit, serve, page: Watched,
                                                                         tmp_path: Path) -> None:
    kit.run()
    kit.export("2025-06-02", "140000", [kit.attempt("barchart", "failed", 20000.0, "TIMEOUT"),
                                        kit.attempt("databento", "served", 850.0, cost=0.42)])
    kit.spend([(pd.Timestamp.now(tz="UTC").isoformat(), "databento", 3.10)])  # today, by the real clock
    config = kit.config()
    sample_once(config)
    served = serve(config, probe=True)
    page.page.goto(served.url)
    p = page.page
    expect(p.locator("#pnl-today")).to_have_text("+$45.00")
    assert text(p, "#pnl-total") == "+$105.25"
    assert text(p, "#signals-today") == "2" and text(p, "#signals-total") == "5"
    assert text(p, "#accuracy") == "50.0%"
    assert text(p, "#false-positive-rate") == "33.3%"
    expect(p.locator("#shadow-run")).to_contain_text("target ≥ 50% · 4 resolved")   # the run's own targets
    expect(p.locator("#shadow-run")).to_contain_text("target ≤ 45% · 1 of 4 validated")
    assert p.locator("tr[data-signal-id='s3'] td").last.inner_text() == "not traded"
    assert p.locator("tr[data-signal-id='s4'] td").last.inner_text() == "open"
    assert text(p, "#net-pnl") == "+$105.25" and text(p, "#unrealized-pnl") == "+$20.00"
    assert text(p, "#active-run") == "replay-2023w47" and text(p, "#run-state") == "running"
    assert text(p, "#spend-today") == "$3.10" and text(p, "#spend-today-pct") == "38.8%"   # 3.10 of 8
    assert text(p, "#failovers") == "1" and text(p, "#source-error-rate") == "50.0%"
    assert text(p, "#latency-p95") == "88 ms"
    assert p.locator("#signal-table tbody tr.signal-row").count() == 5
    assert p.locator("#signal-table tbody tr").first.get_attribute("data-signal-id") == "s5"
    # charts are drawn by plotly.js (served by the dashboard itself) from the figures in the page
    expect(p.locator("#plot-equity .main-svg").first).to_be_visible()
    assert figure(p, "equity", 0, "y") == [120.5, 60.25, 105.25]
    assert figure(p, "daily-pnl", 0, "x") == ["2023-11-20", "2023-11-21"]
    assert figure(p, "daily-pnl", 0, "y") == [60.25, 45]
    assert p.locator("#plot-daily-pnl .bars path").count() == 2
    assert p.evaluate("document.getElementById('plot-sources').data.length") >= 2
    assert [t["name"] for t in p.evaluate("document.getElementById('plot-system').data")] == ["CPU", "memory"]
    assert p.evaluate("document.getElementById('plot-spend').data[1].name") == "daily budget"
    box = p.locator("#plot-daily-pnl .bars path").nth(1).bounding_box()   # hover shows the day's figure
    p.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(p.locator("#plot-daily-pnl .hoverlayer")).to_contain_text("+$45.00")
    page.page.wait_for_timeout(1000)              # a few pushed updates, to catch errors they might raise
    assert page.errors == []
    shot = tmp_path / "dashboard-overview.png"
    p.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_are_pushed_to_the_page_when_the_ledger_moves_without_a_reload(kit, serve, page: Watched) -> None:
    run = kit.run()
    served = serve(kit.config())
    p = page.page
    p.goto(served.url)
    expect(p.locator("#pnl-today")).to_have_text("+$45.00")
    expect(p.locator("#refresh-status")).to_contain_text("pushed", timeout=WAIT_MS)   # server-sent events
    p.evaluate("window.__sameDocument = 'still here'")        # gone if the page were reloaded
    p.evaluate("window.__equity = document.getElementById('plot-equity')")   # the same chart, updated in place
    run.close_s4_at_target()
    expect(p.locator("#pnl-today")).to_have_text("+$75.00", timeout=WAIT_MS)
    assert text(p, "#pnl-total") == "+$135.25"
    assert text(p, "#accuracy") == "60.0%"                     # 3 of 5 resolved now
    assert text(p, "#unrealized-pnl") == "$0.00"               # nothing open any more
    assert figure(p, "daily-pnl", 0, "y") == [60.25, 75]
    assert figure(p, "equity", 0, "y") == [120.5, 60.25, 105.25, 135.25]
    assert p.evaluate("window.__equity === document.getElementById('plot-equity')")   # zoom would survive
    assert p.evaluate("window.__sameDocument") == "still here"
    assert text(p, "#refresh-status").endswith("(pushed)")
    assert page.errors == []


def test_a_page_refused_an_event_stream_fetches_its_figures_instead(kit, serve, page: Watched) -> None:
    run = kit.run()
    served = serve(kit.config(dashboard={"events_max_clients": 1}))
    with urllib.request.urlopen(served.url + "events", timeout=30) as taken:   # the only stream allowed
        assert taken.status == 200
        p = page.page
        p.goto(served.url)
        expect(p.locator("#pnl-today")).to_have_text("+$45.00")
        run.close_s4_at_target()
        expect(p.locator("#pnl-today")).to_have_text("+$75.00", timeout=WAIT_MS)
        assert text(p, "#refresh-status").endswith("(fetched)")
    page.errors[:] = [e for e in page.errors if "503" not in e]   # the browser logs the refused stream itself
    assert page.errors == []


def test_halt_and_resume_round_trip_from_the_page(kit, serve, page: Watched) -> None:
    run = kit.run()
    served = serve(kit.config())
    p = page.page
    p.goto(served.url)
    expect(p.locator("#control-state")).to_have_text("trading")
    p.fill("#control-token", "wrong-token")
    p.click("#halt-button")
    expect(p.locator("#control-result")).to_contain_text("refused (401)")
    assert run.controls() == []
    page.errors.clear()                                         # the browser logs the 401 itself
    p.fill("#control-token", TOKEN)
    p.fill("#control-reason", "FOMC at 14:00")
    p.click("#halt-button")
    expect(p.locator("#control-result")).to_contain_text("halt requested for run replay-2023w47")
    assert run.controls() == [{"command": "halt", "reason": "FOMC at 14:00", "requested_by": "dashboard 127.0.0.1",
                               "status": "pending"}]
    expect(p.locator("#shadow-run")).to_contain_text("waiting for the run's next cycle", timeout=WAIT_MS)
    assert run.apply_pending_controls() == ["halt"]             # the orchestrator's next cycle
    expect(p.locator("#control-state")).to_have_text("HALTED", timeout=WAIT_MS)
    expect(p.locator("#run-state")).to_have_text("halted")
    expect(p.locator(".banner.warning").first).to_contain_text("is HALTED")
    p.click("#resume-button")
    expect(p.locator("#control-result")).to_contain_text("resume requested")
    assert run.apply_pending_controls() == ["resume"]
    expect(p.locator("#control-state")).to_have_text("trading", timeout=WAIT_MS)
    assert [c["command"] for c in run.controls()] == ["halt", "resume"]
    assert page.errors == []


def test_the_emergency_stop_from_the_page_halts_the_run_and_the_panel_says_so(kit, serve, page: Watched) -> None:
    from tests.monitoring.test_dashboard_risk import limited_live, risk_rows
    run = kit.run()
    limited_live(run)
    served = serve(kit.config())
    p = page.page
    p.goto(served.url)
    expect(p.locator("#risk-state")).to_have_text("ACTIVE")
    expect(p.locator("#working-orders")).to_contain_text("s4/stop")
    p.click("#flatten-button")                                  # no token typed
    expect(p.locator("#control-result")).to_contain_text("refused (401)")
    assert risk_rows(run.path) == ({}, [])
    page.errors.clear()                                         # the browser logs the 401 itself
    p.fill("#control-token", TOKEN)
    p.fill("#control-reason", "broker outage")
    p.click("#flatten-button")
    expect(p.locator("#control-result")).to_contain_text("its risk engine is HALTED now")
    expect(p.locator("#risk-state")).to_have_text("HALTED", timeout=WAIT_MS)   # pushed, no reload
    expect(p.locator("#risk-reason")).to_contain_text("emergency stop: broker outage")
    expect(p.locator("#run-state")).to_have_text("halted")
    assert risk_rows(run.path)[1] == [{"command": "flatten", "status": "pending",
                                       "requested_by": "dashboard 127.0.0.1"}]
    assert page.errors == [] and page.dialogs == []


def test_names_with_script_in_them_are_shown_as_text(kit, serve, page: Watched) -> None:
    kit.run(extra_signal_source=EVIL)
    kit.breakers("2025-06-02", {EVIL: {"state": "open", "consecutive_failures": 3, "opened_at": 1748872800.0,
                                       "last_reason": "<img src=x onerror=alert(2)>"}})
    served = serve(kit.config())
    p = page.page
    p.goto(served.url)
    expect(p.locator(".signal-source", has_text=EVIL)).to_have_count(1)
    expect(p.locator(".source-name", has_text=EVIL)).to_have_count(1)
    assert p.locator("#source-table").inner_text().count("<img src=x onerror=alert(2)>") == 1
    assert p.evaluate("Array.from(document.scripts).map(s => s.getAttribute('src'))") == \
        ["/static/plotly.min.js", "/static/dashboard.js"]                     # no script from the data
    assert EVIL in p.evaluate("document.getElementById('plot-sources').data[0].x.join()") or \
        "&lt;script&gt;" in p.evaluate("document.getElementById('plot-sources').data[0].x.join()")
    assert p.evaluate("document.querySelectorAll('img').length") == 0
    p.wait_for_timeout(800)                                                    # survive a couple of refreshes
    assert page.dialogs == []
    assert page.errors == []


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
