"""``FsspecArtifactStore``: blobs on any fsspec filesystem; ``S3ArtifactStore`` for ``s3://``."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from keel.artifacts.base import ArtifactStore, blob_key, check_digest, sha256_file
from keel.errors import MissingDependencyError, StoreUnavailableError


class FsspecArtifactStore(ArtifactStore):
    """Blobs under ``<uri>/sha256/ab/cd/<digest>`` on an fsspec filesystem.

    An object store makes a PUT visible only once it is complete, so uploads are atomic.

    Args:
        uri: A URI fsspec understands, such as ``s3://bucket/prefix``.
        storage_options: Passed to the fsspec filesystem.
    """

    def __init__(self, uri: str, **storage_options: Any) -> None:
        import fsspec

        self.uri = uri.rstrip("/")
        self.fs, self.base = fsspec.core.url_to_fs(self.uri, **storage_options)
        self.base = self.base.rstrip("/")

    def _key(self, digest: str) -> str:
        return f"{self.base}/{blob_key(digest)}"

    def put_file(self, path: Path) -> tuple[str, int]:
        """Hash the file, then upload it unless the blob exists."""
        digest, size = sha256_file(Path(path))
        if not self.exists(digest):
            self._guard(lambda: self.fs.put_file(str(path), self._key(digest)))
        return digest, size

    def put_bytes(self, data: bytes) -> str:
        """Upload bytes in a single PUT unless the blob exists."""
        import hashlib

        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            self._guard(lambda: self.fs.pipe_file(self._key(digest), data))
        return digest

    def exists(self, digest: str) -> bool:
        """Whether the object exists."""
        return bool(self._guard(lambda: self.fs.exists(self._key(digest))))

    def _open_raw(self, digest: str) -> BinaryIO:
        try:
            data = self.fs.cat_file(self._key(check_digest(digest)))
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise self._unavailable(exc) from exc
        return io.BytesIO(data)

    def delete(self, digest: str) -> None:
        """Delete the object if it exists."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._key(digest))

    def quarantine(self, digest: str) -> None:
        """Move the object to ``<prefix>/quarantine/``."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.mv(self._key(digest), f"{self.base}/quarantine/{check_digest(digest)}")

    def size(self, digest: str) -> int:
        """Return the object's size."""
        return int(self._guard(lambda: self.fs.size(self._key(digest))))

    def iter_digests(self) -> Iterator[str]:
        """List ``sha256/`` and yield each blob's digest."""
        try:
            found = self.fs.find(f"{self.base}/sha256")
        except FileNotFoundError:
            return
        for key in sorted(found):
            yield key.rsplit("/", 1)[-1]

    def _guard(self, func: Any) -> Any:
        try:
            return func()
        except FileNotFoundError:
            raise
        except (OSError, PermissionError) as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: Exception) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"The artifact store {self.uri!r} failed: {exc}. Check KEEL_ARTIFACT_URI, the "
            "bucket and the credentials (and KEEL_S3_ENDPOINT_URL for S3-compatible services).",
            details={"uri": self.uri},
        )


class S3ArtifactStore(FsspecArtifactStore):
    """Blobs in an S3 bucket (AWS, MinIO, moto) through ``s3fs``.

    Args:
        uri: ``s3://bucket/prefix``.
        endpoint_url: The endpoint of an S3-compatible service; ``None`` for AWS.
    """

    def __init__(self, uri: str, *, endpoint_url: str | None = None) -> None:
        try:
            import s3fs  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError.for_extra("s3fs", "s3", "S3 artifact store") from exc
        options: dict[str, Any] = {}
        if endpoint_url:
            options["client_kwargs"] = {"endpoint_url": endpoint_url}
        # Objects are immutable and named by content: listing caches would only go stale.
        options["use_listings_cache"] = False
        super().__init__(uri, **options)
