"""Conformance suite of ``SqlMetadataStore``: the same checks on SQLite and on PostgreSQL."""

from __future__ import annotations

import math

import pytest

from keel.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from keel.store import ArtifactEntry, NewRun, RunStatus, SqlMetadataStore

DIGEST_A = "a" * 64
DIGEST_B = "b" * 64


def _run(store: SqlMetadataStore, name: str = "r", **kw: object) -> str:
    exp = store.get_or_create_experiment("conformance")
    return store.create_run(NewRun(experiment_id=exp.id, name=name, **kw)).id  # type: ignore[arg-type]


def test_experiments_create_get_list_and_count(store: SqlMetadataStore) -> None:
    exp = store.create_experiment("churn", description="customer churn")
    assert len(exp.id) == 32
    assert store.get_experiment(exp.id) == exp
    assert store.get_experiment_by_name("churn") == exp
    assert store.get_or_create_experiment("churn") == exp
    other = store.get_or_create_experiment("fraud")
    assert other.id != exp.id
    assert [e.name for e in store.list_experiments()] == ["churn", "fraud"]
    store.create_run(NewRun(experiment_id=exp.id))
    store.create_run(NewRun(experiment_id=exp.id))
    assert store.count_runs([exp.id, other.id]) == {exp.id: 2}
    with pytest.raises(AlreadyExistsError, match=r"experiment named 'churn' exists already"):
        store.create_experiment("churn")
    with pytest.raises(
        NotFoundError, match=r"No experiment is named 'chrun'\. Did you mean 'churn'\?"
    ):
        store.get_experiment_by_name("chrun")
    with pytest.raises(NotFoundError, match=r"No experiment has id 'f00'"):
        store.get_experiment("f00")


def test_run_lifecycle_and_info(store: SqlMetadataStore) -> None:
    exp = store.create_experiment("e")
    info = store.create_run(
        NewRun(
            experiment_id=exp.id,
            name="baseline",
            tags={"team": "risk"},
            user="ada",
            source="/src/train.py",
            git_commit="c0ffee",
            git_dirty=True,
            python_version="3.11.7",
            hostname="box",
            pid=42,
            process_start=1.5,
        )
    )
    assert info.status is RunStatus.RUNNING
    assert info.end_time is None
    assert (info.name, info.user, info.source, info.git_commit, info.git_dirty) == (
        "baseline",
        "ada",
        "/src/train.py",
        "c0ffee",
        True,
    )
    assert store.get_run_info(info.id) == info
    store.end_run(info.id, RunStatus.FAILED, wall_time_s=1.5, cpu_time_s=0.5, peak_rss_bytes=10)
    ended = store.get_run_info(info.id)
    assert ended.status is RunStatus.FAILED
    assert ended.end_time is not None
    assert ended.end_time >= ended.start_time
    assert (ended.wall_time_s, ended.cpu_time_s, ended.peak_rss_bytes) == (1.5, 0.5, 10)
    assert store.get_run(info.id).data.tags == {"team": "risk"}
    assert info.id in [r.id for r in store.list_runs_by_status(RunStatus.FAILED)]
    assert store.find_runs(info.id[:6]) == [info.id]
    store.set_tags(info.id, {"stage": "dev"})
    store.set_tags(info.id, {"stage": "prod"})  # tags can change
    assert store.get_run(info.id).data.tags == {"team": "risk", "stage": "prod"}
    unnamed = store.create_run(NewRun(experiment_id=exp.id))
    assert unnamed.name == unnamed.id[:8]
    store.check()


def test_run_names_longer_than_the_column_are_refused(store: SqlMetadataStore) -> None:
    """Regression: PostgreSQL failed with "store unavailable", SQLite stored any length."""
    exp = store.create_experiment("e")
    longest = store.create_run(NewRun(experiment_id=exp.id, name="n" * 256))
    assert store.get_run_info(longest.id).name == "n" * 256
    with pytest.raises(
        InvalidArgumentError,
        match=r"A run name must be a string of at most 256 characters, got 'nnn.*'\.\.\. "
        r"\(300 characters\)\. Shorten it",
    ):
        store.create_run(NewRun(experiment_id=exp.id, name="n" * 300))
    with pytest.raises(InvalidArgumentError, match=r"got 5\. Shorten it"):
        store.create_run(NewRun(experiment_id=exp.id, name=5))  # type: ignore[arg-type]
    assert store.count_runs([exp.id]) == {exp.id: 1}


def test_unknown_run_id_is_named(store: SqlMetadataStore) -> None:
    for call in (
        lambda: store.get_run("ghost"),
        lambda: store.get_run_info("ghost"),
        lambda: store.get_metric_history("ghost", "loss"),
        lambda: store.log_params("ghost", {"a": "1"}),
        lambda: store.set_tags("ghost", {"a": "1"}),
        lambda: store.log_metrics([("ghost", "loss", 1.0, 0, 0)]),
        lambda: store.end_run("ghost", RunStatus.FINISHED),
        lambda: store.add_artifacts("ghost", [ArtifactEntry("a.txt", DIGEST_A, 1)]),
        lambda: store.list_artifacts("ghost"),
    ):
        with pytest.raises(NotFoundError, match=r"No run has id 'ghost'\."):
            call()


def test_params_are_immutable_and_atomic(store: SqlMetadataStore) -> None:
    run_id = _run(store)
    store.log_params(run_id, {"lr": "0.1", "depth": "6"})
    store.log_params(run_id, {"lr": "0.1"})  # the same value again is fine
    with pytest.raises(
        InvalidArgumentError,
        match=rf"Param 'lr' of run '{run_id}' is already '0\.1'; params are immutable, "
        r"so '0\.2' cannot replace it",
    ):
        store.log_params(run_id, {"new": "x", "lr": "0.2"})
    # The failed call stored nothing, not even its valid new key.
    assert store.get_run(run_id).data.params == {"lr": "0.1", "depth": "6"}


