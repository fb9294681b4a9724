"""Security: tampered artifacts are refused before loading; the skops path runs no code."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import pytest

import keel
from keel.errors import IntegrityError, ValidationFailedError
from keel.registry import RegistryClient
from keel.registry._manifest import MANIFEST_FILE, Manifest
from keel.store import ArtifactEntry
from keel.store._registry import NewModelVersion
from keel.tracking import TrackingClient

from .conftest import churn_frame

X, Y = churn_frame(100)
MARKER_ENV = "KEEL_TEST_MARKER"


class Payload:
    """Unpickling this runs ``open(marker, "w")``: the stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


class Evil:
    """Rebuilding this object (skops calls __setstate__) would write the marker file."""

    def __init__(self) -> None:
        self.marker = os.environ.get(MARKER_ENV, "")

    def __setstate__(self, state: dict[str, Any]) -> None:
        Path(state["marker"]).write_text("pwned")
        self.__dict__.update(state)

    def predict(self, data: Any) -> list[int]:
        return [0] * len(data)


def _blob(client: TrackingClient, digest: str) -> Path:
    root = Path(client.artifacts.uri)
    return root / "sha256" / digest[:2] / digest[2:4] / digest


def _logged(serialization: str = "cloudpickle") -> keel.registry.ModelInfo:
    from sklearn.linear_model import LogisticRegression

    with keel.start_run():
        return keel.log_model(
            LogisticRegression().fit(X, Y),
            "model",
            registered_name="churn",
            serialization=serialization,
        )


def test_a_tampered_model_file_is_refused_before_unpickling(
    client: TrackingClient, tmp_path: Path
) -> None:
    info = _logged()
    marker = tmp_path / "pwned"
    (entry,) = [e for e in info.files if e.path == "model/model.pkl"]
    blob = _blob(client, entry.digest)
    blob.chmod(0o644)
    blob.write_bytes(pickle.dumps(Payload(marker)))
    for uri in ("models:/churn/1", "models:/churn/latest", info.model_uri):
        with pytest.raises(IntegrityError, match=r"does not match its digest"):
            keel.load_model(uri)
    assert not marker.exists()
    # The same bytes unpickled directly would have run the payload: the test can see it.
    pickle.loads(blob.read_bytes()).close()
    assert marker.exists()


def test_a_tampered_manifest_is_refused(client: TrackingClient) -> None:
    info = _logged()
    blob = _blob(client, info.manifest_digest)
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes().replace(b'"cloudpickle"', b'"joblib"     '))
    with pytest.raises(IntegrityError, match=r"does not match its digest"):
        keel.load_model("models:/churn/1")


def _register_crafted(name: str, files: dict[str, bytes], serialization: str) -> int:
    """Register bytes as an sklearn model in the given format, digests all correct."""
    registry = RegistryClient()
    with keel.start_run() as run:
        run_id = run.id
    manifest = Manifest(
        flavor="sklearn",
        serialization=serialization,
        files={},
        libraries={},
        signature=None,
        model_class="sklearn.linear_model.LogisticRegression",
        model_input="array",
        methods=["predict"],
        run_id=run_id,
        artifact_path="model",
    )
    entries = []
    for rel, data in files.items():
        digest = registry.artifacts.put_bytes(data)
        manifest.files[rel] = {"digest": digest, "size": len(data)}
        entries.append(ArtifactEntry(f"model/{rel}", digest, len(data)))
    body = manifest.to_json()
    manifest_digest = registry.artifacts.put_bytes(body)
    entries.append(ArtifactEntry(f"model/{MANIFEST_FILE}", manifest_digest, len(body)))
    registry.store.add_artifacts(run_id, entries)
    mv = registry.repo.create_version(
        NewModelVersion(name, run_id, "model", "sklearn", serialization, manifest_digest, None, "t")
    )
    return mv.version


def test_a_pickle_in_a_skops_file_is_not_executed(client: TrackingClient, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    version = _register_crafted("crafted", {"model.skops": pickle.dumps(Payload(marker))}, "skops")
    with pytest.raises(ValidationFailedError, match=r"is not a skops file"):
        keel.load_model(f"models:/crafted/{version}")
    assert not marker.exists()


def test_a_skops_file_with_untrusted_types_is_refused_unless_trusted(
    client: TrackingClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import skops.io

    marker = tmp_path / "pwned"
    monkeypatch.setenv(MARKER_ENV, str(marker))
    version = _register_crafted("evil", {"model.skops": skops.io.dumps(Evil())}, "skops")
    evil_type = f"{Evil.__module__}.Evil"
    with pytest.raises(ValidationFailedError, match=r"names types that are not trusted") as err:
        keel.load_model(f"models:/evil/{version}")
    assert err.value.details["untrusted_types"] == [evil_type]
    assert not marker.exists()
    # Trust is the caller's explicit decision, type by type; then skops rebuilds the object.
    keel.load_model(f"models:/evil/{version}", trusted_types=[evil_type])
    assert marker.read_text() == "pwned"


def test_genuine_skops_models_load_with_default_trust(client: TrackingClient) -> None:
    info = _logged("skops")
    loaded = keel.load_model(f"models:/churn/{info.version}")
    assert loaded.manifest.options["untrusted_types"] == []
    assert list(loaded.predict(X[:4])) == list(loaded.unwrap().predict(X[:4]))


@pytest.mark.s3
def test_models_on_s3_are_verified_too(
    local: TrackingClient, s3_bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import boto3

    from keel.config import reset_settings
    from keel.tracking import reset_client

    monkeypatch.setenv("KEEL_ARTIFACT_URI", f"s3://{s3_bucket}/keel")
    reset_client()
    reset_settings()
    info = _logged()
    loaded = keel.load_model("models:/churn/1")
    assert list(loaded.predict(X[:3])) == list(loaded.unwrap().predict(X[:3]))
    (entry,) = [e for e in info.files if e.path == "model/model.pkl"]
    marker = tmp_path / "pwned"
    s3 = boto3.client("s3", endpoint_url=os.environ["KEEL_S3_ENDPOINT_URL"])
    key = f"keel/sha256/{entry.digest[:2]}/{entry.digest[2:4]}/{entry.digest}"
    s3.put_object(Bucket=s3_bucket, Key=key, Body=pickle.dumps(Payload(marker)))
    with pytest.raises(IntegrityError, match=r"does not match its digest"):
        keel.load_model("models:/churn/1")
    assert not marker.exists()
