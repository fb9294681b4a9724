"""Quickstart stage: new customer data arrives after the drift; register and validate it.

Registers the recent training rows and their holdout (the same frames the automation stage
retrains and compares on, so that stage finds these versions again instead of new ones) and
validates both with a quality suite, so the new champion's lineage reaches a validated dataset.
"""

from __future__ import annotations

from typing import Any

from keel.quickstart._context import QuickstartContext

SUITE = "churn-recent-quality"


def recent_suite() -> Any:
    """The quality suite the recent (post-drift) data must pass."""
    import keel.data as kd
    from keel.quickstart._automation import TARGET

    features = [f"x{i}" for i in range(20)]
    return kd.Suite(
        SUITE,
        description="Recent churn data the retraining policy trains and compares on.",
        checks=[
            kd.not_null([*features, TARGET]),
            kd.in_set(TARGET, [0, 1]),
            kd.row_count(min=1_000),
        ],
    )


def new_data_stage(ctx: QuickstartContext) -> None:
    """Register the recent training rows and holdout, and validate both."""
    import keel.datasets
    from keel.quickstart._automation import HOLDOUT, RECENT, _recent_frames

    train, holdout = _recent_frames(ctx.seed)
    suite = recent_suite()
    recorded = []
    for name, frame, what in (
        (RECENT, train, "Customers after the drift."),
        (HOLDOUT, holdout, "Holdout after the drift."),
    ):
        version = keel.datasets.register(name, frame, description=what)
        result = suite.validate(version)
        verdict = "[bold green]passed[/]" if result.passed else "[bold red]FAILED[/]"
        ctx.console.print(
            f"[bold]New data[/]: {version.ref} ({version.num_rows:,} rows) validated by "
            f"{suite.name!r}: {verdict} ({len(result.checks)} checks)"
        )
        recorded.append(result)
    ctx.console.print()
    ctx.results.update(recent_validations=recorded)
