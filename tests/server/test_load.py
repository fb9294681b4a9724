"""Remote mode under load: four client processes log to one server at once; nothing is lost."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from keel.store import SqlMetadataStore
from tests.server.conftest import PROJECT, KeelServer

STEPS = 1500
CLIENT = textwrap.dedent(
    """
    import sys, keel
    worker = int(sys.argv[1])
    steps = int(sys.argv[2])
    keel.set_experiment("load")
    with keel.start_run(run_name=f"worker-{worker}") as run:
        keel.log_params({"worker": worker, "steps": steps})
        for step in range(steps):
            keel.log_metrics({"loss": 1.0 / (step + 1), "worker": float(worker)}, step=step)
            if step % 500 == 0:
                keel.set_tag("progress", step)
        keel.log_text(f"done by {worker}", "result.txt")
    print(run.id)
    """
)


@pytest.mark.slow
def test_four_clients_log_to_one_server(keel_server: KeelServer, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "KEEL_TRACKING_URI": keel_server.url,
        "KEEL_TOKEN": keel_server.tokens["contributor-user"],
        "KEEL_PROJECT": PROJECT,
        "KEEL_HOME": str(tmp_path / "client-home"),
        "KEEL_FLUSH_INTERVAL": "0.2",
    }
    env.pop("KEEL_STORE_URI", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT, str(i), str(STEPS)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        for i in range(4)
    ]
    run_ids = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        run_ids.append(out.strip().splitlines()[-1])
    store = SqlMetadataStore(keel_server.settings.store_uri)
    try:
        for worker, run_id in enumerate(run_ids):
            run = store.get_run(run_id)
            assert run.info.status == "FINISHED"
            assert run.info.user == "contributor-user"
            assert run.data.params == {"worker": str(worker), "steps": str(STEPS)}
            assert run.data.tags["progress"] == "1000"
            for key in ("loss", "worker"):
                history = store.get_metric_history(run_id, key)
                assert [m.step for m in history] == list(range(STEPS)), (worker, key)
            assert run.data.metrics["worker"] == worker
            assert [a.path for a in store.list_artifacts(run_id)] == ["result.txt"]
        # Every change was audited as the token's user, and the chain holds.
        events = [e for e in store.list_audit_events(limit=100_000) if e.resource_id in run_ids]
        assert {e.actor for e in events} == {"contributor-user"}
        assert {e.action for e in events} >= {"run.create", "run.log_metrics", "run.end"}
        assert store.verify_audit_chain().ok
    finally:
        store.close()
