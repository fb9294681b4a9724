"""The quickstart's closing summary: what ran, what it found, and where the new champion came from.

Everything here is read back from the store through public APIs (the registry, monitoring,
automation and governance packages), so the summary shows what was recorded, not what the
stages meant to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from keel.quickstart._context import QuickstartContext

#: The command that opens the UI over the quickstart's store.
UI_COMMAND = "keel ui"


@dataclass(frozen=True)
class QuickstartSummary:
    """What the quickstart's summary reports.

    Attributes:
        stages: Each stage and how long it took, ``(name, seconds)``, in order.
        model: The registered model the quickstart trained.
        champion_version: The champion before retraining (the compared-against version).
        challenger_version: The version the retraining policy produced.
        new_champion_version: The version the ``champion`` alias points at now.
        metric: The metric the challenger was compared on.
        champion_metric: The old champion's value of ``metric`` on the holdout.
        challenger_metric: The challenger's value of ``metric`` on the holdout.
        holdout: The dataset version both were scored on.
        trigger_status: How the retraining trigger ended (``"promoted"``, ...).
        trigger_message: What the trigger said about it.
        canary_steps: The rollout steps taken, in percent of traffic.
        drifted_features: The features in drift in the last monitored window.
        drift_windows: Start times (``HH:MM`` UTC) of the windows with data drift.
        windows: How many windows the monitor evaluated.
        lineage: The new champion's upstream lineage by category (``"data versions"``,
            ``"validation"``, ``"features"``, ``"code commit"``, ``"pipeline"``, ``"run"``).
        audit_ok: The audit log's hash chain verified.
        audit_events: How many audit events were checked.
    """

    stages: list[tuple[str, float]]
    model: str | None = None
    champion_version: int | None = None
    challenger_version: int | None = None
    new_champion_version: int | None = None
    metric: str | None = None
    champion_metric: float | None = None
    challenger_metric: float | None = None
    holdout: str | None = None
    trigger_status: str | None = None
    trigger_message: str | None = None
    canary_steps: list[str] = field(default_factory=list)
    drifted_features: list[str] = field(default_factory=list)
    drift_windows: list[str] = field(default_factory=list)
    windows: int = 0
    lineage: dict[str, list[str]] = field(default_factory=dict)
    audit_ok: bool = False
    audit_events: int = 0

    @property
    def total_s(self) -> float:
        """Seconds all stages took together."""
        return sum(s for _, s in self.stages)


def build_summary(ctx: QuickstartContext) -> QuickstartSummary:
    """Read what the quickstart recorded back from the store.

    Args:
        ctx: The context the stages ran with (its results name the model, monitor, trigger).
    """
    import keel.governance as governance
    from keel.registry import models

    r = ctx.results
    model = r.get("model_name")
    comparison: dict[str, Any] = r.get("comparison") or {}
    new_champion = None
    lineage: dict[str, list[str]] = {}
    if model:
        aliases = models.get_model(model).aliases
        new_champion = aliases.get("champion")
        if new_champion is not None:
            lineage = champion_lineage(f"models:/{model}/{new_champion}")
    drift_windows, windows = _drift_windows(r.get("monitor"))
    message = None
    if r.get("trigger_id"):
        import keel.automation as ka

        message = ka.get_trigger(r["trigger_id"]).message
    audit = governance.verify_audit()
    return QuickstartSummary(
        stages=list(ctx.timings),
        model=model,
        champion_version=comparison.get("champion_version", r.get("champion_version")),
        challenger_version=r.get("challenger_version"),
        new_champion_version=new_champion,
        metric=comparison.get("metric"),
        champion_metric=comparison.get("champion"),
        challenger_metric=comparison.get("challenger"),
        holdout=comparison.get("holdout"),
        trigger_status=r.get("trigger_status"),
        trigger_message=message,
        canary_steps=list(r.get("canary_steps") or []),
        drifted_features=list(r.get("drifted_features") or []),
        drift_windows=drift_windows,
        windows=windows,
        lineage=lineage,
        audit_ok=audit.ok,
        audit_events=audit.events_checked,
    )


def _drift_windows(monitor: str | None) -> tuple[list[str], int]:
    if not monitor:
        return [], 0
    import datetime as dt

    import keel.monitoring as km

    results = km.monitor_results(monitor)
    drifted = [
        dt.datetime.fromtimestamp(w.window_start / 1000, dt.UTC).strftime("%H:%M")
        for w in results
        if any(c.get("kind") == "data_drift" and not c.get("passed") for c in w.checks)
    ]
    return drifted, len(results)


def champion_lineage(ref: str) -> dict[str, list[str]]:
    """Group a model version's upstream lineage into what the summary shows.

    Args:
        ref: The model version (``models:/name/N``).

    Returns:
        ``"data versions"``, ``"validation"``, ``"features"``, ``"code commit"``,
        ``"pipeline"`` and ``"run"``, each a list of short descriptions (empty: none recorded).
    """
    import keel.governance as governance

    graph = governance.lineage(ref, "upstream")
    root_run = graph.root.properties.get("run_id")
    out: dict[str, list[str]] = {
        "data versions": [],
        "validation": [],
        "features": [],
        "code commit": [],
        "pipeline": [],
        "run": [],
    }
    for node in graph.nodes:
        p = node.properties
        if node.kind == "dataset_version":
            out["data versions"].append(f"{node.id} ({p.get('rows', 0):,} rows)")
            for val in p.get("validations", []):
                verdict = "passed" if val["passed"] else f"failed {val['failed_checks']} checks"
                line = f"{node.id} by {val['suite']}: {verdict}"
                if line not in out["validation"]:  # a rerun validates the same version again
                    out["validation"].append(line)
        elif node.kind == "data_validation":
            verdict = "passed" if p.get("passed") else "failed"
            line = f"{p.get('dataset_version')} by {p.get('suite')}: {verdict}"
            if line not in out["validation"]:
                out["validation"].append(line)
        elif node.kind in ("entity", "feature_view", "feature_service", "feature_materialization"):
            out["features"].append(f"{node.kind} {node.id}")
        elif node.kind == "commit":
            out["code commit"].append(
                node.id[:12] + (" (uncommitted changes)" if p.get("dirty") else "")
            )
        elif node.kind == "run" and p.get("pipeline"):
            out["pipeline"].append(f"{p['pipeline']} (run {node.id[:8]}, {p.get('status', '?')})")
        elif node.kind == "run" and node.id == root_run:
            metrics = ", ".join(f"{k} {v:.3f}" for k, v in (p.get("metrics") or {}).items())
            out["run"].append(
                f"{p.get('name', '?')} ({node.id[:8]}){': ' + metrics if metrics else ''}"
            )
    return out


def print_summary(console: Console, summary: QuickstartSummary) -> None:
    """Print the summary: stages and timings, the comparison, drift, lineage and audit check.

    Args:
        console: Where to print.
        summary: What :func:`build_summary` read back.
    """
    console.rule("[bold]Summary")
    stages = Table(title="Stages", title_justify="left")
    stages.add_column("stage", style="bold")
    stages.add_column("seconds", justify="right")
    for name, seconds in summary.stages:
        stages.add_row(name, f"{seconds:.1f}")
    stages.add_row("total", f"{summary.total_s:.1f}", style="bold")
    console.print(stages)

    if summary.metric is not None:
        champ = "-" if summary.champion_metric is None else f"{summary.champion_metric:.3f}"
        chall = "-" if summary.challenger_metric is None else f"{summary.challenger_metric:.3f}"
        console.print(
            f"Champion v{summary.champion_version} {summary.metric} {champ}; challenger "
            f"v{summary.challenger_version} {summary.metric} {chall} (on {summary.holdout})"
        )
    if summary.trigger_status is not None:
        how = f" after canary {' -> '.join(summary.canary_steps)}" if summary.canary_steps else ""
        why = f" ({summary.trigger_message})" if summary.trigger_message else ""
        console.print(
            f"Retraining: {summary.trigger_status}{how}{why}; champion is now "
            f"{summary.model} v{summary.new_champion_version}",
            highlight=False,
        )
    if summary.windows:
        shown = summary.drift_windows[:8] + (["..."] if len(summary.drift_windows) > 8 else [])
        console.print(
            f"Drift found: {', '.join(summary.drifted_features) or 'nothing'} in "
            f"{len(summary.drift_windows)} of {summary.windows} hourly windows "
            f"({', '.join(shown) or '-'} UTC)"
        )
    if summary.lineage:
        table = Table(
            title=f"Lineage of the new champion {summary.model} v{summary.new_champion_version}",
            title_justify="left",
        )
        table.add_column("upstream", style="bold")
        table.add_column("recorded")
        for category, items in summary.lineage.items():
            table.add_row(category, "\n".join(items) or "[dim]none recorded[/]")
        console.print(table)
    if summary.audit_ok:
        console.print(f"[bold green]audit chain verified[/] ({summary.audit_events:,} events)")
    else:
        console.print("[bold red]audit chain BROKEN[/]: run 'keel audit verify' for details")
