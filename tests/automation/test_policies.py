"""Policies: triggers (alert, schedule, new data), cool-down, comparison, approval, rollout."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

import keel
import keel.automation as ka
from keel.errors import AlreadyExistsError, InvalidArgumentError
from keel.registry import models
from keel.serving import get_deployment
from tests.automation import _pipelines as pipes
from tests.automation.conftest import DEPLOYMENT, World

HOUR = 3_600_000
T0 = int(dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp() * 1000)


def _drift_alert() -> int:
    """Log drifted traffic on the deployment, run a drift monitor, return the alert's id."""
    import keel.monitoring as km

    traffic = pipes.frame(n=300, seed=5, shift=3.0)
    km.log_predictions(
        DEPLOYMENT,
        traffic[["x1", "x2"]],
        traffic["label"].to_numpy(),
        timestamps=T0 + np.arange(300) * 1000,
        model_name=pipes.MODEL,
        model_version=1,
    )
    km.create_monitor(DEPLOYMENT, reference="tx@v1", window="1h", checks=[km.data_drift(share=0.3)])
    km.run_monitor(DEPLOYMENT, until=T0 + HOUR)
    events = km.list_events(DEPLOYMENT, kind="alert.fired")
    assert len(events) == 1
    return events[0].id


def _edges(node: tuple[str, str]) -> set[tuple[str, str, str, str, str]]:
    from sqlalchemy import select

    from keel.registry import get_registry
    from keel.store._schema import LineageEdgeRow

    t = LineageEdgeRow.__table__
    store = get_registry().store
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(t.c.source_kind, t.c.source_id, t.c.target_kind, t.c.target_id, t.c.relation)
        ).all()
    return {tuple(r) for r in rows if node in ((r[0], r[1]), (r[2], r[3]))}  # type: ignore[misc]


def _kinds(trigger_id: str) -> list[str]:
    return [e.kind for e in ka.trigger_events(trigger_id)]


def test_alert_triggers_once_compares_on_the_same_holdout_and_promotes(world: World) -> None:
    ka.policy(
        "retrain",
        when=ka.on_alert(DEPLOYMENT, checks=["data_drift"]),
        run=pipes.training,
        promote=ka.champion_challenger(metric="roc_auc", holdout="tx@latest"),
    )
    alert = _drift_alert()
    first = ka.evaluate_policies()
    again = ka.evaluate_policies()  # idempotent: the same alert never triggers twice
    assert again == []
    history = ka.policy_history("retrain")
    assert len(history) == 1
    assert first[0].id == history[0].id
    t = history[0]
    assert (t.cause_kind, t.cause_id, t.status) == ("alert", str(alert), "promoted")
    assert t.challenger_version == 2
    assert t.champion_version == 1
    comparison = t.details["comparison"]
    assert comparison["holdout"] == "tx@v1"
    assert comparison["rows"] == 400
    assert comparison["challenger"] > comparison["champion"]
    assert models.get_version_by_alias(pipes.MODEL, "champion").version == 2
    assert _kinds(t.id) == [
        "triggered",
        "pipeline_finished",
        "compared",
        "gates",
        "rollout_step",
        "promoted",
    ]
    node = ("automation_trigger", t.id)
    edges = _edges(node)
    assert ("alert", str(alert), *node, "triggered") in edges
    assert (*node, "pipeline_run", str(t.pipeline_run_id), "started") in edges
    assert (*node, "model_version", "churn/2", "challenger") in edges
    assert ("dataset_version", "tx@v1", *node, "holdout") in edges
    from keel.governance._auditlog import audit_log, verify_audit

    actions = {e.action for e in audit_log(action="automation", limit=1000)}
    assert {"automation.triggered", "automation.compared", "automation.promoted"} <= actions
    assert verify_audit().ok


def test_a_challenger_that_loses_is_rejected(world: World) -> None:
    pipes.training.run(quality="good").raise_for_status()
    models.promote(pipes.MODEL, 2, to="champion")
    ka.policy(
        "retrain",
        when=ka.on_new_data("tx"),
        run=pipes.training,
        params={"quality": "bad"},
        promote=ka.champion_challenger(metric="roc_auc", holdout="tx@latest", min_delta=0.05),
    )
    keel.datasets.register("tx", pipes.frame(seed=1))
    (t,) = ka.evaluate_policies()
    assert t.status == "rejected", t.message
    assert "does not beat" in t.message
    assert t.details["comparison"]["champion"] > t.details["comparison"]["challenger"]
    assert models.get_version_by_alias(pipes.MODEL, "champion").version == 2


