"""plotly.js, taken from the pinned `plotly` pip package: served by the dashboard, copied beside its static copy.

The dashboard never fetches a script from the internet: `/static/plotly.min.js` answers with
the bytes of `plotly.offline.get_plotlyjs()` (read once per process, gzip-compressed once), with
a strong ETag and a year-long immutable cache lifetime, since the content only changes with the
pinned package. The static outputs/monitoring/dashboard.html finds the same file beside it.
(The HTML report bundles the same library; at integration the two should share one helper.)
"""
from __future__ import annotations

import gzip
import hashlib
import re
from functools import lru_cache
from pathlib import Path

from ..state.atomic import atomic_write_bytes

FILE_NAME = "plotly.min.js"

__all__ = ["FILE_NAME", "plotly_js", "plotly_js_gzip", "plotly_js_etag", "plotly_js_version", "write_plotly_js"]


@lru_cache(maxsize=1)
def plotly_js() -> bytes:
    """The minified plotly.js shipped inside the installed plotly package."""
    from plotly.offline import get_plotlyjs  # imported here: a second or so, needed only when serving

    return get_plotlyjs().encode("utf-8")


@lru_cache(maxsize=1)
def plotly_js_gzip() -> bytes:
    """`plotly_js()` gzip-compressed once (about a third of its size on the wire)."""
    return gzip.compress(plotly_js(), compresslevel=6, mtime=0)


@lru_cache(maxsize=1)
def plotly_js_etag() -> str:
    return '"' + hashlib.sha256(plotly_js()).hexdigest()[:32] + '"'


@lru_cache(maxsize=1)
def plotly_js_version() -> str:
    """plotly.js's own version, from the banner at the top of the file ('unknown' if it has none)."""
    found = re.search(rb"plotly\.js v(\d+\.\d+\.\d+)", plotly_js()[:400])
    return found.group(1).decode() if found else "unknown"


def write_plotly_js(folder: Path) -> Path:
    """plotly.min.js in `folder`, written only when missing or different (it is ~5 MB)."""
    target = Path(folder) / FILE_NAME
    content = plotly_js()
    try:
        if target.stat().st_size == len(content) and target.read_bytes() == content:
            return target
    except FileNotFoundError:
        pass
    atomic_write_bytes(target, content)
    return target
