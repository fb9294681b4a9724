"""The artifact store contract: content-addressed blobs, written atomically, verified on read."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from keel.errors import IntegrityError, InvalidArgumentError, InvalidStateError, NotFoundError

__all__ = ["CHUNK", "ArtifactStore", "BlobInfo", "blob_key", "check_digest", "sha256_file"]

CHUNK = 1024 * 1024
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is a lowercase hex sha256, else raise ``InvalidArgumentError``."""
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise InvalidArgumentError(
            f"{digest!r} is not a sha256 digest (64 lowercase hexadecimal characters)."
        )
    return digest


def blob_key(digest: str) -> str:
    """Return the relative key of a blob: ``sha256/ab/cd/abcd...``."""
    check_digest(digest)
    return f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"


def sha256_file(path: Path) -> tuple[str, int]:
    """Return the sha256 hex digest and size of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


@dataclass(frozen=True)
class BlobInfo:
    """A stored blob (or temporary upload file) as a listing sees it.

    Attributes:
        key: The blob's digest, or the temporary file's name.
        size: Its size in bytes.
        modified: When it was last written or *seen* (see :meth:`ArtifactStore.exists`), in
            seconds since the epoch on the store's clock (:meth:`ArtifactStore.now`).
    """

    key: str
    size: int
    modified: float


class ArtifactStore(ABC):
    """Content-addressed blob storage.

    A blob's name is the sha256 of its bytes, so identical content is stored once. Writes are
    atomic: a reader sees the whole blob or none. Reads verify the digest, so corrupted bytes
    are never handed back (an :class:`~keel.errors.IntegrityError` is raised instead).

    Garbage collection contract: ``put_file``, ``put_bytes`` and ``exists`` (when it answers
    ``True``) refresh the blob's modification time, so a writer that stores a blob, or finds it
    stored and relies on it, then commits the metadata naming it within the collector's grace
    period never has that blob collected under it (see :meth:`collect`).
    """

    #: The URI the store was opened with.
    uri: str

    @abstractmethod
    def put_file(self, path: Path) -> tuple[str, int]:
        """Store a file's bytes; return ``(digest, size)``. Storing known content copies nothing."""

    @abstractmethod
    def put_bytes(self, data: bytes) -> str:
        """Store bytes; return their digest."""

    @abstractmethod
    def exists(self, digest: str) -> bool:
        """Whether the blob is stored; a stored blob's modification time is refreshed.

        The refresh is what keeps a blob a caller is about to name safe from a concurrent
        garbage collection (see the class docstring).
        """

    @abstractmethod
    def _open_raw(self, digest: str) -> BinaryIO:
        """Open the stored blob for reading, unverified; raise ``FileNotFoundError`` if absent."""

    @abstractmethod
    def delete(self, digest: str) -> None:
        """Remove a blob (nothing happens if it is absent)."""

    @abstractmethod
    def quarantine(self, digest: str) -> None:
        """Move a damaged blob to ``quarantine/<digest>``: kept for inspection, never served."""

    @abstractmethod
    def iter_digests(self) -> Iterator[str]:
        """Yield the digest of every stored blob."""

    @abstractmethod
    def size(self, digest: str) -> int:
        """Return the stored size of a blob in bytes; raise ``NotFoundError`` if it is absent."""

    def iter_blobs(self) -> Iterator[BlobInfo]:
        """Yield every stored blob with its size and modification time.

        Raises:
            InvalidStateError: The backend cannot list modification times, so it cannot be
                garbage-collected safely.
        """
        raise InvalidStateError(
            f"The artifact store {self.uri!r} ({type(self).__name__}) cannot list blobs with "
            "their modification times, so Keel cannot garbage-collect it safely."
        )
        yield  # pragma: no cover

    def now(self) -> float:
        """Return the current time on the store's clock, in seconds since the epoch."""
        return time.time()

    def collect(self, digest: str, *, older_than: float) -> int | None:
        """Delete a blob unless it was written or seen at or after ``older_than``.

        The modification time is read again at the moment of deletion, not taken from an
        earlier listing, so a writer that refreshed the blob meanwhile keeps it.

        Args:
            digest: The blob.
            older_than: A time on the store's clock (:meth:`now`).

        Returns:
            The bytes freed (0 when the blob was moved to the trash, see :attr:`uses_trash`),
            or ``None`` if the blob is absent or was refreshed.
        """
        raise InvalidStateError(
            f"The artifact store {self.uri!r} ({type(self).__name__}) cannot delete blobs "
            "safely under concurrent writers."
        )

    #: Whether :meth:`collect` moves a blob to a trash area (freed later by :meth:`purge_trash`)
    #: rather than deleting it at once. Object stores have no atomic rename, so a writer may
    #: find a blob present a moment before the collector removes it; the trash lets every read
    #: and :meth:`exists` that misses a blob bring it back.
    uses_trash: bool = False

    def iter_trash(self) -> Iterator[BlobInfo]:
        """Yield every trash entry (``key`` is ``<digest>.<id>``) with the time of its move."""
        return iter(())

    def purge_trash(self, name: str, *, older_than: float) -> int | None:
        """Delete a trash entry moved there by ``older_than``; return the bytes freed.

        Returns:
            The bytes freed, or ``None`` if the entry is absent or was trashed too recently.
        """
        return None

    def restore_trash(self, name: str) -> bool:
        """Put a trashed blob back in place (a reference to it was committed); ``False`` if gone."""
        return False

    def iter_temp_files(self) -> Iterator[BlobInfo]:
        """Yield the temporary files of uploads (abandoned ones outlive their writer)."""
        return iter(())

    def delete_temp_file(self, name: str) -> int:
        """Delete one temporary upload file; return the bytes freed (0 if it was gone)."""
        return 0

    def get_bytes(self, digest: str) -> bytes:
        """Return a blob's bytes after checking their digest.

        Raises:
            NotFoundError: The blob is not stored.
            IntegrityError: The stored bytes do not match the digest.
        """
        with self._open(digest) as f:
            data = f.read()
        if hashlib.sha256(data).hexdigest() != digest:
            raise self._corrupt(digest)
        return data

    def download(self, digest: str, dest: Path) -> None:
        """Write a blob to ``dest`` atomically, after checking its digest while copying.

        Raises:
            NotFoundError: The blob is not stored.
            IntegrityError: The stored bytes do not match the digest; ``dest`` is not written.
        """
        dest.parent.mkdir(parents=True, exist_ok=True)
        # A unique temp name: processes downloading into one folder must not share a temp file.
        tmp = dest.with_name(f".{dest.name[:200]}.{uuid.uuid4().hex[:12]}.keel-tmp")
        h = hashlib.sha256()
        try:
            with self._open(digest) as src, tmp.open("xb") as out:
                while chunk := src.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
            if h.hexdigest() != digest:
                raise self._corrupt(digest)
            tmp.replace(dest)
        finally:
            tmp.unlink(missing_ok=True)

    def verify(self, digest: str) -> bool:
        """Whether the stored blob's bytes still hash to ``digest`` (``False`` if absent)."""
        h = hashlib.sha256()
        try:
            with self._open_raw(digest) as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
        except FileNotFoundError:
            return False
        return h.hexdigest() == digest

    def _open(self, digest: str) -> BinaryIO:
        try:
            return self._open_raw(check_digest(digest))
        except FileNotFoundError as exc:
            raise self._missing(digest) from exc

    def _missing(self, digest: str) -> NotFoundError:
        return NotFoundError(
            f"Blob {digest!r} is not in the artifact store {self.uri!r}. It was deleted or "
            "never uploaded; 'keel doctor' lists every missing blob.",
            details={"digest": digest},
        )

    def _corrupt(self, digest: str) -> IntegrityError:
        return IntegrityError(
            f"Blob {digest!r} in the artifact store {self.uri!r} does not match its digest: the "
            "stored bytes were changed or damaged. Keel refuses to use them; run 'keel doctor' "
            "to find every damaged blob.",
            details={"digest": digest},
        )
