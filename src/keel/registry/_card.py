"""Model cards: a version's documentation, built from what the store knows.

A card is assembled once (:func:`build_card`) into plain sections and rendered as Markdown or
as one self-contained HTML page (inline CSS, no scripts, no external resources, every value
escaped), so it opens offline and can be attached to a review.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidArgumentError, KeelError

if TYPE_CHECKING:
    from keel.registry._client import RegistryClient

__all__ = ["Card", "Section", "build_card", "render"]


@dataclass
class Section:
    """A card section: a paragraph, key-value rows, or a table."""

    title: str
    text: str = ""
    rows: list[tuple[str, str]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    table: list[list[str]] = field(default_factory=list)


@dataclass
class Card:
    """A model card: a title, a one-line status and sections."""

    title: str
    subtitle: str
    sections: list[Section]
    generated_at: str


def _when(ms: int | None) -> str:
    if not ms:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return f"{value:.6g}"


def build_card(client: RegistryClient, name: str, version: int) -> Card:
    """Collect a version's facts from the store into a :class:`Card`."""
    repo = client.repo
    model = repo.get_model(name)
    mv = repo.get_version(name, version)
    try:
        manifest = client.read_manifest(mv.manifest_digest)
    except KeelError as exc:
        manifest = None
        manifest_error = exc.message
    else:
        manifest_error = ""
    run = client.store.get_run(mv.run_id)
    experiment = client.store.get_experiment(run.info.experiment_id)
    sections: list[Section] = []

    aliases = ", ".join(mv.aliases) or "none"
    summary = [
        ("Model", name),
        ("Version", str(mv.version)),
        ("Aliases", aliases),
        ("Flavor", f"{mv.flavor} ({mv.serialization})"),
        ("Model class", manifest.model_class if manifest else "-"),
        ("Registered", f"{_when(mv.created_at)} by {mv.created_by}"),
        ("Description", mv.description or model.description or "-"),
        ("Load with", f"keel.load_model('models:/{name}/{mv.version}')"),
    ]
    sections.append(Section("Summary", rows=summary))
    sections.append(
        Section(
            "Intended use",
            text=model.intended_use
            or f"Not stated. Set it with keel.models.update_model({name!r}, intended_use=...).",
        )
    )

    run_rows = [
        ("Run", f"{run.info.name} ({run.id})"),
        ("Experiment", experiment.name),
        ("Started", _when(run.info.start_time)),
        ("Status", str(run.info.status)),
        ("User", run.info.user),
        ("Source", run.info.source or "-"),
        (
            "Git commit",
            (run.info.git_commit or "-") + (" (uncommitted changes)" if run.info.git_dirty else ""),
        ),
        ("Python", run.info.python_version or "-"),
    ]
    sections.append(Section("Training run", rows=run_rows))
    if run.data.params:
        sections.append(
            Section(
                "Parameters",
                header=["param", "value"],
                table=[[k, v] for k, v in sorted(run.data.params.items())],
            )
        )

    edges = client.store.list_lineage_edges(("run", mv.run_id), "upstream")
    data_refs = sorted({e.source_id for e in edges if e.source_kind == "dataset_version"})
    data_rows = []
    for ref in data_refs:
        try:
            from keel.registry._datasets import latest_validation

            summary_v = latest_validation(ref)
        except (KeelError, ImportError):
            summary_v = None
        if summary_v is None:
            data_rows.append([ref, "never validated", "-", "-"])
        else:
            data_rows.append(
                [
                    ref,
                    "passed" if summary_v.passed else "FAILED",
                    summary_v.suite,
                    _when(summary_v.created_at)
                    + (
                        f"; failed: {', '.join(summary_v.failed_checks)}"
                        if summary_v.failed_checks
                        else ""
                    ),
                ]
            )
    sections.append(
        Section(
            "Training data",
            text="" if data_rows else "The training run records no dataset inputs.",
            header=["dataset version", "validation", "suite", "validated"] if data_rows else [],
            table=data_rows,
        )
    )

    if mv.metrics:
        sections.append(
            Section(
                "Metrics",
                header=["metric", "value", "source"],
                table=[
                    [k, _num(v), mv.metric_sources.get(k, "")]
                    for k, v in sorted(mv.metrics.items())
                ],
            )
        )
    if mv.signature:
        from keel.registry._signature import ModelSignature

        sig = ModelSignature.from_dict(mv.signature)
        rows = [["input", n, t] for n, t in sig.inputs.describe()]
        if sig.outputs is not None:
            rows += [["output", n, t] for n, t in sig.outputs.describe()]
        sections.append(Section("Signature", header=["", "name", "type"], table=rows))

    results = repo.list_gate_results(name, mv.version)
    latest: dict[tuple[str, str], Any] = {}
    for r in results:  # newest first: keep the newest result of each gate and alias
        latest.setdefault((r.gate_name, r.alias), r)
    gates = repo.list_gates(name)
    gate_rows = [
        [
            r.gate_name,
            r.alias,
            "passed" if r.passed else "FAILED",
            r.reason,
            _when(r.evaluated_at),
        ]
        for r in latest.values()
    ]
    sections.append(
        Section(
            "Promotion gates",
            text=(
                f"Gates on this model: {', '.join(g.name for g in gates)}."
                if gates
                else "This model has no promotion gates."
            )
            + ("" if gate_rows else " No gate has been evaluated on this version yet."),
            header=["gate", "alias", "result", "why", "evaluated"] if gate_rows else [],
            table=gate_rows,
        )
    )
    approvals = repo.list_approvals(name, mv.version)
    sections.append(
        Section(
            "Approvals",
            text="" if approvals else "No approvals.",
            header=["approver", "role", "when", "comment"] if approvals else [],
            table=[[a.approver, a.role, _when(a.created_at), a.comment] for a in approvals],
        )
    )
    promotions = repo.list_promotions(name, mv.version)
    if promotions:
        sections.append(
            Section(
                "Promotions",
                header=["when", "alias", "outcome", "by", "replaced", "why"],
                table=[
                    [
                        _when(p.created_at),
                        p.alias,
                        p.outcome + (f" ({', '.join(p.failed_gates)})" if p.failed_gates else ""),
                        p.actor,
                        "-" if p.previous_version is None else f"v{p.previous_version}",
                        p.reason or "-",
                    ]
                    for p in promotions
                ],
            )
        )
    node = ("model_version", f"{name}/{mv.version}")
    lineage = [
        [f"{e.source_kind}:{e.source_id}", e.relation, f"{e.target_kind}:{e.target_id}"]
        for e in ([*edges, *client.store.list_lineage_edges(node, "both")])
    ]
    sections.append(Section("Lineage", header=["from", "relation", "to"], table=lineage))
    if manifest is not None:
        sections.append(
            Section(
                "Libraries",
                header=["library", "version"],
                table=[[k, v] for k, v in sorted(manifest.libraries.items())],
            )
        )
        files = [[p, f["digest"], str(f["size"])] for p, f in sorted(manifest.files.items())]
        files.append(["keel-model.json (manifest)", mv.manifest_digest, "-"])
        sections.append(Section("Files", header=["file", "sha256", "bytes"], table=files))
    else:
        sections.append(Section("Files", text=f"The manifest could not be read: {manifest_error}"))
    status = f"{mv.flavor} model, version {mv.version}" + (
        f", aliases: {aliases}" if mv.aliases else ""
    )
    return Card(
        title=f"Model card: {name} v{mv.version}",
        subtitle=status,
        sections=sections,
        generated_at=_when(int(dt.datetime.now(tz=dt.UTC).timestamp() * 1000)),
    )


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(card: Card) -> str:
    """Render a card as Markdown."""
    out = [f"# {card.title}", "", f"_{card.subtitle}_", ""]
    for s in card.sections:
        out += [f"## {s.title}", ""]
        if s.text:
            out += [s.text, ""]
        if s.rows:
            out += ["| | |", "| --- | --- |"]
            out += [f"| **{_md_cell(k)}** | {_md_cell(v)} |" for k, v in s.rows]
            out.append("")
        if s.table:
            out.append("| " + " | ".join(_md_cell(h) or " " for h in s.header) + " |")
            out.append("|" + " --- |" * len(s.header))
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in s.table]
            out.append("")
    out.append(f"_Generated by Keel from its metadata store at {card.generated_at}._")
    return "\n".join(out) + "\n"


