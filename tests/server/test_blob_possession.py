"""Regression: a known digest is not a key. Referencing a blob needs the bytes or read access.

Before the fix, a contributor of one project could attach the digest of another project's file
to their own run and then download it through that run.
"""

from __future__ import annotations

import hashlib
import uuid

from tests.server.conftest import PROJECT, KeelServer


def _run(srv: KeelServer, user: str, project: str) -> str:
    with srv.client(user) as http:
        exp = http.post(
            "/api/v1/experiments", json={"name": f"e-{uuid.uuid4().hex[:8]}", "project": project}
        )
        assert exp.status_code == 201, exp.text
        run = http.post("/api/v1/runs", json={"experiment_id": exp.json()["id"]})
        assert run.status_code == 201, run.text
        return str(run.json()["run_id"] if "run_id" in run.json() else run.json()["id"])


def _put(srv: KeelServer, user: str, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    with srv.client(user) as http:
        resp = http.put(
            f"/api/v1/blobs/{digest}",
            content=data,
            headers={"content-type": "application/octet-stream"},
        )
        assert resp.status_code == 200, resp.text
    return digest


def _attach(srv: KeelServer, user: str, run_id: str, digest: str, size: int) -> int:
    with srv.client(user) as http:
        entry = {"path": "stolen.txt", "digest": digest, "size": size}
        return http.post(f"/api/v1/runs/{run_id}/artifacts", json={"entries": [entry]}).status_code


def test_a_known_digest_cannot_be_attached_without_the_bytes(keel_server: KeelServer) -> None:
    secret = b"beta's secret " + uuid.uuid4().hex.encode()
    owner_run = _run(keel_server, "outsider", "beta")
    digest = _put(keel_server, "outsider", secret)
    assert _attach(keel_server, "outsider", owner_run, digest, len(secret)) == 200

    thief_run = _run(keel_server, "contributor-user", PROJECT)
    # Naming the digest is refused, with the same answer as for a blob that does not exist.
    assert _attach(keel_server, "contributor-user", thief_run, digest, len(secret)) == 400
    missing = hashlib.sha256(b"never stored " + secret).hexdigest()
    assert _attach(keel_server, "contributor-user", thief_run, missing, 1) == 400
    with keel_server.client("contributor-user") as http:
        assert http.get(f"/api/v1/blobs/{digest}").status_code in (403, 404)
        # Asking whether it is stored says "no", so the client sends the bytes.
        plan = http.post("/api/v1/blobs/uploads", json={"digest": digest, "size": len(secret)})
        assert plan.json()["exists"] is False
        assert plan.json()["url"] is None

    # Whoever has the bytes may send them and then reference the blob (one copy is stored).
    assert _put(keel_server, "contributor-user", secret) == digest
    assert _attach(keel_server, "contributor-user", thief_run, digest, len(secret)) == 200
