"""Every public name of keel.monitoring exists and is documented; the quickstart stage works."""

from __future__ import annotations

import doctest
import inspect
import io
from typing import Any

import pytest
from rich.console import Console

import keel
import keel.monitoring as km


def test_every_public_name_exists_and_is_documented() -> None:
    for name in km.__all__:
        obj = getattr(km, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), name
    assert keel.monitoring is km


@pytest.mark.parametrize(
    "module",
    [
        "keel.monitoring._drift",
        "keel.monitoring._performance",
        "keel.monitoring._prometheus",
        "keel.monitoring._alerts",
    ],
)
def test_docstring_examples_run(keel_home: Any, module: str) -> None:
    import importlib

    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_log_predictions_example_runs(keel_home: Any) -> None:
    import keel.monitoring._log as log_module

    result = doctest.testmod(log_module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted >= 2


def test_quickstart_stage_detects_the_drift(keel_home: Any) -> None:
    from keel.quickstart._context import QuickstartContext
    from keel.quickstart._monitoring import monitoring_stage

    out = io.StringIO()
    ctx = QuickstartContext(console=Console(file=out, width=120))
    monitoring_stage(ctx)
    assert ctx.results["drifted_features"] == ["amount", "country"]
    text = out.getvalue()
    assert "Report:" in text
    assert "alert(s) fired once each" in text
    assert (keel_home / "reports" / "quickstart-churn.html").exists()
    monitoring_stage(ctx)  # a rerun continues after the traffic already logged
    assert ctx.results["drifted_features"] == ["amount", "country"]
