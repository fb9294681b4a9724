"""Gates and promotion: every gate kind passing and failing with reasons, on SQLite and PG."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import keel
from keel.errors import (
    InvalidArgumentError,
    InvalidStateError,
    PermissionDeniedError,
    ValidationFailedError,
)
from keel.registry import _roles, gates, models
from keel.tracking import TrackingClient

from .conftest import churn_frame

X, Y = churn_frame(400)
HOLDOUT_X, HOLDOUT_Y = churn_frame(300, seed=1)


def _register(c: float, auc: float, name: str = "churn", inputs: list[Any] | None = None) -> int:
    from sklearn.linear_model import LogisticRegression

    with keel.start_run():
        for node in inputs or []:
            keel.log_input(node)
        keel.log_metric("auc", auc)
        info = keel.log_model(
            LogisticRegression(C=c, max_iter=500).fit(X, Y),
            "model",
            input_example=X[:3],
            registered_name=name,
        )
    return int(info.version or 0)


def test_promotion_runs_every_gate_and_refuses_with_reasons(client: TrackingClient) -> None:
    weak = _register(c=1e-4, auc=0.70)  # a heavily regularized model: worse on holdout
    models.set_alias("churn", "champion", weak)
    strong = _register(c=1.0, auc=0.86)
    holdout = HOLDOUT_X.assign(churned=HOLDOUT_Y)
    models.add_gate("churn", gates.metric("auc", ">=", 0.9))
    models.add_gate(
        "churn", gates.beats("champion", metric="auc", holdout=holdout, target="churned")
    )
    models.add_gate("churn", gates.approval(role="approver"))
    models.add_gate("churn", gates.metric("auc", ">=", 0.9))  # again: no duplicate
    assert [g.name for g in models.list_gates("churn")] == [
        "metric:auc>=0.9",
        "beats:champion:auc",
        "approval:approver",
    ]
    with pytest.raises(ValidationFailedError) as err:
        models.promote("churn", strong, to="champion", reason="weekly retrain")
    message = err.value.message
    assert "refused: 2 of 3 gate(s) failed" in message
    assert "metric:auc>=0.9: auc = 0.86, not >= 0.9" in message
    assert "approval:approver: needs 1 approval(s) in role 'approver', has 0" in message
    failed = {f["gate"] for f in err.value.details["failed_gates"]}
    assert failed == {"metric:auc>=0.9", "approval:approver"}
    assert models.get_model("churn").aliases["champion"] == weak  # nothing moved

    results = {r.gate_name: r for r in models.gate_results("churn", strong)}
    beat = results["beats:champion:auc"]
    assert beat.passed
    assert beat.details["candidate"] > beat.details["current"]
    assert beat.details["holdout_rows"] == 300
    assert beat.promotion_id == err.value.details["promotion_id"]
    (refused,) = models.list_promotions("churn", strong)
    assert (refused.outcome, refused.reason, refused.previous_version) == (
        "refused",
        "weekly retrain",
        weak,
    )

    models.remove_gate("churn", "metric:auc>=0.9")
    models.add_gate("churn", gates.metric("auc", ">=", 0.85))
    models.approve("churn", strong, role="approver", comment="looks good")
    record = models.promote("churn", strong, to="champion", reason="weekly retrain")
    assert (record.outcome, record.previous_version, record.actor) == (
        "promoted",
        weak,
        client.settings.user,
    )
    assert models.get_model("churn").aliases["champion"] == strong
    moves = models.alias_history("churn", "champion")
    assert (moves[-1].action, moves[-1].reason) == ("promote", "weekly retrain")
    actions = [e.action for e in client.store.list_audit_events()]
    assert "model_version.promotion_refused" in actions
    assert "model_version.promotion_promoted" in actions
    assert "model_version.approve" in actions
    assert client.store.verify_audit_chain().ok


def test_beats_needs_holdout_data_and_fails_a_worse_model(client: TrackingClient) -> None:
    strong = _register(c=1.0, auc=0.9)
    models.set_alias("churn", "champion", strong)
    weak = _register(c=1e-4, auc=0.7)
    models.add_gate("churn", gates.beats("champion", metric="log_loss"))
    (result,) = models.check_gates("churn", weak, to="champion")
    assert not result.passed
    assert "no holdout data to compare on" in result.reason
    models.set_holdout("churn", (HOLDOUT_X.to_numpy(), HOLDOUT_Y))
    (result,) = models.check_gates("churn", weak, to="champion")
    assert not result.passed
    assert "does not beat it strictly" in result.reason
    assert result.details["higher_is_better"] is False
    assert result.details["candidate"] > result.details["current"]  # a larger loss
    (same,) = models.check_gates("churn", strong, to="champion")
    assert same.passed
    assert "already holds 'champion'" in same.reason


def test_first_promotion_has_nothing_to_beat(client: TrackingClient) -> None:
    v = _register(c=1.0, auc=0.9)
    models.add_gate("churn", gates.beats("champion", holdout=(HOLDOUT_X, HOLDOUT_Y)))
    record = models.promote("churn", v, to="champion")
    assert record.outcome == "promoted"
    assert record.previous_version is None


def test_data_validated_asks_the_data_capability(client: TrackingClient) -> None:
    import keel.data as kd

    frame = X.assign(churned=Y)
    good = kd.register("customers", frame)
    bad = kd.register("customers", frame.assign(monthly=-5000.0))
    suite = kd.Suite("customers-quality", [kd.between("monthly", -1000, 1000)])
    suite.validate(good)
    suite.validate(bad)
    models.create_model("churn", intended_use="tests")
    models.add_gate("churn", gates.data_validated())

    unvalidated = kd.register("customers", frame.head(100))
    plain = _register(c=1.0, auc=0.9)
    (r,) = models.check_gates("churn", plain, to="champion")
    assert not r.passed
    assert "records no dataset inputs" in r.reason

    v_bad = _register(c=1.0, auc=0.9, inputs=[bad])
    (r,) = models.check_gates("churn", v_bad, to="champion")
    assert not r.passed
    assert f"{bad.ref} failed its newest validation" in r.reason

    v_new = _register(c=1.0, auc=0.9, inputs=[good, unvalidated])
    (r,) = models.check_gates("churn", v_new, to="champion")
    assert not r.passed
    assert f"{unvalidated.ref} was never validated" in r.reason

    v_good = _register(c=1.0, auc=0.9, inputs=[good])
    (r,) = models.check_gates("churn", v_good, to="champion")
    assert r.passed
    assert r.details["datasets"][good.ref]["passed"] is True
    assert models.promote("churn", v_good, to="champion").outcome == "promoted"

    models.add_gate("churn", gates.data_validated(["orders"]), alias="prod")
    (r, s) = models.check_gates("churn", v_good, to="prod")
    assert {x.gate_name: x.passed for x in (r, s)} == {
        "data_validated": True,
        "data_validated:orders": False,
    }


def test_approval_needs_the_role(client: TrackingClient) -> None:
    v = _register(c=1.0, auc=0.9)
    models.add_gate("churn", gates.approval(role="risk", count=2))
    _roles.set_role_checker(lambda principal, role: role == "risk")
    try:
        models.approve("churn", v, role="risk")
        models.approve("churn", v, role="risk")  # the same person twice counts once
        with pytest.raises(PermissionDeniedError, match=r"does not hold the role 'security'"):
            models.approve("churn", v, role="security")
    finally:
        _roles.set_role_checker(None)
    (r,) = models.check_gates("churn", v, to="champion")
    assert not r.passed
    assert "needs 2 approval(s) in role 'risk', has 1" in r.reason
    assert [a.role for a in models.list_approvals("churn", v)] == ["risk"]


def test_alias_gates_apply_only_to_their_alias(client: TrackingClient) -> None:
    v = _register(c=1.0, auc=0.8)
    models.add_gate("churn", gates.metric("auc", ">=", 0.95), alias="champion")
    assert models.promote("churn", v, to="challenger").outcome == "promoted"
    with pytest.raises(ValidationFailedError, match=r"metric:auc>=0.95: auc = 0.8, not >= 0.95"):
        models.promote("churn", v, to="champion")


def test_a_promotion_decided_on_stale_facts_is_refused(
    client: TrackingClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1, v2, v3 = (_register(c=c, auc=0.9) for c in (1.0, 0.5, 0.2))
    models.set_alias("churn", "champion", v1)
    original = gates.MetricGate.evaluate

    def slow_gate(self: gates.MetricGate, ctx: gates.GateContext) -> gates.GateOutcome:
        models.set_alias("churn", "champion", v3)  # someone moves it while gates run
        return original(self, ctx)

    models.add_gate("churn", gates.metric("auc", ">=", 0.5))
    monkeypatch.setattr(gates.MetricGate, "evaluate", slow_gate)
    with pytest.raises(InvalidStateError, match=r"moved concurrently: it points at version 3"):
        models.promote("churn", v2, to="champion")
    assert models.get_model("churn").aliases["champion"] == v3


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: gates.metric("auc", "=>", 0.9), r"Unknown comparison '=>'"),
        (lambda: gates.metric("auc", ">=", "high"), r"must be a number, got 'high'"),
        (lambda: gates.beats("champion", metric="acuracy"), r"'acuracy'.*Did you mean 'accuracy'"),
        (lambda: gates.beats("champion", min_delta=-1), r"min_delta must be a number of at least"),
        (lambda: gates.beats("champion", holdout=X), r"needs target= naming its label column"),
        (lambda: gates.approval(count=0), r"count must be an integer of at least 1"),
        (lambda: gates.beats("1st"), r"Invalid alias '1st'"),
    ],
)
def test_bad_gates_are_refused(make: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        make()


def test_gate_errors_become_failed_results(local: TrackingClient) -> None:
    v = _register(c=1.0, auc=0.9)
    _register(c=0.5, auc=0.9)
    models.set_alias("churn", "champion", 2)
    bad_holdout = HOLDOUT_X.assign(churned=HOLDOUT_Y).drop(columns=["tenure"])
    models.add_gate("churn", gates.beats("champion", holdout=bad_holdout, target="churned"))
    models.add_gate("churn", gates.metric("f1", ">=", 0.5))
    results = {r.gate_name: r for r in models.check_gates("churn", v, to="champion")}
    assert "missing columns ['tenure']" in results["beats:champion:auc"].reason
    assert "has no metric 'f1'" in results["metric:f1>=0.5"].reason
    with pytest.raises(InvalidArgumentError, match=r"takes a gate from keel.gates"):
        models.add_gate("churn", "auc>0.9")  # type: ignore[arg-type]
    assert np.isfinite(results["beats:champion:auc"].evaluated_at)
