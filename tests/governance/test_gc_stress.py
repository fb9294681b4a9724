"""Garbage collection while writer processes keep writing loses nothing live.

Writers log runs (sharing artifact content with each other), register datasets, store garbage
and soft-delete runs; a collector runs again and again meanwhile with a short grace period and
``runs-deleted`` at 0, so purged runs keep turning shared blobs into garbage just as other
writers store the same content again. Afterwards every referenced blob exists and verifies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from keel.governance._gc import collect_garbage, live_digests
from keel.governance._retention import set_retention
from keel.store._gc import GcRepository
from keel.tracking import get_client, reset_client

WRITER = Path(__file__).with_name("_gc_writer.py")
GRACE_S = 3.0


def _stress(tmp_path: Path, writers: int, iterations: int, env: dict[str, str]) -> None:
    client = get_client()
    set_retention(client.store, {"runs-deleted": "0s"})
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(WRITER),
                str(w),
                str(iterations),
                str(tmp_path / "work"),
                str(GRACE_S + 0.2),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        for w in range(writers)
    ]
    freed = collections = 0
    # A second collector at the same time: two sweeps must not trip over each other's claims.
    errors: list[BaseException] = []
    second_freed: list[int] = []

    def second_collector() -> None:
        try:
            while any(p.poll() is None for p in procs):
                report = collect_garbage(client.store, client.artifacts, grace_s=GRACE_S)
                second_freed.append(report.freed_bytes)
        except BaseException as exc:  # reported by the test's thread below
            errors.append(exc)

    other = threading.Thread(target=second_collector)
    other.start()
    while any(p.poll() is None for p in procs):
        # A slow sweep (a pause per blob) widens the window in which a writer stores again a
        # blob the collector has listed as garbage: the race the refresh must win.
        report = collect_garbage(
            client.store, client.artifacts, grace_s=GRACE_S, progress=lambda *_: time.sleep(0.03)
        )
        freed += report.freed_bytes
        collections += 1
        time.sleep(0.05)
    other.join()
    assert errors == []
    freed += sum(second_freed)
    results: list[dict[str, Any]] = []
    for p in procs:
        out, err = p.communicate()
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    time.sleep(GRACE_S + 1.1)  # let the writers' garbage age past the grace period
    report = collect_garbage(client.store, client.artifacts, grace_s=GRACE_S)
    freed += report.freed_bytes
    if client.artifacts.uses_trash:
        # S3: what that pass moved to the trash is freed once it has spent the grace period there.
        time.sleep(GRACE_S + 1.1)
        report = collect_garbage(client.store, client.artifacts, grace_s=GRACE_S)
        freed += report.freed_bytes
        assert list(client.artifacts.iter_trash()) == [], "old trash entries were left behind"
    assert collections >= 2
    assert freed > 0, "the collector never freed anything: the test exercised nothing"

    live = live_digests(GcRepository(client.store).references(), client.artifacts)
    missing = [d for d in live if not client.artifacts.verify(d)]
    assert missing == [], f"{len(missing)} referenced blobs were lost: {missing[:5]}"
    kept = [run for r in results for run in r["kept"]]
    assert kept
    for run_id in kept:
        for entry in client.store.list_artifacts(run_id):
            assert client.artifacts.verify(entry.digest)
    import keel

    for ref in {ref for r in results for ref in r["datasets"]}:
        assert keel.datasets.get(ref).to_pandas()["x"].min() == 0
    assert report.missing == []


@pytest.mark.slow
def test_gc_during_concurrent_writes_loses_nothing_live_local(
    keel_env: dict[str, Any], tmp_path: Path
) -> None:
    _stress(tmp_path, writers=3, iterations=12, env={})


@pytest.mark.slow
@pytest.mark.s3
def test_gc_during_concurrent_writes_loses_nothing_live_s3(
    keel_env: dict[str, Any], s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel.artifacts import FsspecArtifactStore
    from keel.config import reset_settings

    monkeypatch.setenv("KEEL_ARTIFACT_URI", f"s3://{s3_bucket}/keel")
    monkeypatch.setattr(FsspecArtifactStore, "refresh_after", 0.5)
    reset_client()
    reset_settings()
    _stress(tmp_path, writers=2, iterations=8, env={"KEEL_TEST_REFRESH_AFTER": "0.5"})
