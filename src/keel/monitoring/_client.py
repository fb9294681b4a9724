"""The monitoring capability's handle on the one metadata store and the one artifact store."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from keel.artifacts import ArtifactStore, LocalArtifactStore, blob_key, open_artifact_store
from keel.config import PerSettings, Settings, get_settings, require_embedded
from keel.store import SqlMetadataStore
from keel.store._monitoring import MonitoringRepository
from keel.store._predictions import PredictionLogRepository

__all__ = ["MonitoringClient", "get_monitoring_client", "reset_monitoring_client"]


class MonitoringClient:
    """Prediction log, monitors and results over the configured stores.

    Args:
        settings: Where the stores are; the current settings by default.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        require_embedded(self.settings, "monitoring")
        self.store = SqlMetadataStore(self.settings.store_uri, actor=self.settings.user)
        self.log = PredictionLogRepository(self.store)
        self.monitors = MonitoringRepository(self.store)
        self._artifacts: ArtifactStore | None = None
        self._lock = threading.Lock()
        self._verified: set[str] = set()
        self.profiles: OrderedDict[str, object] = OrderedDict()
        self._duckdb: Any = None

    @property
    def artifacts(self) -> ArtifactStore:
        """The artifact store, opened on first use."""
        if self._artifacts is None:
            self._artifacts = open_artifact_store(
                self.settings.artifact_uri, s3_endpoint_url=self.settings.s3_endpoint_url
            )
        return self._artifacts

    def local_blob(self, digest: str) -> Path:
        """Return a local file holding the blob's verified bytes (for DuckDB to read).

        Blobs of a local store are read where they lie, checked once per process; blobs of a
        remote store are downloaded once into ``$KEEL_HOME/cache/monitoring/``.

        Raises:
            NotFoundError: The blob is not stored.
            IntegrityError: The stored bytes do not match the digest.
        """
        store = self.artifacts
        if isinstance(store, LocalArtifactStore):
            path = store.root / blob_key(digest)
            if digest not in self._verified:
                store.get_bytes(digest)  # raises NotFoundError / IntegrityError
                with self._lock:
                    self._verified.add(digest)
            return path
        path = self.settings.home / "cache" / "monitoring" / blob_key(digest)
        if digest not in self._verified or not path.exists():
            store.download(digest, path)
            with self._lock:
                self._verified.add(digest)
        return path

    def duckdb(self) -> Any:
        """Return a new cursor on the client's in-memory DuckDB database.

        Opening a DuckDB database costs far more than a cursor on an open one; each cursor
        is its own connection, so threads may each use one.
        """
        with self._lock:
            if self._duckdb is None:
                import duckdb

                self._duckdb = duckdb.connect(":memory:")
                self._duckdb.execute("SET TimeZone = 'UTC'")
            return self._duckdb.cursor()

    def close(self) -> None:
        """Release the store's and DuckDB's connections."""
        self.store.close()
        if self._duckdb is not None:
            self._duckdb.close()
            self._duckdb = None


_clients: PerSettings[MonitoringClient] = PerSettings(MonitoringClient)


def get_monitoring_client() -> MonitoringClient:
    """Return the process's monitoring client for the current settings (reopened on change)."""
    return _clients.get()


def reset_monitoring_client() -> None:
    """Close the current client; the next :func:`get_monitoring_client` opens a new one."""
    _clients.reset()
