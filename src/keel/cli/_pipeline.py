"""``keel pipeline``: run pipelines with a live display, list and inspect runs; ``keel agent``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.live import Live
from rich.table import Table
from rich.text import Text

from keel.cli._output import STATUS_STYLE, console, console_err, fmt_duration, fmt_time

if TYPE_CHECKING:
    from keel.pipelines import PipelineEvent, PipelineRun

app = typer.Typer(
    help="Pipelines: run them, list their runs, show a run's DAG and steps.",
    no_args_is_help=True,
)

_STEP_STYLE = {
    "PENDING": "dim",
    "RUNNING": "cyan",
    "COMPLETED": "green",
    "CACHED": "blue",
    "FAILED": "red",
    "SKIPPED": "yellow",
    "KILLED": "yellow",
}
_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def _parse_params(items: list[str]) -> dict[str, str]:
    from keel.errors import InvalidArgumentError

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidArgumentError(
                f"--param takes NAME=VALUE, got {item!r}. Example: --param lr=0.05"
            )
        out[key.strip()] = value
    return out


class _LiveView:
    """The live table of steps while a pipeline runs."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.steps: dict[str, dict[str, Any]] = {}
        self.run_id = ""
        self.started = time.monotonic()

    def on_event(self, event: PipelineEvent) -> None:
        if event.kind == "run_started":
            self.run_id = event.run_id
            self.started = time.monotonic()
            self.steps = {name: {"status": "PENDING"} for name in event.steps}
            return
        if event.step is None:
            return
        row = self.steps.setdefault(event.step, {"status": "PENDING"})
        if event.kind == "step_started":
            row.update(status="RUNNING", attempt=event.attempt, since=time.monotonic())
        elif event.kind == "step_retrying":
            row.update(status="RUNNING", attempt=event.attempt, note=f"retrying: {event.error}")
        elif event.kind == "step_finished":
            row.update(
                status=event.status or "COMPLETED",
                cache=event.cache_hit,
                duration=event.duration_s,
                note=event.error or "",
            )

    def __rich__(self) -> Table:
        elapsed = time.monotonic() - self.started
        done = sum(1 for r in self.steps.values() if r["status"] not in ("PENDING", "RUNNING"))
        table = Table(
            title=f"{self.title}  [dim]{self.run_id[:8]}  {done}/{len(self.steps)} steps  "
            f"{elapsed:.1f}s[/]",
            title_justify="left",
        )
        table.add_column("step", style="bold")
        table.add_column("status")
        table.add_column("attempt", justify="right")
        table.add_column("duration", justify="right")
        table.add_column("cache")
        table.add_column("note", overflow="ellipsis", max_width=60)
        frame = _SPINNER[int(elapsed * 10) % len(_SPINNER)]
        for name, row in self.steps.items():
            status = row["status"]
            icon = frame + " " if status == "RUNNING" else ""
            duration = row.get("duration")
            if duration is None and status == "RUNNING" and "since" in row:
                duration = time.monotonic() - row["since"]
            table.add_row(
                name,
                Text(icon + status, style=_STEP_STYLE.get(status, "white")),
                str(row.get("attempt", "")) if row.get("attempt") else "",
                "" if duration is None else f"{duration:.2f}s",
                "hit" if row.get("cache") else "",
                str(row.get("note", "")),
            )
        return table


def _summary(run: PipelineRun) -> None:
    style = STATUS_STYLE.get(run.status, "white")
    cached = len(run.cache_hits)
    took = fmt_duration(run.start_time, run.end_time)
    console.print(
        f"Run [bold]{run.id}[/] [{style}]{run.status}[/] in {took}: {len(run.steps)} steps, "
        f"{cached} from cache."
    )
    if run.status != "FINISHED":
        if run.failed_step:
            step = run.steps[run.failed_step]
            console_err.print(
                f"[bold red]Step {run.failed_step!r} failed[/] after {step.attempts} "
                f"attempt(s): {step.error}",
                highlight=False,
            )
            if step.traceback:
                tail = step.traceback.strip().splitlines()[-12:]
                console_err.print("\n".join(tail), style="dim", highlight=False, markup=False)
            skipped = [n for n, s in run.steps.items() if s.status == "SKIPPED"]
            if skipped:
                console_err.print(f"Skipped downstream: {', '.join(skipped)}")
        elif run.error:
            console_err.print(f"[bold red]Error:[/] {run.error}", highlight=False)
    console.print(f"[dim]Inspect it: keel pipeline show {run.id[:8]}[/]")


