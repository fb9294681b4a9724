"""Logging models into runs, registering versions, and loading models back.

:func:`log_model` saves a model with its flavor, stores every file content-addressed in the
run's artifact namespace together with a manifest (flavor, format, library versions,
signature, file digests), and, with ``registered_name``, registers a new version linked to the
run in the same store. :func:`load_model` resolves ``models:/`` and ``runs:/`` URIs, reads the
manifest and files through the artifact store (which verifies every digest) and rebuilds the
model from those verified bytes.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from keel._utils import now_ms
from keel._version import __version__
from keel.errors import InvalidArgumentError, InvalidStateError, NotFoundError, near_matches
from keel.registry._flavor import Flavor, detect_flavor, get_flavor, qualname
from keel.registry._manifest import (
    MANIFEST_FILE,
    Manifest,
    check_library_versions,
    library_versions,
)
from keel.registry._model import LoadedModel
from keel.registry._signature import ModelSignature, infer_schema, to_frame_or_array
from keel.registry._uri import ModelRef, parse_model_uri, validate_model_name

if TYPE_CHECKING:
    from keel.artifacts import ArtifactStore
    from keel.store import ArtifactEntry
    from keel.store._registry import ModelVersionRecord, RegistryRepository
    from keel.tracking import TrackingClient

__all__ = ["ModelInfo", "RegistryClient", "get_registry", "load_model", "log_model"]


@dataclass(frozen=True)
class ModelInfo:
    """What :func:`log_model` stored.

    Attributes:
        run_id: The run the model was logged into.
        artifact_path: The model's folder in the run's namespace.
        model_uri: ``runs:/RUN_ID/ARTIFACT_PATH``.
        flavor: The flavor used.
        serialization: The file format used.
        manifest_digest: The sha256 of the model's manifest.
        signature: The signature stored with the model, if any.
        files: The files stored, with their digests.
        registered_name: The registered model, if the model was registered.
        version: The new version number, if registered.
        model_version: The new version, if registered.
    """

    run_id: str
    artifact_path: str
    model_uri: str
    flavor: str
    serialization: str
    manifest_digest: str
    signature: ModelSignature | None
    files: list[ArtifactEntry] = field(default_factory=list)
    registered_name: str | None = None
    version: int | None = None
    model_version: ModelVersionRecord | None = None

    @property
    def registered_uri(self) -> str | None:
        """``models:/NAME/VERSION`` when the model was registered."""
        return f"models:/{self.registered_name}/{self.version}" if self.registered_name else None


class RegistryClient:
    """The registry over the tracking client's metadata and artifact stores.

    Args:
        tracking: The tracking client whose stores to use; the process's client by default.
    """

    def __init__(self, tracking: TrackingClient | None = None) -> None:
        from keel.store._registry import RegistryRepository
        from keel.tracking import get_client

        self.tracking = tracking or get_client()
        self.store = self.tracking.store
        self.repo: RegistryRepository
        if self.tracking.remote:
            from keel.store._rest import RestRegistryRepository

            # Same calls over the server's REST API (see keel.store._rest).
            self.repo = cast("RegistryRepository", RestRegistryRepository(self.store))
        else:
            self.repo = RegistryRepository(self.store)

    @property
    def artifacts(self) -> ArtifactStore:
        """The artifact store."""
        return self.tracking.artifacts

    @property
    def actor(self) -> str:
        """Who the registry records as the actor: the settings' user."""
        return self.tracking.settings.user

    # -- reading models ---------------------------------------------------------------------

    def resolve(self, ref: ModelRef) -> tuple[str, str | None, int | None]:
        """Return ``(manifest digest, model name, version)`` for a parsed URI.

        Raises:
            NotFoundError: The model, version, alias, run or artifact does not exist.
        """
        if ref.scheme == "models":
            mv = self.repo.resolve_manifest(ref.name or "", version=ref.version, alias=ref.alias)
            return mv.manifest_digest, mv.model_name, mv.version
        run_id = self.tracking.resolve_run_id(ref.run_id or "")
        path = ref.path or ""
        wanted = f"{path}/{MANIFEST_FILE}"
        entries = self.store.list_artifacts(run_id, path)
        for entry in entries:
            if entry.path == wanted:
                return entry.digest, None, None
        models = sorted(
            e.path[: -len(MANIFEST_FILE) - 1]
            for e in self.store.list_artifacts(run_id)
            if e.path.endswith("/" + MANIFEST_FILE)
        )
        raise NotFoundError(
            f"Run {run_id!r} has no model at {path!r}.{near_matches(path, models)} "
            + (f"Its models are at {models!r}." if models else "It logged no model.")
            + " Log one with keel.log_model(model, 'model').",
            details={"run_id": run_id, "path": path},
        )

    def read_manifest(self, manifest_digest: str) -> Manifest:
        """Read and parse a manifest, verifying its digest."""
        return Manifest.from_json(self.artifacts.get_bytes(manifest_digest))

    def load_version(
        self, name: str, version: int, *, trusted_types: Sequence[str] | None = None
    ) -> LoadedModel:
        """Load version ``version`` of ``name``."""
        return self.load(f"models:/{name}/{version}", trusted_types=trusted_types)

    def load(
        self, uri: str, *, trusted_types: Sequence[str] | None = None, compiled: bool = True
    ) -> LoadedModel:
        """Load the model a URI names; see :func:`load_model`."""
        ref = parse_model_uri(uri)
        digest, name, version = self.resolve(ref)
        return _load(self.artifacts, uri, digest, name, version, trusted_types, compiled)

    # -- logging ----------------------------------------------------------------------------

    def log_model(
        self,
        model: Any,
        artifact_path: str = "model",
        *,
        run_id: str,
        input_example: Any = None,
        signature: ModelSignature | Mapping[str, Any] | bool | None = None,
        registered_name: str | None = None,
        flavor: str | None = None,
        serialization: str | None = None,
        description: str = "",
        code_paths: Iterable[str] | None = None,
        init_kwargs: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> ModelInfo:
        """Log ``model`` into run ``run_id``; see :func:`log_model`."""
        from keel.artifacts import normalize_artifact_path
        from keel.store import ArtifactEntry
        from keel.store._registry import NewModelVersion

        path = normalize_artifact_path(artifact_path)
        if not path:
            raise InvalidArgumentError(
                f"artifact_path must name a folder in the run, such as 'model', got "
                f"{artifact_path!r}."
            )
        if registered_name is not None:
            validate_model_name(registered_name)
        info = self.store.get_run_info(run_id)  # fail on an unknown run before any work
        chosen = get_flavor(flavor) if flavor is not None else detect_flavor(model)
        fmt = chosen.check_serialization(serialization)
        example = None if input_example is None else to_frame_or_array(input_example)
        example_is_frame = example is not None and hasattr(example, "columns")
        options: dict[str, Any] = {
            "input_example": input_example,
            "example_is_frame": example_is_frame,
            "code_paths": list(code_paths or ()),
            "init_kwargs": dict(init_kwargs or {}),
        }
        with tempfile.TemporaryDirectory(prefix="keel-model-") as tmp:
            folder = Path(tmp)
            saved = chosen.save(model, folder, fmt, options)
            manifest = Manifest(
                flavor=chosen.name,
                serialization=saved.serialization,
                files={},
                libraries=library_versions(chosen.libraries),
                signature=None,
                model_class=qualname(model),
                model_input=saved.model_input,
                methods=saved.methods,
                options=saved.options,
                run_id=info.id,
                artifact_path=path,
                created_at=now_ms(),
                keel_version=__version__,
                metadata=dict(metadata or {}),
            )
            sig = self._signature(model, chosen, manifest, signature, example)
            manifest.signature = None if sig is None else sig.to_dict()
            files = list(saved.files)
            if example is not None:
                (folder / "input_example.json").write_text(_example_json(example))
                files.append("input_example.json")
            entries = []
            for rel in sorted(files):
                digest, size = self.artifacts.put_file(folder / rel)
                manifest.files[rel] = {"digest": digest, "size": size}
                entries.append(ArtifactEntry(f"{path}/{rel}", digest, size))
        data = manifest.to_json()
        manifest_digest = self.artifacts.put_bytes(data)
        entries.append(ArtifactEntry(f"{path}/{MANIFEST_FILE}", manifest_digest, len(data)))
        self.store.add_artifacts(info.id, entries)
        result = ModelInfo(
            run_id=info.id,
            artifact_path=path,
            model_uri=f"runs:/{info.id}/{path}",
            flavor=chosen.name,
            serialization=saved.serialization,
            manifest_digest=manifest_digest,
            signature=sig,
            files=entries,
        )
        if registered_name is None:
            return result
        metrics = self.tracking.get_run(info.id).data.metrics  # flushes buffered points first
        mv = self.repo.create_version(
            NewModelVersion(
                model_name=registered_name,
                run_id=info.id,
                artifact_path=path,
                flavor=chosen.name,
                serialization=saved.serialization,
                manifest_digest=manifest_digest,
                signature=manifest.signature,
                created_by=self.actor,
                description=description,
                metrics=metrics,
                metric_source=f"run:{info.id}",
            )
        )
        return dataclasses.replace(
            result, registered_name=registered_name, version=mv.version, model_version=mv
        )

    def _signature(
        self,
        model: Any,
        flavor: Flavor,
        manifest: Manifest,
        signature: ModelSignature | Mapping[str, Any] | bool | None,
        example: Any,
    ) -> ModelSignature | None:
        if signature is False:
            return None
        if isinstance(signature, ModelSignature):
            given: ModelSignature | None = signature
        elif isinstance(signature, Mapping):
            given = ModelSignature.from_dict(signature)
        elif signature is None or signature is True:
            given = None
        else:
            raise InvalidArgumentError(
                f"signature must be a ModelSignature, its dict form, False or None, got "
                f"{signature!r}."
            )
        if example is None:
            if signature is True:
                raise InvalidArgumentError(
                    "signature=True needs an input_example to infer the signature from."
                )
            return given
        inputs = given.inputs if given is not None else infer_schema(example)
        manifest.signature = ModelSignature(inputs).to_dict()
        probe = LoadedModel(model, flavor, manifest, uri="<being logged>")
        try:
            output = probe.predict(example)
        except Exception as exc:  # the user's model: any failure means the example is unusable
            raise InvalidArgumentError(
                f"The model could not predict on its input_example: {type(exc).__name__}: {exc}. "
                "Pass an example of what the model takes (a few rows of the training data)."
            ) from exc
        if given is not None and given.outputs is not None:
            return given
        if isinstance(output, list):
            output = output[0] if output else None
        return ModelSignature(inputs, None if output is None else infer_schema(output))


def _example_json(example: Any) -> str:
    if hasattr(example, "columns"):
        body = {
            "type": "records",
            "columns": [str(c) for c in example.columns],
            "data": json.loads(example.head(20).to_json(orient="records", date_format="iso")),
        }
    else:
        body = {"type": "array", "dtype": str(example.dtype), "data": example[:20].tolist()}
    return json.dumps(body, default=str)


def _load(
    artifacts: ArtifactStore,
    uri: str,
    manifest_digest: str,
    name: str | None,
    version: int | None,
    trusted_types: Sequence[str] | None,
    compiled: bool = True,
) -> LoadedModel:
    from keel.registry._compiled import COMPILED_FILE, FORMAT, CompiledModel

    manifest = Manifest.from_json(artifacts.get_bytes(manifest_digest))
    flavor = get_flavor(manifest.flavor)
    skipped = {"input_example.json", COMPILED_FILE}

    def load_native() -> Any:
        flavor.import_library()
        # Every byte handed to a deserializer comes from get_bytes, which hashed exactly these
        # bytes and compared them with the digest the manifest (pinned by the store) records.
        files = {
            rel: artifacts.get_bytes(entry["digest"])
            for rel, entry in manifest.files.items()
            if rel not in skipped and not rel.startswith("code/")
        }
        check_library_versions(manifest, flavor.libraries, uri)
        return flavor.load(files, manifest, {"trusted_types": list(trusted_types or ())})

    spec = manifest.options.get("compiled") if compiled else None
    entry = manifest.files.get(COMPILED_FILE) if isinstance(spec, dict) else None
    if (
        isinstance(spec, dict)
        and entry is not None
        and spec.get("format") == FORMAT
        and not trusted_types
    ):
        # The NumPy form: nothing imported but NumPy, nothing unpickled; the estimator itself
        # is loaded on first need (unwrap, or an input the compiled form leaves to it).
        form = CompiledModel.from_bytes(spec, artifacts.get_bytes(entry["digest"]))
        return LoadedModel(
            None,
            flavor,
            manifest,
            uri=uri,
            name=name,
            version=version,
            compiled=form,
            loader=load_native,
        )
    return LoadedModel(load_native(), flavor, manifest, uri=uri, name=name, version=version)


def get_registry() -> RegistryClient:
    """Return a registry client over the process's tracking client."""
    return RegistryClient()


def _active_run_id() -> str:
    from keel.tracking import active_run

    run = active_run()
    if run is None:
        raise InvalidStateError(
            "keel.log_model needs an active run: call it inside 'with keel.start_run(): ...', "
            "or pass run_id=... to log into an existing run."
        )
    return run.id


def log_model(
    model: Any,
    artifact_path: str = "model",
    *,
    input_example: Any = None,
    signature: ModelSignature | Mapping[str, Any] | bool | None = None,
    registered_name: str | None = None,
    flavor: str | None = None,
    serialization: str | None = None,
    description: str = "",
    code_paths: Iterable[str] | None = None,
    init_kwargs: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> ModelInfo:
    """Log a model into the active run and, with ``registered_name``, register a version.

    The flavor is detected (scikit-learn, XGBoost, LightGBM, PyTorch, or any object with a
    ``predict`` method); its files, an ``input_example.json`` and a manifest listing every
    file's digest are stored content-addressed under ``artifact_path`` in the run. The
    signature is inferred from ``input_example`` and the model's prediction on it. A registered
    version is immutable, linked to the run in the lineage graph, and carries a copy of the
    run's metrics for comparison.

    Args:
        model: The fitted model.
        artifact_path: Its folder in the run's namespace.
        input_example: A few rows of what the model takes (DataFrame, array, records).
        signature: A signature to use instead of inferring one, or ``False`` for none.
        registered_name: Register a new version of this model (created on first use).
        flavor: Force a flavor (``sklearn``, ``xgboost``, ``lightgbm``, ``pytorch``,
            ``pyfunc``).
        serialization: The file format: scikit-learn ``cloudpickle`` (default), ``joblib``
            or ``skops`` (loads without unpickling code); XGBoost ``ubj`` or ``json``;
            PyTorch ``export`` (default) or ``state_dict``.
        description: The version's description.
        code_paths: Extra files or folders saved with a python-function model.
        init_kwargs: Constructor arguments of a PyTorch module saved as ``state_dict``.
        metadata: Free-form JSON metadata kept in the manifest.
        run_id: Log into this run instead of the active one (it may have ended).

    Returns:
        Where the model was stored and, if registered, the new version.

    Raises:
        InvalidStateError: No run is active and no ``run_id`` was given.
        InvalidArgumentError: The model, flavor, format, name or example is unusable.

    Examples:
        >>> import keel  # doctest: +SKIP
        >>> with keel.start_run():  # doctest: +SKIP
        ...     info = keel.log_model(model, "model", input_example=X[:5], registered_name="churn")
    """
    return RegistryClient().log_model(
        model,
        artifact_path,
        run_id=run_id or _active_run_id(),
        input_example=input_example,
        signature=signature,
        registered_name=registered_name,
        flavor=flavor,
        serialization=serialization,
        description=description,
        code_paths=code_paths,
        init_kwargs=init_kwargs,
        metadata=metadata,
    )


def load_model(
    uri: str, *, trusted_types: Sequence[str] | None = None, compiled: bool = True
) -> LoadedModel:
    """Load a model by URI.

    URIs: ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``models:/NAME/latest`` or
    ``runs:/RUN_ID/PATH``.

    Every file is read through the artifact store, which checks its sha256 against the digest
    recorded at logging time before anything is deserialized; a changed file raises
    :class:`~keel.errors.IntegrityError` and nothing is loaded. Loading under library versions
    other than the saved ones warns with :class:`LibraryVersionWarning`.

    A scikit-learn model logged with an input example is usually also saved compiled (see
    :mod:`keel.registry._compiled`): then loading imports neither scikit-learn nor SciPy and
    unpickles nothing; ``unwrap()`` loads the estimator itself when asked.

    Args:
        uri: The model URI.
        trusted_types: For the skops format only: extra types to trust, by full name.
        compiled: ``False`` loads the estimator itself even when a compiled form exists.

    Returns:
        A model whose ``predict`` takes a DataFrame, an array or a list of records.

    Raises:
        NotFoundError: The model, version, alias, run or path does not exist.
        IntegrityError: A stored file does not match its digest.
        ValidationFailedError: A skops file names types that are not trusted.
    """
    from keel.config import get_settings

    ref = parse_model_uri(uri)
    settings = get_settings()
    from keel.registry import _fastload

    fast = _fastload.resolve(settings, ref)
    if fast is not None:
        from keel.artifacts import open_artifact_store

        artifacts = open_artifact_store(
            settings.artifact_uri, s3_endpoint_url=settings.s3_endpoint_url
        )
        return _load(
            artifacts, uri, fast.manifest_digest, fast.name, fast.version, trusted_types, compiled
        )
    return RegistryClient().load(uri, trusted_types=trusted_types, compiled=compiled)
