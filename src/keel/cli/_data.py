"""``keel data``: register, list, show, validate, suggest, diff and report on datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from keel.cli._output import console, console_err, fmt_bytes, fmt_time

if TYPE_CHECKING:
    from keel.data import CheckResult, DatasetVersion, Profile, ValidationResult

app = typer.Typer(
    help="Datasets: versioned Parquet data, validation suites, profiles and diffs.",
    no_args_is_help=True,
)

_TARGET_HELP = "A dataset version (NAME@v3, NAME@latest) or a Parquet/CSV file or folder."


def _parse_tags(tags: list[str] | None) -> dict[str, str]:
    from keel.errors import InvalidArgumentError

    out: dict[str, str] = {}
    for item in tags or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgumentError(f"--tag takes KEY=VALUE, got {item!r}.")
        out[key] = value
    return out


@app.command("register")
def register(
    name: Annotated[str, typer.Argument(help="The dataset's name, such as 'transactions'.")],
    source: Annotated[Path, typer.Argument(help="A Parquet or CSV file, or a folder of Parquet.")],
    description: Annotated[str, typer.Option("--description", "-d", help="What it holds.")] = "",
    parent: Annotated[
        list[str] | None,
        typer.Option("--parent", "-p", help="A version it was derived from (repeatable)."),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="KEY=VALUE label (repeatable).")
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option("--delimiter", help="CSV field delimiter (default ',').")
    ] = None,
) -> None:
    """Register a file or folder as the next version of a dataset."""
    from keel.data import register as do_register

    csv_options = {"delim": delimiter} if delimiter else None
    ds = do_register(
        name,
        source,
        description=description,
        parents=parent or [],
        tags=_parse_tags(tag),
        csv_options=csv_options,
    )
    if ds.reused:
        console.print(
            f"[yellow]{source}[/] is already registered as [bold]{ds.ref}[/] "
            f"(digest {ds.digest[:12]}); nothing was stored."
        )
    else:
        console.print(
            f"Registered [bold green]{ds.ref}[/]: {ds.num_rows:,} rows x {ds.num_columns} "
            f"columns, {fmt_bytes(ds.size_bytes)}, digest {ds.digest[:12]}"
        )


@app.command("ls")
def list_data(
    name: Annotated[str | None, typer.Argument(help="A dataset to list the versions of.")] = None,
) -> None:
    """List datasets, or the versions of one dataset."""
    import keel.data

    if name is None:
        table = Table(title="Datasets")
        for col, kw in [
            ("name", {"style": "bold"}),
            ("versions", {"justify": "right"}),
            ("latest", {}),
            ("updated", {}),
            ("created by", {}),
        ]:
            table.add_column(col, **kw)  # type: ignore[arg-type]
        for d in keel.data.list_datasets():
            table.add_row(
                d.name,
                str(d.num_versions),
                d.latest_version or "-",
                fmt_time(d.updated_at),
                d.created_by,
            )
        console.print(table)
        return
    table = Table(title=f"Versions of {name!r}")
    for col, kw in [
        ("version", {"style": "bold"}),
        ("rows", {"justify": "right"}),
        ("columns", {"justify": "right"}),
        ("size", {"justify": "right"}),
        ("digest", {}),
        ("registered", {}),
        ("source", {"overflow": "fold"}),
    ]:
        table.add_column(col, **kw)  # type: ignore[arg-type]
    for v in keel.data.list_versions(name):
        table.add_row(
            v.version,
            f"{v.num_rows:,}",
            str(v.num_columns),
            fmt_bytes(v.size_bytes),
            v.digest[:12],
            fmt_time(v.created_at),
            v.source or "-",
        )
    console.print(table)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    text = str(value)
    return text if len(text) <= 24 else text[:21] + "..."


def profile_table(prof: Profile, title: str) -> Table:
    """Render a profile as one row per column."""
    table = Table(title=title)
    for col, kw in [
        ("column", {"style": "bold", "no_wrap": True}),
        ("type", {"no_wrap": True}),
        ("nulls", {"justify": "right"}),
        ("distinct", {"justify": "right"}),
        ("min", {"justify": "right"}),
        ("max", {"justify": "right"}),
        ("mean", {"justify": "right"}),
        ("std", {"justify": "right"}),
        ("top values", {"overflow": "fold"}),
    ]:
        table.add_column(col, **kw)  # type: ignore[arg-type]
    for c in prof.columns:
        top = ", ".join(f"{_fmt(v)} ({n:,})" for v, n in c.top_values[:3])
        nulls = f"{c.nulls:,} ({c.null_fraction:.2%})" if c.nulls else "0"
        table.add_row(
            c.name,
            c.type,
            nulls,
            _fmt(c.distinct),
            _fmt(c.min),
            _fmt(c.max),
            _fmt(c.mean),
            _fmt(c.std),
            top or "-",
        )
    return table


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION, such as transactions@v3.")],
) -> None:
    """Show a dataset version: metadata, schema with profile, and recent validations."""
    import keel.data

    ds = keel.data.get(ref)
    info = Table(title=f"Dataset version {ds.ref}", show_header=False)
    info.add_column("field", style="bold")
    info.add_column("value", overflow="fold")
    for field, value in [
        ("rows", f"{ds.num_rows:,}"),
        ("columns", str(ds.num_columns)),
        ("files", str(ds.num_files)),
        ("size", fmt_bytes(ds.size_bytes)),
        ("digest", ds.digest),
        ("source", f"{ds.source or '-'} ({ds.source_format})"),
        ("registered", f"{fmt_time(ds.created_at)} by {ds.created_by}"),
        ("parents", ", ".join(ds.parents) or "-"),
        ("description", ds.description or "-"),
        ("tags", ", ".join(f"{k}={v}" for k, v in ds.tags.items()) or "-"),
    ]:
        info.add_row(field, value)
    console.print(info)
    console.print(profile_table(ds.profile, f"Schema and profile of {ds.ref}"))
    results = ds.validations(limit=5)
    if results:
        table = Table(title="Recent validations")
        for col in ("when", "suite", "result", "failed checks", "id"):
            table.add_column(col)
        for r in results:
            table.add_row(
                fmt_time(r.created_at),
                f"{r.suite_name} v{r.suite_version}",
                "[green]passed[/]" if r.passed else "[red]FAILED[/]",
                str(len(r.failures)),
                r.id or "-",
            )
        console.print(table)
    else:
        console.print(f"[dim]Not validated yet: keel data validate {ds.ref} --suite suite.yaml[/]")


def result_table(result: ValidationResult) -> Table:
    """Render a validation result as one row per check, failures first."""
    table = Table(
        title=f"Suite {result.suite_name!r} on {result.dataset}",
        caption=f"{result.num_rows:,} rows in {result.duration_s:.2f}s",
    )
    table.add_column("", no_wrap=True)
    table.add_column("check", overflow="fold")
    table.add_column("bad rows", justify="right")
    table.add_column("share", justify="right")
    table.add_column("sample / detail", overflow="fold")

    def order(c: CheckResult) -> int:
        return 0 if not c.passed and c.severity == "error" else 1 if not c.passed else 2

    for c in sorted(result.checks, key=order):
        status = (
            "[green]pass[/]"
            if c.passed
            else "[bold red]FAIL[/]"
            if c.severity == "error"
            else "[yellow]warn[/]"
        )
        share = f"{c.bad_fraction:.2%}" if c.bad_fraction is not None and c.bad_rows else ""
        detail = c.message
        if not c.passed and c.samples and c.bad_rows is not None:
            detail = ", ".join(_fmt(s) for s in c.samples)
        elif not c.passed and c.sample_rows:
            detail = "rows " + ", ".join(f"{r:,}" for r in c.sample_rows)
        table.add_row(
            status,
            c.name,
            "-" if c.bad_rows is None else f"{c.bad_rows:,}",
            share,
            detail if not c.passed else "[dim]" + c.message + "[/]",
        )
    return table


@app.command("validate")
def validate(
    target: Annotated[str, typer.Argument(help=_TARGET_HELP)],
    suite: Annotated[Path, typer.Option("--suite", "-s", help="The YAML suite file.")],
    no_record: Annotated[
        bool, typer.Option("--no-record", help="Do not store the result.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write an HTML report here.")
    ] = None,
) -> None:
    """Validate a dataset against a suite; exit code 1 if a check of severity error fails."""
    import keel.data

    result = keel.data.validate(target, keel.data.Suite.from_yaml(suite), record=not no_record)
    if as_json:
        typer.echo(result.to_json())
    else:
        console.print(result_table(result))
        if result.passed:
            console.print(
                f"[bold green]Passed[/]: {len(result.checks)} checks"
                + (f", {len(result.warnings)} warnings" if result.warnings else "")
            )
        else:
            console.print(
                f"[bold red]Failed[/]: {len(result.failures)} of {len(result.checks)} checks."
            )
        if result.id:
            console.print(f"[dim]Recorded as validation {result.id}.[/]")
    if report is not None:
        profile = None if result.dataset_version else keel.data.profile(target)
        result.to_html(report, profile=profile)
        console_err.print(f"Report written to {report}")
    if not result.passed:
        raise typer.Exit(1)


@app.command("suggest")
def suggest(
    target: Annotated[str, typer.Argument(help=_TARGET_HELP)],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the YAML here, not to stdout.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="The suite's name.")] = None,
) -> None:
    """Print a starter YAML suite from the dataset's profile: types, nulls, ranges, categories."""
    import keel.data

    text = keel.data.suggest_yaml(target, name=name)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console_err.print(f"Suggested suite written to {output}")


