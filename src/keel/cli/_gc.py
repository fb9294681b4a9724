"""``keel gc``, ``keel retention``, ``keel runs delete/restore`` and ``keel data delete``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from keel.cli._output import console, fmt_bytes

if TYPE_CHECKING:
    from keel.governance._gc import GcReport

retention_app = typer.Typer(
    help="Retention: how long prediction logs, deleted runs and the pipeline cache are kept.",
    no_args_is_help=True,
)

_GRACE_HELP = (
    "Keep blobs written or used this recently (a writer may not have committed the row naming "
    "them yet), such as '1h' or '30m'."
)


def _client() -> Any:
    from keel.tracking import get_client

    return get_client()


def _grace(text: str) -> float:
    from keel.governance._retention import parse_duration

    ms = parse_duration(text)
    return 0.0 if ms is None else ms / 1000


def _print_report(report: GcReport) -> None:
    verb = "Would free" if report.dry_run else "Freed"
    table = Table(title=f"{verb}: unreferenced blobs by kind")
    table.add_column("kind")
    table.add_column("blobs", justify="right")
    table.add_column("size", justify="right")
    for i, (kind, total) in enumerate(report.by_kind.items()):
        last = i == len(report.by_kind) - 1
        table.add_row(Text(kind), str(total.count), fmt_bytes(total.bytes), end_section=last)
    table.add_row(
        Text("total", style="bold"), str(report.total_count), fmt_bytes(report.total_bytes)
    )
    console.print(table)
    if report.runs_purged or report.runs_kept:
        console.print(
            f"{'Would purge' if report.dry_run else 'Purged'} {len(report.runs_purged)} deleted "
            f"run(s) past retention."
        )
    for run_id, reason in report.runs_kept.items():
        console.print(Text(f"Kept deleted run {run_id}: {reason}.", style="yellow"))
    if report.segments_expired:
        console.print(
            f"{'Would expire' if report.dry_run else 'Expired'} {report.segments_expired} "
            "log segment(s) past retention."
        )
    if report.cache_entries_expired:
        console.print(
            f"{'Would expire' if report.dry_run else 'Expired'} "
            f"{report.cache_entries_expired} pipeline cache entr(ies) past retention."
        )
    if report.kept_recent:
        console.print(
            f"[dim]{report.kept_recent} unreferenced blob(s) kept: written or used within the "
            f"grace period ({report.grace_s:g}s).[/]"
        )
    if report.missing:
        console.print(
            Text(
                f"{len(report.missing)} referenced blob(s) are missing from the artifact store; "
                "'keel doctor' lists them.",
                style="yellow",
            )
        )
    if report.trashed.count:
        # Object stores have no atomic rename: collected blobs wait in a trash area for one
        # grace period (restored if something references them meanwhile), then a later
        # collection frees them.
        console.print(
            f"{'Would move' if report.dry_run else 'Moved'} {report.trashed.count} blob(s) "
            f"({fmt_bytes(report.trashed.bytes)}) to the trash; a `keel gc` after the grace "
            f"period ({report.grace_s:g}s) frees them."
        )
    if not report.dry_run:
        console.print(
            f"[bold]{fmt_bytes(report.freed_bytes)} freed[/] ({report.freed_bytes} bytes)."
        )


def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be freed; change nothing.")
    ] = False,
    grace: Annotated[str, typer.Option("--grace", help=_GRACE_HELP)] = "1h",
) -> None:
    """Apply retention, then free every artifact blob nothing references any more.

    Safe while other processes keep writing: blobs written or used within the grace period are
    kept, and each blob's time is checked again at the moment it is deleted.
    """
    from rich.progress import Progress

    from keel.artifacts import FsspecArtifactStore
    from keel.governance._gc import collect_garbage

    client = _client()
    grace_s = _grace(grace)
    artifacts = client.artifacts
    if isinstance(artifacts, FsspecArtifactStore) and grace_s < artifacts.refresh_after + 60:
        # Object-store blobs are refreshed only once older than refresh_after (one request
        # saved per write): a shorter grace can collect a blob a writer is about to name.
        console.print(
            Text(
                f"Warning: a grace period of {grace} is shorter than the "
                f"{artifacts.refresh_after:g}s after which {artifacts.uri!r} refreshes blobs "
                "writers use (plus a minute): only safe when nothing else is writing.",
                style="yellow",
            )
        )
    with Progress(transient=True, console=console) as progress:
        task = progress.add_task("Collecting", total=None)

        def tick(_phase: str, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = collect_garbage(
            client.store, artifacts, dry_run=dry_run, grace_s=grace_s, progress=tick
        )
    _print_report(report)


def runs_delete(
    run_id: Annotated[str, typer.Argument(help="Run id or a unique prefix.")],
) -> None:
    """Soft-delete a run: hidden, restorable until the 'runs-deleted' retention passes."""
    from keel.governance._retention import format_duration, get_retention
    from keel.store._gc import GcRepository

    client = _client()
    full = _resolve_run(client, run_id)
    GcRepository(client.store).delete_run(full)
    keep = get_retention(client.store)["runs-deleted"].keep_ms
    console.print(
        f"Deleted run {full}. Restore it with 'keel runs restore {full[:8]}' within "
        f"{format_duration(keep)}; after that 'keel gc' purges it."
    )


def runs_restore(
    run_id: Annotated[str, typer.Argument(help="Run id or a unique prefix.")],
) -> None:
    """Restore a soft-deleted run."""
    from keel.store._gc import GcRepository

    client = _client()
    full = _resolve_run(client, run_id)
    GcRepository(client.store).restore_run(full)
    console.print(f"Restored run {full}.")


def _resolve_run(client: Any, run_id: str) -> str:
    from keel.errors import InvalidArgumentError

    found: list[str] = client.store.find_runs(run_id)
    if len(found) > 1:
        raise InvalidArgumentError(
            f"Run id prefix {run_id!r} matches {len(found)} runs; give more characters."
        )
    return found[0] if found else run_id


def data_delete(
    ref: Annotated[str, typer.Argument(help="The version to delete, 'name@vN'.")],
    purge: Annotated[
        bool, typer.Option("--purge", help="Confirm: remove its data for good.")
    ] = False,
    grace: Annotated[str, typer.Option("--grace", help=_GRACE_HELP)] = "1h",
) -> None:
    """Purge a dataset version; refused while a model version or deployment depends on it."""
    from keel.errors import InvalidArgumentError
    from keel.governance._gc import purge_dataset_version

    if not purge:
        raise InvalidArgumentError(
            f"Dataset versions are immutable, so deleting {ref!r} purges its data for good. "
            f"Pass --purge to confirm: 'keel data delete {ref} --purge'."
        )
    client = _client()
    result = purge_dataset_version(client.store, client.artifacts, ref, grace_s=_grace(grace))
    kept = len(set(result.released)) - result.gc.total_count
    console.print(
        f"Purged {result.ref}: {fmt_bytes(result.gc.freed_bytes)} freed "
        f"({result.gc.freed_bytes} bytes)."
    )
    if kept > 0:
        console.print(
            f"[dim]{kept} blob(s) kept: shared with other objects, or used within the grace "
            "period (a later 'keel gc' frees the latter).[/]"
        )


@retention_app.command("set")
def retention_set(
    prediction_logs: Annotated[
        str | None, typer.Option("--prediction-logs", help="Such as '90d', or 'forever'.")
    ] = None,
    runs_deleted: Annotated[
        str | None, typer.Option("--runs-deleted", help="Such as '30d', or 'forever'.")
    ] = None,
    pipeline_cache: Annotated[
        str | None, typer.Option("--pipeline-cache", help="Such as '14d', or 'forever'.")
    ] = None,
) -> None:
    """Set how long each kind of data is kept; 'keel gc' removes what is older."""
    from keel.errors import InvalidArgumentError
    from keel.governance._retention import set_retention

    values = {
        "prediction-logs": prediction_logs,
        "runs-deleted": runs_deleted,
        "pipeline-cache": pipeline_cache,
    }
    chosen: dict[str, str | int | None] = {k: v for k, v in values.items() if v is not None}
    if not chosen:
        raise InvalidArgumentError(
            "Give at least one policy, such as 'keel retention set --prediction-logs 90d'."
        )
    set_retention(_client().store, chosen)
    retention_show()


@retention_app.command("show")
def retention_show() -> None:
    """Show the retention policies in force."""
    from keel.governance._retention import format_duration, get_retention

    table = Table(title="Retention")
    table.add_column("policy", style="bold")
    table.add_column("kept", justify="right")
    table.add_column("applies to")
    for policy in get_retention(_client().store).values():
        kept = format_duration(policy.keep_ms) + (" (default)" if policy.is_default else "")
        table.add_row(policy.name, kept, Text(policy.description))
    console.print(table)


__all__ = ["data_delete", "gc", "retention_app", "runs_delete", "runs_restore"]
