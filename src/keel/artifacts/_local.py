"""``LocalArtifactStore``: blobs in a local folder, written by temp file and rename."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from keel.artifacts.base import CHUNK, ArtifactStore, blob_key, check_digest


class LocalArtifactStore(ArtifactStore):
    """Blobs under ``root/sha256/ab/cd/<digest>``.

    Args:
        root: The folder to keep blobs in; created on first write.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.uri = str(self.root)

    def _path(self, digest: str) -> Path:
        return self.root / blob_key(digest)

    def _tmp(self) -> tuple[int, str]:
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(dir=tmp_dir, prefix="upload-")

    def _commit(self, tmp: str, digest: str) -> None:
        final = self._path(digest)
        if final.exists():
            os.unlink(tmp)
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o444)
        os.replace(tmp, final)  # atomic: readers see the whole blob or none

    def put_file(self, path: Path) -> tuple[str, int]:
        """Copy a file in while hashing it (one pass), then rename it into place."""
        fd, tmp = self._tmp()
        h = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out, Path(path).open("rb") as src:
                while chunk := src.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = h.hexdigest()
            self._commit(tmp, digest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest, size

    def put_bytes(self, data: bytes) -> str:
        """Store bytes under their digest."""
        digest = hashlib.sha256(data).hexdigest()
        if self._path(digest).exists():
            return digest
        fd, tmp = self._tmp()
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            self._commit(tmp, digest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def exists(self, digest: str) -> bool:
        """Whether the blob file exists."""
        return self._path(digest).is_file()

    def _open_raw(self, digest: str) -> BinaryIO:
        return self._path(check_digest(digest)).open("rb")

    def delete(self, digest: str) -> None:
        """Remove the blob file."""
        self._path(digest).unlink(missing_ok=True)

    def quarantine(self, digest: str) -> None:
        """Move the blob file to ``root/quarantine/``."""
        target = self.root / "quarantine" / check_digest(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.replace(self._path(digest), target)

    def size(self, digest: str) -> int:
        """Return the blob file's size.

        Raises:
            NotFoundError: The blob is not stored.
        """
        try:
            return self._path(digest).stat().st_size
        except FileNotFoundError as exc:
            raise self._missing(digest) from exc

    def iter_digests(self) -> Iterator[str]:
        """Walk ``sha256/`` and yield each blob's digest."""
        base = self.root / "sha256"
        if not base.is_dir():
            return
        for p in sorted(base.glob("*/*/*")):
            if p.is_file():
                yield p.name
