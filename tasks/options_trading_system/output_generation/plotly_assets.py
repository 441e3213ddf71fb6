"""Where the charts' script comes from: plotly.js as shipped inside the pinned `plotly` package,
written once beside the pages that use it and referenced relatively, never fetched from a CDN.

A page written to `outputs/YYYYMMDD/reports/` loads `<script src="plotly.min.js">` from the same
folder, so a report opens offline, from a copied folder, or from an archive. The daily report and
the monitoring dashboard (`monitoring/plotly_js.py`, which adds compression and an ETag for serving) share this module: `write_plotly_js(folder)` before writing a page into
`folder`, and `script_tag()` in the page's head.
"""
from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from markupsafe import Markup, escape

from ..state.atomic import atomic_write_text

log = logging.getLogger(__name__)

__all__ = ["PLOTLY_JS_NAME", "plotly_js", "plotly_js_version", "write_plotly_js", "script_tag"]

PLOTLY_JS_NAME = "plotly.min.js"


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The minified plotly.js bundled with the installed `plotly` package (about 4.8 MB)."""
    from plotly.offline import get_plotlyjs  # imported here: only runs that write a page pay for it

    return get_plotlyjs()


def plotly_js_version() -> str:
    """plotly.js's version, read from the bundle's header comment ('unknown' if it has none)."""
    head = plotly_js()[:200]
    marker = "plotly.js v"
    start = head.find(marker)
    return head[start + len(marker):].split()[0] if start >= 0 else "unknown"


def write_plotly_js(folder: Path) -> Path:
    """Write `plotly.min.js` into `folder` (atomically) unless an identical copy is already there;
    returns its path. Pages in `folder` reference it as `script_tag()`."""
    folder = Path(folder)
    target = folder / PLOTLY_JS_NAME
    content = plotly_js()
    if target.is_file() and target.stat().st_size == len(content.encode("utf-8")) \
            and target.read_text(encoding="utf-8") == content:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, content)
    log.info("wrote %s (plotly.js %s)", target, plotly_js_version())
    return target


def script_tag(src: str = PLOTLY_JS_NAME) -> Markup:
    """The `<script>` element loading plotly.js from beside the page (a relative path, no CDN)."""
    return Markup(f'<script src="{escape(src)}" charset="utf-8"></script>')
