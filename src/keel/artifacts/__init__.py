"""The one artifact store: content-addressed blobs (sha256) on a local folder or S3.

Open the configured store with :func:`open_artifact_store`; the implementation is chosen by the
URI's scheme (a path or ``file://`` for a local folder, ``s3://`` for S3-compatible storage).
"""

from __future__ import annotations

from keel.artifacts._fsspec import FsspecArtifactStore, S3ArtifactStore
from keel.artifacts._local import LocalArtifactStore
from keel.artifacts._paths import (
    check_local_source,
    iter_folder,
    join_artifact_path,
    normalize_artifact_path,
)
from keel.artifacts.base import ArtifactStore, BlobInfo, blob_key, check_digest, sha256_file
from keel.errors import InvalidArgumentError

__all__ = [
    "ArtifactStore",
    "BlobInfo",
    "FsspecArtifactStore",
    "LocalArtifactStore",
    "S3ArtifactStore",
    "blob_key",
    "check_digest",
    "check_local_source",
    "iter_folder",
    "join_artifact_path",
    "normalize_artifact_path",
    "open_artifact_store",
    "sha256_file",
]


def open_artifact_store(uri: str, *, s3_endpoint_url: str | None = None) -> ArtifactStore:
    """Open the artifact store at ``uri``.

    Args:
        uri: A local folder (``/data/keel/artifacts`` or ``file:///...``) or ``s3://bucket/prefix``.
        s3_endpoint_url: The endpoint of an S3-compatible service, for ``s3://`` URIs.

    Raises:
        InvalidArgumentError: The scheme is not supported.
        MissingDependencyError: The backend's package is not installed.
    """
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return LocalArtifactStore(uri)
    if scheme == "file":
        return LocalArtifactStore(rest)
    if scheme in ("s3", "s3a"):
        return S3ArtifactStore("s3://" + rest, endpoint_url=s3_endpoint_url)
    raise InvalidArgumentError(
        f"KEEL_ARTIFACT_URI {uri!r} has the unsupported scheme {scheme!r}. Use a local folder "
        "or 's3://bucket/prefix'."
    )
