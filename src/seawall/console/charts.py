"""The overview's charts, drawn on the server as inline SVG.

Why by hand: the charts are a few lines over at most 240 points (console/log_query.py), which is a
polyline each; SVG drawn here needs no JavaScript in the browser (the pages work with it off and
under a CSP that allows no script), no vendored bundle to keep patched, and is tested in Python.
A charting library (uPlot, Chart.js) would bring interaction we don't need and a script to ship.

Pure: numbers in, markup out; every label is escaped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 640, 180, 52, 22, 10
COLOURS = ("c0", "c1", "c2", "c3", "c4", "c5")  # CSS classes (console.css): the palette lives there


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: list[float | None]  # one per bucket; None: no data there (the line breaks)


def line_chart(title: str, starts: list[float], series: list[Series], unit: str = "") -> Markup:
    """Lines over time buckets, a y axis from 0 to the largest value, the first and last times."""
    top = max((v for s in series for v in s.values if v is not None), default=0.0) or 1.0
    n = len(starts)
    inner_w, inner_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_BOTTOM - PAD_TOP

    def x(i: int) -> float:
        return PAD_LEFT + (inner_w * i / (n - 1) if n > 1 else inner_w / 2)

    def y(v: float) -> float:
        return PAD_TOP + inner_h * (1 - v / top)

    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<line class="axis" x1="{PAD_LEFT}" y1="{PAD_TOP + inner_h}" x2="{WIDTH - 8}" y2="{PAD_TOP + inner_h}"/>',
             f'<line class="grid" x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{WIDTH - 8}" y2="{PAD_TOP}"/>',
             f'<text class="tick" x="{PAD_LEFT - 4}" y="{PAD_TOP + 4}" text-anchor="end">{escape(_number(top))}{escape(unit)}</text>',
             f'<text class="tick" x="{PAD_LEFT - 4}" y="{PAD_TOP + inner_h}" text-anchor="end">0</text>']
    if starts:
        parts.append(f'<text class="tick" x="{PAD_LEFT}" y="{HEIGHT - 4}">{escape(_time(starts[0]))}</text>')
        parts.append(f'<text class="tick" x="{WIDTH - 8}" y="{HEIGHT - 4}" text-anchor="end">'
                     f'{escape(_time(starts[-1]))}</text>')
    for index, s in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        for run in _runs(s.values):
            points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in run)
            if len(run) == 1:
                i, v = run[0]
                parts.append(f'<circle class="dot {colour}" cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5"/>')
            else:
                parts.append(f'<polyline class="line {colour}" points="{points}"/>')
    parts.append("</svg>")
    legend = "".join(f'<li><span class="swatch {COLOURS[i % len(COLOURS)]}"></span>{escape(s.name)}</li>'
                     for i, s in enumerate(series))
    return Markup(f'<figure><figcaption>{escape(title)}</figcaption>{"".join(parts)}'
                  f'<ul class="legend">{legend}</ul></figure>')


def _runs(values: list[float | None]) -> list[list[tuple[int, float]]]:
    """Stretches of consecutive values with data: a gap breaks the line instead of drawing 0."""
    runs: list[list[tuple[int, float]]] = []
    current: list[tuple[int, float]] = []
    for i, v in enumerate(values):
        if v is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((i, float(v)))
    if current:
        runs.append(current)
    return runs


def _number(v: float) -> str:
    if v >= 1000:
        return f"{v / 1000:.3g}k"
    return f"{v:.3g}"


def _time(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%m-%d %H:%M")
