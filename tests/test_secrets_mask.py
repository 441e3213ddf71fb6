"""Secrets never reach an output: a secret variable's value is masked wherever it appears, inside
other strings too, in the export, the reports, the logs and the console."""
from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from tasks.options_trading_system.secrets_mask import (MASK, SecretFilter, is_secret_name, mask_document,
                                                       mask_secrets, register_secrets)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
KEY = "db-" + "S3cr3tK3y" * 3 + "xy"  # the form of a Databento key: db- and 29 letters or digits


def test_secret_variable_names_are_recognised() -> None:
    for name in ("DATABENTO_API_KEY", "POLYGON_API_KEY", "TRADOVATE_PASSWORD", "TRADOVATE_CID", "TRADOVATE_USERNAME",
                 "MONITOR_CONTROL_TOKEN", "CLIENT_SECRET", "APP_SEC", "DB_PASS"):
        assert is_secret_name(name), name
    for name in ("HOME", "PATH", "NQ_STATE_DIR", "TZ"):
        assert not is_secret_name(name), name


def test_a_secret_inside_a_longer_string_and_a_document_is_masked() -> None:
    register_secrets({"SOME_API_KEY": "abcdef123456"})
    assert mask_secrets("desk run abcdef123456 today") == f"desk run {MASK} today"
    assert mask_document({"a": ["x abcdef123456"], "abcdef123456": 1}) == {"a": [f"x {MASK}"], MASK: 1}


def test_log_records_are_masked_in_message_arguments_and_traceback() -> None:
    register_secrets({"MONITOR_CONTROL_TOKEN": "tok-0123456789"})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretFilter())
    logger = logging.getLogger("test_secrets_mask")
    logger.addHandler(handler)
    try:
        logger.warning("token is %s", "tok-0123456789")
        try:
            raise ValueError("bad token tok-0123456789")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "tok-0123456789" not in written and written.count(MASK) >= 2 and "ValueError" in written


def test_a_secret_substituted_into_a_profile_description_reaches_no_output(tmp_path: Path) -> None:
    # --show-config masked it, but the export carried the description in full
    profile = tmp_path / "leaky.json"
    profile.write_text(json.dumps({"description": "desk run with key ${DATABENTO_API_KEY} (do not share)",
                                   "extends": "testing"}))
    env = {**os.environ, "DATABENTO_API_KEY": KEY}
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(PROJECT_ROOT / "run_pipeline.py"), "--profile", str(profile),
                             "--output-dir", str(out), "--date", "2025-06-02", "-v"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    day = out / "20250602"
    export = next((day / "analysis_exports").glob("*.json")).read_text()
    assert f"desk run with key {MASK} (do not share)" in export          # masked inside the string, rest kept
    written = {path: path.read_text(errors="replace") for path in day.rglob("*") if path.is_file()}
    assert {p.suffix for p in written} >= {".json", ".html", ".txt", ".log"}
    for path, text in written.items():
        assert KEY not in text, path
    assert KEY not in result.stdout and KEY not in result.stderr
    shown = subprocess.run([sys.executable, str(PROJECT_ROOT / "run_pipeline.py"), "--profile", str(profile),
                            "--show-config"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and KEY not in shown.stdout
