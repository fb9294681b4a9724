"""A real ``keel server`` under uvicorn on 127.0.0.1 (a free port), with users in each role.

Project ``alpha`` has one user per role; ``outsider`` only has a role in ``beta``; ``root``
is a server administrator. Tokens for each are in ``KeelServer.tokens``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from keel.config import Settings
from keel.governance import ROLES, Governance
from keel.server import ServerLimits, create_app
from keel.store import SqlMetadataStore

PROJECT = "alpha"
USERS = {f"{role}-user": role for role in ROLES}


@dataclass
class KeelServer:
    url: str
    settings: Settings
    tokens: dict[str, str] = field(default_factory=dict)
    app: Any = None

    def client(self, user: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def start_server(
    home: Path,
    limits: ServerLimits,
    *,
    artifact_uri: str | None = None,
    s3_endpoint_url: str | None = None,
    store_uri: str | None = None,
) -> tuple[uvicorn.Server, threading.Thread, str, Any]:
    settings = Settings(
        home=home,
        store_uri=store_uri or f"sqlite:///{home / 'keel.db'}",
        artifact_uri=artifact_uri or str(home / "artifacts"),
        s3_endpoint_url=s3_endpoint_url,
    )
    app = create_app(settings, limits)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    url = f"http://127.0.0.1:{port}"
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("keel server did not start")
        time.sleep(0.02)
    return server, thread, url, app


def stop_server(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(timeout=15)


def add_accounts(settings: Settings) -> dict[str, str]:
    store = SqlMetadataStore(settings.store_uri, actor="setup")
    gov = Governance(store)
    tokens = {}
    gov.add_user("root", is_admin=True)
    tokens["root"] = gov.create_token("root").token
    gov.create_project(PROJECT)
    gov.create_project("beta")
    for user, role in USERS.items():
        gov.add_user(user, project=PROJECT, role=role)
        tokens[user] = gov.create_token(user).token
    gov.add_user("outsider", project="beta", role="admin")
    tokens["outsider"] = gov.create_token("outsider").token
    store.close()
    return tokens


@pytest.fixture(scope="session")
def keel_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeelServer]:
    """One server for the session, with generous limits (the rate-limit test has its own)."""
    home = tmp_path_factory.mktemp("keel-server")
    limits = ServerLimits(
        max_body_bytes=4 * 1024 * 1024,
        max_upload_bytes=16 * 1024 * 1024,
        bad_token_limit=10_000,
    )
    server, thread, url, app = start_server(home, limits)
    srv = KeelServer(url, app.state.keel.settings, app=app)
    srv.tokens = add_accounts(srv.settings)
    yield srv
    stop_server(server, thread)


@pytest.fixture(scope="module")
def server_process_env(keel_server: KeelServer) -> Iterator[KeelServer]:
    """The process settings set to the session server's store, for one test module.

    Governance reads (lineage, compliance, cost) use the process's store, as ``keel server``
    does when it runs with the settings it serves.
    """
    from tests.conftest import _reset_keel

    with pytest.MonkeyPatch.context() as mp:
        for var in (
            "KEEL_STORE_URI",
            "KEEL_ARTIFACT_URI",
            "KEEL_TRACKING_URI",
            "KEEL_CONFIG",
            "KEEL_TOKEN",
            "KEEL_ONLINE_STORE",
        ):
            mp.delenv(var, raising=False)
        mp.setenv("KEEL_HOME", str(keel_server.settings.home))
        _reset_keel()
        yield keel_server
        _reset_keel()
    _reset_keel()


@pytest.fixture
def remote_env(
    keel_home: Path, keel_server: KeelServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[KeelServer]:
    """Keel's Python API pointed at the session server as the contributor of ``alpha``."""
    from tests.conftest import _reset_keel

    monkeypatch.setenv("KEEL_TRACKING_URI", keel_server.url)
    monkeypatch.setenv("KEEL_TOKEN", keel_server.tokens["contributor-user"])
    monkeypatch.setenv("KEEL_PROJECT", PROJECT)
    _reset_keel()
    yield keel_server
    _reset_keel()


def materialize_demo_view(srv: KeelServer) -> list[dict[str, Any]]:
    """Apply and materialize the view ``server_stats`` (3 customers) in the server's stores.

    Idempotent: the source lives at one path in the server's home, so a second call applies
    the same definition and materializes nothing new.

    Returns:
        The latest row of each customer, as the online store should answer it.
    """
    import pandas as pd

    from keel.features import Entity, FeatureService, FeatureStore, FeatureView

    frame = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 1, 2, 3],
            "event_time": pd.to_datetime(
                ["2025-01-01T00:00Z"] * 3 + ["2025-01-01T01:00Z"] * 3, utc=True
            ),
            "amount": [1.5, 2.5, 3.5, 10.5, 20.5, 30.5],
            "country": ["DE", "FR", "IT", "DE", "FR", "ES"],
        }
    )
    folder = srv.settings.home / "feature-sources"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "server_stats.parquet"
    frame.to_parquet(path)
    customer = Entity("customer", join_keys=["customer_id"])
    view = FeatureView(
        "server_stats",
        entities=[customer],
        source=str(path),
        timestamp="event_time",
        features={"amount": "float64", "country": "string"},
    )
    meta = SqlMetadataStore(srv.settings.store_uri, actor="setup")
    fs = FeatureStore(meta, f"sqlite:///{srv.settings.home / 'online.db'}")
    try:
        fs.apply([customer, view, FeatureService("server_svc", [view])], show_diff=False)
        fs.materialize(["server_stats"], end=pd.Timestamp("2025-01-02T00:00Z"))
    finally:
        fs.close()
        meta.close()
    return frame.iloc[3:].to_dict("records")
