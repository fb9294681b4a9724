"""One set of registry tests, run embedded and against a real ``keel server``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import keel
from keel.errors import PermissionDeniedError, ValidationFailedError
from tests.server.conftest import KeelServer


@pytest.fixture(params=["embedded", "remote"])
def mode(
    request: pytest.FixtureRequest, keel_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    if request.param == "remote":
        srv: KeelServer = request.getfixturevalue("remote_env")
        from tests.conftest import _reset_keel

        monkeypatch.setenv("KEEL_TOKEN", srv.tokens["admin-user"])  # a project admin
        _reset_keel()
    return request.param


def _model() -> tuple[LogisticRegression, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] > 0).astype(int)
    return LogisticRegression().fit(x, y), x


def test_log_register_load_gate_approve_promote(mode: str) -> None:
    name = f"churn-{mode}-{uuid.uuid4().hex[:6]}"
    model, x = _model()
    with keel.start_run():
        keel.log_metric("acc", 0.93)
        info = keel.log_model(model, "model", registered_name=name, input_example=x[:3])
    assert info.version == 1
    loaded = keel.load_model(f"models:/{name}/1")
    assert (loaded.predict(x[:5]) == model.predict(x[:5])).all()
    keel.models.add_gate(name, keel.gates.metric("acc", ">=", 0.9))
    keel.models.add_gate(name, keel.gates.approval(role="approver"))
    with pytest.raises(ValidationFailedError, match="needs 1 approval"):
        keel.models.promote(name, 1, to="champion")
    keel.models.approve(name, 1, role="approver", comment="ok")
    record = keel.models.promote(name, 1, to="champion", reason="first")
    assert record.outcome == "promoted"
    assert keel.models.get_version_by_alias(name, "champion").version == 1
    assert [a.role for a in keel.models.list_approvals(name, 1)] == ["approver"]
    assert keel.models.get_model(name).aliases == {"champion": 1}
    assert keel.models.get_latest_version(name).version == 1
    assert [v.version for v in keel.models.list_versions(name)] == [1]
    again = keel.load_model(f"models:/{name}@champion")
    assert (again.predict(x[:5]) == model.predict(x[:5])).all()
    assert any(m.name == name for m in keel.models.list_models())
    card = keel.models.model_card(name, 1)
    assert name in card
    assert "approver" in card
    history = keel.models.alias_history(name, "champion")
    assert [(m.old_version, m.new_version) for m in history] == [(None, 1)]
    assert [p.outcome for p in keel.models.list_promotions(name)] == ["promoted", "refused"]


def test_a_contributor_cannot_promote_remotely(
    remote_env: KeelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"churn-c-{uuid.uuid4().hex[:6]}"
    model, x = _model()
    with keel.start_run():
        keel.log_model(model, "model", registered_name=name)
    with pytest.raises(PermissionDeniedError, match="needs the role 'approver'"):
        keel.models.promote(name, 1, to="champion")
    with pytest.raises(PermissionDeniedError):
        keel.models.approve(name, 1, role="approver")


def test_a_viewer_reads_but_cannot_write_remotely(
    remote_env: KeelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import _reset_keel

    name = f"churn-v-{uuid.uuid4().hex[:6]}"
    model, x = _model()
    with keel.start_run() as run:
        keel.log_model(model, "model", registered_name=name)
    monkeypatch.setenv("KEEL_TOKEN", remote_env.tokens["viewer-user"])
    _reset_keel()
    loaded = keel.load_model(f"models:/{name}/1")
    assert (loaded.predict(x[:5]) == model.predict(x[:5])).all()
    assert keel.get_run(run.id).info.user == "contributor-user"
    with pytest.raises(PermissionDeniedError, match="needs the role 'contributor'"):
        keel.start_run()
    with pytest.raises(PermissionDeniedError):
        keel.models.update_model(name, description="x")


def test_an_experiment_of_another_project_is_not_reachable(
    remote_env: KeelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import _reset_keel

    monkeypatch.setenv("KEEL_TOKEN", remote_env.tokens["outsider"])
    monkeypatch.setenv("KEEL_PROJECT", "beta")
    _reset_keel()
    name = f"beta-only-{uuid.uuid4().hex[:6]}"
    keel.set_experiment(name)
    monkeypatch.setenv("KEEL_TOKEN", remote_env.tokens["contributor-user"])
    monkeypatch.setenv("KEEL_PROJECT", "alpha")
    _reset_keel()
    with pytest.raises(PermissionDeniedError, match="exists in a project this token has no role"):
        keel.set_experiment(name)
