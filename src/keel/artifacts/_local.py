"""``LocalArtifactStore``: blobs in a local folder, written by temp file and rename."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from keel.artifacts.base import CHUNK, ArtifactStore, BlobInfo, blob_key, check_digest
from keel.errors import InvalidArgumentError


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
        if self.exists(digest):  # refreshes it, so a collector leaves it to this writer
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
        if self.exists(digest):
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
        """Whether the blob file exists; if it does, refresh its modification time.

        The refresh tells a garbage collector running at the same time that a writer relies on
        the blob (see :meth:`collect`).
        """
        path = self._path(digest)
        try:
            os.utime(path)
        except FileNotFoundError:
            return False
        except OSError:  # a read-only store, or a blob another user owns: nothing to refresh
            return path.is_file()
        return True

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

    def iter_blobs(self) -> Iterator[BlobInfo]:
        """Walk ``sha256/`` and yield each blob with its size and modification time."""
        base = self.root / "sha256"
        if not base.is_dir():
            return
        for p in sorted(base.glob("*/*/*")):
            try:
                st = p.stat()
            except FileNotFoundError:  # collected or replaced while listing
                continue
            if p.is_file():
                yield BlobInfo(p.name, st.st_size, st.st_mtime)

    def collect(self, digest: str, *, older_than: float) -> int | None:
        """Delete the blob unless it was written or seen at or after ``older_than``.

        The blob is first renamed out of ``sha256/`` (atomic), then its modification time is
        read. A writer's refresh (:meth:`exists`) happens either before the rename, and then this
        sees the new time and puts the blob back, or after it, and then the writer finds no blob
        and uploads it again. Either way the writer's blob survives.
        """
        path = self._path(check_digest(digest))
        claim = (
            self.root / "tmp" / f"gc-{digest}-{time.time_ns() // 1_000_000}-{uuid.uuid4().hex[:8]}"
        )
        claim.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, claim)
            st = claim.stat()
        except FileNotFoundError:  # gone already (another collector)
            return None
        if st.st_mtime >= older_than:
            os.replace(claim, path)  # a writer relies on it; a re-upload is the same bytes
            return None
        claim.unlink()
        return st.st_size

    def iter_temp_files(self) -> Iterator[BlobInfo]:
        """Yield the files in ``tmp/``: uploads in progress or abandoned by a dead writer."""
        tmp = self.root / "tmp"
        if not tmp.is_dir():
            return
        for p in sorted(tmp.iterdir()):
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            if p.is_file():
                modified = st.st_mtime
                if p.name.startswith("gc-"):
                    # A collector's claim keeps the blob's old mtime: its name holds the time of
                    # the claim, so a second collector does not take it for abandoned.
                    with contextlib.suppress(ValueError, IndexError):
                        modified = max(modified, int(p.name.split("-")[2]) / 1000)
                yield BlobInfo(p.name, st.st_size, modified)

    def delete_temp_file(self, name: str) -> int:
        """Delete ``tmp/<name>``; return the bytes freed (0 if it was gone)."""
        if "/" in name or "\\" in name or name in ("", ".", ".."):
            raise InvalidArgumentError(f"{name!r} is not the name of a temporary upload file.")
        path = self.root / "tmp" / name
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    def iter_digests(self) -> Iterator[str]:
        """Walk ``sha256/`` and yield each blob's digest."""
        base = self.root / "sha256"
        if not base.is_dir():
            return
        for p in sorted(base.glob("*/*/*")):
            if p.is_file():
                yield p.name
