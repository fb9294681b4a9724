"""The quickstart: runs each stage in lifecycle order, then prints how to look at the results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console

from keel.quickstart._automation import automation_stage
from keel.quickstart._context import QuickstartContext
from keel.quickstart._data import data_stage
from keel.quickstart._features import features_stage
from keel.quickstart._monitoring import monitoring_stage
from keel.quickstart._registry import registry_stage
from keel.quickstart._serving import serving_stage
from keel.quickstart._training import training_stage

#: The stages in lifecycle order; each capability adds its own.
STAGES: list[Callable[[QuickstartContext], None]] = [
    data_stage,
    features_stage,
    training_stage,
    registry_stage,
    serving_stage,
    monitoring_stage,
    automation_stage,
]


@dataclass(frozen=True)
class QuickstartResult:
    """What the quickstart produced."""

    experiment: str
    parent_run_id: str
    run_ids: list[str]
    best_run_id: str
    best_auc: float
    results: dict[str, object]


def run_quickstart(
    console: Console | None = None, *, epochs: int = 30, seed: int = 7
) -> QuickstartResult:
    """Run every stage and print what it did and how to look at it.

    Args:
        console: Where to print (a new Rich console by default).
        epochs: Training epochs per run.
        seed: Seed of the generated data and the models.
    """
    from keel.config import get_settings

    ctx = QuickstartContext(console=console or Console(), seed=seed, epochs=epochs)
    settings = get_settings()
    ctx.console.rule("[bold]Keel quickstart")
    ctx.console.print(f"Metadata store: [cyan]{settings.store_uri}[/]")
    ctx.console.print(f"Artifact store: [cyan]{settings.artifact_uri}[/]\n")
    for stage in STAGES:
        stage(ctx)
    ctx.console.rule("[bold]Look at it")
    for line in [*ctx.look, "keel doctor"]:
        ctx.console.print(f"  {line}")
    r = ctx.results
    return QuickstartResult(
        r["experiment"], r["parent_run_id"], r["run_ids"], r["best_run_id"], r["best_auc"], r
    )
