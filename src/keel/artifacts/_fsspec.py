"""``FsspecArtifactStore``: blobs on any fsspec filesystem; ``S3ArtifactStore`` for ``s3://``."""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from keel.artifacts.base import (
    CHUNK,
    ArtifactStore,
    BlobInfo,
    blob_key,
    check_digest,
    sha256_file,
)
from keel.errors import (
    IntegrityError,
    InvalidArgumentError,
    MissingDependencyError,
    StoreUnavailableError,
)

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_TRASH_NAME = re.compile(r"^[0-9a-f]{64}\.[0-9a-f]{12}$")

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

    def _trash_key(self, name: str) -> str:
        if not _TRASH_NAME.match(name):
            raise InvalidArgumentError(f"{name!r} is not a trash entry ('<digest>.<id>').")
        return f"{self.base}/gc-trash/{name}"

    def _restore(self, digest: str) -> bool:
        """Copy a trashed blob back in place; ``False`` if it is not in the trash.

        A copy is atomic on an object store: either the whole object appears, or (the trash
        entry was purged meanwhile) nothing does and the next entry, if any, is tried.
        """
        if not self.uses_trash:
            return False
        try:
            found = self._guard(
                lambda: self.fs.find(f"{self.base}/gc-trash", prefix=check_digest(digest))
            )
        except FileNotFoundError:
            return False
        for entry in sorted(found, reverse=True):
            try:
                self._guard(lambda entry=entry: self.fs.copy(entry, self._key(digest)))
            except FileNotFoundError:
                continue
            return True
        return False

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
        if not self._present(digest, restore=False):
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
        if not self._present(digest, restore=False):
            self._guard(lambda: self.fs.pipe_file(self._key(digest), data), write=True)
        return digest

    #: A blob found by :meth:`exists` whose modification time is older than this many seconds
    #: is refreshed, so a garbage collector with a longer grace period leaves it to the writer
    #: that relies on it. Fresher blobs cost no extra request.
    refresh_after: float = 600.0

    def exists(self, digest: str) -> bool:
        """Whether the object exists; if it is older than :attr:`refresh_after`, refresh it.

        A blob just moved to the trash by a collector is brought back (fresh), so a caller
        relying on the answer never commits a dangling reference.
        """
        return self._present(digest, restore=True)

    def _present(self, digest: str, *, restore: bool) -> bool:
        # ``restore=False`` for uploads: a writer that finds no blob uploads it anyway, so it
        # need not pay a trash listing for every new blob.
        key = self._key(digest)
        try:
            info = self._guard(lambda: self.fs.info(key))
        except FileNotFoundError:
            return restore and self._restore(digest)
        if info.get("type") == "directory":
            return False
        modified = _modified(info)
        if modified is not None and time.time() - modified >= self.refresh_after:
            try:
                self._refresh(key)
            except FileNotFoundError:  # collected meanwhile: the writer uploads it again
                return False
        return True

    def _refresh(self, key: str) -> None:
        """Give the object a new modification time (a no-op where the filesystem has none)."""

    def _open_raw(self, digest: str) -> BinaryIO:
        try:
            return self._open_main(digest)
        except FileNotFoundError:
            if not self._restore(digest):
                raise
        return self._open_main(digest)

    def _open_main(self, digest: str) -> BinaryIO:
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
        for attempt in range(2):
            try:
                return int(self._guard(lambda: self.fs.size(self._key(digest))))
            except FileNotFoundError as exc:
                if attempt or not self._restore(digest):
                    raise self._missing(digest) from exc
        raise self._missing(digest)  # pragma: no cover

    def iter_blobs(self) -> Iterator[BlobInfo]:
        """List ``sha256/`` and yield each blob with its size and modification time."""
        try:
            found = self._guard(lambda: self.fs.find(f"{self.base}/sha256", detail=True))
        except FileNotFoundError:
            return
        for key in sorted(found):
            info = found[key]
            name = key.rsplit("/", 1)[-1]
            if info.get("type") == "directory" or not _DIGEST.match(name):
                continue  # a folder marker, not a blob
            modified = _modified(info)
            if modified is None:
                raise self._unavailable(OSError(f"no modification time listed for {key!r}"))
            yield BlobInfo(name, int(info.get("size") or 0), modified)

    def collect(self, digest: str, *, older_than: float) -> int | None:
        """Delete the object unless it was written or seen at or after ``older_than``.

        The object's time is read again (one HEAD) right before it is removed. Where
        :attr:`uses_trash` is set (S3), the object is moved to ``gc-trash/`` (copy, then
        delete) and ``0`` is returned: object stores have no atomic rename, so a writer may
        find the blob present in the round trip between the HEAD and the DELETE and commit a
        reference to it. Every read and :meth:`exists` that misses a blob restores it from the
        trash, and :meth:`purge_trash` frees it only after a grace period in the trash, once
        the collector has checked again that nothing references it.
        """
        key = self._key(check_digest(digest))
        try:
            info = self._guard(lambda: self.fs.info(key))
        except FileNotFoundError:
            return None
        modified = _modified(info)
        if modified is None or modified >= older_than:
            return None
        if not self.uses_trash:
            self.delete(digest)
            return int(info.get("size") or 0)
        # A unique entry per move: purging or restoring one entry never removes another
        # collector's move of the same blob.
        trash = self._trash_key(f"{digest}.{uuid.uuid4().hex[:12]}")
        try:
            self._guard(lambda: self.fs.copy(key, trash))
        except FileNotFoundError:  # moved or deleted by another collector meanwhile
            return None
        self.delete(digest)
        return 0

    def iter_trash(self) -> Iterator[BlobInfo]:
        """List ``gc-trash/``: each entry (``<digest>.<id>``) with the time it was moved there."""
        if not self.uses_trash:
            return
        try:
            found = self._guard(lambda: self.fs.find(f"{self.base}/gc-trash", detail=True))
        except FileNotFoundError:
            return
        for key in sorted(found):
            info = found[key]
            name = key.rsplit("/", 1)[-1]
            if info.get("type") == "directory" or not _TRASH_NAME.match(name):
                continue
            modified = _modified(info)
            if modified is None:
                raise self._unavailable(OSError(f"no modification time listed for {key!r}"))
            yield BlobInfo(name, int(info.get("size") or 0), modified)

    def purge_trash(self, name: str, *, older_than: float) -> int | None:
        """Delete the trash entry if it was moved there by ``older_than``; return its size.

        A writer's :meth:`exists` racing with the DELETE either copies the entry back first
        (the blob is in place again) or finds it gone and uploads the blob again.
        """
        trash = self._trash_key(name)
        try:
            info = self._guard(lambda: self.fs.info(trash))
        except FileNotFoundError:
            return None
        modified = _modified(info)
        if modified is None or modified > older_than:
            return None
        try:
            self._guard(lambda: self.fs.rm_file(trash))
        except FileNotFoundError:  # purged by another collector
            return None
        return int(info.get("size") or 0)

    def restore_trash(self, name: str) -> bool:
        """Copy the trash entry back in place (a fresh blob), then drop the entry."""
        trash = self._trash_key(name)
        digest = name.split(".", 1)[0]
        try:
            self._guard(lambda: self.fs.copy(trash, self._key(digest)))
        except FileNotFoundError:
            return False
        with contextlib.suppress(FileNotFoundError):
            self._guard(lambda: self.fs.rm_file(trash))
        return True

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


