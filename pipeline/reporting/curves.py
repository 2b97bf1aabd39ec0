"""Line charts as inline SVG for the final report: a file that must open anywhere, with no
script and no network, so the curves are drawn here rather than by a charting library."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 640, 220, 36
Point = tuple[float, float]  # (unix seconds, fraction 0..1)


def scaled(series: Sequence[Point], width: int = WIDTH, height: int = HEIGHT) -> list[Point]:
    """The points in drawing coordinates: time left to right, 0 at the bottom, 1 at the top."""
    if not series:
        return []
    first, last = series[0][0], series[-1][0]
    span = (last - first) or 1.0
    inner_w, inner_h = width - 2 * PAD, height - 2 * PAD
    return [
        (
            round(PAD + (t - first) / span * inner_w, 2),
            round(PAD + (1 - min(max(v, 0.0), 1.0)) * inner_h, 2),
        )
        for t, v in series
    ]


def line_chart(lines: dict[str, Sequence[Point]], title: str) -> Markup:
    """One chart, one polyline per named series (all on a 0–100 % scale)."""
    colours = ("#1f6feb", "#d97706", "#059669", "#9333ea")
    start, end = _span(lines)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        _axes(start, end),
    ]
    for (name, series), colour in zip(lines.items(), colours, strict=False):
        points = " ".join(f"{x},{y}" for x, y in _with_span(series, start, end))
        parts.append(
            f'<polyline class="series" data-name="{escape(name)}" fill="none" '
            f'stroke="{colour}" stroke-width="2" points="{points}"/>'
        )
    legend = [
        f'<text x="{PAD + 150 * i}" y="16" fill="{colour}" font-size="12">{escape(name)}</text>'
        for i, (name, colour) in enumerate(zip(lines, colours, strict=False))
    ]
    return Markup("".join([*parts, *legend, "</svg>"]))


def _span(lines: dict[str, Sequence[Point]]) -> tuple[float, float]:
    moments = [t for series in lines.values() for t, _ in series]
    return (min(moments), max(moments)) if moments else (0.0, 1.0)


def _with_span(series: Sequence[Point], start: float, end: float) -> list[Point]:
    # Anchored at the chart's span (two invisible points removed after scaling) so that
    # every series shares one time axis.
    anchored = scaled([(start, 0.0), *series, (end, 0.0)])
    return anchored[1:-1]


def _axes(start: float, end: float) -> str:
    bottom, right = HEIGHT - PAD, WIDTH - PAD
    labels = "".join(
        f'<text x="{PAD - 6}" y="{PAD + (1 - f) * (HEIGHT - 2 * PAD) + 4}" font-size="10" '
        f'text-anchor="end">{int(f * 100)}%</text>'
        for f in (0.0, 0.5, 1.0)
    )
    return (
        f'<line x1="{PAD}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#999"/>'
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{bottom}" stroke="#999"/>'
        f"{labels}"
        f'<text x="{PAD}" y="{HEIGHT - 8}" font-size="10">{_when(start)}</text>'
        f'<text x="{right}" y="{HEIGHT - 8}" font-size="10" text-anchor="end">{_when(end)}</text>'
    )


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")
