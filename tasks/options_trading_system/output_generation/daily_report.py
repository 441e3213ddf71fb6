"""Write one daily run's files under `outputs/YYYYMMDD/`: what `run_pipeline.py` calls at the end.

`write_daily_outputs(result, day_dir)`:
1. names the files (`daily_export.output_names`: `nq_analysis_YYYYMMDD_HHMMSS`, New York time);
2. builds the export document and validates it against its schema (`OutputValidationError`
   and nothing at all written when it does not match);
3. renders the HTML and text reports from that document (pure);
4. creates `analysis_exports/`, `reports/`, `logs/` (for the CLI's run log) and, when the raw
   input is kept, `api_data/`, and writes every file atomically (`atomic`), plus
   `reports/plotly.min.js` for the HTML report's charts (once: skipped when an identical copy is there);
5. returns `DailyOutputs`, the paths written (and the document, for the console summary).

The raw input is kept when the profile's `outputs.save_raw_input` is true and the source handed
over a raw capture (`raw_input.raw_copy` says exactly what is kept).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..secrets_mask import mask_document, mask_secrets
from ..state.atomic import atomic_write_bytes, atomic_write_text
from .daily_export import (EXPORTS_DIR, LOGS_DIR, REPORTS_DIR, build_export, export_text, output_names,
                           validate_export)
from .html_report import render_html
from .plotly_assets import write_plotly_js
from .raw_input import raw_copy
from .text_report import render_text
from ..daily_run import DailyRunResult

log = logging.getLogger(__name__)

__all__ = ["DailyOutputs", "write_daily_outputs"]


@dataclass(frozen=True)
class DailyOutputs:
    """The files one run wrote. `raw_input` is None when no raw input was kept."""

    export_json: Path
    report_html: Path
    report_text: Path
    raw_input: Path | None
    document: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def day_dir(self) -> Path:
        return self.export_json.parent.parent

    def files(self) -> tuple[Path, ...]:
        """The paths written, export first."""
        return tuple(p for p in (self.export_json, self.report_html, self.report_text, self.raw_input)
                     if p is not None)


def write_daily_outputs(result: DailyRunResult, day_dir: Path) -> DailyOutputs:
    """Validate, render and write the run's export, reports and raw input under `day_dir`."""
    day_dir = Path(day_dir)
    settings = result.profile.section("outputs")
    keep_raw = bool(settings.get("save_raw_input", True))
    top_n = int(settings.get("top_n", 5))
    raw = raw_copy(result.chain) if keep_raw else None
    if keep_raw and raw is None:
        log.info("no raw input to keep: source %s handed over no raw capture", result.chain.meta.source)
    names = output_names(result, raw.filename if raw else None)
    document = mask_document(build_export(result, names))  # a secret substituted into any string never lands
    validate_export(document)
    html = mask_secrets(render_html(document))
    text = mask_secrets(render_text(document, top_n=top_n))

    for sub in (EXPORTS_DIR, REPORTS_DIR, LOGS_DIR):
        (day_dir / sub).mkdir(parents=True, exist_ok=True)
    write_plotly_js(day_dir / REPORTS_DIR)  # the report's charts load it from beside the page
    raw_path = None
    if raw is not None and names.raw_input is not None:
        raw_path = atomic_write_bytes(day_dir / names.raw_input, raw.content)
    outputs = DailyOutputs(
        export_json=atomic_write_text(day_dir / names.export_json, mask_secrets(export_text(document))),
        report_html=atomic_write_text(day_dir / names.report_html, html),
        report_text=atomic_write_text(day_dir / names.report_text, text),
        raw_input=raw_path,
        document=document,
    )
    log.info("daily outputs written under %s: %s", day_dir, ", ".join(str(p.relative_to(day_dir))
                                                                      for p in outputs.files()))
    return outputs
