"""The equity curve of a shadow run as inline SVG (no JavaScript, no internet).

Pure: a list of (time, cumulative net P&L) points in, markup out. The curve starts at 0 before
the first trade; a dashed line marks 0; each point carries a `<title>` with its exact figure. All
text is escaped here, so the result is safe to embed as `Markup`.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from markupsafe import Markup, escape

from . import formatting as fmt

WIDTH, HEIGHT = 900, 260
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 80, 20, 20, 40
LINE_COLOR, ZERO_COLOR, TEXT_COLOR = "#2563eb", "#9ca3af", "#374151"


def equity_svg(points: Sequence[Mapping[str, Any]], *, width: int = WIDTH, height: int = HEIGHT) -> Markup:
    """The cumulative P&L after each trade; a note instead of a chart when there is no trade."""
    if not points:
        return Markup('<p class="note">No closed paper trade: no equity curve.</p>')
    values = [0.0] + [float(p["equity_usd"]) for p in points]
    labels = ["start"] + [str(p["time"]) for p in points]
    low, high = min(values + [0.0]), max(values + [0.0])
    span = (high - low) or 1.0
    plot_w = width - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = height - MARGIN_TOP - MARGIN_BOTTOM

    def x(i: int) -> float:
        return MARGIN_LEFT + plot_w * (i / max(len(values) - 1, 1))

    def y(v: float) -> float:
        return MARGIN_TOP + plot_h * (1 - (v - low) / span)

    path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
    parts = [f'<svg class="equity" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="equity curve">',
             f'<line x1="{MARGIN_LEFT}" x2="{width - MARGIN_RIGHT}" y1="{y(0.0):.1f}" y2="{y(0.0):.1f}" '
             f'stroke="{ZERO_COLOR}" stroke-dasharray="4 3"/>',
             f'<text x="{MARGIN_LEFT - 6}" y="{y(high) + 4:.1f}" text-anchor="end" fill="{TEXT_COLOR}" '
             f'font-size="11">{escape(fmt.dollars(high))}</text>',
             f'<text x="{MARGIN_LEFT - 6}" y="{y(low) + 4:.1f}" text-anchor="end" fill="{TEXT_COLOR}" '
             f'font-size="11">{escape(fmt.dollars(low))}</text>',
             f'<polyline fill="none" stroke="{LINE_COLOR}" stroke-width="2" points="{path}"/>']
    for i, (v, label) in enumerate(zip(values, labels)):
        parts.append(f'<circle class="point" cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{LINE_COLOR}">'
                     f'<title>{escape(label)}: {escape(fmt.dollars(v))}</title></circle>')
    parts.append(f'<text x="{MARGIN_LEFT}" y="{height - 12}" fill="{TEXT_COLOR}" font-size="11">trades in the order '
                 f'they closed ({len(points)})</text></svg>')
    return Markup("".join(parts))
