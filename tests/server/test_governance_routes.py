"""Governance reads and online features over REST, and errors that survive the round trip."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keel.client import (
    remote_audit_log,
    remote_compliance_report,
    remote_cost,
    remote_lineage,
    remote_online_features,
    remote_verify_audit,
)
from keel.config import Settings
from keel.errors import (
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    UnauthenticatedError,
    UnsupportedMediaTypeError,
)
from keel.governance import Governance
from keel.server import ServerLimits
from keel.store import NewRun, SqlMetadataStore
from keel.store._registry import NewModelVersion, RegistryRepository
from keel.store._rest import RestTransport
from tests.server.conftest import (
    PROJECT,
    KeelServer,
    materialize_demo_view,
    start_server,
    stop_server,
)

MODEL = "gov-model"


@pytest.fixture(scope="module")
def gov_world(
    keel_server: KeelServer,
) -> Iterator[dict[str, Any]]:
    store = SqlMetadataStore(keel_server.settings.store_uri, actor="setup")
    gov = Governance(store)
    exp = store.create_experiment("gov-routes")
    gov.place("experiment", exp.id, PROJECT)
    run = store.create_run(NewRun(exp.id))
    store.add_lineage_edge(("entity", "gov-entity"), ("run", run.id), "input")
    digest = keel_server.app.state.keel.artifacts.put_bytes(b"gov model")
    repo = RegistryRepository(store)
    repo.create_model(MODEL, actor="setup")
    gov.place("model", MODEL, PROJECT)
    repo.create_version(
        NewModelVersion(MODEL, run.id, "model", "sklearn", "pickle", digest, None, "setup")
    )
    latest = materialize_demo_view(keel_server)
    yield {"run_id": run.id, "latest": latest}
    store.close()


def as_user(srv: KeelServer, user: str) -> Settings:
    return dataclasses.replace(srv.settings, tracking_uri=srv.url, token=srv.tokens[user])


def test_lineage_walks_from_a_model_to_its_data(
    keel_server: KeelServer, gov_world: dict[str, Any]
) -> None:
    graph = remote_lineage(f"models:/{MODEL}/1", settings=as_user(keel_server, "viewer-user"))
    assert graph.root.key == f"model_version:{MODEL}/1"
    keys = {n.key for n in graph.nodes}
    assert f"run:{gov_world['run_id']}" in keys
    assert "entity:gov-entity" in keys
    assert graph.children(graph.root), "the edges came back too"
    shallow = remote_lineage(
        f"models:/{MODEL}/1", depth=0, settings=as_user(keel_server, "viewer-user")
    )
    assert [n.key for n in shallow.nodes] == [graph.root.key]


def test_lineage_is_refused_outside_the_project(
    keel_server: KeelServer, gov_world: dict[str, Any]
) -> None:
    with pytest.raises(PermissionDeniedError, match="outsider"):
        remote_lineage(f"models:/{MODEL}/1", settings=as_user(keel_server, "outsider"))
    with pytest.raises(PermissionDeniedError, match="outsider"):
        remote_lineage(f"run:{gov_world['run_id']}", settings=as_user(keel_server, "outsider"))
    # From a dataset (in no project), the outsider's graph hides alpha's run.
    graph = remote_lineage(
        "entity:gov-entity", direction="downstream", settings=as_user(keel_server, "outsider")
    )
    run = graph.node("run", gov_world["run_id"])
    assert run.properties == {"hidden": "in a project you have no role in"}
    mine = remote_lineage(
        "entity:gov-entity",
        direction="downstream",
        settings=as_user(keel_server, "viewer-user"),
    )
    assert "hidden" not in mine.node("run", gov_world["run_id"]).properties


def test_bad_lineage_queries_are_400_and_404(keel_server: KeelServer, gov_world: Any) -> None:
    viewer = as_user(keel_server, "viewer-user")
    with pytest.raises(InvalidArgumentError):
        remote_lineage(f"models:/{MODEL}/1", direction="sideways", settings=viewer)
    with pytest.raises(NotFoundError):
        remote_lineage(f"models:/{MODEL}/99", settings=viewer)


def test_audit_log_and_verification_need_an_administrator(
    keel_server: KeelServer, gov_world: Any
) -> None:
    root = as_user(keel_server, "root")
    events = remote_audit_log(action="model_version", limit=50, settings=root)
    assert any(e.resource_id == f"{MODEL}/1" for e in events), [e.resource_id for e in events]
    assert remote_verify_audit(settings=root).ok
    for user in ("admin-user", "viewer-user"):
        with pytest.raises(PermissionDeniedError):
            remote_audit_log(settings=as_user(keel_server, user))
        with pytest.raises(PermissionDeniedError):
            remote_verify_audit(settings=as_user(keel_server, user))
    with pytest.raises(InvalidArgumentError):
        remote_audit_log(since="yesterday-ish", settings=root)


def test_compliance_report_in_html_and_markdown(keel_server: KeelServer, gov_world: Any) -> None:
    viewer = as_user(keel_server, "viewer-user")
    md = remote_compliance_report(MODEL, 1, "md", settings=viewer)
    assert f"Compliance report: {MODEL} v1" in md
    html = remote_compliance_report(MODEL, 1, "html", settings=viewer)
    assert "<html" in html.lower()
    with keel_server.client("viewer-user") as client:
        resp = client.get(f"/api/v1/models/{MODEL}/versions/1/compliance-report")
        assert resp.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in resp.headers["content-security-policy"]
        assert resp.headers["x-content-type-options"] == "nosniff"
        bad = client.get(f"/api/v1/models/{MODEL}/versions/1/compliance-report?format=pdf")
        assert bad.status_code == 400
    with pytest.raises(PermissionDeniedError):
        remote_compliance_report(MODEL, 1, "md", settings=as_user(keel_server, "outsider"))


def test_costs_for_administrators(keel_server: KeelServer, gov_world: Any) -> None:
    report = remote_cost(by="experiment", since="30d", settings=as_user(keel_server, "root"))
    assert report.by == "experiment"
    assert report.total.key == "total"
    assert any(line.key == "gov-routes" for line in report.lines) or report.lines == []
    with pytest.raises(PermissionDeniedError):
        remote_cost(settings=as_user(keel_server, "admin-user"))
    with pytest.raises(InvalidArgumentError, match="Cannot group cost by"):
        remote_cost(by="planet", settings=as_user(keel_server, "root"))


def test_online_features_over_rest(keel_server: KeelServer, gov_world: dict[str, Any]) -> None:
    viewer = as_user(keel_server, "viewer-user")
    latest = {r["customer_id"]: r for r in gov_world["latest"]}
    entities = [{"customer_id": 3}, {"customer_id": 1}, {"customer_id": 77}]
    got = remote_online_features(
        entities, features=["server_stats:amount", "server_stats:country"], settings=viewer
    )
    assert got["customer_id"] == [3, 1, 77]
    assert got["amount"][:2] == [latest[3]["amount"], latest[1]["amount"]]
    assert got["country"][:2] == [latest[3]["country"], latest[1]["country"]]
    assert got["amount"][2] is None or math.isnan(got["amount"][2])
    by_service = remote_online_features(entities, feature_service="server_svc", settings=viewer)
    assert by_service["amount"][:2] == got["amount"][:2]


def test_online_features_bad_requests(keel_server: KeelServer, gov_world: Any) -> None:
    viewer = as_user(keel_server, "viewer-user")
    with pytest.raises(NotFoundError, match="amount"):
        remote_online_features(
            [{"customer_id": 1}], features=["server_stats:amuont"], settings=viewer
        )
    with pytest.raises(InvalidArgumentError, match="either"):
        remote_online_features([{"customer_id": 1}], settings=viewer)
    with pytest.raises(InvalidArgumentError, match="entities"):
        remote_online_features(
            "customer 1",  # type: ignore[arg-type]
            features=["server_stats:amount"],
            settings=viewer,
        )


def test_governance_reads_use_the_servers_store_not_the_process(
    keel_server: KeelServer, gov_world: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.conftest import _reset_keel

    monkeypatch.setenv("KEEL_HOME", str(tmp_path / "elsewhere"))
    _reset_keel()
    try:
        root = as_user(keel_server, "root")
        graph = remote_lineage(f"models:/{MODEL}/1", settings=root)
        assert f"run:{gov_world['run_id']}" in {n.key for n in graph.nodes}
        assert MODEL in remote_compliance_report(MODEL, 1, format="md", settings=root)
        assert remote_verify_audit(settings=root).ok
    finally:
        monkeypatch.setenv("KEEL_HOME", str(keel_server.settings.home))
        _reset_keel()


# -- errors survive the round trip ---------------------------------------------------------


def test_http_refusals_come_back_as_their_classes(keel_server: KeelServer) -> None:
    bad = RestTransport(keel_server.url, "keel_abc_def")
    with pytest.raises(UnauthenticatedError) as info:
        bad.request("GET", "/users/me")
    assert isinstance(info.value, PermissionError)
    assert info.value.details["status"] == 401
    nobody = RestTransport(keel_server.url, None)
    with pytest.raises(UnauthenticatedError, match="needs a token"):
        nobody.request("GET", "/users/me")
    ok = RestTransport(keel_server.url, keel_server.tokens["contributor-user"])
    with pytest.raises(UnsupportedMediaTypeError, match="text/plain"):
        ok.request("POST", "/runs/search", content=b"{}", content_type="text/plain")
    too_big = b'{"x": "' + b"a" * (5 * 1024 * 1024) + b'"}'
    with pytest.raises(PayloadTooLargeError, match="larger than the server's limit"):
        ok.request("POST", "/runs/search", content=too_big, content_type="application/json")


def test_rate_limited_comes_back_with_retry_after(tmp_path: Path) -> None:
    limits = ServerLimits(bad_token_limit=2, bad_token_window_s=60)
    server, thread, url, _ = start_server(tmp_path, limits)
    try:
        bad = RestTransport(url, "keel_abc_def")
        for _ in range(2):
            with pytest.raises(UnauthenticatedError):
                bad.request("GET", "/users/me")
        with pytest.raises(RateLimitedError, match="Too many") as info:
            bad.request("GET", "/users/me")
        assert info.value.details["retry_after"] >= 1
        assert info.value.details["status"] == 429
    finally:
        stop_server(server, thread)


@pytest.fixture
def server_process(keel_server: KeelServer) -> Iterator[str]:
    """``keel server`` in its own process over the session server's store (its process
    settings are then its store, as in production)."""
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env["KEEL_HOME"] = str(keel_server.settings.home)
    keel = str(Path(sys.executable).parent / "keel")
    proc = subprocess.Popen(
        [keel, "server", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/api/v1/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr:
            proc.stderr.close()


def test_cli_governance_commands_work_remotely(
    keel_server: KeelServer,
    gov_world: dict[str, Any],
    server_process: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    from typer.testing import CliRunner

    from keel.cli._app import app
    from tests.conftest import _reset_keel

    monkeypatch.setenv("KEEL_TRACKING_URI", server_process)
    monkeypatch.setenv("KEEL_TOKEN", keel_server.tokens["root"])
    _reset_keel()
    runner = CliRunner(env={"COLUMNS": "200"})
    try:
        out = runner.invoke(app, ["lineage", f"models:/{MODEL}/1", "--format", "json"])
        assert out.exit_code == 0, out.output
        assert f"run:{gov_world['run_id']}" in {n["key"] for n in json.loads(out.output)["nodes"]}
        out = runner.invoke(app, ["audit", "verify"])
        assert out.exit_code == 0, out.output
        assert "Audit chain intact" in out.output
        out = runner.invoke(app, ["audit", "log", "--since", "1d", "--format", "json"])
        assert out.exit_code == 0, out.output
        assert json.loads(out.output)
        out = runner.invoke(app, ["cost", "--by", "user", "--format", "json"])
        assert out.exit_code == 0, out.output
        assert json.loads(out.output)["by"] == "user"
        out = runner.invoke(app, ["report", "compliance", MODEL, "1", "--format", "md"])
        assert out.exit_code == 0, out.output
        assert f"Compliance report: {MODEL} v1" in out.output
    finally:
        monkeypatch.delenv("KEEL_TRACKING_URI")
        monkeypatch.delenv("KEEL_TOKEN")
        _reset_keel()
