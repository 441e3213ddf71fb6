"""Writing a tick-execution run's reports: the shadow reports (daily, performance, final: the
ledger is the same) plus the per-strategy reports, each validated against its schema and written
as JSON and HTML in the shadow reports' style.

Layout, beside the shadow reports' (`shadow_report_writer.py`):
```
<output_dir>/runs/<run_id>/strategies/strategies.{json,html}     every strategy, walk-forward included
<output_dir>/runs/<run_id>/strategies/<strategy>.{json,html}      one strategy
```
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .shadow_report_writer import write_day_reports, write_document, write_final_report

__all__ = ["write_day_reports", "write_final_report", "write_strategy_reports", "strategy_document"]

REPORT = "tick_execution_strategies"


def strategy_document(document: Mapping[str, Any], run: Mapping[str, Any],
                      only: str | None = None) -> dict[str, Any]:
    """The report document: the run's header and the judged strategies (all, or `only` one)."""
    request = (run.get("config") or {}).get("request", {})
    strategies = dict(document["strategies"])
    if only is not None:
        strategies = {only: strategies[only]}
    return {"report": REPORT, "version": 1, "run_id": str(run.get("run_id", "")), "mode": run.get("mode", "replay"),
            "profile": str(run.get("profile", "")), "status": str(run.get("status", "")),
            "is_sample": bool(document.get("is_sample")), "data_note": str(request.get("data_note") or ""),
            "days": list(document["days"]), "bar": dict(document["bar"]),
            "in_sample_share": float(document["in_sample_share"]), "strategies": strategies}


def write_strategy_reports(document: Mapping[str, Any], run: Mapping[str, Any], folder: Path) -> list[Path]:
    """`strategies.{json,html}` and one `<strategy>.{json,html}` per strategy under `folder`."""
    written = list(write_document("tick_strategy", strategy_document(document, run), Path(folder), "strategies"))
    for name in document["strategies"]:
        written.extend(write_document("tick_strategy", strategy_document(document, run, name), Path(folder), name))
    return written
