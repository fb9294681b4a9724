"""The audit log: one event per mutation in the same transaction, and a tamper-evident chain."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

from keel.errors import InvalidArgumentError, StoreUnavailableError
from keel.store import ArtifactEntry, NewRun, RunStatus, SqlMetadataStore

DIGEST = "c" * 64
TABLES = ("experiments", "runs", "params", "tags", "metrics", "latest_metrics", "run_artifacts")


def _populate(store: SqlMetadataStore) -> str:
    exp = store.create_experiment("audited")
    run_id = store.create_run(NewRun(experiment_id=exp.id, name="r")).id
    store.log_params(run_id, {"lr": "0.1"})
    store.set_tags(run_id, {"team": "risk"})
    store.log_metrics([(run_id, "loss", 0.5, 0, 1)])
    store.end_run(run_id, RunStatus.FINISHED)
    return run_id


def test_every_mutation_writes_one_audit_event(store: SqlMetadataStore) -> None:
    exp_holder: dict[str, str] = {}

    def create_run() -> None:
        exp_holder["run"] = store.create_run(NewRun(experiment_id=exp_holder["exp"])).id

    def run() -> str:
        return exp_holder["run"]

    steps: list[tuple[Callable[[], object], str, str]] = [
        (lambda: exp_holder.update(exp=store.create_experiment("e").id), "experiment.create", ""),
        (create_run, "run.create", "run"),
        (lambda: store.log_params(run(), {"lr": "0.1"}), "run.log_params", "run"),
        (lambda: store.set_tags(run(), {"t": "1"}), "run.set_tags", "run"),
        (lambda: store.log_metrics([(run(), "m", 1.0, 0, 1)]), "run.log_metrics", "run"),
        (
            lambda: store.add_artifacts(run(), [ArtifactEntry("a.txt", DIGEST, 1)]),
            "run.log_artifacts",
            "run",
        ),
        (
            lambda: store.add_lineage_edge(("dataset_version", "d@1"), ("run", run()), "input"),
            "lineage.add_edge",
            "run",
        ),
        (lambda: store.end_run(run(), RunStatus.FINISHED), "run.end", "run"),
        (lambda: store.remove_artifact_references(DIGEST), "artifact.forget", ""),
        (lambda: store.record_event("model.note", "model", "m1"), "model.note", ""),
    ]
    for call, action, kind in steps:
        before = store.list_audit_events()
        call()
        after = store.list_audit_events()
        new = after[len(before) :]
        assert [e.action for e in new] == [action], action
        assert new[0].actor == "tester"
        if kind == "run":
            assert (new[0].resource_kind, new[0].resource_id) == ("run", run())

    # Calls that change nothing write nothing.
    count = len(store.list_audit_events())
    store.log_params(run(), {"lr": "0.1"})
    store.add_lineage_edge(("dataset_version", "d@1"), ("run", run()), "input")
    with pytest.raises(InvalidArgumentError):
        store.log_params(run(), {"lr": "0.2"})
    store.get_run(run())
    store.search_runs([exp_holder["exp"]])
    assert len(store.list_audit_events()) == count
    assert store.verify_audit_chain().ok


def test_a_run_marked_by_doctor_is_audited(store: SqlMetadataStore) -> None:
    run_id = store.create_run(NewRun(experiment_id=store.create_experiment("e").id)).id
    assert store.mark_runs([run_id], RunStatus.KILLED, "process gone") == 1
    assert store.mark_runs([run_id], RunStatus.KILLED, "again") == 0  # no longer RUNNING
    marks = [e for e in store.list_audit_events() if e.action == "run.mark"]
    assert [(e.resource_id, e.details) for e in marks] == [
        (run_id, {"status": "KILLED", "reason": "process gone"})
    ]


def _break_audit_inserts(store: SqlMetadataStore) -> None:
    """Make every INSERT into audit_log fail inside the database."""
    with store.engine.begin() as conn:
        if store.dialect == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER audit_down BEFORE INSERT ON audit_log "
                "BEGIN INSERT INTO audit_storage_offline VALUES (1); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION audit_down() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'audit_storage_offline'; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER audit_down BEFORE INSERT ON audit_log "
                "FOR EACH ROW EXECUTE FUNCTION audit_down()"
            )


def _row_counts(store: SqlMetadataStore) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def test_change_and_audit_event_commit_together(store: SqlMetadataStore) -> None:
    exp_id = store.create_experiment("e").id
    run_id = store.create_run(NewRun(experiment_id=exp_id)).id
    _break_audit_inserts(store)
    before = _row_counts(store)
    for call in (
        lambda: store.create_experiment("other"),
        lambda: store.create_run(NewRun(experiment_id=exp_id)),
        lambda: store.log_params(run_id, {"lr": "0.1"}),
        lambda: store.set_tags(run_id, {"t": "1"}),
        lambda: store.log_metrics([(run_id, "m", 1.0, 0, 1)]),
        lambda: store.add_artifacts(run_id, [ArtifactEntry("a.txt", DIGEST, 1)]),
        lambda: store.end_run(run_id, RunStatus.FINISHED),
    ):
        # The failing audit insert rolls the change back; the error is a Keel error.
        with pytest.raises(StoreUnavailableError, match="audit_storage_offline"):
            call()
    assert _row_counts(store) == before
    assert store.get_run_info(run_id).status is RunStatus.RUNNING


def test_chain_verifies_on_a_healthy_store(store: SqlMetadataStore) -> None:
    _populate(store)
    result = store.verify_audit_chain()
    assert result.ok
    assert result.first_bad_event_id is None
    assert result.events_checked == len(store.list_audit_events()) == 6
    events = store.list_audit_events()
    assert events[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))


def test_tampered_details_name_the_event(store: SqlMetadataStore) -> None:
    _populate(store)
    victim = store.list_audit_events()[2]  # run.log_params
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            f'UPDATE audit_log SET details = \'{{"keys": ["forged"]}}\' WHERE id = {victim.id}'
        )
    result = store.verify_audit_chain()
    assert not result.ok
    assert result.first_bad_event_id == victim.id
    assert result.reason is not None
    assert f"event {victim.id}" in result.reason
    assert "altered" in result.reason
    assert result.events_checked == 2


def test_deleted_event_names_the_next_one(store: SqlMetadataStore) -> None:
    _populate(store)
    events = store.list_audit_events()
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM audit_log WHERE id = {events[3].id}")
    result = store.verify_audit_chain()
    assert not result.ok
    assert result.first_bad_event_id == events[4].id
    assert result.reason is not None
    assert "removed or reordered" in result.reason
