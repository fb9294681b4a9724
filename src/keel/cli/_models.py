"""``keel models``: list, inspect, gate, approve, promote and document registered models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from keel.cli._output import console, fmt_time, fmt_value

if TYPE_CHECKING:
    from keel.store._registry import GateResultRecord

app = typer.Typer(
    help="Registered models: versions, aliases, gates, approvals, promotions, model cards.",
    no_args_is_help=True,
)


def _result_style(passed: bool) -> str:
    return "[green]passed[/]" if passed else "[red]FAILED[/]"


def _results_table(title: str, results: list[GateResultRecord]) -> Table:
    table = Table(title=title)
    table.add_column("gate", style="bold")
    table.add_column("alias")
    table.add_column("result")
    table.add_column("why")
    table.add_column("evaluated")
    for r in results:
        table.add_row(
            r.gate_name, r.alias, _result_style(r.passed), r.reason, fmt_time(r.evaluated_at)
        )
    return table


@app.command("ls")
def list_models(
    name_like: Annotated[
        str | None, typer.Option("--filter", "-f", help="Only names containing this text.")
    ] = None,
) -> None:
    """List registered models with their latest version and aliases."""
    from keel.registry import models

    found = models.list_models(name_like)
    table = Table(title="Registered models")
    table.add_column("name", style="bold")
    table.add_column("versions", justify="right")
    table.add_column("aliases")
    table.add_column("updated")
    table.add_column("description")
    for m in found:
        aliases = ", ".join(f"{a}=v{v}" for a, v in m.aliases.items()) or "-"
        table.add_row(
            m.name, str(m.latest_version), aliases, fmt_time(m.updated_at), m.description or "-"
        )
    console.print(table)
    if not found:
        console.print(
            "[dim]No models yet. Register one with "
            "keel.log_model(model, 'model', registered_name='NAME').[/]"
        )


@app.command("show")
def show_model(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[int | None, typer.Argument(help="A version to show in detail.")] = None,
) -> None:
    """Show a model (versions, aliases, gates, promotions) or one version in detail."""
    from keel.registry import models

    if version is not None:
        _show_version(name, version)
        return
    m = models.get_model(name)
    info = Table(title=f"Model {m.name}", show_header=False)
    info.add_column("field", style="bold")
    info.add_column("value")
    for field, value in [
        ("description", m.description or "-"),
        ("intended use", m.intended_use or "-"),
        ("aliases", ", ".join(f"{a} -> v{v}" for a, v in m.aliases.items()) or "-"),
        ("created", f"{fmt_time(m.created_at)} by {m.created_by}"),
        ("holdout", "recorded" if m.holdout else "-"),
    ]:
        info.add_row(field, value)
    console.print(info)
    versions = models.list_versions(name)
    keys = sorted({k for v in versions for k in v.metrics})[:6]
    table = Table(title="Versions")
    table.add_column("version", justify="right", style="bold")
    table.add_column("aliases")
    table.add_column("flavor")
    table.add_column("run")
    table.add_column("created")
    for k in keys:
        table.add_column(k, justify="right")
    for v in versions:
        table.add_row(
            str(v.version),
            ", ".join(v.aliases) or "-",
            f"{v.flavor} ({v.serialization})",
            v.run_id[:8],
            fmt_time(v.created_at),
            *[fmt_value(v.metrics.get(k)) for k in keys],
        )
    console.print(table)
    gates = models.list_gates(name)
    if gates:
        t = Table(title="Promotion gates")
        t.add_column("gate", style="bold")
        t.add_column("applies to")
        t.add_column("spec")
        for g in gates:
            t.add_row(g.name, g.alias or "every alias", _spec_text(g.spec))
        console.print(t)
        for v in versions[:1]:
            results = _latest_results(models.gate_results(name, v.version))
            if results:
                console.print(_results_table(f"Latest gate results of v{v.version}", results))
    history = models.alias_history(name)[-10:]
    if history:
        t = Table(title="Alias moves (latest 10)")
        for col in ("when", "alias", "from", "to", "action", "by", "why"):
            t.add_column(col)
        for h in history:
            t.add_row(
                fmt_time(h.created_at),
                h.alias,
                "-" if h.old_version is None else f"v{h.old_version}",
                "deleted" if h.new_version is None else f"v{h.new_version}",
                h.action,
                h.actor,
                h.reason or "-",
            )
        console.print(t)
    if versions:
        console.print(
            f"[dim]Signature, metrics, approvals and lineage of one version: "
            f"keel models show {name} {versions[0].version}[/]"
        )
    promotions = models.list_promotions(name)[:10]
    if promotions:
        t = Table(title="Promotions (latest 10)")
        for col in ("when", "version", "to", "outcome", "by", "why"):
            t.add_column(col)
        for p in promotions:
            outcome = (
                "[green]promoted[/]"
                if p.outcome == "promoted"
                else f"[red]refused[/] ({', '.join(p.failed_gates)})"
            )
            t.add_row(
                fmt_time(p.created_at), f"v{p.version}", p.alias, outcome, p.actor, p.reason or "-"
            )
        console.print(t)


def _spec_text(spec: dict[str, object]) -> str:
    return ", ".join(
        f"{k}={v!r}" for k, v in spec.items() if v not in (None, [], "") and k != "holdout"
    ) + (", holdout given" if spec.get("holdout") else "")


def _latest_results(results: list[GateResultRecord]) -> list[GateResultRecord]:
    seen: dict[tuple[str, str], GateResultRecord] = {}
    for r in results:  # newest first
        seen.setdefault((r.gate_name, r.alias), r)
    return list(seen.values())


def _compiled_row(flavor: str, manifest_digest: str) -> list[tuple[str, str]]:
    """The ``compiled`` row of a scikit-learn version: its NumPy form, or why it has none."""
    if flavor != "sklearn":
        return []
    from keel.registry import RegistryClient

    options = RegistryClient().read_manifest(manifest_digest).options
    spec = options.get("compiled")
    if isinstance(spec, dict):
        return [("compiled", f"yes: loads with NumPy only ({spec.get('kind')})")]
    return [("compiled", str(options.get("compiled_note") or "no"))]


def _show_version(name: str, version: int) -> None:
    from keel.registry import models
    from keel.registry._signature import ModelSignature
    from keel.tracking import get_client

    v = models.get_version(name, version)
    info = Table(title=f"{name} version {v.version}", show_header=False)
    info.add_column("field", style="bold")
    info.add_column("value")
    for field, value in [
        ("aliases", ", ".join(v.aliases) or "-"),
        ("flavor", f"{v.flavor} ({v.serialization})"),
        ("run", v.run_id),
        ("artifact path", v.artifact_path),
        ("created", f"{fmt_time(v.created_at)} by {v.created_by}"),
        ("description", v.description or "-"),
        ("manifest sha256", v.manifest_digest),
        *_compiled_row(v.flavor, v.manifest_digest),
        ("load with", f"keel.load_model('models:/{name}/{v.version}')"),
    ]:
        info.add_row(field, value)
    console.print(info)
    if v.metrics:
        t = Table(title="Metrics")
        t.add_column("metric", style="bold")
        t.add_column("value", justify="right")
        t.add_column("source")
        for k in sorted(v.metrics):
            t.add_row(k, fmt_value(v.metrics[k]), v.metric_sources.get(k, ""))
        console.print(t)
    if v.signature:
        sig = ModelSignature.from_dict(v.signature)
        t = Table(title="Signature")
        t.add_column("")
        t.add_column("name", style="bold")
        t.add_column("type")
        for n, typ in sig.inputs.describe():
            t.add_row("input", n, typ)
        if sig.outputs is not None:
            for n, typ in sig.outputs.describe():
                t.add_row("output", n, typ)
        console.print(t)
    results = _latest_results(models.gate_results(name, v.version))
    if results:
        console.print(_results_table("Latest gate results", results))
    approvals = models.list_approvals(name, v.version)
    if approvals:
        t = Table(title="Approvals")
        for col in ("approver", "role", "when", "comment"):
            t.add_column(col)
        for a in approvals:
            t.add_row(a.approver, a.role, fmt_time(a.created_at), a.comment or "-")
        console.print(t)
    store = get_client().store
    edges = store.list_lineage_edges(("run", v.run_id), "upstream") + store.list_lineage_edges(
        ("model_version", f"{name}/{v.version}"), "both"
    )
    if edges:
        t = Table(title="Lineage")
        for col in ("from", "relation", "to"):
            t.add_column(col)
        for e in edges:
            t.add_row(
                f"{e.source_kind}:{e.source_id}", e.relation, f"{e.target_kind}:{e.target_id}"
            )
        console.print(t)


@app.command("alias")
def set_alias(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    alias: Annotated[str, typer.Argument(help="Alias to set, such as 'challenger'.")],
    version: Annotated[int, typer.Argument(help="Version to point it at.")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (audited).")] = "",
) -> None:
    """Point an alias at a version without running gates (use promote to run them)."""
    from keel.registry import models

    move = models.set_alias(name, alias, version, reason=reason)
    before = "nothing" if move.old_version is None else f"v{move.old_version}"
    console.print(f"{name}@{alias}: {before} -> [bold green]v{version}[/]")


@app.command("check")
def check_gates(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[int, typer.Argument(help="Version to check.")],
    to: Annotated[str, typer.Option("--to", help="Alias it would be promoted to.")] = "champion",
) -> None:
    """Evaluate the gates for a promotion without moving anything (results are recorded)."""
    from keel.registry import models

    results = models.check_gates(name, version, to=to)
    if not results:
        console.print(f"{name!r} has no gates that apply to {to!r}: a promotion would pass.")
        return
    console.print(_results_table(f"Gates for {name} v{version} -> {to}", results))
    failed = sum(not r.passed for r in results)
    if failed:
        console.print(f"[red]{failed} of {len(results)} gate(s) would fail.[/]")
        raise typer.Exit(1)
    console.print(f"[green]All {len(results)} gate(s) pass.[/]")


@app.command("promote")
def promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[int, typer.Argument(help="Version to promote.")],
    to: Annotated[str, typer.Option("--to", help="Alias to move, such as 'champion'.")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (recorded).")] = "",
) -> None:
    """Run every gate and move the alias to the version if all pass."""
    from keel.errors import ValidationFailedError
    from keel.registry import models

    try:
        record = models.promote(name, version, to=to, reason=reason)
    except ValidationFailedError as exc:
        promotion_id = exc.details.get("promotion_id")
        results = [r for r in models.gate_results(name, version) if r.promotion_id == promotion_id]
        console.print(_results_table(f"Gates for {name} v{version} -> {to}", results))
        raise
    before = "nothing" if record.previous_version is None else f"v{record.previous_version}"
    console.print(
        f"[bold green]Promoted[/] {name} v{version} to {to!r} (was {before}); "
        f"recorded as promotion {record.id[:8]} by {record.actor}."
    )


@app.command("approve")
def approve(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[int, typer.Argument(help="Version to approve.")],
    role: Annotated[str, typer.Option("--role", help="Role you approve in.")] = "approver",
    comment: Annotated[str, typer.Option("--comment", "-m", help="Why you approve.")] = "",
) -> None:
    """Approve a version as the current user, in a role."""
    from keel.registry import models

    a = models.approve(name, version, role=role, comment=comment)
    console.print(f"Approved {name} v{version} as {a.approver!r} in role {a.role!r}.")


@app.command("card")
def card(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[int, typer.Argument(help="Version to document.")],
    format: Annotated[str, typer.Option("--format", help="'html' or 'md'.")] = "md",
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="File to write (md prints otherwise).")
    ] = None,
) -> None:
    """Write a model card (Markdown, or offline HTML) from what the store knows."""
    from keel.registry import models

    if output is None and format in ("md", "markdown"):
        typer.echo(models.model_card(name, version, format="md"), nl=False)
        return
    path = models.write_card(name, version, output, format=format)
    console.print(f"Model card written to [cyan]{path}[/]")
