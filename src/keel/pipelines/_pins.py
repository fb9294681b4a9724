"""Pinning moving references in step arguments to the immutable versions they name now.

A step argument such as ``"churn@latest"`` or ``"models:/churn@champion"`` is only text, but
the step reads whatever the reference names when it runs. Keyed on the text, the step cache
would hand back outputs computed from the old version after ``latest`` (or the alias) moved.
So before a step's cache key is computed, every string in its arguments that is a dataset
reference (``name@latest``, ``name@v3``) or a model URI (``models:/name@alias``,
``models:/name/latest``, ``models:/name/3``, ``runs:/ID/path``) is resolved to the version it
names and that version's digest, and the cache key, the step's recorded inputs and its lineage
edges use the resolved version. The text itself stays in the key too (a step may use it).

Each text is resolved once per pipeline run, so every step of a run sees the same version.
Text that only looks like a reference (no dataset or model of that name) stays plain text. A
reference that cannot be resolved for another reason (the store did not answer) makes the
step's key unique, so it runs instead of risking a stale hit.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from keel._utils import new_id
from keel.errors import InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    from keel.tracking import TrackingClient

__all__ = ["Pin", "Pinner"]

log = logging.getLogger("keel.pipelines")

# The shape of keel.data's references (``_NAME`` and ``_VERSION`` in keel.data._versions), with
# the "@" required: a bare name is too common a string to treat as a dataset.
_DATASET_REF = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-]{0,127})@(latest|[vV]?\d+)$")
_MODEL_SCHEMES = ("models:/", "runs:/")

#: What a resolved text canonicalizes to: ``{"$pin": {...}}``, and its lineage node.
Pin = tuple[dict[str, Any], tuple[str, str] | None]


class Pinner:
    """Resolves references in step arguments, each text once per pipeline run.

    Args:
        client: The tracking client of the run (its store holds datasets and models).
    """

    def __init__(self, client: TrackingClient) -> None:
        self.client = client
        self._seen: dict[str, Pin | None] = {}
        self._data: Any = None
        self._registry: Any = None

    def pin(self, text: str) -> Pin | None:
        """Return the canonical form and lineage node of ``text``, or ``None`` for plain text."""
        if "@" not in text and not text.startswith(_MODEL_SCHEMES):
            return None  # the common case, decided without a look-up
        if text in self._seen:
            return self._seen[text]
        try:
            found = self._resolve(text)
        except (NotFoundError, InvalidArgumentError):
            found = None  # looks like a reference but names nothing: plain text
        except Exception as exc:
            log.warning(
                "Could not resolve %r to a dataset or model version (%s); steps that take it "
                "run instead of using the cache.",
                text,
                exc,
            )
            found = ({"$pin": {"text": text, "unresolved": new_id()}}, None)
        self._seen[text] = found
        return found

    def _resolve(self, text: str) -> Pin | None:
        if text.startswith(_MODEL_SCHEMES):
            return self._model(text)
        match = _DATASET_REF.match(text)
        if match is None or self.client.remote:
            return None  # datasets are embedded only: a remote run cannot read one
        from keel.data._versions import parse_ref
        from keel.store._data import DataRepository

        if self._data is None:
            self._data = DataRepository(self.client.store)
        name, number = parse_ref(text)
        record = self._data.get_version(name, number)
        canon = {"text": text, "dataset_version": record.ref, "digest": record.digest}
        return {"$pin": canon}, ("dataset_version", record.ref)

    def _model(self, text: str) -> Pin | None:
        from keel.registry._client import RegistryClient
        from keel.registry._uri import parse_model_uri

        ref = parse_model_uri(text)
        if self._registry is None:
            self._registry = RegistryClient(self.client)
        digest, name, version = self._registry.resolve(ref)
        canon: dict[str, Any] = {"text": text, "digest": digest}
        if name is None:
            return {"$pin": canon}, None
        canon["model_version"] = f"{name}/{version}"
        return {"$pin": canon}, ("model_version", f"{name}/{version}")