@app.command("diff")
def diff(
    before: Annotated[str, typer.Argument(help="The baseline: NAME@V1 or a path.")],
    after: Annotated[str, typer.Argument(help="The other: NAME@V2 or a path.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the diff as JSON.")] = False,
) -> None:
    """Compare two datasets: schema changes, row counts, per-column distribution shift."""
    import keel.data

    d = keel.data.diff(before, after)
    if as_json:
        typer.echo(json.dumps(d.to_dict(), indent=2, default=str))
        return
    delta = d.rows_after - d.rows_before
    console.print(
        f"[bold]{d.before}[/] -> [bold]{d.after}[/]: rows {d.rows_before:,} -> "
        f"{d.rows_after:,} ({delta:+,})"
    )
    if d.schema_changed:
        schema = Table(title="Schema changes")
        schema.add_column("column", style="bold")
        schema.add_column("change")
        for n, t in d.added_columns.items():
            schema.add_row(n, f"[green]added[/] ({t})")
        for n, t in d.removed_columns.items():
            schema.add_row(n, f"[red]removed[/] ({t})")
        for n, (a, b) in d.type_changes.items():
            schema.add_row(n, f"[yellow]type[/] {a} -> {b}")
        console.print(schema)
    else:
        console.print("Schema: unchanged.")
    table = Table(title="Per-column distribution shift (PSI)")
    for col, kw in [
        ("column", {"style": "bold"}),
        ("nulls", {"justify": "right"}),
        ("mean", {"justify": "right"}),
        ("distinct", {"justify": "right"}),
        ("PSI", {"justify": "right"}),
        ("shift", {}),
        ("categories", {"overflow": "fold"}),
    ]:
        table.add_column(col, **kw)  # type: ignore[arg-type]
    style = {"none": "green", "moderate": "yellow", "large": "bold red", "n/a": "dim"}
    for c in d.columns:
        cats = []
        if c.new_values:
            cats.append("new: " + ", ".join(map(str, c.new_values[:5])))
        if c.missing_values:
            cats.append("gone: " + ", ".join(map(str, c.missing_values[:5])))
        table.add_row(
            c.name,
            f"{c.null_fraction[0]:.1%} -> {c.null_fraction[1]:.1%}",
            f"{_fmt(c.mean[0])} -> {_fmt(c.mean[1])}" if c.mean[0] is not None else "-",
            f"{_fmt(c.distinct[0])} -> {_fmt(c.distinct[1])}",
            "-" if c.psi is None else f"{c.psi:.3f}",
            f"[{style[c.shift]}]{c.shift}[/]",
            "; ".join(cats) or "-",
        )
    console.print(table)


@app.command("report")
def report(
    target: Annotated[str, typer.Argument(help=_TARGET_HELP)],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")],
    suite: Annotated[
        Path | None,
        typer.Option(
            "--suite", "-s", help="Validate with this suite now (else: the latest result)."
        ),
    ] = None,
) -> None:
    """Write an offline, self-contained HTML report of a validation, with a chart per column."""
    import keel.data
    from keel.errors import NotFoundError

    profile = None
    if suite is not None:
        result = keel.data.validate(target, keel.data.Suite.from_yaml(suite))
        if result.dataset_version is None:
            profile = keel.data.profile(target)
    else:
        ds: DatasetVersion = keel.data.get(target)
        latest = ds.latest_validation()
        if latest is None:
            raise NotFoundError(
                f"{ds.ref} has no recorded validation to report on. Run "
                f"'keel data validate {ds.ref} --suite suite.yaml' first, or pass --suite.",
                details={"ref": ds.ref},
            )
        result = latest
    result.to_html(output, profile=profile)
    console.print(
        f"Report of {result.suite_name!r} on {result.dataset} "
        f"({'passed' if result.passed else 'FAILED'}) written to {output}"
    )
