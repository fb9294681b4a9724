"""Charts drawn on the server as inline SVG: line charts, bar charts and the lineage graph.

Nothing is loaded from a CDN and no chart library runs in the browser: every chart is plain SVG
in the page, so the UI works offline and charts show with JavaScript turned off. Each chart
carries ``role="img"`` and a ``<title>`` for screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["PALETTE", "GraphBox", "bar_chart", "compare_chart", "graph_svg", "line_chart"]

#: Series colours (Okabe-Ito, readable by colour-blind people).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000")
_MAX_POINTS = 600  # points drawn per series; longer series are thinned evenly


def _svg_open(width: int, height: int, title: str, left: int, title_y: int) -> list[str]:
    """The opening of every chart: the ``<svg>`` element, its accessible name, its title."""
    return [
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="{title_y}" class="chart-title">{escape(title)}</text>',
    ]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e5 or a < 1e-3:
        return f"{v:.2e}"
    if a >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    out = []
    v = start
    while v <= hi + step * 1e-9:
        out.append(round(v, 12))
        v += step
    return out


def _thin(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) <= _MAX_POINTS:
        return list(points)
    stride = len(points) / _MAX_POINTS
    out = [points[int(i * stride)] for i in range(_MAX_POINTS)]
    out.append(points[-1])
    return out


def line_chart(
    series: dict[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    x_label: str = "step",
    width: int = 560,
    height: int = 240,
) -> Markup:
    """Draw series of ``(x, y)`` points as lines over shared axes.

    Args:
        series: Points per series name; non-finite values are skipped.
        title: The chart's accessible name, also drawn above it.
        x_label: The x axis label.
        width: Width in pixels.
        height: Height in pixels.

    Returns:
        The SVG markup, safe to put in a template.
    """
    clean = {
        name: _thin([(x, y) for x, y in pts if math.isfinite(x) and math.isfinite(y)])
        for name, pts in series.items()
    }
    clean = {k: v for k, v in clean.items() if v}
    left, right, top, bottom = 56, 12, 24, 34
    pw, ph = width - left - right, height - top - bottom
    parts = _svg_open(width, height, title, left, 15)
    if not clean:
        parts.append(f'<text x="{left}" y="{top + ph / 2}">no finite values</text></svg>')
        return Markup("".join(parts))
    xs = [x for pts in clean.values() for x, _ in pts]
    ys = [y for pts in clean.values() for _, y in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        pad = abs(y0) * 0.05 or 1.0
        y0, y1 = y0 - pad, y1 + pad

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    parts.append(
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="chart-frame"></rect>'
    )
    for t in _ticks(y0, y1):
        y = sy(t)
        parts.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" class="grid"></line>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>'
        )
    for t in _ticks(x0, x1):
        x = sx(t)
        parts.append(f'<text x="{x:.1f}" y="{top + ph + 14}" text-anchor="middle">{_fmt(t)}</text>')
    parts.append(
        f'<text x="{left + pw / 2}" y="{height - 4}" text-anchor="middle">{escape(x_label)}</text>'
    )
    for i, (name, pts) in enumerate(clean.items()):
        colour = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        label = escape(name)
        if len(pts) == 1:
            x, y = pts[0]
            parts.append(
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}">'
                f"<title>{label}: {_fmt(y)}</title></circle>"
            )
        else:
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.6" '
                f'data-series="{label}"><title>{label}</title></polyline>'
            )
        lx = left + 8 + (i % 3) * (pw // 3)
        ly = top + 12 + (i // 3) * 13
        parts.append(
            f'<rect x="{lx}" y="{ly - 8}" width="10" height="3" fill="{colour}"></rect>'
            f'<text x="{lx + 14}" y="{ly - 4}" class="legend">{label}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    axis: tuple[str, str] | None = None,
    width: int = 360,
    height: int = 160,
) -> Markup:
    """Draw one bar per label (a histogram, a top-values count).

    Args:
        labels: Each bar's label (shown on hover).
        values: Each bar's height.
        title: The chart's accessible name, also drawn above it.
        axis: The texts under the left and right ends (the first and last label by default).
        width: Width in pixels.
        height: Height in pixels.

    Returns:
        The SVG markup, safe to put in a template.
    """
    left, top, bottom = 8, 20, 28
    pw, ph = width - 2 * left, height - top - bottom
    parts = _svg_open(width, height, title, left, 13)
    finite = [v if math.isfinite(v) else 0.0 for v in values]
    top_value = max(finite, default=0.0) or 1.0
    n = max(len(finite), 1)
    bw = pw / n
    for i, (label, v) in enumerate(zip(labels, finite, strict=False)):
        h = max(v, 0.0) / top_value * ph
        x = left + i * bw
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{top + ph - h:.1f}" width="{max(bw - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{PALETTE[0]}"><title>{escape(label)}: {_fmt(v)}</title></rect>'
        )
    ends = axis or ((labels[0], labels[-1]) if labels else None)
    if ends:
        parts.append(
            f'<text x="{left}" y="{height - 8}">{escape(ends[0])}</text>'
            f'<text x="{width - left}" y="{height - 8}" text-anchor="end">'
            f"{escape(ends[1])}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def compare_chart(
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    title: str,
    axis: tuple[str, str] | None = None,
    percent: bool = True,
    width: int = 380,
    height: int = 170,
) -> Markup:
    """Draw two or more series side by side per label (reference vs current shares).

    Args:
        labels: Each group's label (a histogram bin, a category), shown on hover.
        series: Values per series name, one per label; each series gets a colour, a legend
            entry and ``data-series`` on its bars.
        title: The chart's accessible name, also drawn above it.
        axis: The texts under the left and right ends (the first and last label by default).
        percent: Whether the values are shares (drawn as percentages on hover).
        width: Width in pixels.
        height: Height in pixels.

    Returns:
        The SVG markup, safe to put in a template.
    """
    left, top, bottom = 8, 34, 28
    pw, ph = width - 2 * left, height - top - bottom
    parts = _svg_open(width, height, title, left, 13)
    clean = {
        name: [v if math.isfinite(v) else 0.0 for v in values] for name, values in series.items()
    }
    top_value = max((v for vs in clean.values() for v in vs), default=0.0) or 1.0
    n, k = max(len(labels), 1), max(len(clean), 1)
    group = pw / n
    bw = max((group - 2) / k, 1.0)
    for j, (name, values) in enumerate(clean.items()):
        colour = PALETTE[j % len(PALETTE)]
        label = escape(name)
        bars = []
        for i, (text, v) in enumerate(zip(labels, values, strict=False)):
            h = max(v, 0.0) / top_value * ph
            x = left + i * group + 1 + j * bw
            shown = f"{v * 100:.1f}%" if percent else _fmt(v)
            bars.append(
                f'<rect x="{x:.1f}" y="{top + ph - h:.1f}" width="{bw:.1f}" height="{h:.1f}">'
                f"<title>{label} {escape(text)}: {shown}</title></rect>"
            )
        parts.append(
            f'<g fill="{colour}" fill-opacity="0.8" data-series="{label}">{"".join(bars)}</g>'
        )
        lx = left + j * 110
        parts.append(
            f'<rect x="{lx}" y="20" width="10" height="8" fill="{colour}"></rect>'
            f'<text x="{lx + 14}" y="28" class="legend">{label}</text>'
        )
    ends = axis or ((labels[0], labels[-1]) if labels else None)
    if ends:
        parts.append(
            f'<text x="{left}" y="{height - 8}">{escape(ends[0])}</text>'
            f'<text x="{width - left}" y="{height - 8}" text-anchor="end">'
            f"{escape(ends[1])}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class GraphBox:
    """One node of a drawn graph.

    Attributes:
        key: The node's unique key (``kind:id``).
        label: The first line drawn in the box.
        sublabel: The second, smaller line.
        column: The column it is drawn in (its distance from the root).
        href: Where clicking it goes, or ``None``.
        root: Whether it is the graph's root (drawn highlighted).
    """

    key: str
    label: str
    sublabel: str
    column: int
    href: str | None = None
    root: bool = False


def graph_svg(
    boxes: Sequence[GraphBox],
    edges: Sequence[tuple[str, str, str]],
    *,
    title: str,
    colour_of: Callable[[str], str] | None = None,
) -> Markup:
    """Draw a layered graph: one column per distance from the root, edges as curves.

    Args:
        boxes: The nodes.
        edges: ``(from key, to key, label)`` for each edge, drawn between the boxes.
        title: The accessible name.
        colour_of: The fill colour of a node key.

    Returns:
        The SVG markup; every box with an ``href`` is a link.
    """
    bw, bh, gap_x, gap_y, pad = 190, 44, 60, 14, 10
    columns: dict[int, list[GraphBox]] = {}
    for b in boxes:
        columns.setdefault(b.column, []).append(b)
    order = sorted(columns)
    pos: dict[str, tuple[float, float]] = {}
    for ci, col in enumerate(order):
        for ri, b in enumerate(columns[col]):
            pos[b.key] = (pad + ci * (bw + gap_x), pad + ri * (bh + gap_y))
    width = pad * 2 + max(len(order), 1) * (bw + gap_x) - gap_x
    height = pad * 2 + max((len(c) for c in columns.values()), default=1) * (bh + gap_y)
    parts = [
        f'<svg class="graph" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#777"></path></marker></defs>',
    ]
    for src, dst, label in edges:
        if src not in pos or dst not in pos:
            continue
        (ax, ay), (bx, by) = pos[src], pos[dst]
        if ax <= bx:
            x1, y1, x2, y2 = ax + bw, ay + bh / 2, bx, by + bh / 2
        else:
            x1, y1, x2, y2 = ax, ay + bh / 2, bx + bw, by + bh / 2
        mid = (x1 + x2) / 2
        parts.append(
            f'<path d="M {x1:.0f} {y1:.0f} C {mid:.0f} {y1:.0f}, {mid:.0f} {y2:.0f}, '
            f'{x2:.0f} {y2:.0f}" class="edge" marker-end="url(#arrow)">'
            f"<title>{escape(src)} {escape(label)} {escape(dst)}</title></path>"
        )
    for b in boxes:
        x, y = pos[b.key]
        fill = colour_of(b.key) if colour_of else "#eef"
        cls = "node root" if b.root else "node"
        label = escape(b.label if len(b.label) <= 22 else b.label[:21] + "…")
        sub = escape(b.sublabel if len(b.sublabel) <= 30 else b.sublabel[:29] + "…")
        box = (
            f'<g class="{cls}" data-key="{escape(b.key)}"><title>{escape(b.key)}</title>'
            f'<rect x="{x}" y="{y}" width="{bw}" height="{bh}" rx="6" fill="{fill}"></rect>'
            f'<text x="{x + 8}" y="{y + 18}" class="node-label">{label}</text>'
            f'<text x="{x + 8}" y="{y + 34}" class="node-sub">{sub}</text></g>'
        )
        if b.href:
            box = f'<a href="{escape(b.href)}" aria-label="{escape(b.key)}">{box}</a>'
        parts.append(box)
    parts.append("</svg>")
    return Markup("".join(parts))