def test_cooldown_and_new_data_triggers(world: World) -> None:
    ka.policy("fresh", when=ka.on_new_data("tx"), run=pipes.training, cooldown="6h")
    assert ka.evaluate_policies() == []  # tx@v1 existed before the policy
    keel.datasets.register("tx", pipes.frame(seed=1))
    (first,) = ka.evaluate_policies()
    assert (first.cause_kind, first.cause_id, first.status) == ("new_data", "tx@v2", "completed")
    keel.datasets.register("tx", pipes.frame(seed=2))
    (skipped,) = ka.evaluate_policies()
    assert skipped.status == "skipped"
    assert "cooling down" in skipped.message
    keel.datasets.register("tx", pipes.frame(seed=3))
    from keel._utils import now_ms

    later = now_ms() + 7 * HOUR
    (second,) = ka.evaluate_policies(now=later)
    assert (second.cause_id, second.status) == ("tx@v4", "completed")
    assert [t.status for t in ka.policy_history("fresh")] == ["completed", "skipped", "completed"]
    assert len(keel.pipelines.list_runs()) == 3  # the champion's, and two retrainings


def test_schedule_trigger_fires_once_per_tick(world: World) -> None:
    from keel._utils import now_ms

    t0 = now_ms()  # before the policy: its first tick is after this
    ka.policy("weekly", when=ka.on_schedule("* * * * *"), run=pipes.training, cooldown=0)
    assert ka.evaluate_policies(now=t0) == []
    later = t0 + 120_000
    (t,) = ka.evaluate_policies(now=later)
    assert t.cause_kind == "schedule"
    assert t.status == "completed"
    assert ka.evaluate_policies(now=later) == []


def test_manual_approval_waits_for_models_approve(world: World) -> None:
    ka.policy(
        "retrain",
        when=ka.on_new_data("tx"),
        run=pipes.training,
        promote=ka.champion_challenger(metric="roc_auc", holdout="tx@latest"),
        approval="manual",
    )
    keel.datasets.register("tx", pipes.frame(seed=1))
    (t,) = ka.evaluate_policies()
    assert t.status == "awaiting_approval"
    assert ka.evaluate_policies() == []  # still waiting
    assert models.get_version_by_alias(pipes.MODEL, "champion").version == 1
    models.approve(pipes.MODEL, t.challenger_version or 0)
    (t,) = ka.evaluate_policies()
    assert t.status == "promoted"
    assert "approved" in _kinds(t.id)
    assert models.get_version_by_alias(pipes.MODEL, "champion").version == 2


def _canary_policy(every: str = "1m", **rollout: Any) -> None:
    ka.policy(
        "retrain",
        when=ka.on_new_data("tx"),
        run=pipes.training,
        promote=ka.champion_challenger(
            metric="roc_auc",
            holdout="tx@latest",
            deployment=DEPLOYMENT,
            rollout=ka.canary([10, 50, 100], every=every, **rollout),
        ),
    )


def test_canary_steps_advance_with_the_clock(world: World) -> None:
    from keel._utils import now_ms

    _canary_policy()
    keel.datasets.register("tx", pipes.frame(seed=1))
    t0 = now_ms()
    (t,) = ka.evaluate_policies(now=t0)
    assert (t.status, t.step_index) == ("rolling_out", 0)
    spec = get_deployment(DEPLOYMENT).spec
    assert (spec.canary_version, spec.canary_percent) == (2, 10.0)
    assert ka.evaluate_policies(now=t0 + 30_000) == []
    (t,) = ka.evaluate_policies(now=t0 + 61_000)
    assert t.step_index == 1
    assert get_deployment(DEPLOYMENT).spec.canary_percent == 50.0
    (t,) = ka.evaluate_policies(now=t0 + 122_000)
    assert t.status == "promoted"
    spec = get_deployment(DEPLOYMENT).spec
    assert spec.canary_version is None
    assert spec.alias == "champion"
    assert models.get_version_by_alias(pipes.MODEL, "champion").version == 2
    steps = [e.details["percent"] for e in ka.trigger_events(t.id) if e.kind == "rollout_step"]
    assert steps == [10.0, 50.0, 100.0]


