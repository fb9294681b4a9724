"""The evaluation report: one self-contained HTML page (inline CSS and SVG, no network)."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keel.llm._evaluate import EvaluationResult

__all__ = ["evaluation_html"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #d9e2ec;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f0f4f8}.err{background:#ffe3e3}.better{color:#127a3e}.worse{color:#b42318}
td.text{max-width:32rem;white-space:pre-wrap;word-break:break-word}
"""


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _chart(scores: dict[str, Any], previous: dict[str, Any] | None, quality: set[str]) -> str:
    """Horizontal bars of the 0..1 quality scores, this evaluation over the previous one."""
    items = [
        (k, v) for k, v in scores.items() if k in quality and isinstance(v, float) and 0 <= v <= 1
    ]
    if not items:
        return ""
    bar_w, row_h, label_w = 320, 30, 170
    height = row_h * len(items) + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 80}" '
        f'height="{height}" role="img" aria-label="mean scores">'
    ]
    for i, (name, value) in enumerate(items):
        y = 10 + i * row_h
        parts.append(
            f'<text x="0" y="{y + 14}" font-size="12">{html.escape(name)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{bar_w * value:.1f}" height="12" '
            f'fill="#2f80ed"><title>{value:.4g}</title></rect>'
            f'<text x="{label_w + bar_w * value + 4:.1f}" y="{y + 11}" font-size="11">'
            f"{value:.3g}</text>"
        )
        old = (previous or {}).get(name)
        if isinstance(old, float) and 0 <= old <= 1:
            parts.append(
                f'<rect x="{label_w}" y="{y + 14}" width="{bar_w * old:.1f}" height="8" '
                f'fill="#9aa5b1"><title>previous {old:.4g}</title></rect>'
            )
    parts.append("</svg>")
    return "".join(parts)


def evaluation_html(result: EvaluationResult, previous: EvaluationResult | None) -> str:
    """Return the report of ``result``, compared with ``previous`` when given."""
    r = result.record
    summary = result.summary
    prev_scores = previous.scores if previous is not None else None
    title = f"Evaluation {r.id[:8]} — {result.prompt or r.target}"
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<table>",
        *(
            f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in (
                ("prompt", result.prompt or "–"),
                ("target", r.target),
                ("data", r.data_ref),
                ("run", r.run_id or "–"),
                ("rows", r.num_rows),
                ("errors", f"{r.num_errors} ({summary.get('error_rate', 0):.1%})"),
                ("cached calls", summary.get("num_cached", 0)),
                (
                    "latency p50 / p95 (ms)",
                    f"{_num(summary['latency_ms']['p50'])} / {_num(summary['latency_ms']['p95'])}",
                ),
            )
        ),
        "</table>",
        "<h2>Scores</h2>",
    ]
    directions = {str(s.get("name")): bool(s.get("higher_is_better", True)) for s in r.scorers}
    out.append(_chart(result.scores, prev_scores, {k for k, v in directions.items() if v}))
    head = "<tr><th>scorer</th><th>mean</th>"
    if previous is not None:
        head += f"<th>previous ({html.escape(previous.prompt or '')}, {previous.id[:8]})</th>"
        head += "<th>change</th>"
    out += ["<table>", head + "</tr>"]
    for name, value in result.scores.items():
        cells = f"<td>{html.escape(name)}</td><td>{_num(value)}</td>"
        if previous is not None:
            old = (prev_scores or {}).get(name)
            cells += f"<td>{_num(old)}</td>"
            if isinstance(value, float) and isinstance(old, float):
                delta = value - old
                good = delta >= 0 if directions.get(name, True) else delta <= 0
                css = "better" if good else "worse"
                cells += f'<td class="{css}">{delta:+.4g}</td>'
            else:
                cells += "<td>–</td>"
        out.append(f"<tr>{cells}</tr>")
    out.append("</table>")
    if previous is None:
        out.append("<p>No earlier evaluation of this prompt to compare with.</p>")
    rows = result.rows
    score_cols = [n for n in result.scores if n in rows.columns]
    out += ["<h2>Rows</h2><table><tr><th>#</th><th>input</th><th>output</th><th>reference</th>"]
    out.append("".join(f"<th>{html.escape(c)}</th>" for c in score_cols) + "<th>error</th></tr>")
    for rec in rows.to_dict(orient="records"):
        error = rec.get("error")
        css = ' class="err"' if isinstance(error, str) and error else ""
        row_cells: list[str] = [
            _num(rec.get("row")),
            f'<span class="text">{html.escape(str(rec.get("prompt_input", ""))[:600])}</span>',
            html.escape(str(rec.get("output") or "")[:600]),
            html.escape(_text(rec.get("reference"))),
            *(_num(_plain(rec.get(c))) for c in score_cols),
            html.escape(str(error or "")),
        ]
        out.append(
            f"<tr{css}>" + "".join(f'<td class="text">{c}</td>' for c in row_cells) + "</tr>"
        )
    out.append("</table></body></html>")
    return "\n".join(out)


def _text(value: Any) -> str:
    value = _plain(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _plain(value: Any) -> Any:
    try:
        import pandas as pd

        if value is pd.NA:
            return None
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    return value
