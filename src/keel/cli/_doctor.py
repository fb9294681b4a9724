"""``keel doctor``: check the store's consistency and repair what is safe to repair."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from keel.cli._output import console, fmt_time


def doctor(
    fix: Annotated[bool, typer.Option("--fix", help="Repair what can be repaired safely.")] = False,
    quick: Annotated[
        bool, typer.Option("--quick", help="Check that blobs exist without re-hashing them.")
    ] = False,
) -> None:
    """Check the store: database integrity, dead RUNNING runs, missing or damaged artifacts."""
    from keel.tracking import get_client, run_doctor

    client = get_client()
    report = run_doctor(client, fix=fix, verify_digests=not quick)
    console.print(f"Store: {client.settings.store_uri}")
    console.print(f"Artifacts: {client.settings.artifact_uri}")
    mark = "[green]ok[/]" if report.database_ok else f"[red]{report.database_message}[/]"
    console.print(f"Database integrity: {mark}")
    if not report.database_ok:
        raise typer.Exit(1)
    if report.dead_runs:
        t = Table(title="Runs left RUNNING by processes that no longer exist")
        for col in ("run id", "name", "started", "host", "pid"):
            t.add_column(col)
        for r in report.dead_runs:
            t.add_row(r.id, r.name, fmt_time(r.start_time), r.hostname or "-", str(r.pid))
        console.print(t)
    else:
        console.print("Dead runs: [green]none[/]")
    if report.unknown_runs:
        console.print(
            f"[dim]{len(report.unknown_runs)} RUNNING run(s) belong to other hosts or live "
            "processes; left alone.[/]"
        )
    if report.blob_problems:
        t = Table(title="Artifact problems")
        for col in ("blob", "problem", "used by (run / path)"):
            t.add_column(col)
        for p in report.blob_problems:
            uses = ", ".join(f"{r[:8]}/{path}" for r, path in p.references[:3])
            more = f" (+{len(p.references) - 3})" if len(p.references) > 3 else ""
            t.add_row(p.digest[:16], p.kind, uses + more)
        console.print(t)
    else:
        console.print(f"Artifacts: [green]{report.blobs_checked} referenced blob(s) ok[/]")
    for line in report.fixed:
        console.print(f"[green]fixed:[/] {line}")
    if not report.ok:
        if not fix and report.dead_runs:
            console.print("Run 'keel doctor --fix' to mark dead runs KILLED.")
        raise typer.Exit(1)
