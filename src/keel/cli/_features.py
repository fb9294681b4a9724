"""``keel features``: apply definitions from a Python file, list them, materialize views."""

from __future__ import annotations

import datetime as dt
import runpy
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from keel.cli._output import console, fmt_time
from keel.errors import InvalidArgumentError, NotFoundError

app = typer.Typer(
    help="Feature store: entities, feature views, services; materialization.",
    no_args_is_help=True,
)

_STYLE = {"+": "green", "~": "yellow", "-": "red", "=": "dim"}


def _load_definitions(path: Path) -> list[Any]:
    from keel.features import Entity, FeatureService, FeatureView, OnDemandFeatureView

    if not path.is_file():
        raise NotFoundError(
            f"Definitions file {str(path)!r} does not exist. Pass a .py file that defines "
            "keel.features objects."
        )
    try:
        namespace = runpy.run_path(str(path), run_name="__keel_features__")
    except SyntaxError as exc:
        raise InvalidArgumentError(
            f"{str(path)!r} is not valid Python: {exc.msg} (line {exc.lineno})."
        ) from exc
    kinds = (Entity, FeatureView, OnDemandFeatureView, FeatureService)
    found: dict[int, Any] = {}
    for value in namespace.values():
        if isinstance(value, kinds):
            found.setdefault(id(value), value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, kinds):
                    found.setdefault(id(item), item)
    if not found:
        raise InvalidArgumentError(
            f"{str(path)!r} defines no entities, feature views or feature services at module "
            "level. Assign them to names: customer = keel.features.Entity(...)."
        )
    return list(found.values())


def _print_diff(text: str) -> None:
    for line in text.splitlines():
        style = _STYLE.get(line[:1], "")
        if line.startswith("    "):
            style = _STYLE.get(line.strip()[:1], "") or "yellow"
        console.print(f"[{style}]{line}[/]" if style else line, highlight=False, markup=True)


@app.command("apply")
def apply(
    path: Annotated[
        Path, typer.Argument(help="A Python file defining entities, views and services.")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the difference; write nothing.")
    ] = False,
) -> None:
    """Apply the definitions in a Python file: show the difference, then store new versions."""
    from keel.features import store

    objects = _load_definitions(path)
    fs = store()
    result = fs.plan(objects, base_dir=path.resolve().parent)
    _print_diff(result.diff())
    if dry_run:
        console.print("Dry run: nothing was written.")
        return
    fs.apply_plan(result)
    if result.applied:
        console.print(f"[green]Applied {len(result.changed)} change(s).[/]")


@app.command("ls")
def list_definitions(
    all_versions: Annotated[bool, typer.Option("--all", help="List every version.")] = False,
) -> None:
    """List applied entities, feature views, on-demand views and feature services."""
    from keel.features import store

    fs = store()
    table = Table(title="Feature store")
    for col in ("kind", "name", "version", "details", "applied"):
        table.add_column(col, style="bold" if col == "name" else None)
    records = fs.repo.latest_definitions()
    if all_versions:
        records = [v for r in records for v in fs.repo.list_versions(r.kind, r.name)]
    for rec in records:
        table.add_row(
            rec.kind.replace("_", " "),
            rec.name,
            f"v{rec.version}",
            _details(rec.kind, rec.spec),
            fmt_time(rec.created_at),
        )
    console.print(table)


def _details(kind: str, spec: dict[str, Any]) -> str:
    from keel.features._types import format_duration

    if kind == "entity":
        return "keys: " + ", ".join(spec["join_keys"])
    if kind == "feature_view":
        feats = ", ".join(f"{n}:{t}" for n, t in spec["features"])
        return f"{feats} | ttl {format_duration(spec.get('ttl_us'))} | {_source(spec['source'])}"
    if kind == "on_demand_feature_view":
        feats = ", ".join(f"{n}:{t}" for n, t in spec["features"])
        return f"{feats} | from {', '.join(v for v, _ in spec['inputs']) or 'request'}"
    return ", ".join(spec["features"])


def _source(spec: dict[str, Any]) -> str:
    text = str(spec.get("path") or spec.get("ref") or " ".join(str(spec.get("query")).split()))
    return text if len(text) <= 60 else "..." + text[-57:]


def _when(value: str | None, what: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidArgumentError(
            f"--{what} must be an ISO 8601 time such as 2025-01-31T00:00:00Z, got {value!r}."
        ) from exc


@app.command("materialize")
def materialize(
    views: Annotated[
        list[str] | None, typer.Argument(help="Views to materialize (default: all online).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="Window end, ISO 8601 (default: now).")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="Window start (default: the watermark).")
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Rows per online write.")
    ] = 10_000,
) -> None:
    """Load the latest feature values into the online store, from each view's watermark."""
    from keel.features import store
    from keel.features._types import from_utc_us

    fs = store()
    records = fs.materialize(
        views or None, end=_when(end, "end"), start=_when(start, "start"), batch_size=batch_size
    )
    if not records:
        console.print("Nothing to materialize: every view is up to date.")
        return
    table = Table(title=f"Materialized into {fs.online_store.display_uri}")
    for col in ("view", "window", "rows read", "entities written", "batches", "seconds"):
        table.add_column(col, justify="right" if col not in ("view", "window") else "left")
    for rec in records:
        begin = "start" if rec.start_us is None else from_utc_us(rec.start_us).isoformat()
        table.add_row(
            f"{rec.view_name}@v{rec.view_version}",
            f"{begin} -> {from_utc_us(rec.end_us).isoformat()}",
            f"{rec.rows_read:,}",
            f"{rec.rows_written:,}",
            str(rec.batches),
            f"{rec.duration_s:.2f}",
        )
    console.print(table)
