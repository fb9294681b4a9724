"""Four processes logging into one store at once, on an existing store and on a new one."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from keel.store import RunStatus, SqlMetadataStore

from ._keelprocs import child_env, write_script

WORKERS = 4
POINTS = 10_000

# Each worker imports everything first, says it is ready, and waits for "go", so that all four
# open (and, for a new store, create and migrate) the store at the same moment.
WORKER = """
import sys, time
from pathlib import Path

import keel
import keel.tracking

name, folder = sys.argv[1], Path(sys.argv[2])
(folder / f"ready-{name}").touch()
while not (folder / "go").exists():
    time.sleep(0.005)
keel.set_experiment("concurrency")
with keel.start_run(run_name=name) as run:
    for i in range(int(sys.argv[3])):
        keel.log_metric("loss", 1.0 / (i + 1), step=i)
print(run.id)
"""


def _run_workers(tmp_path: Path, store_uri: str) -> list[str]:
    script = write_script(tmp_path, "worker.py", WORKER)
    sync = tmp_path / "sync"
    sync.mkdir()
    env = child_env(KEEL_STORE_URI=store_uri, KEEL_HOME=str(tmp_path / "home"))
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), f"worker-{i}", str(sync), str(POINTS)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(WORKERS)
    ]
    deadline = time.monotonic() + 120
    while len(list(sync.glob("ready-*"))) < WORKERS:
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.01)
    (sync / "go").touch()
    run_ids = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        assert err == "", err  # no retries or dropped points reported
        run_ids.append(out.strip())
    return run_ids


def _check_all_points(store_uri: str, run_ids: list[str]) -> None:
    store = SqlMetadataStore(store_uri)
    try:
        assert len(set(run_ids)) == WORKERS
        total = 0
        for run_id in run_ids:
            assert store.get_run_info(run_id).status is RunStatus.FINISHED
            history = store.get_metric_history(run_id, "loss")
            assert [m.step for m in history] == list(range(POINTS))
            assert history[-1].value == 1.0 / POINTS
            total += len(history)
        assert total == WORKERS * POINTS
        exp = store.get_experiment_by_name("concurrency")
        assert [e.name for e in store.list_experiments()] == ["concurrency"]
        runs, _ = store.search_runs([exp.id])
        assert sorted(r.id for r in runs) == sorted(run_ids)
        assert store.verify_audit_chain().ok  # one unbroken chain across four writers
    finally:
        store.close()


@pytest.mark.slow
def test_four_processes_log_into_one_existing_store(
    keel_env: dict[str, Any], tmp_path: Path
) -> None:
    store_uri = keel_env["store_uri"]
    SqlMetadataStore(store_uri).close()  # the store exists and is migrated
    run_ids = _run_workers(tmp_path, store_uri)
    _check_all_points(store_uri, run_ids)


@pytest.mark.slow
def test_four_processes_create_a_new_store_at_once(
    keel_env: dict[str, Any], tmp_path: Path
) -> None:
    store_uri = keel_env["store_uri"]
    if store_uri.startswith("sqlite"):
        assert not Path(store_uri.removeprefix("sqlite:///")).parent.exists()
    run_ids = _run_workers(tmp_path, store_uri)
    _check_all_points(store_uri, run_ids)
