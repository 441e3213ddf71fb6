"""Writing a sweep's comparison report: the document (`sweep_comparison`) validated against
`schemas/shadow_sweep.schema.json`, then `comparison.json` and `comparison.html` (jinja2,
autoescape on; heatmaps drawn by the `plotly.min.js` written beside the page, never a CDN),
atomically, into `<output-dir>/sweeps/<sweep id>/`.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ..analysis_engine.strategies.sweep.plan import SweepPlan
from ..secrets_mask import mask_secrets
from ..state.atomic import atomic_write_text
from .html_report import environment
from .plotly_assets import script_tag, write_plotly_js
from .shadow_report_writer import validate
from .sweep_charts import heatmap_figure
from .sweep_comparison import comparison_document, ranking_lines

log = logging.getLogger(__name__)

__all__ = ["write_comparison", "ranking_lines", "REPORT_STEM", "TEMPLATE"]

REPORT_STEM = "comparison"
TEMPLATE = "shadow_sweep.html.j2"


def write_comparison(plan: SweepPlan) -> tuple[dict[str, Any], list[Path]]:
    """Build, validate and write the comparison of `plan`'s variants; returns the document and paths."""
    document = comparison_document(plan)
    validate("sweep", document)
    folder = plan.sweep_dir
    json_path = atomic_write_text(folder / f"{REPORT_STEM}.json",
                                  mask_secrets(json.dumps(document, indent=1, allow_nan=False) + "\n"))
    heatmaps = []
    if document["heatmap"] is not None:
        heatmaps = [heatmap_figure(document["heatmap"], metric, element_id=f"heatmap-{metric['key']}")
                    for metric in document["metrics"]]
    written = [json_path]
    if heatmaps:
        written.append(write_plotly_js(folder))
    html = environment().get_template(TEMPLATE).render(doc=document, heatmaps=heatmaps,
                                                       plotly_script=script_tag() if heatmaps else "")
    written.append(atomic_write_text(folder / f"{REPORT_STEM}.html", mask_secrets(html)))
    log.info("wrote the comparison of sweep %s to %s", plan.sweep.sweep_id, folder)
    return document, written
