"""The quickstart's automation stage: the drift alert retrains, compares and rolls out once."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

import keel.automation as ka
from keel.registry import models


@pytest.mark.slow
def test_quickstart_drift_triggers_one_retraining_promoted_through_the_canary(
    keel_home: Path,
) -> None:
    import keel.monitoring as km
    from keel.quickstart import run_quickstart
    from keel.quickstart._automation import HOLDOUT, POLICY, STEPS

    out = io.StringIO()
    result = run_quickstart(Console(file=out, width=160), epochs=2, seed=3)
    text = out.getvalue()
    r = result.results
    (trigger,) = ka.policy_history(POLICY)  # retraining triggered once
    (drift,) = km.list_events(r["monitor"], kind="alert.fired", limit=1000)[:1]
    assert drift.check == "data_drift"
    assert (trigger.cause_kind, trigger.cause_id) == ("alert", str(drift.id))
    assert trigger.status == "promoted"
    comparison = trigger.details["comparison"]
    assert comparison["holdout"] == f"{HOLDOUT}@v1"
    assert comparison["champion_version"] == r["champion_version"]
    assert comparison["challenger"] > comparison["champion"]
    assert r["canary_steps"] == [f"{s}%" for s in STEPS]
    model = r["model_name"]
    assert models.get_version_by_alias(model, "champion").version == trigger.challenger_version
    kinds = [e.kind for e in ka.trigger_events(trigger.id)]
    assert kinds.index("awaiting_approval") < kinds.index("approved") < kinds.index("promoted")
    assert f"Policy {POLICY}: alert {drift.id} -> retrained" in text
    assert "-> promoted" in text
    # Evaluating again acts on nothing: the alert triggered the policy already.
    assert ka.evaluate_policies(POLICY) == []