def test_metrics_history_and_latest_value(store: SqlMetadataStore) -> None:
    run_id = _run(store)
    # Out of order across two batches: history is by step; latest is the highest step.
    store.log_metrics([(run_id, "loss", 0.5, 2, 1000), (run_id, "loss", 0.9, 0, 1001)])
    store.log_metrics([(run_id, "loss", 0.7, 1, 1002), (run_id, "acc", 0.1, 0, 1002)])
    history = store.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.7), (2, 0.5)]
    assert all(m.key == "loss" for m in history)
    assert store.get_run(run_id).data.metrics == {"loss": 0.5, "acc": 0.1}
    # The same step logged later replaces the latest value.
    store.log_metrics([(run_id, "loss", 0.4, 2, 2000)])
    assert store.get_run(run_id).data.metrics["loss"] == 0.4
    assert len(store.get_metric_history(run_id, "loss")) == 4
    with pytest.raises(
        NotFoundError,
        match=rf"Run '{run_id}' has no metric 'los'\. Did you mean 'loss'\? "
        r"Logged metrics: 'acc', 'loss'\.",
    ):
        store.get_metric_history(run_id, "los")
    fresh = _run(store, "fresh")
    with pytest.raises(NotFoundError, match=r"Logged metrics: none\."):
        store.get_metric_history(fresh, "loss")


def test_nan_and_infinities_round_trip(store: SqlMetadataStore) -> None:
    run_id = _run(store)
    store.log_metrics(
        [
            (run_id, "x", math.nan, 0, 1),
            (run_id, "x", math.inf, 1, 2),
            (run_id, "x", -math.inf, 2, 3),
            (run_id, "nan_last", math.nan, 0, 4),
        ]
    )
    values = [m.value for m in store.get_metric_history(run_id, "x")]
    assert math.isnan(values[0])
    assert values[1:] == [math.inf, -math.inf]
    assert store.get_metric_history(run_id, "x")[0].is_nan
    metrics = store.get_run(run_id).data.metrics
    assert metrics["x"] == -math.inf
    assert math.isnan(metrics["nan_last"])


def test_artifacts_recorded_and_listed_by_prefix(store: SqlMetadataStore) -> None:
    run_id = _run(store)
    store.add_artifacts(
        run_id,
        [
            ArtifactEntry("model/weights.bin", DIGEST_A, 10),
            ArtifactEntry("model/config.json", DIGEST_B, 2),
            ArtifactEntry("model_card.md", DIGEST_B, 2),
        ],
    )
    assert [e.path for e in store.list_artifacts(run_id)] == [
        "model/config.json",
        "model/weights.bin",
        "model_card.md",
    ]
    # "model" is a folder: model_card.md is not under it (and '_' is no LIKE wildcard).
    assert [e.path for e in store.list_artifacts(run_id, "model")] == [
        "model/config.json",
        "model/weights.bin",
    ]
    assert store.list_artifacts(run_id, "model/weights.bin") == [
        ArtifactEntry("model/weights.bin", DIGEST_A, 10)
    ]
    # Logging a path again points it at the new content.
    store.add_artifacts(run_id, [ArtifactEntry("model/weights.bin", DIGEST_B, 3)])
    assert store.list_artifacts(run_id, "model/weights.bin")[0].digest == DIGEST_B
    refs = {(d, p) for d, r, p in store.iter_artifact_references() if r == run_id}
    assert (DIGEST_B, "model/weights.bin") in refs
    assert store.remove_artifact_references(DIGEST_B) == 3
    assert store.list_artifacts(run_id) == []


def test_lineage_edges(store: SqlMetadataStore) -> None:
    run_id = _run(store)
    store.add_lineage_edge(("dataset_version", "tx@v3"), ("run", run_id), "input", {"role": "x"})
    store.add_lineage_edge(("dataset_version", "tx@v3"), ("run", run_id), "input")  # no-op
    store.add_lineage_edge(("run", run_id), ("model_version", "churn/1"), "output")
    up = store.list_lineage_edges(("run", run_id), "upstream")
    assert [(e.source_kind, e.source_id, e.relation, e.properties) for e in up] == [
        ("dataset_version", "tx@v3", "input", {"role": "x"})
    ]
    down = store.list_lineage_edges(("run", run_id), "downstream")
    assert [(e.target_kind, e.target_id) for e in down] == [("model_version", "churn/1")]
    assert len(store.list_lineage_edges(("run", run_id))) == 2
    with pytest.raises(InvalidArgumentError, match=r"direction must be .*, got 'sideways'"):
        store.list_lineage_edges(("run", run_id), "sideways")


def test_search_pagination_and_bad_tokens(store: SqlMetadataStore) -> None:
    exp = store.create_experiment("paged")
    ids = {store.create_run(NewRun(experiment_id=exp.id)).id for _ in range(5)}
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        runs, token = store.search_runs([exp.id], max_results=2, page_token=token)
        seen += [r.id for r in runs]
        pages += 1
        if token is None:
            break
    assert pages == 3
    assert len(seen) == 5
    assert set(seen) == ids
    unpaged, last = store.search_runs([exp.id])
    assert [r.id for r in unpaged] == seen
    assert last is None
    with pytest.raises(InvalidArgumentError, match=r"Page token 'bogus' is not one Keel issued"):
        store.search_runs([exp.id], page_token="bogus")
    with pytest.raises(InvalidArgumentError, match=r"max_results must be at least 1, got 0"):
        store.search_runs([exp.id], max_results=0)
