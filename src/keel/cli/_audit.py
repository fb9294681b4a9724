"""``keel audit``: search the audit log and verify its hash chain."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from keel.cli._output import console, fmt_time

app = typer.Typer(
    help="Audit log: who changed what, and whether the record is intact.", no_args_is_help=True
)


@app.command("log")
def log(
    since: Annotated[
        str, typer.Option("--since", help="'30m', '12h', '1d', '2w' or an ISO date.")
    ] = "1d",
    actor: Annotated[str | None, typer.Option("--actor", help="Only this user.")] = None,
    action: Annotated[
        str | None,
        typer.Option("--action", help="An action or family: 'model_version.create', 'run'."),
    ] = None,
    resource: Annotated[
        str | None,
        typer.Option("--resource", help="'kind' or 'kind:id', e.g. 'model_version:churn/4'."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Most events.")] = 100,
    format: Annotated[str, typer.Option("--format", help="'table' or 'json'.")] = "table",
) -> None:
    """List audit events, oldest first (the newest --limit that match)."""
    from keel.client._governance import audit_log
    from keel.errors import InvalidArgumentError

    if format not in ("table", "json"):
        raise InvalidArgumentError(f"--format must be 'table' or 'json', got {format!r}.")
    events = audit_log(since, actor=actor, action=action, resource=resource, limit=limit)
    if format == "json":
        typer.echo(
            json.dumps(
                [
                    {
                        "id": e.id,
                        "timestamp": e.timestamp,
                        "actor": e.actor,
                        "action": e.action,
                        "resource_kind": e.resource_kind,
                        "resource_id": e.resource_id,
                        "details": e.details,
                        "hash": e.hash,
                    }
                    for e in events
                ],
                indent=2,
                default=str,
            )
        )
        return
    table = Table(title=f"Audit events since {since}")
    for col in ("id", "when", "actor", "action", "resource", "details"):
        table.add_column(col, justify="right" if col == "id" else "left")
    for e in events:
        details = ", ".join(f"{k}={v}" for k, v in sorted(e.details.items()))
        table.add_row(
            str(e.id),
            fmt_time(e.timestamp),
            Text(e.actor),
            Text(e.action),
            Text(f"{e.resource_kind}:{e.resource_id}"),
            Text(details[:120] + ("..." if len(details) > 120 else "")),
        )
    console.print(table)
    if len(events) == limit:
        console.print(f"[dim]Showing the newest {limit}; raise --limit for more.[/]")


@app.command("verify")
def verify() -> None:
    """Recompute the hash chain; name the first tampered event (exit code 1 if broken)."""
    from keel.client._governance import verify_audit

    result = verify_audit()
    if result.ok:
        console.print(f"[green]Audit chain intact[/]: {result.events_checked} events verified.")
        return
    console.print(
        Text.assemble(
            ("Audit chain broken", "bold red"),
            f" at event {result.first_bad_event_id}: {result.reason}. "
            f"{result.events_checked} events before it verified.",
        )
    )
    raise typer.Exit(1)