def test_rollback_when_the_canary_error_rate_breaches(world: World) -> None:
    import keel.monitoring as km
    from keel._utils import now_ms

    _canary_policy(rollback_if=["error_rate", "latency"])
    keel.datasets.register("tx", pipes.frame(seed=1))
    t0 = now_ms()
    (t,) = ka.evaluate_policies(now=t0)
    traffic = pipes.frame(n=60, seed=9)[["x1", "x2"]]
    for version, errors in ((1, False), (2, True)):
        km.log_predictions(
            DEPLOYMENT,
            traffic,
            np.zeros(60, int),
            timestamps=t0 + 1000,
            latency_ms=5.0,
            errors=np.full(60, errors),
            model_name=pipes.MODEL,
            model_version=version,
        )
    (t,) = ka.evaluate_policies(now=t0 + 5000)
    assert t.status == "rolled_back"
    assert "error rate 1.000" in t.message
    assert get_deployment(DEPLOYMENT).spec.canary_version is None
    assert models.get_version_by_alias(pipes.MODEL, "champion").version == 1
    (rollback,) = [e for e in ka.trigger_events(t.id) if e.kind == "rollback"]
    assert rollback.details["health"]["canary"]["error_rate"] == 1.0
    assert rollback.details["alert_deliveries"][0]["ok"] is True


def test_a_failing_pipeline_leaves_the_champion_serving_and_alerts(world: World) -> None:
    _canary_policy()
    ka.policy(
        "broken",
        when=ka.on_new_data("tx"),
        run=pipes.training,
        params={"fail": True},
        promote=ka.champion_challenger(metric="roc_auc", holdout="tx@latest"),
    )
    before = get_deployment(DEPLOYMENT).revision
    keel.datasets.register("tx", pipes.frame(seed=1))
    ka.evaluate_policies("broken")
    (t,) = ka.policy_history("broken")
    assert t.status == "failed"
    assert "could not be read" in t.message
    assert t.pipeline_run_id is not None
    (failed,) = [e for e in ka.trigger_events(t.id) if e.kind == "failed"]
    assert failed.details["alert_deliveries"][0]["ok"] is True
    assert get_deployment(DEPLOYMENT).revision == before
    assert models.get_version_by_alias(pipes.MODEL, "champion").version == 1


def test_bad_definitions_are_refused(world: World) -> None:
    with pytest.raises(InvalidArgumentError, match="steps must be increasing"):
        ka.canary([50, 10])
    with pytest.raises(InvalidArgumentError, match="Unknown rollback criteria"):
        ka.canary(rollback_if=["errors"])
    with pytest.raises(InvalidArgumentError, match="approval must be"):
        ka.policy("p", when=ka.on_new_data("tx"), run=pipes.training, approval="maybe")
    with pytest.raises(InvalidArgumentError, match="Invalid cooldown"):
        ka.policy("p", when=ka.on_new_data("tx"), run=pipes.training, cooldown="soon")
    ka.policy("p", when=ka.on_new_data("tx"), run=pipes.training)
    with pytest.raises(AlreadyExistsError, match="replace=True"):
        ka.policy("p", when=ka.on_new_data("tx"), run=pipes.training)
    assert [p.name for p in ka.list_policies()] == ["p"]


def test_a_failing_registry_gate_rejects_the_challenger(world: World) -> None:
    models.add_gate(pipes.MODEL, keel.gates.metric("auc", ">=", 0.5))  # no run logs "auc"
    ka.policy(
        "retrain",
        when=ka.on_new_data("tx"),
        run=pipes.training,
        promote=ka.champion_challenger(metric="roc_auc", holdout="tx@latest"),
    )
    keel.datasets.register("tx", pipes.frame(seed=1))
    (t,) = ka.evaluate_policies()
    assert t.status == "rejected"
    assert t.message.startswith("metric:auc>=0.5")
    assert t.details["gates"][0]["passed"] is False
    assert [g.gate_name for g in models.gate_results(pipes.MODEL, 2)] == ["metric:auc>=0.5"]
    assert models.get_version_by_alias(pipes.MODEL, "champion").version == 1


def test_alerts_before_the_policy_count_only_with_since(world: World) -> None:
    from keel._utils import now_ms

    started = now_ms()
    alert = _drift_alert()
    ka.policy("late", when=ka.on_alert(DEPLOYMENT), run=pipes.training)
    ka.policy("since", when=ka.on_alert(DEPLOYMENT, since=started), run=pipes.training)
    ka.evaluate_policies()
    assert ka.policy_history("late") == []
    (t,) = ka.policy_history("since")
    assert (t.cause_id, t.status) == (str(alert), "completed")
