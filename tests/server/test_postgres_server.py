"""The server on PostgreSQL: the same remote calls, concurrent writers included."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import keel
from keel.server import ServerLimits
from keel.store import SqlMetadataStore
from tests.server.conftest import PROJECT, add_accounts, start_server, stop_server


@pytest.mark.postgres
def test_remote_tracking_on_a_postgres_server(
    keel_home: Path, postgres_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import _reset_keel

    server, thread, url, app = start_server(
        tmp_path / "srv", ServerLimits(), store_uri=postgres_uri
    )
    try:
        tokens = add_accounts(app.state.keel.settings)
        monkeypatch.setenv("KEEL_TRACKING_URI", url)
        monkeypatch.setenv("KEEL_TOKEN", tokens["contributor-user"])
        monkeypatch.setenv("KEEL_PROJECT", PROJECT)
        _reset_keel()
        keel.set_experiment("pg")

        def one(i: int) -> str:
            client = keel.tracking.get_client()
            info = client.create_run(client.get_or_create_experiment("pg").id, name=f"r{i}")
            client.log_params(info.id, {"i": i})
            for step in range(200):
                client.log_metric(info.id, "m", step, step=step)
            client.end_run(info.id)
            return info.id

        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(one, range(8)))
        store = SqlMetadataStore(postgres_uri)
        for i, run_id in enumerate(ids):
            assert store.get_run(run_id).data.params == {"i": str(i)}
            assert len(store.get_metric_history(run_id, "m")) == 200
        assert store.verify_audit_chain().ok
        store.close()
    finally:
        _reset_keel()
        stop_server(server, thread)