@app.command("run")
def run_pipeline(
    target: Annotated[
        str, typer.Argument(help="The pipeline: 'module:function' or 'file.py:function'.")
    ],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A parameter NAME=VALUE (repeat for several)."),
    ] = None,
    executor: Annotated[
        str, typer.Option("--executor", "-x", help="inline, process or ray.")
    ] = "inline",
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Run every step, reusing nothing.")
    ] = False,
    max_workers: Annotated[
        int | None, typer.Option("--max-workers", help="Parallel steps (process, ray).")
    ] = None,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="Start no more steps after a failure.")
    ] = False,
) -> None:
    """Run a pipeline with a live display of its steps; exit code 1 if it fails."""
    from keel.pipelines import load_pipeline

    pipeline = load_pipeline(target)
    params = pipeline.coerce(_parse_params(param or []))
    view = _LiveView(f"Pipeline {pipeline.name}")
    with Live(view, console=console, refresh_per_second=10, transient=False):
        run = pipeline.run(
            params,
            executor=executor,
            cache=not no_cache,
            max_workers=max_workers,
            fail_fast=fail_fast,
            on_event=view.on_event,
        )
    console.print()
    _summary(run)
    if run.status != "FINISHED":
        raise typer.Exit(1)


@app.command("ls")
def list_pipeline_runs(
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", "-n", help="Only runs of this pipeline.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Most runs to show.")] = 30,
) -> None:
    """List pipeline runs, newest first."""
    from keel.pipelines import list_runs

    runs = list_runs(pipeline, limit=limit)
    table = Table(title="Pipeline runs")
    table.add_column("run id", style="bold")
    table.add_column("pipeline")
    table.add_column("status")
    table.add_column("started")
    table.add_column("duration", justify="right")
    table.add_column("steps", justify="right")
    table.add_column("cached", justify="right")
    table.add_column("executor")
    for run in runs:
        done = sum(1 for s in run.steps.values() if s.status.value in ("COMPLETED", "CACHED"))
        table.add_row(
            run.id[:8],
            run.pipeline,
            f"[{STATUS_STYLE.get(run.status, 'white')}]{run.status}[/]",
            fmt_time(run.start_time),
            fmt_duration(run.start_time, run.end_time),
            f"{done}/{len(run.steps)}",
            str(len(run.cache_hits)),
            run.executor,
        )
    console.print(table)
    if not runs:
        console.print("[dim]No pipeline runs yet: keel pipeline run module:function[/]")


@app.command("show")
def show_pipeline_run(
    run_id: Annotated[str, typer.Argument(help="Pipeline run id or a unique prefix.")],
) -> None:
    """Show a run's DAG: each step with what it waits for, status, duration and cache use."""
    from keel.pipelines import get_run

    run = get_run(run_id)
    record_dag = {row["name"]: row for row in run.dag}
    depth: dict[str, int] = {}
    for name, row in record_dag.items():
        deps = [*row.get("upstream", []), *row.get("after", [])]
        depth[name] = 1 + max((depth.get(d, 0) for d in deps), default=-1)
    style = STATUS_STYLE.get(run.status, "white")
    console.print(
        f"Pipeline [bold]{run.pipeline}[/] run [bold]{run.id}[/] [{style}]{run.status}[/] "
        f"({run.executor}, started {fmt_time(run.start_time)}, "
        f"{fmt_duration(run.start_time, run.end_time)})"
    )
    if run.params:
        console.print("params: " + ", ".join(f"{k}={v!r}" for k, v in run.params.items()))
    table = Table(title="DAG")
    table.add_column("step", style="bold")
    table.add_column("depends on")
    table.add_column("status")
    table.add_column("duration", justify="right")
    table.add_column("cache")
    table.add_column("attempts", justify="right")
    table.add_column("outputs")
    for name, row in record_dag.items():
        step = run.steps.get(name)
        if step is None:
            continue
        deps = [*row.get("upstream", []), *row.get("after", [])]
        status = step.status.value
        outputs = ", ".join(
            f"{o['type'].rsplit('.', 1)[-1]} {o['digest'][:8]}" for o in step.outputs
        )
        table.add_row(
            "  " * depth[name] + ("└ " if depth[name] else "") + name,
            ", ".join(deps) or "-",
            Text(status, style=_STEP_STYLE.get(status, "white")),
            "-" if step.duration_s is None else f"{step.duration_s:.2f}s",
            "hit" if step.cache_hit else ("miss" if status == "COMPLETED" else "-"),
            str(step.attempts),
            outputs or "-",
        )
    console.print(table)
    failed = [s for s in run.steps.values() if s.status.value == "FAILED"]
    for step in failed:
        console_err.print(f"[bold red]{step.name}[/]: {step.error}", highlight=False)
        if step.traceback:
            console_err.print(step.traceback.rstrip(), style="dim", highlight=False, markup=False)


@app.command("schedules")
def list_pipeline_schedules() -> None:
    """List schedules and when each fires next (``keel agent`` fires them)."""
    from keel.pipelines import list_schedules

    table = Table(title="Schedules")
    for column in ("name", "target", "cron", "next run", "enabled", "last run", "last status"):
        table.add_column(column)
    for s in list_schedules():
        table.add_row(
            s.name,
            s.target,
            f"{s.cron} ({s.timezone})",
            fmt_time(s.next_run_at),
            "yes" if s.enabled else "no",
            (s.last_run_id or "-")[:8],
            s.last_status or "-",
        )
    console.print(table)