def _modified(info: dict[str, Any]) -> float | None:
    """Return an fsspec listing entry's modification time in seconds, if it has one."""
    for name in ("LastModified", "mtime", "last_modified", "created"):
        value = info.get(name)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float):
            return float(value)
    return None


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

    #: S3 has no atomic rename: collected blobs go through ``gc-trash/`` (see :meth:`collect`).
    uses_trash = True

    def _errors(self) -> tuple[type[Exception], ...]:
        from botocore.exceptions import BotoCoreError, ClientError

        # botocore's connection errors are not OSErrors: an unreachable endpoint raises them.
        return (OSError, BotoCoreError, ClientError)

    def _refresh(self, key: str) -> None:
        # S3 has no "touch": copying the object onto itself with new metadata gives it a new
        # LastModified (one request, only for blobs older than ``refresh_after``).
        self._guard(lambda: self.fs.setxattr(key, keel_seen=str(int(time.time()))))

    def now(self) -> float:
        """Return the time on the bucket's clock: the LastModified of a marker written now.

        Blob times come from the server, so comparing them with the local clock would let a
        skewed client collect a blob that is still within its grace period.
        """
        marker = f"{self.base}/gc/clock"
        self._guard(lambda: self.fs.pipe_file(marker, b""), write=True)
        modified = _modified(self._guard(lambda: self.fs.info(marker)))
        return modified if modified is not None else time.time()
