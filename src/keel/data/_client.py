"""The data capability's handle on the one metadata store and the one artifact store.

DuckDB reads Parquet from local files. Blobs of a local artifact store are read where they
lie (their digest is checked once per process); blobs of an ``s3://`` store are downloaded once
into ``$KEEL_HOME/cache/data/`` with their digest verified while copying, and read from there.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from keel.config import PerSettings, Settings, get_settings, require_embedded
from keel.errors import IntegrityError, NotFoundError

if TYPE_CHECKING:
    from keel.artifacts import ArtifactStore

__all__ = ["DataClient", "get_data_client", "reset_data_client"]


class DataClient:
    """Datasets and validations over the configured stores.

    Args:
        settings: Where the stores are; the current settings by default.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        require_embedded(self.settings, "datasets")
        # The store (SQLAlchemy) is imported here, not at module level, so validating a file
        # that is not registered never pays for it.
        from keel.store import SqlMetadataStore
        from keel.store._data import DataRepository

        self.store = SqlMetadataStore(self.settings.store_uri, actor=self.settings.user)
        self.repo = DataRepository(self.store)
        self._artifacts: ArtifactStore | None = None
        self._verified: set[str] = set()
        self._lock = threading.Lock()

    @property
    def artifacts(self) -> ArtifactStore:
        """The artifact store, opened on first use."""
        if self._artifacts is None:
            from keel.artifacts import open_artifact_store

            self._artifacts = open_artifact_store(
                self.settings.artifact_uri, s3_endpoint_url=self.settings.s3_endpoint_url
            )
        return self._artifacts

    @property
    def cache_dir(self) -> Path:
        """Where blobs of a remote artifact store are kept for DuckDB to read."""
        return self.settings.home / "cache" / "data"

    def local_blob(self, digest: str) -> Path:
        """Return a local path holding the blob's verified bytes.

        Raises:
            NotFoundError: The blob is not stored.
            IntegrityError: The stored bytes do not match the digest.
        """
        from keel.artifacts import LocalArtifactStore, blob_key

        store = self.artifacts
        if isinstance(store, LocalArtifactStore):
            path = store.root / blob_key(digest)
            if digest not in self._verified:
                if not store.verify(digest):
                    if not path.exists():
                        raise NotFoundError(
                            f"Dataset blob {digest!r} is missing from the artifact store "
                            f"{store.uri!r}. It was deleted; 'keel doctor' lists missing blobs.",
                            details={"digest": digest},
                        )
                    raise IntegrityError(
                        f"Dataset blob {digest!r} in the artifact store {store.uri!r} does not "
                        "match its digest: the stored bytes were changed or damaged. Keel "
                        "refuses to read it; register the data again or restore the blob.",
                        details={"digest": digest},
                    )
                with self._lock:
                    self._verified.add(digest)
            return path
        path = self.cache_dir / blob_key(digest)
        if path.exists() and digest in self._verified:
            return path
        if path.exists():
            from keel.artifacts import sha256_file

            if sha256_file(path)[0] == digest:
                with self._lock:
                    self._verified.add(digest)
                return path
            path.unlink()  # a damaged cache entry: fetch it again
        store.download(digest, path)
        with self._lock:
            self._verified.add(digest)
        return path

    def check_integrity(self, digest: str) -> None:
        """Re-hash a blob even if it was verified before in this process.

        Raises:
            IntegrityError: The stored bytes do not match the digest.
        """
        with self._lock:
            self._verified.discard(digest)
        self.local_blob(digest)

    def close(self) -> None:
        """Release the store's connections."""
        self.store.close()


_clients: PerSettings[DataClient] = PerSettings(DataClient)


def get_data_client() -> DataClient:
    """Return the process's data client for the current settings (reopened when they change)."""
    return _clients.get()


def reset_data_client() -> None:
    """Close the current data client; the next :func:`get_data_client` opens a new one."""
    _clients.reset()
