"""State handed from one quickstart stage to the next."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console


@dataclass
class QuickstartContext:
    """What the stages share: where to print, the seed, and what earlier stages produced.

    Attributes:
        console: Where every stage prints.
        seed: Seed of generated data and models.
        epochs: Training epochs per run.
        results: Named outputs of earlier stages (``"best_run_id"``, ``"dataset"``, ...).
        look: Commands printed at the end to inspect what the stages made.
        timings: Each stage that ran, as ``(name, seconds)``, in the order they ran.
    """

    console: Console
    seed: int = 7
    epochs: int = 30
    results: dict[str, Any] = field(default_factory=dict)
    look: list[str] = field(default_factory=list)
    timings: list[tuple[str, float]] = field(default_factory=list)
