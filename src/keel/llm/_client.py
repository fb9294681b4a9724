"""The LLM capability's handle on the one metadata store and the one artifact store."""

from __future__ import annotations

from keel.artifacts import ArtifactStore, open_artifact_store
from keel.config import PerSettings, Settings, get_settings, require_embedded
from keel.store import SqlMetadataStore
from keel.store._llm import LlmRepository

__all__ = ["LlmClient", "get_llm_client", "reset_llm_client"]


class LlmClient:
    """Prompts, evaluations, the call cache and traces over the configured stores.

    Args:
        settings: Where the stores are; the current settings by default.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        require_embedded(self.settings, "LLM operations")
        self.store = SqlMetadataStore(self.settings.store_uri, actor=self.settings.user)
        self.repo = LlmRepository(self.store)
        self._artifacts: ArtifactStore | None = None

    @property
    def artifacts(self) -> ArtifactStore:
        """The artifact store, opened on first use."""
        if self._artifacts is None:
            self._artifacts = open_artifact_store(
                self.settings.artifact_uri, s3_endpoint_url=self.settings.s3_endpoint_url
            )
        return self._artifacts

    def close(self) -> None:
        """Release the store's connections."""
        self.store.close()


_clients: PerSettings[LlmClient] = PerSettings(LlmClient)


def get_llm_client() -> LlmClient:
    """Return the process's LLM client for the current settings (reopened on change)."""
    return _clients.get()


def reset_llm_client() -> None:
    """Close the current client; the next :func:`get_llm_client` opens a new one."""
    _clients.reset()
