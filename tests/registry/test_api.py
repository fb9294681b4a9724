"""The public registry API: every exported name exists and is documented; lazy top level."""

from __future__ import annotations

import inspect
import io
import subprocess
import sys
from pathlib import Path

import pytest

import keel
from keel import registry
from keel.registry import gates, models


@pytest.mark.parametrize("module", [registry, models, gates])
def test_every_public_name_exists_and_is_documented(module: object) -> None:
    for name in module.__all__:  # type: ignore[attr-defined]
        obj = getattr(module, name)
        if inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismodule(obj):
            assert inspect.getdoc(obj), f"{module.__name__}.{name} has no docstring"  # type: ignore[attr-defined]


def test_top_level_names_are_lazy() -> None:
    assert keel.models is models
    assert keel.gates is gates
    assert keel.log_model is registry.log_model
    assert keel.load_model is registry.load_model
    assert {"models", "gates", "log_model", "load_model"} <= set(dir(keel))
    code = "import sys, keel; print(any(m.startswith('keel.registry') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_quickstart_registers_gates_and_promotes(keel_home: Path) -> None:
    from rich.console import Console

    from keel.quickstart import run_quickstart

    result = run_quickstart(Console(file=io.StringIO()), epochs=3)
    r = result.results
    mv = models.get_version(r["model_name"], r["model_version"])
    assert mv.run_id == result.best_run_id
    assert mv.metrics["auc"] == pytest.approx(result.best_auc)
    # The registry stage made this version champion; the automation stage later promotes the
    # retrained challenger through a canary, so the alias ends on the challenger when it won.
    champion = models.get_model(r["model_name"]).aliases["champion"]
    if r.get("trigger_status") == "promoted":
        assert champion == r["challenger_version"]
    else:
        assert champion == r["model_version"]
    history = [m.new_version for m in models.alias_history(r["model_name"], "champion")]
    assert r["model_version"] in history
    assert Path(r["card_path"]).read_text().startswith("<!DOCTYPE html>")
    loaded = keel.load_model(r["model_uri"])
    assert loaded.predict(r["X_test"][:5]).shape == (5,)
