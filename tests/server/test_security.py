"""The security catalog against a real server: traversal, sizes, tokens, tampering, injection,
CSRF/CORS."""

from __future__ import annotations

import hashlib
import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

import keel
from keel.errors import IntegrityError
from keel.governance import Governance
from keel.server import ServerLimits
from keel.store import NewRun, SqlMetadataStore
from tests.server.conftest import PROJECT, KeelServer, start_server, stop_server


def raw_request(
    srv: KeelServer,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Send ``path`` byte for byte (httpx would normalize ``..`` away)."""
    parts = urlsplit(srv.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    return resp.status, (json.loads(data) if data.startswith(b"{") else {})


@pytest.fixture
def run_id(keel_server: KeelServer) -> Iterator[str]:
    store = SqlMetadataStore(keel_server.settings.store_uri, actor="setup")
    exp = store.get_or_create_experiment("security")
    Governance(store).place("experiment", exp.id, PROJECT)
    yield store.create_run(NewRun(exp.id)).id
    store.close()


def _auth(srv: KeelServer, user: str = "contributor-user", **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {srv.tokens[user]}", **extra}


TRAVERSALS = [
    "../escape.txt",
    "..%2fescape.txt",
    "%2e%2e/escape.txt",
    "%2e%2e%2fescape.txt",
    "..%5cescape.txt",
    "sub/../../escape.txt",
    "%2fetc%2fpasswd",
    "file:%2f%2f%2fetc%2fpasswd",
    "s3:%2f%2fother-bucket%2fkey",
    "C:%5cwindows%5cx",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_in_artifact_paths_is_refused(
    keel_server: KeelServer, run_id: str, path: str
) -> None:
    headers = _auth(keel_server, **{"Content-Type": "application/octet-stream"})
    status, body = raw_request(
        keel_server, "PUT", f"/api/v1/runs/{run_id}/artifacts/{path}", b"x", headers
    )
    assert status in (400, 404), (path, status, body)
    if status == 400:
        assert body["error_code"] in ("invalid-artifact-path", "invalid-argument"), body
    for method in ("GET",):
        status, _ = raw_request(
            keel_server,
            method,
            f"/api/v1/runs/{run_id}/artifacts/{path}",
            headers=_auth(keel_server),
        )
        assert status in (400, 404)
    listed = httpx.get(
        f"{keel_server.url}/api/v1/runs/{run_id}/artifacts", headers=_auth(keel_server)
    ).json()["artifacts"]
    assert listed == []


@pytest.mark.parametrize("path", ["%252e%252e%252fescape.txt", "a;b.txt", "%252e%252e/x"])
def test_double_encoded_and_odd_characters_stay_literal_names(
    keel_server: KeelServer, run_id: str, path: str
) -> None:
    headers = _auth(keel_server, **{"Content-Type": "application/octet-stream"})
    status, body = raw_request(
        keel_server, "PUT", f"/api/v1/runs/{run_id}/artifacts/{path}", b"x", headers
    )
    # Decoded once, the name is literal: it may be stored, but only inside the run's namespace.
    assert status in (200, 400), body
    if status == 200:
        assert not body["path"].startswith(("/", ".."))
        assert "/../" not in body["path"]
        assert ".." not in body["path"].split("/")


@pytest.mark.parametrize(
    "entry_path",
    ["../x", "..\\x", "/etc/passwd", "//host/share", "file:///etc/passwd", "a/../../b"],
)
def test_traversal_in_recorded_entries_is_refused(
    keel_server: KeelServer, run_id: str, entry_path: str
) -> None:
    data = b"entry"
    digest = keel_server.app.state.keel.artifacts.put_bytes(data)
    resp = httpx.post(
        f"{keel_server.url}/api/v1/runs/{run_id}/artifacts",
        json={"entries": [{"path": entry_path, "digest": digest, "size": len(data)}]},
        headers=_auth(keel_server),
    )
    assert resp.status_code == 400, resp.text
    assert resp.json()["error_code"] == "invalid-artifact-path"


@pytest.mark.parametrize("digest", ["..%2f..%2fetc%2fpasswd", "ABC", "%2e%2e", "0" * 63 + "g"])
def test_blob_digests_must_be_hex(keel_server: KeelServer, digest: str) -> None:
    status, body = raw_request(
        keel_server, "GET", f"/api/v1/blobs/{digest}", headers=_auth(keel_server)
    )
    assert status in (400, 404), body


def test_oversized_json_body_is_413(keel_server: KeelServer, run_id: str) -> None:
    big = {"params": {"k": "x" * (5 * 1024 * 1024)}}
    resp = httpx.post(
        f"{keel_server.url}/api/v1/runs/{run_id}/params", json=big, headers=_auth(keel_server)
    )
    assert resp.status_code == 413
    assert resp.json()["error_code"] == "request-too-large"


def test_oversized_streamed_upload_is_413(keel_server: KeelServer, run_id: str) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b"\0" * (1024 * 1024)

    resp = httpx.put(
        f"{keel_server.url}/api/v1/runs/{run_id}/artifacts/big.bin",
        content=chunks(),
        headers=_auth(keel_server, **{"Content-Type": "application/octet-stream"}),
        timeout=60,
    )
    assert resp.status_code == 413, resp.text
    listed = httpx.get(
        f"{keel_server.url}/api/v1/runs/{run_id}/artifacts", headers=_auth(keel_server)
    ).json()["artifacts"]
    assert listed == []


def test_text_plain_cross_origin_post_does_not_act(keel_server: KeelServer) -> None:
    name = "csrf-experiment"
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        resp = httpx.post(
            f"{keel_server.url}/api/v1/experiments",
            content=json.dumps({"name": name, "project": PROJECT}),
            headers=_auth(keel_server, **{"Content-Type": ctype, "Origin": "https://evil.example"}),
        )
        assert resp.status_code == 415, resp.text
        assert "access-control-allow-origin" not in resp.headers
    listed = httpx.get(f"{keel_server.url}/api/v1/experiments", headers=_auth(keel_server, "root"))
    assert name not in [e["name"] for e in listed.json()["experiments"]]
    preflight = httpx.options(
        f"{keel_server.url}/api/v1/experiments",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


@pytest.mark.parametrize(
    "flt",
    [
        "metrics.acc > 0 OR 1=1",
        "params.lr = '0.1' OR '1'='1'",
        "params.lr = '0.1'; DROP TABLE runs; --",
        "metrics.acc > 0 UNION SELECT * FROM users",
        "tags.`x` = 'a') OR (1=1",
        "metrics.acc > (SELECT 1)",
    ],
)
def test_search_filter_injection_is_refused(keel_server: KeelServer, run_id: str, flt: str) -> None:
    store = SqlMetadataStore(keel_server.settings.store_uri)
    exp_id = store.get_run_info(run_id).experiment_id
    resp = httpx.post(
        f"{keel_server.url}/api/v1/runs/search",
        json={"experiment_ids": [exp_id], "filter": flt},
        headers=_auth(keel_server),
    )
    assert resp.status_code == 400, resp.text
    assert resp.json()["error_code"] == "invalid-argument"
    assert store.get_run_info(run_id).id == run_id  # the table is still there
    store.close()


def test_tampered_artifacts_are_refused_by_the_remote_client(
    remote_env: KeelServer, tmp_path: Path
) -> None:
    with keel.start_run() as run:
        entry = keel.log_text("original content", "notes.txt")
    store = remote_env.app.state.keel.artifacts
    from keel.artifacts import blob_key

    blob = Path(remote_env.settings.artifact_uri) / blob_key(entry.digest)
    blob.chmod(0o644)
    blob.write_text("tampered content")
    with pytest.raises(IntegrityError, match="does not match its digest"):
        keel.download_artifacts(run.id, "notes.txt", tmp_path / "out")
    assert not (tmp_path / "out" / "notes.txt").exists()
    assert store is not None


def test_upload_with_a_wrong_digest_is_refused(keel_server: KeelServer) -> None:
    wrong = hashlib.sha256(b"something else").hexdigest()
    resp = httpx.put(
        f"{keel_server.url}/api/v1/blobs/{wrong}",
        content=b"payload",
        headers=_auth(keel_server, **{"Content-Type": "application/octet-stream"}),
    )
    assert resp.status_code == 400
    assert resp.json()["error_code"] == "invalid-argument"
    assert "Nothing was stored" in resp.json()["message"]
    assert not keel_server.app.state.keel.artifacts.exists(wrong)


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Basic dXNlcjpwYXNz", "Bearer keel_0000000000000000_" + "x" * 43],
)
def test_missing_or_bad_tokens_are_401(keel_server: KeelServer, header: str) -> None:
    headers = {"Authorization": header} if header else {}
    resp = httpx.get(f"{keel_server.url}/api/v1/users/me", headers=headers)
    assert resp.status_code == 401
    assert resp.json()["error_code"] == "unauthenticated"
    assert "keel_0000" not in resp.text  # a token is never echoed


def test_revoked_and_expired_tokens_are_401(keel_server: KeelServer) -> None:
    store = SqlMetadataStore(keel_server.settings.store_uri, actor="setup")
    gov = Governance(store)
    revoked = gov.create_token("viewer-user")
    expiring = gov.create_token("viewer-user", expires_in_days=1e-9)
    ok = httpx.get(
        f"{keel_server.url}/api/v1/users/me", headers={"Authorization": f"Bearer {revoked.token}"}
    )
    assert ok.status_code == 200
    gov.revoke_token(revoked.record.id)
    for token, word in ((revoked.token, "revoked"), (expiring.token, "expired")):
        resp = httpx.get(
            f"{keel_server.url}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert resp.status_code == 401
        assert word in resp.json()["message"]
    store.close()


def test_repeated_bad_tokens_are_rate_limited(tmp_path: Path) -> None:
    limits = ServerLimits(bad_token_limit=3, bad_token_window_s=60)
    server, thread, url, app = start_server(tmp_path, limits)
    try:
        bad = {"Authorization": "Bearer keel_0123456789abcdef_" + "y" * 43}
        codes = [httpx.get(f"{url}/api/v1/users/me", headers=bad).status_code for _ in range(5)]
        assert codes == [401, 401, 401, 429, 429]
        resp = httpx.get(f"{url}/api/v1/users/me", headers=bad)
        assert resp.json()["error_code"] == "rate-limited"
        assert int(resp.headers["retry-after"]) >= 1
        assert httpx.get(f"{url}/api/v1/health").status_code == 200  # no token, no limit
    finally:
        stop_server(server, thread)


def test_server_errors_keep_the_error_shape(keel_server: KeelServer) -> None:
    resp = httpx.get(f"{keel_server.url}/api/v1/nowhere", headers=_auth(keel_server))
    assert resp.status_code == 404
    assert set(resp.json()) == {"error_code", "message", "details"}
    resp = httpx.post(
        f"{keel_server.url}/api/v1/runs/search",
        json={"experiment_ids": "x"},
        headers=_auth(keel_server),
    )
    assert resp.status_code == 400
    assert resp.json()["error_code"] == "invalid-argument"


def test_lineage_between_objects_of_no_project_needs_a_server_admin(
    keel_server: KeelServer,
) -> None:
    edge = {
        "source": {"kind": "dataset_version", "id": "a"},
        "target": {"kind": "dataset_version", "id": "b"},
        "relation": "derived",
    }
    url = f"{keel_server.url}/api/v1/lineage-edges"
    assert httpx.post(url, json=edge, headers=_auth(keel_server)).status_code == 403
    assert httpx.post(url, json=edge, headers=_auth(keel_server, "root")).status_code == 201


@pytest.mark.parametrize(
    "route",
    [
        "/api/v1/projects/{x}",
        "/api/v1/projects/{x}/members",
        "/api/v1/experiments/{x}",
        "/api/v1/runs/{x}",
        "/api/v1/runs/{x}/artifacts",
        "/api/v1/models/{x}",
        "/api/v1/models/{x}/versions",
    ],
)
@pytest.mark.parametrize(
    "x", ["..%2f..%2fetc%2fpasswd", "%2e%2e", "%252e%252e%252fkeel.db", "..%5c..%5cwin.ini"]
)
def test_traversal_in_name_and_id_fields_reaches_nothing(
    keel_server: KeelServer, route: str, x: str
) -> None:
    status, body = raw_request(
        keel_server, "GET", route.format(x=x), headers=_auth(keel_server, "root")
    )
    assert status in (400, 404), (route, x, status, body)
    assert body.get("error_code") in ("not-found", "invalid-argument", "invalid-artifact-path")


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", "x\\y", "%2e%2e"])
def test_created_names_cannot_look_like_paths(keel_server: KeelServer, name: str) -> None:
    for path, body in (
        ("/api/v1/projects", {"name": name}),
        ("/api/v1/users", {"name": name}),
        ("/api/v1/models", {"name": name, "project": PROJECT}),
    ):
        resp = httpx.post(f"{keel_server.url}{path}", json=body, headers=_auth(keel_server, "root"))
        assert resp.status_code == 400, (path, name, resp.text)


def test_the_server_refuses_to_serve_a_tampered_blob(keel_server: KeelServer, run_id: str) -> None:
    headers = _auth(keel_server, **{"Content-Type": "application/octet-stream"})
    up = httpx.put(
        f"{keel_server.url}/api/v1/runs/{run_id}/artifacts/served.txt",
        content=b"served once",
        headers=headers,
    )
    from keel.artifacts import blob_key

    blob = Path(keel_server.settings.artifact_uri) / blob_key(up.json()["digest"])
    blob.chmod(0o644)
    blob.write_bytes(b"served twice")
    for url in (
        f"{keel_server.url}/api/v1/runs/{run_id}/artifacts/served.txt",
        f"{keel_server.url}/api/v1/blobs/{up.json()['digest']}",
    ):
        resp = httpx.get(url, headers=_auth(keel_server))
        assert resp.status_code == 500
        assert resp.json()["error_code"] == "integrity-error"
        assert b"served twice" not in resp.content


def test_users_issue_their_own_tokens_only(keel_server: KeelServer) -> None:
    url = f"{keel_server.url}/api/v1/users"
    own = httpx.post(
        f"{url}/viewer-user/tokens", json={}, headers=_auth(keel_server, "viewer-user")
    )
    assert own.status_code == 201
    assert own.json()["token"].startswith("keel_")
    other = httpx.post(
        f"{url}/admin-user/tokens", json={}, headers=_auth(keel_server, "viewer-user")
    )
    assert other.status_code == 403
