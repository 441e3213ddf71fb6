"""The dashboard never shows a secret: a key that reached a profile description, a ledger note or a
daily export is masked in every answer (page, fragment, event stream, JSON API, control answers,
errors) and in the static copy, inside longer strings included; the production monitor's files
(production_metrics.json, the SQLite history, alerts.json, monitor.log) mask it too."""
from __future__ import annotations

import http.client
import json
import logging

from tasks.options_trading_system.monitoring.collector import SnapshotCollector
from tasks.options_trading_system.monitoring.monitor import ProductionMonitor, attach_rotating_log
from tasks.options_trading_system.secrets_mask import MASK
from tests.monitoring.conftest import BUDGETS, TOKEN
from tests.monitoring.test_dashboard import get, post

SECRET = "db-" + "Pl4nt3dK3y" * 3


def plant(kit, monkeypatch) -> None:
    """The secret in the environment (as DATABENTO_API_KEY) and in everything the dashboard reads."""
    monkeypatch.setenv("DATABENTO_API_KEY", SECRET)
    run = kit.run()

    def notes(tx) -> None:
        config = {"profile": {"description": f"desk profile for {SECRET}", "shadow_trading": {}},
                  "request": {"mode": "replay"}}
        tx.execute("UPDATE runs SET status_reason = ?, config_json = ?",
                   (f"resumed with key {SECRET}", json.dumps(config)))
        tx.insert("orders", {"order_id": "o-s4-refused", "signal_id": "s4", "day": "2023-11-21",
                             "sim_time": "2023-11-21T14:50:00+00:00", "instrument": "MNQ", "side": "BUY",
                             "quantity": 1, "order_type": "market", "purpose": "entry", "status": "refused",
                             "reason": f"broker said: bad key {SECRET}"})
        tx.execute("INSERT INTO controls (command, reason, requested_by, requested_at) VALUES (?, ?, ?, ?)",
                   ("halt", f"pasted {SECRET} by mistake", "desk", "2023-11-21T15:00:00+00:00"))
    run.write(notes)
    kit.export("2023-11-21", "1405", [kit.attempt("databento", "failed", 120.0, reason=f"401 for key {SECRET}"),
                                      kit.attempt("barchart", "served", 300.0)],
               profile=f"all_sources {SECRET}")


def read_first_event(port: int) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/events", headers={"Accept": "text/event-stream"})
        response = connection.getresponse()
        lines: list[str] = []
        for _ in range(10_000):                         # bounded: one event is a few hundred lines
            line = response.readline().decode()
            if line in ("\n", "") and any(x.startswith("event: fragment") for x in lines):
                break
            lines.append(line)
        return "".join(lines)
    finally:
        connection.close()


def test_a_planted_secret_is_masked_in_every_answer_and_the_static_copy(kit, serve, monkeypatch) -> None:
    plant(kit, monkeypatch)
    config = kit.config()
    served = serve(config)
    answers = {path: get(served.url + path)[2].decode() for path in
               ("", "fragment", "api/metrics", "api/alerts", "health", "no-such-page")}
    answers["events"] = read_first_event(served.server.port)
    status, control = post(served.url + "api/control/halt", {"reason": f"again {SECRET}"}, token=TOKEN)
    assert status == 200
    answers["control"] = json.dumps(control)
    answers["control refused"] = json.dumps(post(served.url + "api/control/halt",
                                                 {"run_id": f"no-run-{SECRET}"}, token=TOKEN)[1])
    answers["static copy"] = config.dashboard_file.read_text()
    for where, text in answers.items():
        assert SECRET not in text, f"the secret leaked in {where}"
    # what carried it is still shown, masked: the notes are not dropped
    assert f"pasted {MASK} by mistake" in answers[""]
    assert f"broker said: bad key {MASK}" in answers["fragment"]
    assert f"401 for key {MASK}" in answers["events"]
    metrics = answers["api/metrics"]
    assert f"resumed with key {MASK}" in metrics and f"all_sources {MASK}" in metrics
    assert f"again {MASK}" in answers["control"]


def test_the_monitors_files_and_log_mask_a_planted_secret(kit, monkeypatch) -> None:
    plant(kit, monkeypatch)
    config = kit.config()
    handler = attach_rotating_log(config)
    try:
        ProductionMonitor(config, SnapshotCollector(config, budgets=BUDGETS)).sample_once()
        logging.getLogger("tests.monitoring").warning("source said: bad key %s", SECRET)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    files = [config.metrics_file, config.history_file, config.alerts_file, config.log_file]
    for path in files:
        assert path.is_file(), path
        assert SECRET.encode() not in path.read_bytes(), f"the secret leaked in {path.name}"
    assert f"resumed with key {MASK}" in config.metrics_file.read_text()
    assert f"bad key {MASK}" in config.log_file.read_text()
