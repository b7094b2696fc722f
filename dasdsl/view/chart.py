"""Small line charts as inline SVG text, for report.html.

The report's curves were matplotlib PNGs: importing matplotlib and drawing four figures took about 2 s, longer
than a small search itself, and every search with a run directory writes a report. These charts are plain SVG
written directly (a few milliseconds), scale without blurring and need no plotting library; ``dasdsl plot`` still
draws PNGs with matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

Series = tuple[str, Sequence[float], str]  # (label, one value per x, colour)

_FONT = 'font-family="system-ui, sans-serif"'


def _finite(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    """About ``count`` round tick values covering [low, high]."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * step:
            step *= factor
            break
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _label(v: float) -> str:
    return f"{v:.3g}"


def line_chart(
    title: str,
    xs: Sequence[int],
    series: Sequence[Series],
    *,
    ylabel: str = "",
    ylim: tuple[float | None, float | None] = (None, None),
    width: int = 360,
    height: int = 210,
    legend: bool = True,
) -> str:
    """One chart: a line per series over ``xs`` (a missing or non-finite value breaks its line)."""
    left, right, top, bottom = 46, 10, 22, 30
    legend_rows = math.ceil(len(series) / 3) if legend and len(series) > 1 else 0
    total = height + 16 * legend_rows
    values = [v for _, ys, _ in series for v in ys if _finite(v)]
    low = ylim[0] if ylim[0] is not None else min(values, default=0.0)
    high = ylim[1] if ylim[1] is not None else max(values, default=1.0)
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    x0, x1 = (min(xs), max(xs)) if xs else (0, 1)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    pw, ph = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return top + (1 - (y - low) / (high - low)) * ph

    out = [
        f'<svg width="{width}" height="{total}" viewBox="0 0 {width} {total}" role="img" aria-label="{escape(title)}">',
        f'<text x="{width / 2:.0f}" y="14" text-anchor="middle" font-size="11" {_FONT}>{escape(title)}</text>',
    ]
    for t in _ticks(low, high):
        y = py(t)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd" stroke-width="0.6"/>')
        out.append(f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end" font-size="8" {_FONT}>{_label(t)}</text>')
    step = max(1, math.ceil(len(xs) / 10))
    for x in list(xs)[::step]:
        out.append(f'<text x="{px(x):.1f}" y="{top + ph + 12}" text-anchor="middle" font-size="8" {_FONT}>{x}</text>')
    out.append(
        f'<text x="{left + pw / 2:.0f}" y="{height - 4}" text-anchor="middle" font-size="9" {_FONT}>epoch</text>'
    )
    if ylabel:
        out.append(
            f'<text transform="translate(10 {top + ph / 2:.0f}) rotate(-90)" text-anchor="middle" font-size="9" '
            f"{_FONT}>{escape(ylabel)}</text>"
        )
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999" stroke-width="0.6"/>')
    markers = len(xs) <= 30
    for _, ys, color in series:
        segment: list[str] = []
        segments = [segment]
        for x, y in zip(xs, ys):
            if _finite(y):
                segment.append(f"{px(x):.1f},{py(min(max(y, low), high)):.1f}")
            elif segment:
                segment = []
                segments.append(segment)
        for points in segments:
            if len(points) > 1:
                out.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{color}" stroke-width="1.4"/>')
            if markers or len(points) == 1:
                for p in points:
                    cx, cy = p.split(",")
                    out.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{color}"/>')
    for i, (name, _, color) in enumerate(series if legend_rows else ()):
        x, y = left + (i % 3) * (pw / 3), height + 4 + 16 * (i // 3)
        out.append(f'<rect x="{x:.0f}" y="{y}" width="10" height="3" fill="{color}"/>')
        out.append(f'<text x="{x + 14:.0f}" y="{y + 5}" font-size="9" {_FONT}>{escape(name[:28])}</text>')
    out.append("</svg>")
    return "".join(out)
