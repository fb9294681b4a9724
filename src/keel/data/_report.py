"""The HTML report of a validation: one self-contained file, charts drawn as inline SVG.

The report loads nothing from the network (no scripts, fonts or stylesheets from a CDN), so it
opens offline and can be attached to a ticket or archived as an artifact.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import TYPE_CHECKING, Any

from keel._version import __version__

if TYPE_CHECKING:
    from keel.data._profile import ColumnProfile, Profile
    from keel.data._results import CheckResult, ValidationResult

__all__ = ["render_report"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f6f7f9;
color:#1d232b}
header{background:#1d232b;color:#fff;padding:20px 32px}
header h1{margin:0 0 6px;font-size:22px}
header .meta{color:#b8c0cc;font-size:13px}
main{padding:20px 32px;max-width:1300px}
.badge{display:inline-block;padding:3px 10px;border-radius:12px;font-weight:600;font-size:13px}
.pass{background:#d8f3dc;color:#1b5e20}.fail{background:#ffd9d6;color:#9b1c1c}
.warn{background:#fff1c2;color:#7a5200}
.cards{display:flex;gap:12px;margin:16px 0}
.card{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 2px #0001;
min-width:120px}
.card .n{font-size:22px;font-weight:700}.card .l{font-size:12px;color:#5b6573}
table{border-collapse:collapse;width:100%;background:#fff;border-radius:8px;overflow:hidden;
box-shadow:0 1px 2px #0001;font-size:13px}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid #eceef1;vertical-align:top}
th{background:#fafbfc;color:#5b6573;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;background:#f0f2f5;
padding:1px 4px;border-radius:3px}
h2{font-size:17px;margin:28px 0 10px}
.cols{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:14px}
.col{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px #0001;
border-left:4px solid #d0d5dc}
.col.bad{border-left-color:#d93025}.col.ok{border-left-color:#2e7d32}
.col h3{margin:0 0 4px;font-size:15px}.col .t{color:#5b6573;font-size:12px}
.stats{display:grid;grid-template-columns:repeat(4,1fr);gap:4px 10px;font-size:12px;margin:8px 0}
.stats span{color:#5b6573}
.checks{font-size:12px;margin:6px 0 0;padding-left:16px}
footer{color:#8a94a3;font-size:12px;padding:20px 32px}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _histogram_svg(col: ColumnProfile, bad: bool) -> str:
    hist = col.histogram
    if not hist or not hist.get("counts"):
        return ""
    counts = [int(c) for c in hist["counts"]]
    edges = hist["edges"]
    w, h, pad = 340, 110, 18
    top = max(counts) or 1
    n = len(counts)
    bw = (w - 2) / n
    color = "#e06c5c" if bad else "#5b8def"
    bars = []
    for i, c in enumerate(counts):
        bh = (h - pad - 4) * c / top
        lo = edges[i] if i < len(edges) else edges[-1]
        hi = edges[i + 1] if i + 1 < len(edges) else edges[-1]
        label = f"{_edge(col, lo)} to {_edge(col, hi)}: {c:,} rows"
        bars.append(
            f'<rect x="{1 + i * bw:.1f}" y="{h - pad - bh:.1f}" width="{max(bw - 1, 1):.1f}" '
            f'height="{bh:.1f}" fill="{color}"><title>{_e(label)}</title></rect>'
        )
    axis = (
        f'<text x="1" y="{h - 4}" font-size="10" fill="#5b6573">{_e(_edge(col, edges[0]))}</text>'
        f'<text x="{w - 1}" y="{h - 4}" font-size="10" fill="#5b6573" text-anchor="end">'
        f"{_e(_edge(col, edges[-1]))}</text>"
    )
    return (
        f'<svg role="img" aria-label="histogram of {_e(col.name)}" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg">{"".join(bars)}{axis}</svg>'
    )


def _edge(col: ColumnProfile, value: float) -> str:
    if col.histogram_of == "length":
        return f"{value:.0f} chars"
    if col.type in ("date", "timestamp", "timestamp_tz"):
        stamp = dt.datetime.fromtimestamp(value, tz=dt.UTC)
        return stamp.strftime("%Y-%m-%d" if col.type == "date" else "%Y-%m-%d %H:%M")
    return _num(float(value))


def _top_svg(col: ColumnProfile, bad_values: set[str]) -> str:
    top = col.top_values[:8]
    if not top:
        return ""
    w, row_h = 340, 16
    h = row_h * len(top) + 4
    most = max(int(c) for _, c in top) or 1
    parts = []
    for i, (value, count) in enumerate(top):
        y = 2 + i * row_h
        bw = 160 * int(count) / most
        is_bad = str(value) in bad_values
        fill = "#e06c5c" if is_bad else "#5b8def"
        label = "NULL" if value is None else str(value)
        parts.append(
            f'<text x="0" y="{y + 11}" font-size="11" fill="#1d232b">{_e(label[:18])}</text>'
            f'<rect x="120" y="{y + 2}" width="{bw:.1f}" height="{row_h - 5}" fill="{fill}">'
            f"<title>{_e(label)}: {int(count):,} rows</title></rect>"
            f'<text x="{124 + bw:.1f}" y="{y + 11}" font-size="10" fill="#5b6573">'
            f"{int(count):,}</text>"
        )
    return (
        f'<svg role="img" aria-label="top values of {_e(col.name)}" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )


def _status(c: CheckResult) -> str:
    if c.passed:
        return '<span class="badge pass">pass</span>'
    if c.severity == "error":
        return '<span class="badge fail">fail</span>'
    return '<span class="badge warn">warn</span>'


def _samples(c: CheckResult) -> str:
    parts = [f"<code>{_e(f'{s:.6g}' if isinstance(s, float) else s)}</code>" for s in c.samples[:5]]
    if not parts and c.sample_rows:
        parts = [f"row {r:,}" for r in c.sample_rows[:5]]
    return " ".join(parts)


def _column_card(col: ColumnProfile, checks: list[CheckResult]) -> str:
    failed = [c for c in checks if not c.passed]
    cls = "bad" if failed else ("ok" if checks else "")
    bad_values = {str(s) for c in failed for s in c.samples}
    chart = _histogram_svg(col, bool(failed)) or _top_svg(col, bad_values)
    if not chart:
        chart = (
            '<svg role="img" aria-label="no values" width="340" height="24" '
            'xmlns="http://www.w3.org/2000/svg"><text x="0" y="16" font-size="12" '
            'fill="#8a94a3">no values to chart</text></svg>'
        )
    stats = [
        ("nulls", f"{col.nulls:,} ({col.null_fraction:.1%})"),
        ("distinct", _num(col.distinct)),
        ("min", _num(col.min)),
        ("max", _num(col.max)),
    ]
    if col.mean is not None:
        stats += [("mean", _num(col.mean)), ("std", _num(col.std))]
    if col.quantiles:
        stats += [("median", _num(col.quantiles.get("p50")))]
    if col.mean_length is not None:
        stats += [("length", f"{col.min_length}-{col.max_length}")]
    if col.nans:
        stats += [("NaN", f"{col.nans:,}")]
    stat_html = "".join(f"<div><span>{_e(k)}</span><br>{_e(v)}</div>" for k, v in stats)
    check_html = "".join(f"<li>{_status(c)} {_e(c.name)}: {_e(c.message)}</li>" for c in checks)
    return (
        f'<div class="col {cls}"><h3>{_e(col.name)}</h3><div class="t">{_e(col.type)}</div>'
        f'<div class="stats">{stat_html}</div>{chart}'
        + (f'<ul class="checks">{check_html}</ul>' if checks else "")
        + "</div>"
    )


def render_report(result: ValidationResult, *, profile: Profile | None = None) -> str:
    """Render a validation result as one self-contained HTML page.

    Args:
        result: The validation result.
        profile: The dataset's profile, for a chart per column; for a registered version it is
            loaded (or computed once and stored) when not given.

    Returns:
        The HTML text.
    """
    if profile is None and result.dataset_version is not None:
        from keel.data._versions import get

        profile = get(result.dataset_version).profile
    verdict = (
        '<span class="badge pass">PASSED</span>'
        if result.passed
        else '<span class="badge fail">FAILED</span>'
    )
    when = dt.datetime.fromtimestamp(result.created_at / 1000, tz=dt.UTC).strftime(
        "%Y-%m-%d %H:%M:%S UTC"
    )
    suite = result.suite_name + (
        f" v{result.suite_version}" if result.suite_version is not None else ""
    )
    n_fail, n_warn = len(result.failures), len(result.warnings)
    cards = [
        (f"{result.num_rows:,}", "rows"),
        (str(len(result.checks)), "checks"),
        (str(len(result.checks) - n_fail - n_warn), "passed"),
        (str(n_fail), "failed"),
        (str(n_warn), "warnings"),
    ]
    card_html = "".join(
        f'<div class="card"><div class="n">{_e(n)}</div><div class="l">{_e(label)}</div></div>'
        for n, label in cards
    )
    rows = []
    for c in sorted(result.checks, key=lambda c: (c.passed, c.severity != "error")):
        pct = f"{c.bad_fraction:.2%}" if c.bad_fraction is not None else ""
        rows.append(
            f"<tr><td>{_status(c)}</td><td>{_e(c.name)}</td><td>{_e(c.column or '')}</td>"
            f'<td class="num">{_e(_num(c.bad_rows))}</td><td class="num">{_e(pct)}</td>'
            f"<td>{_samples(c)}</td><td>{_e(c.message)}</td></tr>"
        )
    table = (
        "<table><thead><tr><th></th><th>check</th><th>column</th><th>bad rows</th><th>share</th>"
        "<th>sample</th><th>detail</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )
    columns_html = ""
    if profile is not None:
        by_col: dict[str, list[CheckResult]] = {}
        for c in result.checks:
            if c.column:
                by_col.setdefault(c.column, []).append(c)
        cards_cols = [_column_card(col, by_col.get(col.name, [])) for col in profile.columns]
        columns_html = f'<h2>Columns</h2><div class="cols">{"".join(cards_cols)}</div>'
    else:
        columns_html = (
            "<h2>Columns</h2><p>No profile was given, so there are no column charts. Pass "
            "<code>profile=keel.data.profile(...)</code> to include them.</p>"
        )
    title = f"{result.suite_name} on {result.dataset}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<title>{_e(title)}</title><meta name="viewport" content="width=device-width">'
        f"<style>{_CSS}</style></head><body>"
        f'<header><h1>{_e(title)} {verdict}</h1><div class="meta">suite {_e(suite)} '
        f"(digest {_e(result.suite_digest[:12])}) &middot; {_e(when)} &middot; "
        f"{result.duration_s:.2f}s"
        + (f" &middot; id {_e(result.id)}" if result.id else "")
        + f'</div></header><main><div class="cards">{card_html}</div>'
        f"<h2>Checks</h2>{table}{columns_html}</main>"
        f"<footer>Generated by Keel {_e(__version__)}. This file is self-contained and works "
        "offline.</footer></body></html>\n"
    )
