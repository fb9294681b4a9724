"""Garbage collection and retention: shared blobs, soft delete, purges, grace, freed bytes.

Each test runs on local files and on S3 (moto's server), with metadata on SQLite and
PostgreSQL (``store_uri``).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest

import keel
from keel.artifacts import ArtifactStore, LocalArtifactStore
from keel.errors import InvalidStateError, NotFoundError
from keel.governance._gc import collect_garbage, live_digests, purge_dataset_version
from keel.governance._retention import get_retention, parse_duration, set_retention
from keel.store import SqlMetadataStore
from keel.store._gc import GcRepository
from keel.tracking import get_client


@pytest.fixture(params=["local", pytest.param("s3", marks=[pytest.mark.s3, pytest.mark.slow])])
def env(
    request: pytest.FixtureRequest, keel_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Keel on the metadata backend under test, with local or S3 artifacts."""
    from keel.config import reset_settings
    from keel.tracking import reset_client

    if request.param == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        monkeypatch.setenv("KEEL_ARTIFACT_URI", f"s3://{bucket}/keel")
        reset_client()
        reset_settings()
    client = get_client()
    return {"client": client, "kind": request.param, **keel_env}


def _settle(artifacts: ArtifactStore) -> None:
    """S3 times have one-second resolution: let a second pass so grace 0 sees blobs as old."""
    if not isinstance(artifacts, LocalArtifactStore):
        time.sleep(1.1)


def _total(artifacts: ArtifactStore) -> int:
    return sum(b.size for b in artifacts.iter_blobs()) + sum(
        t.size for t in artifacts.iter_temp_files()
    )


def _gc(client: Any, **kwargs: Any) -> Any:
    _settle(client.artifacts)
    kwargs.setdefault("grace_s", 0.0)
    return collect_garbage(client.store, client.artifacts, **kwargs)


