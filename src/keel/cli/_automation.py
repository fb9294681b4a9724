"""``keel policies`` (list, show, history of automation policies) and the leased ``keel agent``."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from keel.cli._output import console, fmt_time

app = typer.Typer(
    help="Automation policies: retraining on alerts, schedules and new data, with rollout.",
    no_args_is_help=True,
)

_STATUS_STYLE = {
    "promoted": "green",
    "completed": "green",
    "failed": "red",
    "rolled_back": "red",
    "rejected": "yellow",
    "skipped": "dim",
}


def _when(when: list[dict[str, object]]) -> str:
    parts = []
    for t in when:
        if t["kind"] == "alert":
            checks = t.get("checks")
            parts.append(f"alert on {t['deployment']}" + (f" {checks}" if checks else ""))
        elif t["kind"] == "schedule":
            parts.append(f"schedule {t['cron']!r}")
        else:
            parts.append(f"new data in {t['dataset']}")
    return " | ".join(parts)


@app.command("ls")
def ls() -> None:
    """List the policies with their triggers and last outcome."""
    from keel.automation import list_policies, policy_history

    table = Table(title="Policies")
    for column in ("name", "when", "runs", "approval", "cooldown", "enabled", "last trigger"):
        table.add_column(column)
    for p in list_policies():
        last = policy_history(p.name, limit=1)
        table.add_row(
            p.name,
            _when(p.when),
            p.target,
            p.approval,
            f"{p.cooldown_ms / 1000:g}s",
            "yes" if p.enabled else "no",
            f"{last[-1].status} ({fmt_time(last[-1].created_at)})" if last else "-",
        )
    console.print(table)


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="The policy.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the definition as JSON.")] = False,
) -> None:
    """Show a policy's definition."""
    from keel.automation import get_policy

    p = get_policy(name)
    data = {
        "name": p.name,
        "when": p.when,
        "run": p.target,
        "params": p.params,
        "promote": p.promote,
        "cooldown_ms": p.cooldown_ms,
        "max_concurrent": p.max_concurrent,
        "approval": p.approval,
        "enabled": p.enabled,
        "cursor": p.cursor,
    }
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    console.print(f"[bold]{p.name}[/] ({'enabled' if p.enabled else 'disabled'})")
    console.print(f"  when      {_when(p.when)}")
    console.print(f"  runs      {p.target} {json.dumps(p.params)}")
    if p.promote:
        rollout = p.promote.get("rollout") or {}
        console.print(
            f"  promotes  to {p.promote['alias']!r} if it beats it on {p.promote['metric']} "
            f"(holdout {p.promote.get('holdout') or 'the model holdout'})"
        )
        if rollout:
            console.print(
                f"  rollout   canary {rollout['steps']} every {rollout['every_ms'] / 1000:g}s, "
                f"rollback if {sorted(rollout['rollback_if'])}"
            )
    console.print(
        f"  limits    cooldown {p.cooldown_ms / 1000:g}s, max {p.max_concurrent} at once, "
        f"approval {p.approval}"
    )


@app.command("history")
def history(
    name: Annotated[str, typer.Argument(help="The policy.")],
    limit: Annotated[int, typer.Option("--limit", help="The newest N triggers.")] = 20,
    events: Annotated[
        bool, typer.Option("--events", help="Also list each trigger's events.")
    ] = False,
) -> None:
    """List a policy's triggers: cause, pipeline run, challenger, outcome."""
    from keel.automation import policy_history, trigger_events

    table = Table(title=f"Triggers of {name}")
    for column in ("trigger", "when", "cause", "status", "run", "challenger", "message"):
        table.add_column(column)
    triggers = policy_history(name, limit=limit)
    for t in triggers:
        style = _STATUS_STYLE.get(t.status, "cyan")
        challenger = (
            f"{t.model_name} v{t.challenger_version}" if t.challenger_version is not None else "-"
        )
        step = f" {t.step_index + 1}/{len(t.details.get('steps', []))}" if t.active else ""
        table.add_row(
            t.id[:8],
            fmt_time(t.created_at),
            f"{t.cause_kind} {t.cause_id}",
            f"[{style}]{t.status}{step}[/]",
            (t.pipeline_run_id or "-")[:8],
            challenger,
            t.message,
        )
    console.print(table)
    if events:
        for t in triggers:
            console.print(f"[bold]{t.id[:8]}[/]")
            for e in trigger_events(t.id):
                console.print(f"  {fmt_time(e.created_at)}  {e.kind:18} {json.dumps(e.details)}")


@app.command("disable")
def disable(name: Annotated[str, typer.Argument(help="The policy.")]) -> None:
    """Stop the agent from evaluating a policy (triggers in progress stop where they are)."""
    from keel.automation import disable_policy

    disable_policy(name)
    console.print(f"Policy [bold]{name}[/] disabled.")


@app.command("enable")
def enable(name: Annotated[str, typer.Argument(help="The policy.")]) -> None:
    """Let the agent evaluate a policy again."""
    from keel.automation import enable_policy

    enable_policy(name)
    console.print(f"Policy [bold]{name}[/] enabled.")


def agent(
    once: Annotated[
        bool, typer.Option("--once", help="Do what is due, wait for it, and exit.")
    ] = False,
    task: Annotated[
        list[str] | None, typer.Option("--task", help="Run only these agent tasks.")
    ] = None,
    poll: Annotated[float, typer.Option("--poll", help="Seconds between checks.")] = 1.0,
    lease_ttl: Annotated[
        float,
        typer.Option("--lease-ttl", help="Seconds before a dead agent's lease can be taken."),
    ] = 30.0,
) -> None:
    """Run the agent: pipeline schedules, monitors and automation policies, until stopped.

    One agent acts at a time: each holds a lease in the metadata store, and another agent
    takes over when the holder stops or its lease expires.
    """
    import logging

    from keel.automation._agent import run_agent
    from keel.pipelines import list_agent_tasks

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    names = task or list_agent_tasks()
    console.print(f"Keel agent: tasks {', '.join(names)}" + (" (once)" if once else ""))
    run_agent(once=once, tasks=names, poll_interval=poll, lease_ttl=lease_ttl)
