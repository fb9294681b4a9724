"""Copy an MLflow store into Keel: experiments, runs, params, metrics, tags, artifacts, models.

The importer reads the MLflow store through :mod:`keel.interop._source` (never through
MLflow itself) and writes with Keel's own stores, so every object it creates is audited like
any other. Each imported object is recorded in the import table (``interop_imports``) with
its MLflow id; a second import of the same store skips what the first one finished, and
finishes a run it left half-copied, so re-running adds nothing twice.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from keel._utils import now_ms, validate_key
from keel.errors import InvalidArgumentError, NotFoundError
from keel.interop._source import MlflowSource, MlModelVersion, MlRun, open_source

if TYPE_CHECKING:
    from keel.registry import RegistryClient
    from keel.store import ArtifactEntry, MetricPoint
    from keel.store._interop import ImportRecord, InteropRepository
    from keel.tracking import TrackingClient

__all__ = ["ImportReport", "import_mlflow"]

#: The Keel experiment that holds stand-in runs of model versions whose MLflow run is gone.
ORPHAN_EXPERIMENT = "mlflow-import"

_STATUS = {"FINISHED": "FINISHED", "FAILED": "FAILED", "KILLED": "KILLED"}


@dataclass
class ImportReport:
    """What an import copied, skipped and could not map.

    Attributes:
        source: The MLflow store, normalized.
        created: Objects created, by kind (``experiments``, ``runs``, ``params``, ``tags``,
            ``metric_points``, ``artifacts``, ``artifact_bytes``, ``registered_models``,
            ``model_versions``, ``aliases``); ``runs_finished`` counts runs an interrupted
            earlier import had left half-copied, completed by this one.
        skipped: Objects found already imported by an earlier run of the import, by kind.
        unmapped: One line per thing Keel could not map, saying what happened to it.
        id_map: ``{(kind, MLflow id): Keel id}`` of every object of the store.
    """

    source: str
    created: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    unmapped: list[str] = field(default_factory=list)
    id_map: dict[tuple[str, str], str] = field(default_factory=dict)


def _valid(kind: str, key: str) -> bool:
    try:
        validate_key(kind, key)
    except InvalidArgumentError:
        return False
    return True


class _Importer:
    def __init__(
        self,
        source: MlflowSource,
        tracking: TrackingClient,
        progress: Callable[[str], None] | None,
    ) -> None:
        from keel.registry import RegistryClient
        from keel.store._interop import InteropRepository

        self.src = source
        self.tracking = tracking
        self.store = tracking.store
        self.registry: RegistryClient = RegistryClient(tracking)
        self.imports: InteropRepository = InteropRepository(self.store)
        self.done: dict[tuple[str, str], ImportRecord] = self.imports.list_imports(source.id)
        self.report = ImportReport(source=source.id)
        self.progress = progress or (lambda _msg: None)
        self._artifact_paths: dict[str, dict[str, ArtifactEntry]] = {}

    def _record(self, kind: str, source_id: str, keel_id: str, state: str = "done") -> None:
        self.done[(kind, source_id)] = self.imports.record(
            self.src.id, kind, source_id, keel_id, state
        )
        self.report.id_map[(kind, source_id)] = keel_id

    def _known(self, kind: str, source_id: str) -> str | None:
        rec = self.done.get((kind, source_id))
        if rec is not None and rec.state == "done":
            self.report.id_map[(kind, source_id)] = rec.keel_id
            return rec.keel_id
        return None

    # -- tracking ---------------------------------------------------------------------------

    def run(self) -> ImportReport:
        for exp in self.src.experiments():
            if exp.lifecycle_stage != "active":
                self.report.unmapped.append(
                    f"experiment {exp.name!r} (id {exp.id}) is deleted in MLflow: not imported"
                )
                continue
            keel_exp = self._known("experiment", exp.id)
            if keel_exp is None:
                validate_key("experiment", exp.name)
                existed = self._experiment_exists(exp.name)
                keel_exp = self.tracking.get_or_create_experiment(exp.name).id
                self._record("experiment", exp.id, keel_exp)
                self.report.created["experiments"] += 0 if existed else 1
                extra = sorted(k for k in exp.tags if not k.startswith("mlflow."))
                if extra:
                    self.report.unmapped.append(
                        f"experiment {exp.name!r}: tags {extra!r} not imported (Keel "
                        "experiments have no tags)"
                    )
            else:
                self.report.skipped["experiments"] += 1
            runs = self.src.runs(exp.id)
            self.progress(f"experiment {exp.name!r}: {len(runs)} run(s)")
            for run in runs:
                if run.lifecycle_stage != "active":
                    self.report.unmapped.append(
                        f"run {run.id} ({run.name!r}) is deleted in MLflow: not imported"
                    )
                    continue
                self._import_run(run, keel_exp)
        for model in self.src.registered_models():
            self._import_model(model.name, model.description, model.aliases, model.tags)
        return self.report

    def _experiment_exists(self, name: str) -> bool:
        try:
            self.store.get_experiment_by_name(name)
        except NotFoundError:
            return False
        return True

    def _import_run(self, run: MlRun, experiment_id: str) -> None:
        from keel.store import NewRun, RunStatus

        if self._known("run", run.id) is not None:
            self.report.skipped["runs"] += 1
            return
        bad_tags = [k for k in run.tags if not _valid("tag", k)]
        tags = {k: v for k, v in run.tags.items() if k not in bad_tags}
        if bad_tags:
            self.report.unmapped.append(
                f"run {run.id}: tag names {bad_tags!r} are not valid Keel names: not imported"
            )
        rec = self.done.get(("run", run.id))
        resumed = rec is not None
        if rec is not None:  # a run an interrupted import left half-copied: finish it
            keel_run = rec.keel_id
            self.report.created["runs_finished"] += 1
        else:
            parent = run.tags.get("mlflow.parentRunId")
            keel_parent = self.report.id_map.get(("run", parent)) if parent else None
            if parent and keel_parent is None:
                self.report.unmapped.append(
                    f"run {run.id}: parent run {parent} was not imported; the run has no parent "
                    "in Keel (the tag mlflow.parentRunId keeps its id)"
                )
            info = self.store.create_run(
                NewRun(
                    experiment_id=experiment_id,
                    name=(run.name or run.id[:8])[:256],
                    tags=tags,
                    parent_run_id=keel_parent,
                    user=run.user or self.tracking.settings.user,
                    source=tags.get("mlflow.source.name"),
                    git_commit=(tags.get("mlflow.source.git.commit") or None),
                    start_time=run.start_time or None,
                )
            )
            keel_run = info.id
            self._record("run", run.id, keel_run, state="started")
            self.report.created["runs"] += 1
        self._copy_run_data(run, keel_run, resumed, tags)
        status = _STATUS.get(run.status)
        if status is not None:
            self.store.end_run(
                keel_run, RunStatus(status), end_time=run.end_time or run.start_time or now_ms()
            )
        elif run.status != "RUNNING":
            self.report.unmapped.append(
                f"run {run.id}: MLflow status {run.status!r} has no Keel equivalent; the run "
                "stays RUNNING"
            )
        self._record("run", run.id, keel_run)

    def _copy_run_data(
        self, run: MlRun, keel_run: str, resumed: bool, tags: dict[str, str]
    ) -> None:
        params = {}
        for key, value in run.params.items():
            if _valid("param", key):
                params[key] = value
            else:
                self.report.unmapped.append(
                    f"run {run.id}: param name {key!r} is not a valid Keel name: not imported"
                )
        if params:
            self.store.log_params(keel_run, params)
            self.report.created["params"] += len(params)
        if resumed and tags:
            self.store.set_tags(keel_run, tags)
        self.report.created["tags"] += len(tags)
        existing = self.store.get_run(keel_run).data.metrics if resumed else {}
        points: list[MetricPoint] = []
        dropped: set[str] = set()
        for key, number, timestamp, step in run.metrics:
            if not _valid("metric", key):
                dropped.add(key)
                continue
            if key in existing:  # one transaction per run: all of its points or none arrived
                continue
            points.append((keel_run, key, number, step, timestamp))
        if dropped:
            self.report.unmapped.append(
                f"run {run.id}: metric names {sorted(dropped)!r} are not valid Keel names: "
                "not imported"
            )
        if points:
            self.store.log_metrics(points)
            self.report.created["metric_points"] += len(points)
        if run.artifact_uri:
            entries = self._copy_files(run.artifact_uri, keel_run, "")
            self.report.created["artifacts"] += len(entries)

    def _copy_files(self, uri: str, keel_run: str, prefix: str) -> list[ArtifactEntry]:
        from keel.artifacts import normalize_artifact_path
        from keel.store import ArtifactEntry

        entries = []
        for rel, data in self.src.iter_artifacts(uri):
            path = normalize_artifact_path(f"{prefix}/{rel}" if prefix else rel)
            digest = self.tracking.artifacts.put_bytes(data)
            entries.append(ArtifactEntry(path, digest, len(data)))
            self.report.created["artifact_bytes"] += len(data)
        # Several transactions on a big run would leave it half-listed; files are few per run.
        self.store.add_artifacts(keel_run, entries)
        return entries

    # -- registry ---------------------------------------------------------------------------

    def _import_model(
        self, name: str, description: str, aliases: dict[str, int], tags: dict[str, str]
    ) -> None:
        from keel.registry._uri import validate_model_name

        try:
            validate_model_name(name)
        except InvalidArgumentError as exc:
            self.report.unmapped.append(f"registered model {name!r}: {exc.message}")
            return
        versions = self.src.model_versions(name)
        self.progress(f"registered model {name!r}: {len(versions)} version(s)")
        number_map: dict[int, int] = {}
        for mv in versions:
            keel_ref = self._known("model_version", f"{name}/{mv.version}")
            if keel_ref is not None:
                self.report.skipped["model_versions"] += 1
            else:
                keel_ref = self._import_version(mv)
                if keel_ref is None:
                    continue
            number_map[mv.version] = int(keel_ref.rsplit("/", 1)[1])
        if not number_map:
            return
        if self._known("registered_model", name) is None:
            if description:
                self.registry.repo.update_model(name, description=description)
            if tags:
                self.report.unmapped.append(
                    f"registered model {name!r}: tags {sorted(tags)!r} not imported (Keel "
                    "models have no tags)"
                )
            wanted = dict(aliases)
            for mv in versions:
                stage = mv.current_stage.lower()
                mapped = mv.version in number_map and stage not in wanted
                if stage in ("staging", "production") and mapped:
                    wanted[stage] = mv.version
                    self.report.unmapped.append(
                        f"registered model {name!r}: stage {mv.current_stage!r} of version "
                        f"{mv.version} became the alias {stage!r}"
                    )
            for alias, version in sorted(wanted.items()):
                if version not in number_map:
                    self.report.unmapped.append(
                        f"registered model {name!r}: alias {alias!r} points at version "
                        f"{version}, which was not imported"
                    )
                    continue
                self.registry.repo.move_alias(
                    name,
                    alias,
                    number_map[version],
                    action="set",
                    reason=f"imported from MLflow ({self.src.id})",
                    actor=self.registry.actor,
                )
                self.report.created["aliases"] += 1
            self._record("registered_model", name, name)
            self.report.created["registered_models"] += 1
        else:
            self.report.skipped["registered_models"] += 1

    def _model_location(self, mv: MlModelVersion) -> tuple[str | None, str | None]:
        """Return ``(artifact URI of the model files, path in its run or None)``."""
        source = mv.source
        if source.startswith("models:/m-"):
            loc = self.src.logged_model_location(source[len("models:/") :].split("/")[0])
            return loc or mv.storage_location, None
        if source.startswith("runs:/"):
            run_id, _, path = source[len("runs:/") :].partition("/")
            return mv.storage_location, path.strip("/") or None
        return mv.storage_location or source or None, None

    def _import_version(self, mv: MlModelVersion) -> str | None:
        from keel.registry._manifest import MANIFEST_FILE
        from keel.store import ArtifactEntry
        from keel.store._registry import NewModelVersion

        label = f"model {mv.name!r} version {mv.version}"
        keel_run = self.report.id_map.get(("run", mv.run_id)) if mv.run_id else None
        if keel_run is None:
            keel_run = self._orphan_run(mv)
            self.report.unmapped.append(
                f"{label}: its MLflow run {mv.run_id!r} was not imported; the version hangs "
                f"off a stand-in run in experiment {ORPHAN_EXPERIMENT!r}"
            )
        location, run_path = self._model_location(mv)
        if run_path is not None:
            # A runs:/ source: the files are already in the imported run, under run_path.
            entries = [
                e for e in self.store.list_artifacts(keel_run, run_path) if e.path != run_path
            ]
            artifact_path = run_path
            files = {e.path[len(run_path) + 1 :]: e for e in entries}
            if not files and location:
                files = {
                    e.path[len(run_path) + 1 :]: e
                    for e in self._copy_files(location, keel_run, run_path)
                }
        elif location:
            model_id = mv.source[len("models:/") :] if mv.source.startswith("models:/") else ""
            artifact_path = f"models/{model_id or f'{mv.name}-v{mv.version}'}"
            copied = self._copy_files(location, keel_run, artifact_path)
            files = {e.path[len(artifact_path) + 1 :]: e for e in copied}
            self.report.created["artifacts"] += len(copied)
        else:
            files, artifact_path = {}, f"models/{mv.name}-v{mv.version}"
        if not files:
            self.report.unmapped.append(
                f"{label}: no model files found at {location or mv.source!r}: not imported"
            )
            return None
        mlmodel = (
            _parse_mlmodel(self.tracking.artifacts.get_bytes(files["MLmodel"].digest))
            if "MLmodel" in files
            else {}
        )
        manifest, note = _manifest_for(
            files, mlmodel, keel_run, artifact_path, mv, self.tracking.artifacts.get_bytes
        )
        if note:
            self.report.unmapped.append(f"{label}: {note}")
        data = manifest.to_json()
        digest = self.tracking.artifacts.put_bytes(data)
        self.store.add_artifacts(
            keel_run, [ArtifactEntry(f"{artifact_path}/{MANIFEST_FILE}", digest, len(data))]
        )
        metrics = self.store.get_run(keel_run).data.metrics
        record = self.registry.repo.create_version(
            NewModelVersion(
                model_name=mv.name,
                run_id=keel_run,
                artifact_path=artifact_path,
                flavor=manifest.flavor,
                serialization=manifest.serialization,
                manifest_digest=digest,
                signature=manifest.signature,
                created_by=mv.user or self.registry.actor,
                description=mv.description,
                metrics={k: v for k, v in metrics.items() if not math.isnan(v)},
                metric_source=f"run:{keel_run}",
            )
        )
        self._record("model_version", f"{mv.name}/{mv.version}", record.ref)
        self.report.created["model_versions"] += 1
        return record.ref

    def _orphan_run(self, mv: MlModelVersion) -> str:
        from keel.store import NewRun, RunStatus

        exp = self.tracking.get_or_create_experiment(ORPHAN_EXPERIMENT)
        info = self.store.create_run(
            NewRun(
                experiment_id=exp.id,
                name=f"{mv.name}-v{mv.version}"[:256],
                tags={"mlflow.model.source": mv.source[:60000]},
                user=mv.user or self.tracking.settings.user,
            )
        )
        self.store.end_run(info.id, RunStatus.FINISHED)
        return info.id


def _manifest_for(
    files: dict[str, ArtifactEntry],
    mlmodel: dict[str, Any],
    run_id: str,
    artifact_path: str,
    mv: MlModelVersion,
    read: Callable[[str], bytes],
) -> tuple[Any, str]:
    """Build the Keel manifest of an MLflow model folder; return it and what was not mapped.

    ``read`` returns a stored file's bytes by digest (verified), to look into model files.
    """
    from keel._version import __version__
    from keel.registry._manifest import Manifest

    flavor, serialization = "mlflow", "mlflow"
    options: dict[str, Any] = {}
    notes: list[str] = []
    methods = ["predict"]
    model_class = str(
        mlmodel.get("model_class") or f"mlflow:{'/'.join(sorted(mlmodel.get('flavors') or {}))}"
    )
    manifest_files = {rel: {"digest": e.digest, "size": e.size} for rel, e in files.items()}
    flavors = mlmodel.get("flavors") or {}
    signature = _signature(mlmodel.get("signature") or {})
    model_input = "frame"
    if signature is not None and signature["inputs"]["type"] == "tensor":
        model_input = "array"
    elif signature is None and mlmodel.get("signature"):
        notes.append("its MLflow signature has no Keel equivalent: the version has no signature")
    sk = flavors.get("sklearn")
    xgb = flavors.get("xgboost")
    lgb = flavors.get("lightgbm")
    if sk and sk.get("serialization_format") in ("cloudpickle", "pickle", "skops"):
        fmt = "skops" if sk["serialization_format"] == "skops" else "cloudpickle"
        wanted = "model.skops" if fmt == "skops" else "model.pkl"
        if sk.get("pickled_model") == wanted and wanted in files:
            flavor, serialization = "sklearn", fmt
            found = _sklearn_class(read(files[wanted].digest), fmt)
            if found is not None:
                model_class, has_proba = found
                if has_proba:
                    methods.append("predict_proba")
    elif xgb and xgb.get("data") in ("model.ubj", "model.json") and xgb["data"] in files:
        flavor, serialization = "xgboost", xgb["data"].rsplit(".", 1)[1]
        options = {"model_class": str(xgb.get("model_class", "Booster")).rsplit(".", 1)[-1]}
    elif lgb and lgb.get("data") == "model.skops" and "model.skops" in files:
        # MLflow 3 saves LightGBM's scikit-learn API models with skops: Keel's sklearn flavor
        # reads that format, refusing types not trusted at load time.
        flavor, serialization = "sklearn", "skops"
        data = read(files["model.skops"].digest)
        trusted = _skops_untrusted(data, lgb.get("skops_trusted_types") or [])
        options = {"untrusted_types": trusted}
        found = _sklearn_class(data, "skops")
        if found is not None:
            model_class, has_proba = found
            if has_proba:
                methods.append("predict_proba")
        notes.append(
            "a LightGBM scikit-learn model saved by MLflow with skops: imported as flavor "
            f"'sklearn' (skops); load it with keel.load_model(..., trusted_types={trusted!r})"
        )
    elif lgb and lgb.get("data") == "model.lgb" and "model.lgb" in files:
        manifest_files["model.txt"] = manifest_files["model.lgb"]
        flavor, serialization = "lightgbm", "text"
        options = {"model_class": str(lgb.get("model_class", "Booster")).rsplit(".", 1)[-1]}
    if flavor == "mlflow":
        names = sorted(flavors) or ["(no MLmodel file)"]
        notes.append(
            f"MLflow flavor(s) {names!r} have no Keel equivalent: the files are imported as "
            "they are (flavor 'mlflow'); keel.load_model cannot load this version"
        )
    manifest = Manifest(
        flavor=flavor,
        serialization=serialization,
        files=manifest_files,
        libraries={},
        signature=signature,
        model_class=model_class,
        model_input=model_input,
        methods=methods,
        options=options,
        run_id=run_id,
        artifact_path=artifact_path,
        created_at=now_ms(),
        keel_version=__version__,
        metadata={
            "imported_from": "mlflow",
            "mlflow_source": mv.source,
            "mlflow_version": mv.version,
            "mlflow_tags": mv.tags,
            "mlflow_flavors": sorted(flavors),
        },
    )
    return manifest, "; ".join(notes)


#: Modules whose estimator classes may be imported to learn what a model file offers.
_ESTIMATOR_MODULES = ("sklearn.", "xgboost.", "lightgbm.")


def _pickle_globals(data: bytes) -> list[tuple[str, str]]:
    """The ``(module, name)`` globals a pickle refers to, read without unpickling it."""
    import pickletools

    found: list[tuple[str, str]] = []
    strings: list[str] = []
    try:
        for op, arg, _pos in pickletools.genops(data):
            if op.name == "GLOBAL" and isinstance(arg, str):
                module, _, name = arg.partition(" ")
                found.append((module, name))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append((strings[-2], strings[-1]))
            elif isinstance(arg, str):
                strings.append(arg)
    except (ValueError, EOFError, UnicodeDecodeError):
        pass  # not a pickle, or truncated: nothing known
    return found


def _skops_untrusted(data: bytes, fallback: list[Any]) -> list[str]:
    """The types of a skops file that loading must be told to trust (read, not executed)."""
    try:
        import skops.io

        from keel.registry._flavor_sklearn import VETTED_SKOPS_TYPES

        found = set(skops.io.get_untrusted_types(data=data)) - VETTED_SKOPS_TYPES
    except Exception:  # no skops, or not a skops file: MLflow's own list is the best guess
        return sorted(str(t) for t in fallback)
    return sorted(found)


def _skops_class(data: bytes) -> tuple[str, str] | None:
    """The ``(module, class)`` at the top of a skops file, read from its JSON schema."""
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError):
        return None
    module, name = schema.get("__module__"), schema.get("__class__")
    return (module, name) if isinstance(module, str) and isinstance(name, str) else None


def _sklearn_class(data: bytes, fmt: str) -> tuple[str, bool] | None:
    """The scikit-learn class of a model file and whether it offers ``predict_proba``.

    The class is read from the file without loading it (a skops file's schema, or the globals
    a pickle names); only a module of scikit-learn, XGBoost or LightGBM is then imported, to
    ask the class.
    """
    import importlib

    if fmt == "skops":
        candidates = [c for c in [_skops_class(data)] if c is not None]
    else:
        candidates = _pickle_globals(data)
    for module, name in candidates:
        if module.startswith(_ESTIMATOR_MODULES) and name.isidentifier():
            try:
                cls = getattr(importlib.import_module(module), name)
            except (ImportError, AttributeError):
                return None
            if isinstance(cls, type) and callable(getattr(cls, "predict", None)):
                return f"{module}.{name}", callable(getattr(cls, "predict_proba", None))
    return None


def _schema(text: Any) -> dict[str, Any] | None:
    """Turn one side of an MLflow signature (JSON text) into Keel's schema form, if it maps."""
    from keel.registry._signature import COLUMN_TYPES

    try:
        specs = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    if not isinstance(specs, list) or not specs or not all(isinstance(s, dict) for s in specs):
        return None
    if len(specs) == 1 and specs[0].get("type") == "tensor":
        tensor = specs[0].get("tensor-spec") or {}
        if "dtype" not in tensor or "shape" not in tensor:
            return None
        return {"type": "tensor", "dtype": str(tensor["dtype"]), "shape": list(tensor["shape"])}
    if all(s.get("name") and s.get("type") in COLUMN_TYPES for s in specs):
        columns = [
            {"name": str(s["name"]), "type": s["type"], "nullable": not s.get("required", True)}
            for s in specs
        ]
        return {"type": "columns", "columns": columns}
    return None


