"""Crashes and damage: a run whose process was SIGKILLed, missing and corrupted blobs, doctor."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import keel
from keel.errors import IntegrityError
from keel.store import RunStatus, SqlMetadataStore
from keel.tracking import TrackingClient, get_client, reset_client, run_doctor

from ._keelprocs import child_env, run_cli, write_script

VICTIM = """
import time
import keel

keel.set_experiment("crash")
with keel.start_run(run_name="victim") as run:
    print(run.id, flush=True)
    i = 0
    while True:
        keel.log_metric("loss", 1.0 / (i + 1), step=i)
        i += 1
        time.sleep(0.0005)
"""


def _start_victim(tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    script = write_script(tmp_path, "victim.py", VICTIM)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env=child_env(KEEL_FLUSH_INTERVAL="0.2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    assert len(run_id) == 32, proc.stderr.read() if proc.stderr else ""
    return proc, run_id


def _points(store: SqlMetadataStore, run_id: str) -> int:
    try:
        return len(store.get_metric_history(run_id, "loss"))
    except keel.NotFoundError:
        return 0


@pytest.mark.slow
def test_sigkill_mid_logging_keeps_flushed_points_and_doctor_marks_it_killed(
    keel_env: dict[str, Any], tmp_path: Path
) -> None:
    proc, run_id = _start_victim(tmp_path)
    watcher = SqlMetadataStore(keel_env["store_uri"])
    try:
        deadline = time.monotonic() + 60
        while (seen := _points(watcher, run_id)) < 200:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no points were flushed"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        watcher.close()

    client = get_client()  # a new process-level client: the store still opens
    client.store.check()
    history = keel.get_metric_history(run_id, "loss")
    assert len(history) >= seen
    # Points reach the store in whole batches, in order: what is there has no gaps.
    assert [m.step for m in history] == list(range(len(history)))
    assert keel.get_run(run_id).info.status is RunStatus.RUNNING
    assert client.store.verify_audit_chain().ok

    report = run_doctor(client)
    assert [r.id for r in report.dead_runs] == [run_id]
    assert not report.ok
    assert keel.get_run(run_id).info.status is RunStatus.RUNNING  # no fix without fix=True

    fixed = run_doctor(client, fix=True)
    assert fixed.ok
    assert fixed.fixed == [f"run {run_id} marked KILLED"]
    info = keel.get_run(run_id).info
    assert info.status is RunStatus.KILLED
    assert info.end_time is not None
    assert run_doctor(client).dead_runs == []
    marks = [e for e in client.store.list_audit_events() if e.action == "run.mark"]
    assert [(e.resource_id, e.details["status"]) for e in marks] == [(run_id, "KILLED")]


def _dead_run(tmp_path: Path) -> str:
    """A run left RUNNING by a process that exited without ending it."""
    script = write_script(
        tmp_path,
        "abandon.py",
        """
        import os
        import keel

        keel.set_experiment("crash")
        run = keel.start_run(run_name="abandoned")
        print(run.id, flush=True)
        os._exit(0)  # no cleanup: the run stays RUNNING
        """,
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip()


def test_live_runs_are_not_dead(client: TrackingClient) -> None:
    with keel.start_run() as run:
        report = run_doctor(client, fix=True)
        assert report.dead_runs == []
        assert report.ok
        assert keel.get_run(run.id).info.status is RunStatus.RUNNING


def _blob_path(client: TrackingClient, digest: str) -> Path:
    root = Path(client.settings.artifact_uri)
    return root / "sha256" / digest[:2] / digest[2:4] / digest


def test_missing_blob_is_reported(client: TrackingClient) -> None:
    with keel.start_run() as run:
        entry = keel.log_dict({"a": 1}, "config.json")
    _blob_path(client, entry.digest).unlink()
    report = run_doctor(client)
    assert not report.ok
    assert [(p.digest, p.kind, p.references) for p in report.blob_problems] == [
        (entry.digest, "missing", [(run.id, "config.json")])
    ]
    fixed = run_doctor(client, fix=True)  # nothing to repair a missing blob with
    assert not fixed.ok
    assert fixed.fixed == []


def test_corrupt_blob_is_reported_and_quarantined(client: TrackingClient) -> None:
    payload = {"weights": list(range(50))}
    with keel.start_run() as run:
        entry = keel.log_dict(payload, "model/weights.json")
    blob = _blob_path(client, entry.digest)
    os.chmod(blob, 0o644)  # blobs are written read-only
    blob.write_bytes(b"x" * entry.size)  # same size, other bytes
    with pytest.raises(IntegrityError, match=entry.digest):
        keel.load_dict(run.id, "model/weights.json")

    report = run_doctor(client)
    assert [(p.digest, p.kind) for p in report.blob_problems] == [(entry.digest, "corrupt")]
    quick = run_doctor(client, verify_digests=False)  # existence only: cannot see it
    assert quick.blob_problems == []

    fixed = run_doctor(client, fix=True)
    assert fixed.fixed == [f"damaged blob {entry.digest} moved to quarantine"]
    assert not blob.exists()
    quarantined = Path(client.settings.artifact_uri) / "quarantine" / entry.digest
    assert quarantined.read_bytes() == b"x" * entry.size
    assert [(p.digest, p.kind) for p in run_doctor(client).blob_problems] == [
        (entry.digest, "missing")
    ]
    events = [e for e in client.store.list_audit_events() if e.action == "artifact.quarantine"]
    assert [e.resource_id for e in events] == [entry.digest]

    # Logging the same content again stores good bytes under the same digest.
    with keel.start_run():
        keel.log_dict(payload, "again.json")
    assert run_doctor(client).ok
    assert keel.load_dict(run.id, "model/weights.json") == payload


@pytest.mark.slow
def test_cli_doctor_finds_fixes_and_exit_codes(
    local_client: TrackingClient, tmp_path: Path
) -> None:
    run_id = _dead_run(tmp_path)
    reset_client()  # the CLI processes have the store to themselves

    found = run_cli("doctor")
    assert found.returncode == 1, found.stdout + found.stderr
    assert "Runs left RUNNING by processes that no longer exist" in found.stdout
    assert run_id in found.stdout
    assert "Run 'keel doctor --fix' to mark dead runs KILLED." in found.stdout

    fixed = run_cli("doctor", "--fix")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert f"fixed: run {run_id} marked KILLED" in fixed.stdout
    assert keel.get_run(run_id).info.status is RunStatus.KILLED

    payload = {"a": 1}
    with keel.start_run():
        entry = keel.log_dict(payload, "config.json")
    blob = _blob_path(local_client, entry.digest)
    os.chmod(blob, 0o644)
    blob.write_bytes(b"garbage")
    reset_client()

    corrupt = run_cli("doctor")
    assert corrupt.returncode == 1, corrupt.stdout + corrupt.stderr
    assert re.search(rf"{entry.digest[:16]}\s*│\s*corrupt\s*│", corrupt.stdout), corrupt.stdout

    quarantined = run_cli("doctor", "--fix")
    # Still 1: once quarantined the blob is missing until its content is logged again.
    assert quarantined.returncode == 1, quarantined.stdout + quarantined.stderr
    assert f"fixed: damaged blob {entry.digest} moved to quarantine" in quarantined.stdout
    assert re.search(rf"{entry.digest[:16]}\s*│\s*missing\s*│", quarantined.stdout)
    assert not blob.exists()

    with keel.start_run():  # the same content again: the blob is whole once more
        keel.log_dict(payload, "again.json")
    reset_client()
    healthy = run_cli("doctor", "--quick")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "Dead runs: none" in healthy.stdout
