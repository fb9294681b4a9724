"""S3 collection goes through a trash: a writer that finds a blob a moment before it is moved never
ends with a dangling reference, and a trash entry is freed only once it is still unreferenced.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from keel.artifacts import ArtifactStore
from keel.governance._gc import collect_garbage
from keel.tracking import get_client, reset_client

pytestmark = [pytest.mark.s3, pytest.mark.slow]


@pytest.fixture
def s3_artifacts(
    keel_env: dict[str, Any], s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> ArtifactStore:
    from keel.config import reset_settings

    monkeypatch.setenv("KEEL_ARTIFACT_URI", f"s3://{s3_bucket}/keel")
    reset_client()
    reset_settings()
    artifacts = get_client().artifacts
    assert artifacts.uses_trash
    return artifacts


def _old(artifacts: ArtifactStore) -> float:
    time.sleep(1.1)  # S3 times have one-second resolution
    return artifacts.now()


def test_a_blob_collected_after_a_writer_saw_it_is_restored_by_exists_and_reads(
    s3_artifacts: ArtifactStore,
) -> None:
    artifacts = s3_artifacts
    digest = artifacts.put_bytes(b"seen by a writer" * 10)
    # The race: the writer's exists() answered yes just before the collector moved the blob.
    assert artifacts.collect(digest, older_than=_old(artifacts)) == 0
    assert digest not in {b.key for b in artifacts.iter_blobs()}
    assert [t.key.split(".")[0] for t in artifacts.iter_trash()] == [digest]
    assert artifacts.get_bytes(digest) == b"seen by a writer" * 10  # a read restores it
    assert digest in {b.key for b in artifacts.iter_blobs()}
    other = artifacts.put_bytes(b"checked by exists" * 10)
    artifacts.collect(other, older_than=_old(artifacts))
    assert artifacts.exists(other)
    assert artifacts.size(other) == len(b"checked by exists" * 10)


def test_a_trash_entry_referenced_meanwhile_is_restored_not_freed(
    s3_artifacts: ArtifactStore, tmp_path: Any
) -> None:
    import keel

    client = get_client()
    artifacts = s3_artifacts
    path = tmp_path / "model.bin"
    path.write_bytes(b"committed after the move" * 20)
    digest = artifacts.put_bytes(path.read_bytes())
    artifacts.collect(digest, older_than=_old(artifacts))  # moved, then the writer commits:
    with keel.start_run("late", experiment="trash"):
        keel.log_artifact(str(path))
    time.sleep(1.1)
    report = collect_garbage(client.store, artifacts, grace_s=0.0)
    assert report.freed_bytes == 0
    assert list(artifacts.iter_trash()) == []
    assert artifacts.verify(digest)


def test_unreferenced_trash_is_freed_after_the_grace_period_with_exact_bytes(
    s3_artifacts: ArtifactStore,
) -> None:
    client = get_client()
    artifacts = s3_artifacts
    content = b"garbage nobody names" * 7
    digest = artifacts.put_bytes(content)
    time.sleep(2.2)  # older than the grace period, at one-second resolution
    first = collect_garbage(client.store, artifacts, grace_s=1.0)
    assert first.trashed.count == 1
    assert first.trashed.bytes == len(content)
    assert first.freed_bytes == 0  # still in the trash: a grace period there too
    assert digest not in {b.key for b in artifacts.iter_blobs()}
    time.sleep(2.2)
    dry = collect_garbage(client.store, artifacts, grace_s=1.0, dry_run=True)
    assert dry.by_kind["unreferenced"].bytes == len(content)
    second = collect_garbage(client.store, artifacts, grace_s=1.0)
    assert second.freed_bytes == len(content)
    assert second.by_kind["unreferenced"].bytes == len(content)
    assert list(artifacts.iter_trash()) == []
    assert not artifacts.exists(digest)


def test_a_pass_slower_than_the_grace_period_does_not_free_what_it_just_trashed(
    s3_artifacts: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: on a loaded machine a pass took longer than the grace period, and its purge
    step freed the blobs its own moves had just put in the trash."""
    client = get_client()
    artifacts = s3_artifacts
    content = b"moved by a slow pass" * 5
    digest = artifacts.put_bytes(content)
    time.sleep(2.2)
    collect = artifacts.collect

    def slow_collect(key: str, *, older_than: float) -> int | None:
        moved = collect(key, older_than=older_than)
        time.sleep(2.2)  # the move is older than the grace period before the purge step
        return moved

    with monkeypatch.context() as m:
        m.setattr(artifacts, "collect", slow_collect)
        report = collect_garbage(client.store, artifacts, grace_s=1.0)
    assert report.trashed.count == 1
    assert report.freed_bytes == 0
    assert [t.key.split(".")[0] for t in artifacts.iter_trash()] == [digest]
    later = collect_garbage(client.store, artifacts, grace_s=1.0)
    assert later.freed_bytes == len(content)
