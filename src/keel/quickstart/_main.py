"""The quickstart: runs each stage in lifecycle order, then sums up what it did and found.

Where the store goes: :func:`quickstart_home` picks it for ``keel quickstart``. With
``--keep DIR`` the store is made in ``DIR`` and left there (``export KEEL_HOME=DIR`` makes the
printed commands look at it); without it, in ``KEEL_HOME`` when that variable is set (the
store you pointed Keel at), else in a fresh temporary home that is removed at the end, so the
demo never mixes into your own ``~/.keel``. :func:`run_quickstart` itself uses the current
settings.
"""

from __future__ import annotations

import os
import shlex
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from keel.quickstart._automation import automation_stage
from keel.quickstart._context import QuickstartContext
from keel.quickstart._data import data_stage
from keel.quickstart._features import features_stage
from keel.quickstart._monitoring import monitoring_stage
from keel.quickstart._newdata import new_data_stage
from keel.quickstart._registry import registry_stage
from keel.quickstart._serving import serving_stage
from keel.quickstart._summary import UI_COMMAND, QuickstartSummary, build_summary, print_summary
from keel.quickstart._training import training_stage

#: The stages in lifecycle order; each capability adds its own.
STAGES: list[Callable[[QuickstartContext], None]] = [
    data_stage,
    features_stage,
    training_stage,
    registry_stage,
    serving_stage,
    monitoring_stage,
    new_data_stage,
    automation_stage,
]

#: Settings a quickstart home replaces, so nothing of another store leaks in.
_STORE_VARS = ("KEEL_STORE_URI", "KEEL_ARTIFACT_URI", "KEEL_TRACKING_URI", "KEEL_ONLINE_STORE")


@dataclass(frozen=True)
class QuickstartResult:
    """What the quickstart produced.

    Attributes:
        experiment: The training sweep's experiment.
        parent_run_id: The sweep's parent run.
        run_ids: The sweep's runs.
        best_run_id: The run with the best AUC.
        best_auc: Its AUC.
        results: Every stage's named outputs.
        summary: What the closing summary reported, read back from the store.
    """

    experiment: str
    parent_run_id: str
    run_ids: list[str]
    best_run_id: str
    best_auc: float
    results: dict[str, object]
    summary: QuickstartSummary | None = None


def stage_name(stage: Callable[[QuickstartContext], None]) -> str:
    """A stage's display name: ``new_data_stage`` is ``New data``."""
    return stage.__name__.removesuffix("_stage").replace("_", " ").capitalize()


def _reset_clients() -> None:
    from keel.config import reset_settings
    from keel.data._client import reset_data_client
    from keel.monitoring._client import reset_monitoring_client
    from keel.tracking import reset_client

    reset_data_client()
    reset_monitoring_client()
    reset_client()
    reset_settings()


@contextmanager
def quickstart_home(keep: Path | None = None) -> Iterator[tuple[Path | None, bool]]:
    """Point Keel at the home the quickstart should fill, for the duration of the block.

    Args:
        keep: Make the store here and leave it (``--keep DIR``).

    Yields:
        ``(home, temporary)``: the home in use (``None``: the configured ``KEEL_HOME``, left
        as it is) and whether it is removed at the end.
    """
    if keep is None and os.environ.get("KEEL_HOME"):
        yield None, False
        return
    saved = {k: os.environ.get(k) for k in ("KEEL_HOME", "KEEL_CONFIG", *_STORE_VARS)}
    temp = None
    if keep is None:
        temp = tempfile.TemporaryDirectory(prefix="keel-quickstart-", ignore_cleanup_errors=True)
        home = Path(temp.name)
    else:
        home = keep.expanduser().resolve()
        home.mkdir(parents=True, exist_ok=True)
    for var in _STORE_VARS:
        os.environ.pop(var, None)
    os.environ["KEEL_HOME"] = str(home)
    # A keel.toml in the current folder must not send the store elsewhere.
    os.environ["KEEL_STORE_URI"] = f"sqlite:///{home / 'keel.db'}"
    os.environ["KEEL_ARTIFACT_URI"] = str(home / "artifacts")
    os.environ["KEEL_ONLINE_STORE"] = f"sqlite:///{home / 'online.db'}"
    _reset_clients()
    from keel.config import override_settings

    override_settings(tracking_uri=None)
    try:
        yield home, temp is not None
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        _reset_clients()
        if temp is not None:
            temp.cleanup()


def run_quickstart(
    console: Console | None = None,
    *,
    epochs: int = 30,
    seed: int = 7,
    kept: Path | None = None,
    temporary: bool = False,
) -> QuickstartResult:
    """Run every stage, then print a summary and how to look at the results.

    Args:
        console: Where to print (a new Rich console by default).
        epochs: Training epochs per run.
        seed: Seed of the generated data and the models.
        kept: The home the store is kept in (``--keep DIR``): the "Look at it" commands start
            with ``export KEEL_HOME=DIR``.
        temporary: The store is removed after the run: say so instead of listing commands.
    """
    from keel.config import get_settings

    ctx = QuickstartContext(console=console or Console(), seed=seed, epochs=epochs)
    settings = get_settings()
    ctx.console.rule("[bold]Keel quickstart")
    ctx.console.print(f"Metadata store: [cyan]{settings.store_uri}[/]")
    ctx.console.print(f"Artifact store: [cyan]{settings.artifact_uri}[/]\n")
    for i, stage in enumerate(STAGES, 1):
        name = stage_name(stage)
        ctx.console.rule(f"[bold]{i}/{len(STAGES)} {name}", align="left", style="dim")
        started = time.perf_counter()
        stage(ctx)
        ctx.timings.append((name, time.perf_counter() - started))
    summary = build_summary(ctx)
    print_summary(ctx.console, summary)
    ctx.console.rule("[bold]Look at it")
    if temporary:
        ctx.console.print(
            "  The store was made in a temporary home and is removed now. To explore it, run\n"
            "  [bold]keel quickstart --keep DIR[/], then [bold]export KEEL_HOME=DIR[/] and "
            f"[bold]{UI_COMMAND}[/]."
        )
    else:
        lines = [*ctx.look, "keel doctor", f"{UI_COMMAND}    # open the UI"]
        if kept is not None:
            lines.insert(0, f"export KEEL_HOME={shlex.quote(str(kept))}")
        for line in lines:
            ctx.console.print(f"  {line}", highlight=False, soft_wrap=True)
    r = ctx.results
    return QuickstartResult(
        r["experiment"],
        r["parent_run_id"],
        r["run_ids"],
        r["best_run_id"],
        r["best_auc"],
        r,
        summary,
    )