def _signature(mlflow_signature: dict[str, Any]) -> dict[str, Any] | None:
    """Keel's signature form of an MLmodel ``signature`` block, or ``None`` if it does not map."""
    inputs = _schema(mlflow_signature.get("inputs"))
    if inputs is None:
        return None
    return {"inputs": inputs, "outputs": _schema(mlflow_signature.get("outputs"))}


def _parse_mlmodel(data: bytes) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        return {}
    return doc if isinstance(doc, dict) else {}


def import_mlflow(
    uri: str,
    *,
    tracking: TrackingClient | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImportReport:
    """Copy the MLflow store at ``uri`` into Keel's stores.

    Copies every active experiment, every active run (name, status, start and end times,
    user, params, tags, every metric point with its step and timestamp, artifact files into
    the content-addressed store), and every registered model with its versions, description
    and aliases. scikit-learn (pickle, cloudpickle, skops), XGBoost (UBJSON, JSON) and LightGBM
    models become Keel flavors that :func:`keel.load_model` loads; other models keep their
    files under flavor ``mlflow``. Runs again safely: what an earlier import finished is
    skipped.

    Args:
        uri: The MLflow store: ``sqlite:///mlflow.db``, ``postgresql://...``, an ``mlruns``
            folder, or a tracking server's ``http://host:port``.
        tracking: The Keel tracking client to import into; the process's client by default.
        progress: Called with a line of text as each experiment and model starts.

    Returns:
        What was created, what an earlier import had already done, and what was not mapped.

    Raises:
        InvalidArgumentError: ``uri`` is no MLflow store Keel reads, or Keel is set up against
            a remote server (``KEEL_TRACKING_URI``): run the import where the store is.
        NotFoundError: The database file or folder does not exist.
        StoreUnavailableError: The database or server cannot be reached.

    Examples:
        >>> report = keel.interop.import_mlflow("sqlite:///mlflow.db")  # doctest: +SKIP
        >>> report.created["runs"], report.unmapped  # doctest: +SKIP
    """
    from keel.config import get_settings, require_embedded
    from keel.tracking import get_client

    # The import record is a table of the metadata store: import on the server's side.
    require_embedded(tracking.settings if tracking else get_settings(), "keel import mlflow")
    source = open_source(uri)
    try:
        return _Importer(source, tracking or get_client(), progress).run()
    finally:
        source.close()
