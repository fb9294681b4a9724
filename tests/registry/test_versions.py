"""Versions and aliases in the store: numbering, immutability, lineage, audit, concurrency."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import keel
from keel.errors import InvalidArgumentError, InvalidStateError, NotFoundError
from keel.registry import models
from keel.registry._fastload import resolve
from keel.registry._uri import parse_model_uri
from keel.tracking import TrackingClient

from .conftest import churn_frame

X, Y = churn_frame(200)


def _model(c: float = 1.0) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c).fit(X, Y)


def _register(name: str = "churn", c: float = 1.0, **metrics: float) -> keel.registry.ModelInfo:
    with keel.start_run():
        keel.log_metrics(metrics or {"auc": 0.8})
        return keel.log_model(_model(c), "model", input_example=X[:3], registered_name=name)


def test_versions_are_numbered_linked_and_carry_run_metrics(client: TrackingClient) -> None:
    first = _register(auc=0.81, f1=0.5)
    second = _register(auc=0.83)
    assert (first.version, second.version) == (1, 2)
    mv = models.get_version("churn", 1)
    assert mv.run_id == first.run_id
    assert mv.metrics == {"auc": 0.81, "f1": 0.5}
    assert mv.metric_sources["auc"] == f"run:{first.run_id}"
    assert mv.lineage_node() == ("model_version", "churn/1")
    assert mv.uri == "models:/churn/1"
    assert [v.version for v in models.list_versions("churn")] == [2, 1]
    assert models.get_latest_version("churn").version == 2
    edges = client.store.list_lineage_edges(("model_version", "churn/2"), "upstream")
    assert [(e.source_kind, e.source_id, e.relation) for e in edges] == [
        ("run", second.run_id, "output")
    ]
    actions = [e.action for e in client.store.list_audit_events()]
    assert actions.count("model_version.create") == 2
    assert "registered_model.create" in actions
    assert client.store.verify_audit_chain().ok
    listed = models.list_models()
    assert [(m.name, m.latest_version) for m in listed] == [("churn", 2)]


def test_a_version_cannot_change_its_content(client: TrackingClient) -> None:
    info = _register()
    digest = models.get_version("churn", 1).manifest_digest
    # Overwriting a file at the same path of the run does not touch v1: it points at its own
    # manifest, whose digests pin every file.
    client.log_bytes(info.run_id, b"overwritten", "model/model.pkl")
    assert models.get_version("churn", 1).manifest_digest == digest
    loaded = keel.load_model("models:/churn/1")
    np.testing.assert_array_equal(loaded.predict(X), _model().predict(X))


def test_metrics_logged_after_registration_are_copied_by_the_metric_gate(
    client: TrackingClient,
) -> None:
    with keel.start_run():
        info = keel.log_model(_model(), "model", registered_name="late")
        keel.log_metric("auc", 0.91)
    assert models.get_version("late", info.version or 0).metrics == {}
    models.add_gate("late", keel.gates.metric("auc", ">=", 0.9))
    (result,) = models.check_gates("late", 1, to="champion")
    assert result.passed
    assert result.reason == "auc = 0.91 >= 0.9"
    assert models.get_version("late", 1).metrics == {"auc": 0.91}


def test_not_found_messages_suggest_near_names(client: TrackingClient) -> None:
    _register()
    models.set_alias("churn", "champion", 1)
    with pytest.raises(NotFoundError, match=r"No registered model is named 'chrun'.*'churn'"):
        models.get_model("chrun")
    with pytest.raises(NotFoundError, match=r"Model 'churn' has no version 7. Its versions are 1"):
        models.get_version("churn", 7)
    with pytest.raises(NotFoundError, match=r"no alias 'champoin'.*Did you mean 'champion'"):
        keel.load_model("models:/churn@champoin")
    with pytest.raises(NotFoundError, match=r"has no model at 'modle'.*'model'"):
        keel.load_model(f"runs:/{models.get_version('churn', 1).run_id}/modle")
    with pytest.raises(InvalidArgumentError, match=r"A model version is a positive integer"):
        models.get_version("churn", 0)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("churn", r"is not a model URI"),
        ("models:/churn/v3", r"a version is a positive integer or 'latest'"),
        ("models:/churn@1st", r"Invalid alias '1st'"),
        ("models:/churn@latest", r"'latest' is reserved"),
        ("runs:/abc", r"must name a run and an artifact path"),
        ("s3://bucket/model", r"unknown scheme 's3'"),
        (42, r"must be a string"),
    ],
)
def test_bad_uris_are_explained(uri: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        parse_model_uri(uri)


def test_aliases_move_atomically_and_every_move_is_audited(client: TrackingClient) -> None:
    for c in (1.0, 0.5, 0.1):
        _register(c=c)
    models.set_alias("churn", "champion", 1, reason="first")
    move = models.set_alias("churn", "champion", 2, expected_version=1, reason="better")
    assert (move.old_version, move.new_version, move.revision) == (1, 2, 2)
    with pytest.raises(InvalidStateError, match=r"moved concurrently: it points at version 2"):
        models.set_alias("churn", "champion", 3, expected_version=1)
    with pytest.raises(InvalidStateError, match=r"expected it not to exist"):
        models.set_alias("churn", "champion", 3, expected_version=None)
    models.set_alias("churn", "challenger", 3, expected_version=None)
    assert models.get_model("churn").aliases == {"challenger": 3, "champion": 2}
    assert models.get_version_by_alias("churn", "challenger").version == 3
    assert models.get_version("churn", 3).aliases == ["challenger"]
    models.delete_alias("churn", "challenger", reason="done")
    with pytest.raises(NotFoundError, match=r"no alias 'challenger'"):
        models.get_version_by_alias("churn", "challenger")
    history = [
        (h.alias, h.old_version, h.new_version, h.action) for h in models.alias_history("churn")
    ]
    assert history == [
        ("champion", None, 1, "set"),
        ("champion", 1, 2, "set"),
        ("challenger", None, 3, "set"),
        ("challenger", 3, None, "delete"),
    ]
    events = [
        e for e in client.store.list_audit_events() if e.action.startswith("registered_model.alias")
    ]
    assert [(e.details["from_version"], e.details["to_version"]) for e in events] == [
        (None, 1),
        (1, 2),
        (None, 3),
        (3, None),
    ]
    with pytest.raises(NotFoundError, match=r"no version 9"):
        models.set_alias("churn", "champion", 9)
    with pytest.raises(InvalidArgumentError, match=r"Invalid alias 'latest'"):
        models.set_alias("churn", "latest", 1)


def _check_no_lost_update(name: str, alias: str, moves: int) -> None:
    history = models.alias_history(name, alias)
    assert [h.revision for h in history] == list(range(1, len(history) + 1))
    assert len(history) == moves + 1  # the initial set plus every successful move
    for before, after in zip(history, history[1:], strict=False):
        assert after.old_version == before.new_version  # each move saw the one before it
    assert models.get_model(name).aliases[alias] == history[-1].new_version


def test_concurrent_alias_moves_from_threads_lose_no_update(client: TrackingClient) -> None:
    for c in (1.0, 0.5, 0.2, 0.1):
        _register(c=c)
    models.set_alias("churn", "champion", 1)
    per_thread, threads = 6, 4
    errors: list[BaseException] = []

    def mover(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            done = 0
            while done < per_thread:
                current = models.get_version_by_alias("churn", "champion").version
                target = int(rng.integers(1, 5))
                try:
                    models.set_alias("churn", "champion", target, expected_version=current)
                except InvalidStateError:
                    continue  # someone moved it first: re-read and retry
                done += 1
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    workers = [threading.Thread(target=mover, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    _check_no_lost_update("churn", "champion", per_thread * threads)


_MOVER = textwrap.dedent(
    """
    import sys
    import keel
    from keel.errors import InvalidStateError

    moves, seed = int(sys.argv[1]), int(sys.argv[2])
    done = 0
    while done < moves:
        current = keel.models.get_version_by_alias("churn", "champion").version
        target = (current + seed) % 3 + 1
        try:
            keel.models.set_alias("churn", "champion", target, expected_version=current)
        except InvalidStateError:
            continue
        done += 1
    """
)


@pytest.mark.slow
def test_concurrent_alias_moves_from_processes_lose_no_update(
    client: TrackingClient, tmp_path: Path
) -> None:
    for c in (1.0, 0.5, 0.2):
        _register(c=c)
    models.set_alias("churn", "champion", 1)
    script = tmp_path / "mover.py"
    script.write_text(_MOVER)
    procs = [
        subprocess.Popen([sys.executable, str(script), "5", str(seed)], cwd=tmp_path)
        for seed in (1, 2)
    ]
    assert [p.wait(timeout=240) for p in procs] == [0, 0]
    _check_no_lost_update("churn", "champion", 10)


class _Constant:
    def predict(self, data: Any) -> list[int]:
        return [1] * len(data)


_REGISTER = textwrap.dedent(
    """
    import sys
    import keel

    class Constant:
        def predict(self, data):
            return [1] * len(data)

    for _ in range(int(sys.argv[1])):
        with keel.start_run():
            keel.log_model(Constant(), registered_name="racy")
    """
)


@pytest.mark.slow
def test_concurrent_registrations_get_distinct_numbers(
    client: TrackingClient, tmp_path: Path
) -> None:
    script = tmp_path / "register.py"
    script.write_text(_REGISTER)
    procs = [subprocess.Popen([sys.executable, str(script), "4"], cwd=tmp_path) for _ in range(2)]
    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            for _ in range(3):
                keel.log_model(
                    _Constant(),
                    registered_name="racy",
                    run_id=run_id,
                    artifact_path=f"m{threading.get_ident()}-{_}",
                )
        except BaseException as exc:
            errors.append(exc)

    with keel.start_run() as run:
        run_id = run.id
        threads = [threading.Thread(target=in_thread) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [p.wait(timeout=240) for p in procs] == [0, 0]
    assert not errors
    numbers = sorted(v.version for v in models.list_versions("racy"))
    assert numbers == list(range(1, 15))
    assert models.get_model("racy").latest_version == 14


def test_fast_path_and_store_agree(local: TrackingClient) -> None:
    from keel.config import get_settings
    from keel.registry import RegistryClient

    info = _register()
    _register(c=0.3)
    models.set_alias("churn", "champion", 1)
    registry = RegistryClient()
    for uri in (
        "models:/churn/1",
        "models:/churn@champion",
        "models:/churn/latest",
        info.model_uri,
    ):
        ref = parse_model_uri(uri)
        fast = resolve(get_settings(), ref)
        assert fast is not None
        assert (fast.manifest_digest, fast.name, fast.version) == registry.resolve(ref)
    assert resolve(get_settings(), parse_model_uri("models:/nope/1")) is None


def test_models_are_created_described_and_unique(client: TrackingClient) -> None:
    from keel.errors import AlreadyExistsError

    created = models.create_model("fraud", description="card fraud", intended_use="triage")
    assert (created.name, created.latest_version, created.aliases) == ("fraud", 0, {})
    with pytest.raises(AlreadyExistsError, match=r"A registered model named 'fraud' exists"):
        models.create_model("fraud")
    with pytest.raises(InvalidArgumentError, match=r"Invalid model name 'fraud model'"):
        models.create_model("fraud model")
    updated = models.update_model("fraud", intended_use="analyst triage only")
    assert (updated.description, updated.intended_use) == ("card fraud", "analyst triage only")
    with pytest.raises(NotFoundError, match=r"'fraud' has no versions yet"):
        keel.load_model("models:/fraud/latest")
    assert [m.name for m in models.list_models("rau")] == ["fraud"]