def _run_with_file(tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / f"{name}.bin"
    path.write_bytes(content)
    with keel.start_run(name, experiment="gc") as run:
        keel.log_artifact(str(path))
    return str(run.id)


def test_shared_blobs_survive_and_freed_bytes_equal_bytes_removed(
    env: dict[str, Any], tmp_path: Path
) -> None:
    client = env["client"]
    content = b"shared weights " * 1000
    a = _run_with_file(tmp_path, "a", content)
    b = _run_with_file(tmp_path, "b", content)
    digest = client.store.list_artifacts(a)[0].digest
    assert client.store.list_artifacts(b)[0].digest == digest
    set_retention(client.store, {"runs-deleted": "0s"})
    repo = GcRepository(client.store)
    repo.delete_run(a)

    first = _gc(client)
    assert first.runs_purged == [a]
    assert client.artifacts.verify(digest), "a blob another run still names was freed"

    repo.delete_run(b)
    before = _total(client.artifacts)
    second = _gc(client)
    after = _total(client.artifacts)
    assert second.runs_purged == [b]
    assert not client.artifacts.exists(digest)
    assert second.freed_bytes == before - after
    assert second.freed_bytes >= len(content)
    assert second.by_kind["run artifact"].bytes == len(content)


def test_soft_delete_hides_and_restore_brings_back(env: dict[str, Any], tmp_path: Path) -> None:
    client = env["client"]
    run_id = _run_with_file(tmp_path, "r", b"restorable")
    repo = GcRepository(client.store)
    repo.delete_run(run_id)
    runs, _ = client.search_runs("gc")
    assert run_id not in [r.id for r in runs]
    with pytest.raises(InvalidStateError, match="deleted already"):
        repo.delete_run(run_id)
    with (
        keel.start_run("busy", experiment="gc") as busy,
        pytest.raises(InvalidStateError, match="still running"),
    ):
        repo.delete_run(busy.id)
    # Within retention (30 days by default) gc purges nothing and frees nothing of it.
    report = _gc(client)
    assert report.runs_purged == []
    digest = client.store.list_artifacts(run_id)[0].digest
    assert client.artifacts.exists(digest)
    repo.restore_run(run_id)
    runs, _ = client.search_runs("gc")
    assert run_id in [r.id for r in runs]
    with pytest.raises(InvalidStateError, match="not deleted"):
        repo.restore_run(run_id)

    repo.delete_run(run_id)
    set_retention(client.store, {"runs-deleted": "0s"})
    _gc(client)
    with pytest.raises(NotFoundError, match="was purged by"):
        repo.restore_run(run_id)
    actions = [e.action for e in client.store.list_audit_events() if e.resource_id == run_id]
    assert actions[-4:] == ["run.delete", "run.restore", "run.delete", "run.purge"]
    tombs = repo.list_tombstones("run")
    assert [t.object_id for t in tombs] == [run_id]
    edges = client.store.list_lineage_edges(("run", run_id), "upstream")
    assert any(e.relation == "purged" and e.source_kind == "tombstone" for e in edges)


def test_dry_run_reports_by_kind_and_changes_nothing(env: dict[str, Any], tmp_path: Path) -> None:
    client = env["client"]
    orphan = client.artifacts.put_bytes(b"nobody names me" * 10)
    gone = _run_with_file(tmp_path, "gone", b"the deleted run's file" * 50)
    kept = _run_with_file(tmp_path, "kept", b"a live file")
    set_retention(client.store, {"runs-deleted": "0s"})
    GcRepository(client.store).delete_run(gone)
    before = _total(client.artifacts)

    dry = _gc(client, dry_run=True)
    assert _total(client.artifacts) == before
    assert client.artifacts.exists(orphan)
    assert dry.runs_purged == [gone]
    assert dry.by_kind["unreferenced"].count == 1
    assert dry.by_kind["unreferenced"].bytes == len(b"nobody names me" * 10)
    assert dry.by_kind["run artifact"].bytes == len(b"the deleted run's file" * 50)
    assert dry.freed_bytes == 0

    real = _gc(client)
    assert real.by_kind["unreferenced"].bytes == dry.by_kind["unreferenced"].bytes
    assert real.by_kind["run artifact"].bytes == dry.by_kind["run artifact"].bytes
    assert real.freed_bytes == before - _total(client.artifacts)
    assert not client.artifacts.exists(orphan)
    assert client.artifacts.verify(client.store.list_artifacts(kept)[0].digest)
    events = [e for e in client.store.list_audit_events() if e.action == "gc.collect"]
    assert events[-1].details["freed_bytes"] == real.freed_bytes


def test_grace_period_keeps_recent_blobs_and_a_refresh_renews_it(env: dict[str, Any]) -> None:
    client = env["client"]
    artifacts = client.artifacts
    digest = artifacts.put_bytes(b"just uploaded, row not committed yet")
    report = collect_garbage(client.store, artifacts, grace_s=3600)
    assert report.kept_recent >= 1
    assert artifacts.exists(digest)
    if env["kind"] != "local":
        return  # S3 times cannot be set back; the refresh is tested on the local store
    path = artifacts.root / "sha256" / digest[:2] / digest[2:4] / digest
    old = time.time() - 7200
    os.utime(path, (old, old))
    # A writer that finds the blob stored (and will name it) refreshes it: gc keeps it.
    assert artifacts.exists(digest)
    collect_garbage(client.store, artifacts, grace_s=3600)
    assert artifacts.exists(digest)
    # A refresh between the listing and the deletion is seen at the moment of deletion.
    os.utime(path, (old, old))
    cutoff = artifacts.now() - 3600
    listed = {b.key: b for b in artifacts.iter_blobs()}
    assert listed[digest].modified < cutoff
    os.utime(path)
    assert artifacts.collect(digest, older_than=cutoff) is None
    assert artifacts.verify(digest)
    os.utime(path, (old, old))
    assert collect_garbage(client.store, artifacts, grace_s=3600).by_kind["unreferenced"].count == 1
    assert not artifacts.exists(digest)


def test_stale_upload_temp_files_are_cleaned(keel_home: Path) -> None:
    client = get_client()
    artifacts = client.artifacts
    assert isinstance(artifacts, LocalArtifactStore)
    tmp = artifacts.root / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    stale, fresh = tmp / "upload-stale", tmp / "upload-fresh"
    stale.write_bytes(b"x" * 123)
    fresh.write_bytes(b"y" * 7)
    # Another collector's claim on a blob: the blob's old mtime, but claimed just now.
    claim = tmp / f"gc-{'a' * 64}-{int(time.time() * 1000)}-beef"
    claim.write_bytes(b"z" * 5)
    old = time.time() - 7200
    os.utime(stale, (old, old))
    os.utime(claim, (old, old))
    report = collect_garbage(client.store, artifacts, grace_s=3600)
    assert report.by_kind["temp upload"].bytes == 123
    assert report.freed_bytes == 123
    assert not stale.exists()
    assert fresh.exists()
    assert claim.exists()


def test_retention_set_show_and_bad_input(keel_env: dict[str, Any]) -> None:
    store: SqlMetadataStore = get_client().store
    assert get_retention(store)["runs-deleted"].keep_ms == 30 * 86_400_000
    set_retention(store, {"prediction-logs": "90d", "pipeline-cache": "14d"})
    policies = get_retention(store)
    assert policies["prediction-logs"].keep_ms == 90 * 86_400_000
    assert not policies["prediction-logs"].is_default
    assert policies["pipeline-cache"].keep_ms == parse_duration("2w")
    set_retention(store, {"prediction-logs": "forever"})
    assert get_retention(store)["prediction-logs"].keep_ms is None
    with pytest.raises(Exception, match="'prediction_logs' is not a retention policy"):
        set_retention(store, {"prediction_logs": "90d"})
    with pytest.raises(Exception, match="'ninety days' is not a duration"):
        set_retention(store, {"prediction-logs": "ninety days"})
    assert any(e.action == "retention.set" for e in store.list_audit_events())


def _register_dataset(tmp_path: Path, name: str, rows: int = 50) -> Any:
    import pandas as pd

    path = tmp_path / f"{name}.parquet"
    pd.DataFrame({"x": range(rows), "y": [i * 0.5 for i in range(rows)]}).to_parquet(path)
    return keel.datasets.register(name, str(path))


def test_dependents_block_a_purge_and_a_purge_leaves_a_tombstone(
    env: dict[str, Any], tmp_path: Path
) -> None:
    client = env["client"]
    store = client.store
    used = _register_dataset(tmp_path, "used")
    free = _register_dataset(tmp_path, "free", rows=80)
    node = ("dataset_version", used.ref)
    store.add_lineage_edge(node, ("run", "r1"), "input")
    store.add_lineage_edge(("run", "r1"), ("model_version", "churn/3"), "logged")
    store.add_lineage_edge(("model_version", "churn/3"), ("deployment", "churn-prod"), "serves")
    with pytest.raises(
        InvalidStateError, match=r"deployment 'churn-prod', model_version 'churn/3' depend"
    ):
        purge_dataset_version(store, client.artifacts, used.ref, grace_s=0)
    assert client.artifacts.exists(used.digest)

    store.add_lineage_edge(("dataset_version", free.ref), ("run", "r2"), "input")  # not blocking
    _settle(client.artifacts)
    before = _total(client.artifacts)
    result = purge_dataset_version(store, client.artifacts, free.ref, grace_s=0)
    assert free.digest in result.released
    assert not client.artifacts.exists(free.digest)
    assert result.gc.freed_bytes == before - _total(client.artifacts) > 0
    assert client.artifacts.exists(used.digest)
    tomb = GcRepository(store).list_tombstones("dataset_version")[0]
    assert tomb.name == free.ref
    assert tomb.purged_by == store.actor
    edges = store.list_lineage_edges(("dataset_version", free.ref), "upstream")
    purged = [e for e in edges if e.relation == "purged"]
    assert purged
    assert purged[0].properties["purged_by"] == store.actor
    # Walking upstream from what used the data reaches the data, then its tombstone.
    into_run = store.list_lineage_edges(("run", "r2"), "upstream")
    assert [(e.source_kind, e.source_id) for e in into_run] == [("dataset_version", free.ref)]
    assert purged[0].source_kind == "tombstone"
    assert any(e.action == "dataset_version.purge" for e in store.list_audit_events())
    with pytest.raises(InvalidStateError, match="purged already"):
        purge_dataset_version(store, client.artifacts, free.ref, grace_s=0)
    # Its number is never handed out again: the same content registers as a new version.
    again = _register_dataset(tmp_path, "free", rows=80)
    assert again.ref != free.ref
    assert client.artifacts.verify(again.digest)


def test_every_referenced_manifest_file_is_live(env: dict[str, Any], tmp_path: Path) -> None:
    client = env["client"]
    folder = tmp_path / "parts"
    folder.mkdir()
    import pandas as pd

    for i in range(3):
        pd.DataFrame({"x": [i, i + 1]}).to_parquet(folder / f"part-{i}.parquet")
    version = keel.datasets.register("parts", str(folder))
    files = [f["digest"] for f in version.manifest()]
    live = live_digests(GcRepository(client.store).references(), client.artifacts)
    assert version.digest in live
    assert set(files) <= set(live)
    _gc(client)
    assert all(client.artifacts.verify(d) for d in files)


def test_a_writer_storing_garbage_again_mid_collection_keeps_it(
    env: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving the grace period exists for, forced: listed and marked as garbage, then
    stored again by a writer (content addressing dedups it), then swept."""
    from keel.artifacts import FsspecArtifactStore

    monkeypatch.setattr(FsspecArtifactStore, "refresh_after", 0.0)
    client = env["client"]
    artifacts = client.artifacts
    content = b"garbage that a writer is about to log again" * 10
    digest = artifacts.put_bytes(content)
    if isinstance(artifacts, LocalArtifactStore):
        old = time.time() - 10
        path = artifacts.root / "sha256" / digest[:2] / digest[2:4] / digest
        os.utime(path, (old, old))
    _settle(artifacts)
    original = type(artifacts).collect
    revived: list[str] = []

    def collect_after_a_writer(self: ArtifactStore, key: str, *, older_than: float) -> int | None:
        if key == digest and not revived:
            _settle(artifacts)  # on S3 the refresh must land in a later second than the cut-off
            revived.append(_run_with_file(tmp_path, "revived", content))
        return original(self, key, older_than=older_than)

    monkeypatch.setattr(type(artifacts), "collect", collect_after_a_writer)
    report = collect_garbage(client.store, artifacts, grace_s=0.5)
    assert revived, "the collector never tried to collect the garbage blob"
    assert report.by_kind.get("unreferenced") is None
    assert client.store.list_artifacts(revived[0])[0].digest == digest
    assert artifacts.verify(digest)


def test_prediction_log_retention_expires_old_segments_and_frees_them(env: dict[str, Any]) -> None:
    from keel.store._predictions import (
        NewLabelSegment,
        NewPredictionSegment,
        PredictionLogRepository,
    )

    client = env["client"]
    artifacts = client.artifacts
    log = PredictionLogRepository(client.store)
    day = 86_400_000
    now = int(time.time() * 1000)
    old_bytes, new_bytes, shared = b"old predictions" * 30, b"new predictions" * 30, b"same" * 9
    for content, end in [(old_bytes, now - 100 * day), (new_bytes, now - day)]:
        log.add_segment(
            NewPredictionSegment("churn", end - 1000, end, 3, 0, artifacts.put_bytes(content), 1)
        )
    # The same bytes in an old and a recent segment: the blob stays for the recent one.
    log.add_segment(
        NewPredictionSegment(
            "churn", now - 200 * day, now - 200 * day, 1, 0, artifacts.put_bytes(shared), 1
        )
    )
    log.add_segment(
        NewPredictionSegment("churn", now - 2000, now - 1000, 1, 0, artifacts.put_bytes(shared), 1)
    )
    log.add_label_segment(NewLabelSegment("churn", 3, artifacts.put_bytes(b"labels"), 6))
    set_retention(client.store, {"prediction-logs": "90d"})

    report = _gc(client)
    assert report.segments_expired == 2
    assert report.by_kind["prediction log"].count == 1
    assert report.by_kind["prediction log"].bytes == len(old_bytes)
    assert not artifacts.exists(hashlib.sha256(old_bytes).hexdigest())
    assert artifacts.verify(hashlib.sha256(new_bytes).hexdigest())
    assert artifacts.verify(hashlib.sha256(shared).hexdigest())
    assert len(log.list_segments("churn")) == 2
    assert any(e.action == "retention.expire_logs" for e in client.store.list_audit_events())
