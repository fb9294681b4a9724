"""The pipelines repository on SQLite and PostgreSQL: runs, batched records, cache, schedules."""

from __future__ import annotations

import pytest

from keel._utils import new_id
from keel.errors import AlreadyExistsError, NotFoundError
from keel.store import NewRun, SqlMetadataStore
from keel.store._pipelines import (
    CacheEntry,
    NewPipelineRun,
    NewSchedule,
    NewStepRun,
    PipelineRepository,
    RecordBatch,
)


@pytest.fixture
def repo(store_uri: str) -> PipelineRepository:
    return PipelineRepository(SqlMetadataStore(store_uri))


def _run(repo: PipelineRepository) -> tuple[str, list[str]]:
    store = repo.store
    exp = store.get_or_create_experiment("pipes")
    run_id = store.create_run(NewRun(experiment_id=exp.id)).id
    steps = [new_id(), new_id()]
    repo.create_run(
        NewPipelineRun(
            run_id=run_id,
            pipeline="flow",
            target="mod:flow",
            executor="inline",
            params={"lr": 0.1},
            dag=[{"name": "a", "upstream": []}, {"name": "b", "upstream": ["a"]}],
            cache_enabled=True,
            steps=[NewStepRun(steps[0], "a", "mod:a", 0), NewStepRun(steps[1], "b", "mod:b", 1)],
        )
    )
    return run_id, steps


def test_batched_records_land_in_one_transaction(repo: PipelineRepository) -> None:
    run_id, (a, b) = _run(repo)
    assert [s.status for s in repo.get_run(run_id).steps] == ["PENDING", "PENDING"]
    digest = "ab" * 32
    entry = CacheEntry("k" * 64, "a", "c" * 64, [{"digest": digest}], a, 1)
    repo.apply(
        [
            RecordBatch(run_id, step_updates={a: {"status": "RUNNING", "start_time": 5}}),
            RecordBatch(
                run_id,
                step_updates={a: {"status": "COMPLETED", "end_time": 9, "attempts": 1}},
                cache_entries=[entry],
                edges=[(("step_run", a), ("artifact", digest), "output", {"index": 0})] * 2,
            ),
            RecordBatch(
                run_id,
                step_updates={b: {"status": "SKIPPED", "error": "upstream failed"}},
                run_update={"status": "FAILED", "end_time": 10, "failed_step": "b"},
            ),
        ]
    )
    run = repo.get_run(run_id)
    first, second = run.steps
    assert (first.status, first.start_time, first.end_time, first.attempts) == (
        "COMPLETED",
        5,
        9,
        1,
    )
    assert second.status == "SKIPPED"
    assert second.error == "upstream failed"
    assert run.status == "FAILED"
    assert run.failed_step == "b"
    assert run.params == {"lr": 0.1}
    assert run.run_status == "RUNNING"
    assert repo.get_cache_entry("k" * 64) == entry
    reader = repo.cache_reader()
    try:
        assert reader.get("k" * 64) == entry
        assert reader.get("z" * 64) is None
    finally:
        reader.close()
    edges = repo.store.list_lineage_edges(("step_run", a), "downstream")
    assert len(edges) == 1  # the repeated edge was stored once
    events = [e for e in repo.store.list_audit_events() if e.resource_kind == "pipeline_run"]
    assert [e.action for e in events] == ["pipeline_run.create", "pipeline_run.record"]
    assert events[1].details["step_statuses"] == {"COMPLETED": 1, "SKIPPED": 1}
    assert repo.store.verify_audit_chain().ok
    # A newer entry for the same key replaces the old one (a re-run after its blob vanished).
    newer = CacheEntry("k" * 64, "a", "c" * 64, [{"digest": "cd" * 32}], b, 2)
    repo.apply([RecordBatch(run_id, cache_entries=[newer])])
    assert repo.get_cache_entry("k" * 64) == newer
    assert repo.list_runs(pipeline="flow")[0].run_id == run_id
    assert repo.find_runs(run_id[:6]) == [run_id]
    with pytest.raises(NotFoundError, match=r"No pipeline run has id 'nope'"):
        repo.get_run("nope")


def test_a_pipeline_run_must_be_a_tracked_run(repo: PipelineRepository) -> None:
    with pytest.raises(NotFoundError, match=r"a pipeline run must be a tracked run"):
        repo.create_run(NewPipelineRun("0" * 32, "flow", None, "inline", {}, [], True, steps=[]))


def test_schedules_claim_once(repo: PipelineRepository) -> None:
    made = repo.create_schedule(
        NewSchedule("nightly", "flow", "mod:flow", "0 3 * * *", "UTC", {}, "inline", 1000)
    )
    with pytest.raises(AlreadyExistsError, match=r"A schedule named 'nightly' exists"):
        repo.create_schedule(
            NewSchedule("nightly", "flow", "mod:flow", "@daily", "UTC", {}, "inline", 1)
        )
    assert repo.claim_due_schedules(999, lambda r, now: now + 10) == []
    claimed = repo.claim_due_schedules(1500, lambda r, now: now + 10)
    assert [c.id for c in claimed] == [made.id]
    assert repo.claim_due_schedules(1500, lambda r, now: now + 10) == []
    assert repo.get_schedule("nightly").next_run_at == 1510
    repo.record_schedule_result(made.id, None, "CRASHED")
    assert repo.get_schedule(made.id).last_status == "CRASHED"
    repo.delete_schedule("nightly")
    with pytest.raises(NotFoundError, match=r"No schedule is named 'nightlly'\. Did you mean"):
        repo.create_schedule(
            NewSchedule("nightly", "flow", "mod:flow", "@daily", "UTC", {}, "inline", 1)
        ) and repo.get_schedule("nightlly")
