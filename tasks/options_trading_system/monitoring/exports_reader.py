"""The daily pipeline's newest exports (outputs/YYYYMMDD/analysis_exports/*.json), read-only.

Each export is one `run_pipeline.py` run, validated against its schema when it was written
(output_generation/schemas/daily_export.schema.json). The monitor takes from the newest day:
how many runs there were, the data-source attempts of each (for failovers, error rate and
latency), and the headline of the newest run (source, underlying price, sample/proxy banners).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EXPORTS_FOLDER = "analysis_exports"
DAY_FOLDER_GLOB = "[0-9]" * 8

__all__ = ["read_latest_exports"]


def read_latest_exports(outputs_dir: Path) -> dict[str, Any] | None:
    """{day, files, loads (attempt lists, oldest run first), newest (headline), problems}; None without exports."""
    days = sorted(p for p in Path(outputs_dir).glob(f"{DAY_FOLDER_GLOB}/{EXPORTS_FOLDER}") if p.is_dir())
    for folder in reversed(days):
        files = sorted(folder.glob("*.json"), key=lambda p: (p.stat().st_mtime, p.name))
        if not files:
            continue
        loads: list[list[dict[str, Any]]] = []
        problems: list[str] = []
        newest: dict[str, Any] | None = None
        for file in files:
            try:
                document = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                problems.append(f"{file}: unreadable ({exc})")
                continue
            data = document.get("data") if isinstance(document, dict) else None
            attempts = data.get("attempts") if isinstance(data, dict) else None
            if isinstance(attempts, list):
                loads.append([a for a in attempts if isinstance(a, dict)])
            else:
                problems.append(f"{file}: no data.attempts (not a daily export of this version)")
            newest = _headline(file, document)
        return {"day": folder.parent.name, "files": len(files), "loads": loads, "newest": newest,
                "problems": problems}
    return None


def _headline(file: Path, document: Any) -> dict[str, Any]:
    """The newest run in a line: when, which profile, which source, what price, what to doubt."""
    def part(name: str) -> dict[str, Any]:
        value = document.get(name) if isinstance(document, dict) else None
        return value if isinstance(value, dict) else {}

    run, data, chain, underlying = part("run"), part("data"), part("chain"), part("underlying")
    profile = run.get("profile") if isinstance(run.get("profile"), dict) else {}
    return {"file": str(file), "date": run.get("date"), "started_at": run.get("started_at"),
            "profile": profile.get("name"), "source": data.get("source"), "is_sample": data.get("is_sample"),
            "is_proxy": data.get("is_proxy"), "underlying_symbol": underlying.get("symbol"),
            "underlying_price": underlying.get("price"), "as_of": chain.get("as_of"),
            "contracts": chain.get("contracts"),
            "warnings": list(document.get("warnings") or []) if isinstance(document, dict) else []}
