"""``keel server``, ``keel users``, ``keel tokens``, ``keel projects``, and ``keel.client``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import keel
from keel.cli._app import app
from keel.client import connect, disconnect
from keel.governance import Governance
from keel.store import SqlMetadataStore
from tests.server.conftest import PROJECT, KeelServer

WIDE = {"COLUMNS": "200"}


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=WIDE)
    assert result.exit_code == 0, result.output
    return result.output


def test_users_tokens_projects_commands(keel_home: Path) -> None:
    invoke("projects", "create", "churn")
    invoke("users", "add", "gina", "--project", "churn", "--role", "contributor")
    out = invoke("users", "ls")
    assert "gina" in out
    assert "churn:contributor" in out
    token = invoke("tokens", "create", "gina", "--expires-in-days", "30").splitlines()[0]
    assert token.startswith("keel_")
    store = SqlMetadataStore(f"sqlite:///{keel_home / 'keel.db'}")
    gov = Governance(store)
    assert gov.authenticate(token).roles == {"churn": "contributor"}
    listing = invoke("tokens", "ls")
    assert token.split("_")[1] in listing
    assert token.split("_", 2)[2] not in listing  # the secret is shown once only
    invoke("tokens", "revoke", token.split("_")[1])
    assert gov.list_tokens("gina")[0].revoked_at is not None
    assert "churn" in invoke("projects", "ls")
    bad = CliRunner().invoke(app, ["users", "add", "gina", "--project", "churn", "--role", "boss"])
    assert bad.exit_code == 1
    assert "Unknown role 'boss'" in bad.output
    store.close()


def test_connect_points_the_api_at_a_server(
    keel_home: Path, keel_server: KeelServer, tmp_path: Path
) -> None:
    connect(keel_server.url, keel_server.tokens["contributor-user"], project=PROJECT)
    try:
        keel.set_experiment(f"connect-{tmp_path.name}")
        with keel.start_run() as run:
            keel.log_metric("m", 1.0)
        assert keel.get_run(run.id).data.metrics == {"m": 1.0}
        assert keel.tracking.get_client().remote
    finally:
        disconnect()
    assert not keel.tracking.get_client().remote
    with keel.start_run() as local:  # the experiment is found again, by name, locally
        keel.log_metric("m", 2.0)
    assert keel.get_run(local.id).data.metrics == {"m": 2.0}


@pytest.mark.slow
def test_keel_server_command_serves(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "KEEL_HOME": str(tmp_path / "home")}
    for var in ("KEEL_STORE_URI", "KEEL_ARTIFACT_URI", "KEEL_TRACKING_URI"):
        env.pop(var, None)
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "keel"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                resp = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert resp.json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/runs?prefix=ab").status_code == 401
        spec = httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()
        assert "/api/v1/runs/{run_id}" in spec["paths"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_account_commands_go_through_the_server(
    keel_home: Path, keel_server: KeelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import _reset_keel

    monkeypatch.setenv("KEEL_TRACKING_URI", keel_server.url)
    monkeypatch.setenv("KEEL_TOKEN", keel_server.tokens["root"])
    _reset_keel()
    invoke("users", "add", "hank", "--project", "remote-proj", "--role", "approver")
    assert "remote-proj:approver" in invoke("users", "ls")
    token = invoke("tokens", "create", "hank").splitlines()[0]
    me = httpx.get(
        f"{keel_server.url}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert me["roles"] == {"remote-proj": "approver"}
    invoke("tokens", "revoke", token)
    revoked = httpx.get(
        f"{keel_server.url}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert revoked.status_code == 401
    assert "remote-proj" in invoke("projects", "ls")
    invoke("users", "rm-role", "hank", "--project", "remote-proj")
    monkeypatch.setenv("KEEL_TOKEN", keel_server.tokens["viewer-user"])
    _reset_keel()
    denied = CliRunner().invoke(app, ["users", "add", "ivy"], env=WIDE)
    assert denied.exit_code == 1
    assert "may not 'users.write'" in denied.output