_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;
max-width:980px;padding:0 1rem;color:#1d2433}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;
border-bottom:1px solid #dde2ea;padding-bottom:.2rem}.sub{color:#5b6577;margin-top:0}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{text-align:left;
padding:.35rem .6rem;border-bottom:1px solid #eef1f5;vertical-align:top;word-break:break-word}
th{background:#f6f8fb;font-weight:600}td.k{font-weight:600;width:12rem}
.passed{color:#1a7f37;font-weight:600}.failed{color:#cf222e;font-weight:600}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em}
footer{margin-top:2.5rem;color:#7a8394;font-size:.85rem}
"""


def _cell(text: str) -> str:
    escaped = html.escape(text)
    if text == "passed" or text.startswith("passed"):
        return f'<span class="passed">{escaped}</span>'
    if text.startswith("FAILED") or text.startswith("refused"):
        return f'<span class="failed">{escaped}</span>'
    if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
        return f'<span class="mono">{escaped}</span>'
    return escaped


def to_html(card: Card) -> str:
    """Render a card as one self-contained HTML page (no scripts, no external resources)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(card.title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(card.title)}</h1>",
        f'<p class="sub">{html.escape(card.subtitle)}</p>',
    ]
    for s in card.sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        if s.text:
            parts.append(f"<p>{html.escape(s.text)}</p>")
        if s.rows:
            parts.append("<table>")
            parts += [
                f'<tr><td class="k">{html.escape(k)}</td><td>{_cell(v)}</td></tr>'
                for k, v in s.rows
            ]
            parts.append("</table>")
        if s.table:
            parts.append("<table><tr>")
            parts += [f"<th>{html.escape(h)}</th>" for h in s.header]
            parts.append("</tr>")
            for row in s.table:
                parts.append("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>")
            parts.append("</table>")
    parts.append(
        f"<footer>Generated by Keel from its metadata store at "
        f"{html.escape(card.generated_at)}.</footer></body></html>"
    )
    return "\n".join(parts) + "\n"


def render(card: Card, format: str) -> str:
    """Render a card as ``md`` or ``html``.

    Raises:
        InvalidArgumentError: Another format was asked for.
    """
    if format in ("md", "markdown"):
        return to_markdown(card)
    if format == "html":
        return to_html(card)
    raise InvalidArgumentError(
        f"Model cards are written as 'md' or 'html', not {format!r}. Pick one of those."
    )
