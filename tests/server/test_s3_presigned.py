"""With an S3 artifact store, blobs go straight to the object store through presigned URLs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import boto3
import httpx
import pytest

import keel
from keel.server import ServerLimits
from tests.server.conftest import PROJECT, add_accounts, start_server, stop_server


@pytest.mark.s3
def test_remote_artifacts_use_presigned_urls(
    keel_home: Path,
    s3_bucket: str,
    moto_server: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.conftest import _reset_keel

    server, thread, url, app = start_server(
        tmp_path / "srv",
        ServerLimits(),
        artifact_uri=f"s3://{s3_bucket}/blobs",
        s3_endpoint_url=moto_server,
    )
    try:
        tokens = add_accounts(app.state.keel.settings)
        monkeypatch.setenv("KEEL_TRACKING_URI", url)
        monkeypatch.setenv("KEEL_TOKEN", tokens["contributor-user"])
        monkeypatch.setenv("KEEL_PROJECT", PROJECT)
        _reset_keel()
        payload = bytes(range(256)) * 4096  # 1 MiB
        src = tmp_path / "weights.bin"
        src.write_bytes(payload)
        with keel.start_run() as run:
            keel.log_artifact(src)
        digest = hashlib.sha256(payload).hexdigest()
        s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket)["Contents"]]
        assert any(k.endswith(digest) for k in keys)
        out = keel.download_artifacts(run.id, "weights.bin", tmp_path / "out")
        assert out.read_bytes() == payload

        auth = {"Authorization": f"Bearer {tokens['contributor-user']}"}
        resp = httpx.get(f"{url}/api/v1/blobs/{digest}", headers=auth)
        assert resp.status_code == 307
        assert resp.headers["location"].startswith(moto_server)
        other = b"not the content"
        wrong = hashlib.sha256(b"claimed").hexdigest()
        plan = httpx.post(
            f"{url}/api/v1/blobs/uploads", json={"digest": wrong, "size": len(other)}, headers=auth
        ).json()
        assert plan["url"].startswith(moto_server)
        # The URL binds the checksum: AWS S3 refuses a body that does not match it. moto does
        # not check, so the bytes land; every reader still verifies the digest and refuses them.
        assert "x-amz-checksum-sha256" in plan["url"].lower()
        assert plan["headers"]["x-amz-checksum-sha256"]
        httpx.put(plan["url"], content=other, headers=plan["headers"])
        entry = {"path": "poisoned.bin", "digest": wrong, "size": len(other)}
        recorded = httpx.post(
            f"{url}/api/v1/runs/{run.id}/artifacts", json={"entries": [entry]}, headers=auth
        )
        assert recorded.status_code == 200, recorded.text
        from keel.errors import IntegrityError
        from keel.tracking import get_client

        with pytest.raises(IntegrityError, match="does not match its digest"):
            get_client().artifacts.get_bytes(wrong)
    finally:
        _reset_keel()
        stop_server(server, thread)
