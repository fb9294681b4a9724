"""The artifact store contract: content-addressed blobs, written atomically, verified on read."""

from __future__ import annotations

import hashlib
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from keel.errors import IntegrityError, InvalidArgumentError, NotFoundError

__all__ = ["CHUNK", "ArtifactStore", "blob_key", "check_digest", "sha256_file"]

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


class ArtifactStore(ABC):
    """Content-addressed blob storage.

    A blob's name is the sha256 of its bytes, so identical content is stored once. Writes are
    atomic: a reader sees the whole blob or none. Reads verify the digest, so corrupted bytes
    are never handed back (an :class:`~keel.errors.IntegrityError` is raised instead).
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
        """Whether the blob is stored."""

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
