"""plotly.js for the dashboard: served at `/static/plotly.min.js`, copied beside its static copy.

The script itself, its version and writing it beside a page come from
`output_generation/plotly_assets.py` (the one place that reads it from the pinned `plotly`
package, shared with the HTML report). What only a server needs is here: the bytes, gzip-compressed
once, and a strong ETag, so the file is sent with a year-long immutable cache lifetime.
"""
from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache

from ..output_generation.plotly_assets import PLOTLY_JS_NAME as FILE_NAME
from ..output_generation.plotly_assets import plotly_js as plotly_js_text
from ..output_generation.plotly_assets import plotly_js_version, write_plotly_js

__all__ = ["FILE_NAME", "plotly_js", "plotly_js_gzip", "plotly_js_etag", "plotly_js_version", "write_plotly_js"]


@lru_cache(maxsize=1)
def plotly_js() -> bytes:
    """The minified plotly.js shipped inside the installed plotly package, as bytes to send."""
    return plotly_js_text().encode("utf-8")


@lru_cache(maxsize=1)
def plotly_js_gzip() -> bytes:
    """`plotly_js()` gzip-compressed once (about a third of its size on the wire)."""
    return gzip.compress(plotly_js(), compresslevel=6, mtime=0)


@lru_cache(maxsize=1)
def plotly_js_etag() -> str:
    return '"' + hashlib.sha256(plotly_js()).hexdigest()[:32] + '"'
