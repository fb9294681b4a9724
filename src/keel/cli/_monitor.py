"""``keel monitor``: run monitors over the prediction log, show results, write reports."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from keel.cli._output import console, fmt_time

_REPORT = Path("report.html")

app = typer.Typer(
    help="Monitors: drift, data quality and performance of deployed models.", no_args_is_help=True
)


def _parse_time(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    from keel.errors import InvalidArgumentError

    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidArgumentError(
            f"--until must be an ISO time such as '2026-01-31T12:00', got {text!r}."
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _results_table(title: str, results: list) -> Table:  # type: ignore[type-arg]
    table = Table(title=title)
    table.add_column("window (UTC)")
    table.add_column("rows", justify="right")
    table.add_column("labeled", justify="right")
    table.add_column("status")
    table.add_column("drift share", justify="right")
    table.add_column("checks in breach")
    for r in results:
        share = r.metrics.get("drift.share")
        status = "[red]breach[/]" if r.status == "breach" else "[green]ok[/]"
        table.add_row(
            r.start.strftime("%Y-%m-%d %H:%M"),
            f"{r.num_rows:,}",
            f"{r.num_labeled:,}",
            status,
            "-" if share is None else f"{share:.0%}",
            ", ".join(r.breached) or "-",
        )
    return table


@app.command("ls")
def list_monitors() -> None:
    """List monitors."""
    import keel.monitoring as km

    table = Table(title="Monitors")
    for col in ("name", "deployment", "reference", "window", "checks", "created"):
        table.add_column(col)
    for m in km.list_monitors():
        table.add_row(
            m.name,
            m.deployment,
            m.reference,
            m.window,
            ", ".join(c.name for c in m.checks),
            fmt_time(m.created_at),
        )
    console.print(table)


@app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="The monitor.")],
    until: Annotated[
        str | None, typer.Option(help="Evaluate windows ending by this ISO time.")
    ] = None,
    max_windows: Annotated[
        int | None, typer.Option(help="Evaluate at most this many windows.")
    ] = None,
) -> None:
    """Evaluate the windows of the prediction log not evaluated yet."""
    import keel.monitoring as km

    results = km.run_monitor(name, until=_parse_time(until), max_windows=max_windows)
    if not results:
        console.print(f"Monitor [bold]{name}[/]: no new complete window to evaluate.")
        return
    console.print(_results_table(f"Monitor {name}: {len(results)} new windows", results))
    breached = sum(1 for r in results if r.status == "breach")
    if breached:
        console.print(f"[red]{breached} window(s) in breach.[/] 'keel monitor show {name}'")


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="The monitor.")],
    last: Annotated[int, typer.Option(help="Show the newest N windows.")] = 24,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Show a monitor's definition, its results over time and its alerts."""
    import keel.monitoring as km
    from keel.monitoring._checks import check_to_dict

    monitor = km.get_monitor(name)
    results = km.monitor_results(name, limit=last)
    events = km.list_events(name)[-10:]
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "name": monitor.name,
                    "deployment": monitor.deployment,
                    "reference": monitor.reference,
                    "window": monitor.window,
                    "checks": [check_to_dict(c) for c in monitor.checks],
                    "results": [
                        {
                            "window_start": r.window_start,
                            "status": r.status,
                            "rows": r.num_rows,
                            "metrics": r.metrics,
                            "checks": r.checks,
                        }
                        for r in results
                    ],
                    "events": [e.__dict__ for e in events],
                },
                default=str,
            )
        )
        return
    console.print(
        f"[bold]{monitor.name}[/] watches deployment [cyan]{monitor.deployment}[/] every "
        f"{monitor.window} against {monitor.reference}"
    )
    console.print("checks: " + ", ".join(c.name for c in monitor.checks))
    console.print("alerts: " + ", ".join(a.target for a in monitor.alerts))
    console.print(_results_table(f"Newest {len(results)} windows", results))
    if results:
        latest = results[-1]
        table = Table(title=f"Checks of the window {latest.start:%Y-%m-%d %H:%M}")
        for col in ("check", "verdict", "value", "bound", "details"):
            table.add_column(col)
        for c in latest.checks:
            verdict = {True: "[green]ok[/]", False: "[red]breach[/]", None: "pending"}[c["passed"]]
            table.add_row(c["name"], verdict, _fmt(c["value"]), c["bound"], c["message"])
        console.print(table)
    if events:
        table = Table(title="Recent alerts")
        for col in ("id", "event", "check", "window", "delivered"):
            table.add_column(col)
        for e in events:
            ok = sum(1 for d in e.deliveries if d.get("ok"))
            table.add_row(
                str(e.id), e.kind, e.check, fmt_time(e.window_start), f"{ok}/{len(e.deliveries)}"
            )
        console.print(table)


@app.command("report")
def report(
    name: Annotated[str, typer.Argument(help="The monitor.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write it.")] = _REPORT,
) -> None:
    """Write a monitor's self-contained HTML report (scores over time, latest drift)."""
    import keel.monitoring as km

    km.monitor_report(name, out)
    console.print(f"Wrote {out}")


@app.command("grafana")
def grafana(
    monitors: Annotated[
        list[str] | None, typer.Argument(help="Monitors selected by default (all).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to a file, not stdout.")
    ] = None,
) -> None:
    """Print a Grafana dashboard (JSON) of the monitor and serving metrics."""
    import keel.monitoring as km

    text = json.dumps(km.grafana_dashboard(monitors or None), indent=2)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"Wrote {out}")


@app.command("metrics")
def metrics(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write a .prom text file.")
    ] = None,
) -> None:
    """Print the monitors' newest results in Prometheus' text format."""
    import keel.monitoring as km

    text = km.prometheus_metrics(out)
    if out is None:
        typer.echo(text, nl=False)
    else:
        console.print(f"Wrote {out}")


@app.command("events")
def events(
    name: Annotated[str | None, typer.Argument(help="Only this monitor's events.")] = None,
    since_id: Annotated[int, typer.Option(help="Only events after this id.")] = 0,
) -> None:
    """List alert events (fired and resolved), oldest first."""
    import keel.monitoring as km

    table = Table(title="Alert events")
    for col in ("id", "monitor", "event", "check", "window", "message"):
        table.add_column(col)
    for e in km.list_events(name, since_id=since_id):
        table.add_row(
            str(e.id),
            e.monitor,
            e.kind,
            e.check,
            fmt_time(e.window_start),
            str(e.payload.get("message", "")),
        )
    console.print(table)
