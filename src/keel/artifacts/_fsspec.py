"""``FsspecArtifactStore``: blobs on any fsspec filesystem; ``S3ArtifactStore`` for ``s3://``."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from keel.artifacts.base import CHUNK, ArtifactStore, blob_key, check_digest, sha256_file
from keel.errors import IntegrityError, MissingDependencyError, StoreUnavailableError

#: Bytes fetched per ranged GET while streaming a blob out: reads stay in bounded memory.
READ_BLOCK = 4 * CHUNK


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
        """Hash the file, then upload it unless the blob exists.

        The upload hashes the bytes it sends again and is abandoned (never made visible) if
        they differ from the first pass, so a file rewritten meanwhile cannot be stored under
        a digest that is not its own.

        Raises:
            IntegrityError: The file changed while it was being stored.
        """
        path = Path(path)
        digest, size = sha256_file(path)
        if not self.exists(digest):
            self._guard(lambda: self._upload_checked(path, digest), write=True)
        return digest, size

    def _upload_checked(self, path: Path, digest: str) -> None:
        out = self.fs.open(self._key(digest), "wb")
        h = hashlib.sha256()
        try:
            with path.open("rb") as src:
                while chunk := src.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
        except BaseException:
            self._abandon(out, digest)
            raise
        if h.hexdigest() != digest:
            self._abandon(out, digest)
            raise IntegrityError(
                f"{str(path)!r} changed while it was being stored in {self.uri!r} (it hashed "
                f"to {digest!r}, then to {h.hexdigest()!r}), so Keel did not store it. Log it "
                "again once nothing is writing to it.",
                details={"path": str(path)},
            )
        out.close()  # an object store makes the object visible only now

    def _abandon(self, out: Any, digest: str) -> None:
        discard = getattr(out, "discard", None)
        if callable(discard) and hasattr(out, "buffer"):
            discard()  # aborts a multipart upload; nothing was made visible
            out.closed = True  # closing would try to flush the discarded buffer
        else:
            out.close()
            self.delete(digest)

    def put_bytes(self, data: bytes) -> str:
        """Upload bytes in a single PUT unless the blob exists."""
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            self._guard(lambda: self.fs.pipe_file(self._key(digest), data), write=True)
        return digest

    def exists(self, digest: str) -> bool:
        """Whether the object exists."""
        return bool(self._guard(lambda: self.fs.exists(self._key(digest))))

    def _open_raw(self, digest: str) -> BinaryIO:
        # Stream in ranged reads rather than fetching the whole object into memory.
        try:
            f = self.fs.open(
                self._key(check_digest(digest)), "rb", block_size=READ_BLOCK, cache_type="none"
            )
        except FileNotFoundError:
            raise
        except self._errors() as exc:
            raise self._unavailable(exc) from exc
        return cast(BinaryIO, f)

    def delete(self, digest: str) -> None:
        """Delete the object if it exists."""
        with contextlib.suppress(FileNotFoundError):
            self._guard(lambda: self.fs.rm_file(self._key(digest)))

    def quarantine(self, digest: str) -> None:
        """Move the object to ``<prefix>/quarantine/``."""
        target = f"{self.base}/quarantine/{check_digest(digest)}"
        with contextlib.suppress(FileNotFoundError):
            self._guard(lambda: self.fs.mv(self._key(digest), target))

    def size(self, digest: str) -> int:
        """Return the object's size.

        Raises:
            NotFoundError: The blob is not stored.
        """
        try:
            return int(self._guard(lambda: self.fs.size(self._key(digest))))
        except FileNotFoundError as exc:
            raise self._missing(digest) from exc

    def iter_digests(self) -> Iterator[str]:
        """List ``sha256/`` and yield each blob's digest."""
        try:
            found = self._guard(lambda: self.fs.find(f"{self.base}/sha256"))
        except FileNotFoundError:
            return
        for key in sorted(found):
            yield key.rsplit("/", 1)[-1]

    def _errors(self) -> tuple[type[Exception], ...]:
        """The exceptions by which this filesystem reports that the storage failed."""
        return (OSError,)

    def _guard(self, func: Any, *, write: bool = False) -> Any:
        try:
            return func()
        except FileNotFoundError as exc:
            if write:  # a write finds no object missing: the bucket or folder itself is
                raise self._unavailable(exc) from exc
            raise
        except self._errors() as exc:
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

    def _errors(self) -> tuple[type[Exception], ...]:
        from botocore.exceptions import BotoCoreError, ClientError

        # botocore's connection errors are not OSErrors: an unreachable endpoint raises them.
        return (OSError, BotoCoreError, ClientError)
