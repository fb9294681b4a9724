"""The model manifest (``keel-model.json``): what a logged model is and how to load it.

Like MLflow's ``MLmodel`` file, the manifest names the flavor, the serialization format, the
library versions the model was saved with and its signature; unlike it, it also lists the
sha256 digest of every file, and the version row in the store pins the manifest's own digest.
Loading reads every file through the artifact store, which verifies each digest, and
deserializes those verified bytes, never a file that could change after the check.
"""

from __future__ import annotations

import json
import platform
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

from keel.errors import IntegrityError

__all__ = [
    "MANIFEST_FILE",
    "MANIFEST_FORMAT",
    "LibraryVersionWarning",
    "Manifest",
    "check_library_versions",
    "library_versions",
]

MANIFEST_FILE = "keel-model.json"
MANIFEST_FORMAT = "keel-model/1"


class LibraryVersionWarning(UserWarning):
    """A model is being loaded under library versions other than those it was saved with."""


@dataclass
class Manifest:
    """The parsed manifest of a logged model.

    Attributes:
        flavor: The flavor that saved the model (``sklearn``, ``xgboost``, ...).
        serialization: The file format (``cloudpickle``, ``skops``, ``ubj``, ``export``...).
        files: ``{relative path: {"digest", "size"}}`` of every file of the model.
        libraries: ``{distribution: version}`` at save time, ``python`` included.
        signature: The signature's JSON form, or ``None``.
        model_class: The model's ``module.QualName``.
        model_input: ``"frame"`` if the model takes a DataFrame, ``"array"`` for an array.
        methods: The prediction methods the model offers (``predict``, ``predict_proba``).
        options: Flavor-specific facts (classes of a classifier, a module's dtype, ...).
        run_id: The run that logged it.
        artifact_path: Its folder in the run's namespace.
        created_at: Milliseconds since the epoch.
        keel_version: The Keel that wrote it.
        metadata: Free-form user metadata.
    """

    flavor: str
    serialization: str
    files: dict[str, dict[str, Any]]
    libraries: dict[str, str]
    signature: dict[str, Any] | None
    model_class: str
    model_input: str
    methods: list[str]
    options: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""
    artifact_path: str = ""
    created_at: int = 0
    keel_version: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """Serialize as canonical JSON (sorted keys), so equal manifests have equal digests."""
        body = {"format": MANIFEST_FORMAT, **self.__dict__}
        return json.dumps(body, sort_keys=True, indent=1, default=str).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Parse a manifest.

        Raises:
            IntegrityError: The bytes are not a Keel model manifest.
        """
        try:
            body = json.loads(data)
            if body.pop("format", None) != MANIFEST_FORMAT:
                raise ValueError("unknown format")
            return cls(**body)
        except (ValueError, TypeError) as exc:
            raise IntegrityError(
                f"The model manifest is not a {MANIFEST_FORMAT!r} document ({exc}). The model "
                "was not logged by this version of Keel or its manifest was replaced; log it "
                "again with keel.log_model.",
            ) from exc


def library_versions(modules: dict[str, str]) -> dict[str, str]:
    """Return ``{distribution: version}`` for imported modules, plus Python's version.

    Args:
        modules: ``{distribution name: import name}``; only modules already imported are
            read (through their ``__version__``), so this never imports anything.
    """
    found = {"python": platform.python_version()}
    for dist, module in modules.items():
        mod = sys.modules.get(module)
        version = getattr(mod, "__version__", None) if mod is not None else None
        if isinstance(version, str):
            found[dist] = version
    return found


def check_library_versions(manifest: Manifest, modules: dict[str, str], uri: str) -> None:
    """Warn (:class:`LibraryVersionWarning`) for each library whose version differs.

    Python's patch level is ignored; a different minor Python version warns.
    """
    now = library_versions(modules)
    saved = manifest.libraries
    diffs = []
    for dist, version in saved.items():
        current = now.get(dist)
        if current is None:
            continue
        if dist == "python":
            if current.split(".")[:2] != version.split(".")[:2]:
                diffs.append(f"python {version} (now {current})")
        elif current != version:
            diffs.append(f"{dist} {version} (now {current})")
    if diffs:
        warnings.warn(
            f"Model {uri!r} was saved with {', '.join(diffs)}. Predictions may differ or "
            "loading may fail; install the saved versions to reproduce it exactly.",
            LibraryVersionWarning,
            stacklevel=4,
        )
