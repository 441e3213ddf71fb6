"""The dashboard server over HTTP: JSON endpoints, control with and without the token, escaping, binding."""
from __future__ import annotations

import gzip
import http.client
import json
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from tasks.options_trading_system.errors import ConfigError
from tasks.options_trading_system.monitoring.server import DashboardServer, check_bind_address, is_loopback

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-control-token-0123456789"
EVIL = "<script>alert('pwned')</script>"


def get(url: str) -> tuple[int, Message, bytes]:
    """(status, headers (names case-insensitive), body)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def post(url: str, body: dict[str, Any], token: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_json_endpoints_serve_the_ledger_figures_and_the_monitors_alerts(kit, serve) -> None:
    kit.run()
    served = serve(kit.config())
    status, _headers, body = get(served.url + "api/metrics")
    metrics = json.loads(body)
    assert status == 200
    totals = metrics["latest"]["run"]["totals"]
    assert (totals["signals"], totals["pnl_usd"], totals["accuracy"]) == (5, 105.25, 0.5)
    assert metrics["latest"]["active_run_id"] == "replay-2023w47"
    status, _headers, body = get(served.url + "api/alerts")
    assert status == 200 and json.loads(body)["active"] == []
    status, _headers, body = get(served.url + "health")
    health = json.loads(body)
    assert status == 200
    assert (health["status"], health["active_run"], health["run_state"], health["control_enabled"]) == \
        ("up", "replay-2023w47", "running", True)
    assert health["monitor_updated_at"] is None          # no monitor sample yet, and the health says so
    assert get(served.url + "nowhere")[0] == 404


def test_page_is_self_contained_and_escapes_names_it_did_not_write(kit, serve) -> None:
    kit.run(extra_signal_source=EVIL)
    kit.breakers("2025-06-02", {EVIL: {"state": "open", "consecutive_failures": 3, "opened_at": 1748872800.0,
                                       "last_reason": "<b>down</b>"}})
    served = serve(kit.config())
    status, headers, body = get(served.url)
    page = body.decode()
    assert status == 200
    assert EVIL not in page and "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in page
    assert "<b>down</b>" not in page and "&lt;b&gt;down&lt;/b&gt;" in page
    assert re.findall(r"(?:src|href|url)\s*[=(]\s*[\"']?(?:https?:)?//", page) == []   # nothing from the internet
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/plotly.min.js">',
                                                   '<script src="/static/dashboard.js">']   # no inline script
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert (headers["X-Frame-Options"], headers["X-Content-Type-Options"], headers["Cache-Control"]) == \
        ("DENY", "nosniff", "no-store")
    # a source name inside a chart's data: escaped for plotly (which reads tags) and again for the attribute
    assert "&amp;lt;script&amp;gt;" in page


def test_plotly_js_is_served_from_the_installed_package_compressed_and_cached(kit, serve) -> None:
    from plotly.offline import get_plotlyjs
    served = serve(kit.config())
    request = urllib.request.Request(served.url + "static/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        headers, body = answer.headers, answer.read()
    assert headers["Content-Encoding"] == "gzip" and "immutable" in headers["Cache-Control"]
    assert gzip.decompress(body) == get_plotlyjs().encode()
    again = urllib.request.Request(served.url + "static/plotly.min.js", headers={"If-None-Match": headers["ETag"]})
    with pytest.raises(urllib.error.HTTPError) as not_modified:
        urllib.request.urlopen(again, timeout=30)
    assert not_modified.value.code == 304
    assert "script-src 'self'" in headers["Content-Security-Policy"]


def test_halt_and_resume_need_the_token_and_land_in_the_ledger(kit, serve) -> None:
    run = kit.run()
    served = serve(kit.config())
    url = served.url + "api/control/"
    assert post(url + "halt", {"run_id": run.run_id})[0] == 401                  # no token
    assert post(url + "halt", {"run_id": run.run_id}, token="guess")[0] == 401   # wrong token
    assert run.controls() == []                                                  # nothing was written
    status, answer = post(url + "halt", {"run_id": run.run_id, "reason": "news at 10:00"}, token=TOKEN)
    assert status == 200 and answer["record"]["action"] == "halt"
    assert "at its next cycle" in answer["message"]
    assert run.controls() == [{"command": "halt", "reason": "news at 10:00", "requested_by": "dashboard 127.0.0.1",
                               "status": "pending"}]
    assert post(url + "reboot", {"run_id": run.run_id}, token=TOKEN)[0] == 404
    assert post(url + "halt", {"run_id": "../../etc"}, token=TOKEN)[0] == 400
    assert post(url + "halt", {"run_id": "no-such-run"}, token=TOKEN)[0] == 404


def test_control_is_off_without_a_configured_token_and_says_how_to_turn_it_on(kit, serve) -> None:
    run = kit.run()
    served = serve(kit.config(), token=None)
    status, answer = post(served.url + "api/control/halt", {"run_id": run.run_id}, token="anything")
    assert status == 403 and "MONITOR_CONTROL_TOKEN" in answer["error"]
    page = get(served.url)[2].decode()
    assert 'id="control-off"' in page and "MONITOR_CONTROL_TOKEN" in page
    assert run.controls() == []


def test_a_finished_run_cannot_be_halted(kit, serve) -> None:
    run = kit.run(status="completed")
    served = serve(kit.config())
    status, answer = post(served.url + "api/control/halt", {"run_id": run.run_id}, token=TOKEN)
    assert status == 409 and "completed" in answer["error"]


def test_every_refresh_rewrites_the_static_copy_which_loads_its_scripts_from_beside_it(kit, serve) -> None:
    from plotly.offline import get_plotlyjs
    kit.run()
    served = serve(kit.config())
    served.app.refresh()
    folder = kit.outputs / "monitoring"
    static = (folder / "dashboard.html").read_text()
    assert re.findall(r"<script[^>]*>", static) == ['<script src="plotly.min.js">', '<script src="dashboard.js">']
    assert (folder / "plotly.min.js").read_bytes() == get_plotlyjs().encode()     # opens with no network
    assert (folder / "dashboard.js").is_file()
    assert 'data-live="false"' in static and 'id="control-form"' not in static   # no live updates, no control
    assert "+$105.25" in static and "replay-2023w47" in static
    assert "static copy written" in static


def test_only_loopback_addresses_are_bound_unless_the_host_is_explicit(kit) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20")
    with pytest.raises(ConfigError, match="not a loopback address.*--host 0.0.0.0"):
        check_bind_address("0.0.0.0", explicit=False)
    check_bind_address("0.0.0.0", explicit=True)           # the trader asked for it on the command line
    config = kit.config(dashboard={"host": "0.0.0.0"})
    with pytest.raises(ConfigError):
        DashboardServer(app=None, host=config.dashboard.host, port=0)  # type: ignore[arg-type]


def test_a_loopback_dashboard_answers_only_to_loopback_host_names(kit, serve) -> None:
    kit.run()
    served = serve(kit.config())
    port = served.server.port
    request = urllib.request.Request(served.url + "api/metrics", headers={"Host": f"evil.example:{port}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 421
    request = urllib.request.Request(served.url + "health", headers={"Host": f"localhost:{port}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def test_a_control_request_with_a_bad_content_length_is_refused_without_waiting_for_a_body(kit, serve) -> None:
    # the HTTP parser itself refuses these before the application sees them
    run = kit.run()
    served = serve(kit.config())
    for length in ("-1", "ten"):
        connection = http.client.HTTPConnection("127.0.0.1", served.server.port, timeout=10)
        try:
            connection.putrequest("POST", "/api/control/halt")
            connection.putheader("Authorization", f"Bearer {TOKEN}")
            connection.putheader("Content-Length", length)
            connection.endheaders()                               # no body, connection left open
            answer = connection.getresponse()
            assert answer.status == 400, length
        finally:
            connection.close()
    assert run.controls() == []                                   # nothing reached the run's ledger


def test_command_line_refuses_a_configured_public_host_without_host_flag(kit) -> None:
    config = kit.config(dashboard={"host": "0.0.0.0"}, budgets_profile="all_sources")
    completed = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "monitoring_dashboard.py"),
                                "--config", str(config.source)], cwd=kit.workspace, capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 2
    assert "ConfigError" in completed.stderr and "not a loopback address" in completed.stderr


def test_command_line_serves_on_loopback_and_stops_cleanly_on_sigterm(kit) -> None:
    kit.run()
    config = kit.config(budgets_profile="all_sources")
    server = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "scripts" / "monitoring_dashboard.py"),
                               "--config", str(config.source), "--port", "0", "-q"], cwd=kit.workspace,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()                       # "dashboard on http://127.0.0.1:PORT/ ..."
        url = re.search(r"dashboard on (http://127\.0\.0\.1:\d+/)", line)
        assert url, line + server.stderr.read()
        status, _headers, body = get(url.group(1) + "health")
        assert status == 200 and json.loads(body)["active_run"] == "replay-2023w47"
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        assert "Traceback" not in server.stderr.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
        server.stdout.close()
        server.stderr.close()


def test_command_line_write_once_writes_the_static_dashboard(kit) -> None:
    kit.run()
    config = kit.config(budgets_profile="all_sources")
    completed = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "monitoring_dashboard.py"),
                                "--config", str(config.source), "--write-once"], cwd=kit.workspace,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "+$105.25" in (kit.outputs / "monitoring" / "dashboard.html").read_text()


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
