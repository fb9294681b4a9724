"""What a server serves right now, and how it follows the registry without a restart.

:class:`ServingRuntime` resolves a model URI or a deployment name into a :class:`Route`: the
primary model, an optional canary with its share of requests and an optional shadow, each
loaded once and wrapped with its input checker. Requests read ``runtime.route`` once; it is an
immutable object that a background thread replaces in one assignment, so a request always sees
one consistent set of models and never waits for a load.

The thread polls :meth:`~keel.store._serving.DeploymentRepository.change_marker` (one cheap
query) every ``poll_interval`` seconds. When it changes, the thread re-resolves the deployment
and the aliases, loads any version not loaded yet, and then swaps the route. A failed
resolution or load is logged and retried at the next change (or after 30 s); the old route
keeps serving.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidArgumentError
from keel.serving._inputs import InputChecker

if TYPE_CHECKING:
    from keel.registry import LoadedModel, RegistryClient
    from keel.store._serving import DeploymentRepository, DeploymentSpec

__all__ = ["Route", "ServedModel", "ServingRuntime", "default_deployment_name"]

_logger = logging.getLogger("keel.serving")


@dataclass(frozen=True)
class ServedModel:
    """One loaded model version with what serving needs around it.

    Attributes:
        model: The loaded model.
        name: The registered model (``None`` for a ``runs:/`` URI).
        version: The version (``None`` for a ``runs:/`` URI).
        checker: Checks requests against the model's signature.
        feature_service: The feature service entity lookups read for this model, if any.
        predict: ``predict`` of the underlying library on a checked batch.
        predict_proba: ``predict_proba`` on a checked batch (``None``: the flavor's, on the
            unwrapped model).
        matrix: Whether batches are float64 matrices (the scikit-learn fast path, see
            :mod:`keel.serving._matrix`) rather than DataFrames.
    """

    model: LoadedModel
    name: str | None
    version: int | None
    checker: InputChecker
    feature_service: str | None
    predict: Callable[[Any], Any]
    predict_proba: Callable[[Any], Any] | None = None
    matrix: bool = False

    @property
    def label(self) -> str:
        """The version as a metric label (``"3"``, or ``""`` for a run's model)."""
        return "" if self.version is None else str(self.version)


@dataclass(frozen=True)
class Route:
    """The models answering requests at one moment.

    Attributes:
        deployment: The deployment name (prediction log and metric label).
        primary: The model that answers.
        canary: A model that answers ``canary_share`` of the requests instead.
        canary_share: The canary's share of requests, 0 to 1.
        shadow: A model run on every request whose answer is only logged.
        revision: The deployment revision (0 for a model URI).
        marker: The store's change marker when the route was resolved.
    """

    deployment: str
    primary: ServedModel
    canary: ServedModel | None = None
    canary_share: float = 0.0
    shadow: ServedModel | None = None
    revision: int = 0
    marker: tuple[int, ...] = field(default=())

    def pick(self, draw: Callable[[], float] = random.random) -> ServedModel:
        """Choose the model for one request (the canary with probability ``canary_share``)."""
        if self.canary is not None and draw() < self.canary_share:
            return self.canary
        return self.primary

    def models(self) -> list[tuple[str, ServedModel]]:
        """Return ``(role, model)`` for each model of the route."""
        out = [("primary", self.primary)]
        if self.canary is not None:
            out.append(("canary", self.canary))
        if self.shadow is not None:
            out.append(("shadow", self.shadow))
        return out


def default_deployment_name(uri: str) -> str:
    """Name the prediction log of a server started on a model URI.

    Examples:
        >>> default_deployment_name("models:/churn@champion")
        'churn.champion'
        >>> default_deployment_name("models:/churn/3")
        'churn.v3'
        >>> default_deployment_name("runs:/0123abcd/model")
        'run.0123abcd.model'
    """
    from keel.registry import parse_model_uri

    ref = parse_model_uri(uri)
    if ref.scheme == "runs":
        return f"run.{ref.run_id}.{(ref.path or '').replace('/', '.')}"
    if ref.alias is not None:
        return f"{ref.name}.{ref.alias}"
    if ref.version is not None:
        return f"{ref.name}.v{ref.version}"
    return f"{ref.name}.latest"


def is_model_uri(target: str) -> bool:
    """Whether ``target`` is a model URI (else it names a deployment)."""
    return target.startswith(("models:/", "runs:/"))


class ServingRuntime:
    """Resolves, loads and hot-swaps what a server serves.

    Args:
        target: A model URI (``models:/churn@champion``, ``models:/churn/3``, ``runs:/ID/model``)
            or a deployment name.
        deployment: The name to log predictions under for a model URI (default from the URI,
            see :func:`default_deployment_name`); ignored for a deployment.
        feature_service: The feature service for ``{"entities": ...}`` requests, overriding the
            deployment's and the model's.
        poll_interval: Seconds between checks for deployment changes and alias moves
            (``0`` disables hot reload).
    """

    def __init__(
        self,
        target: str,
        *,
        deployment: str | None = None,
        feature_service: str | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        if not isinstance(target, str) or not target:
            raise InvalidArgumentError(
                f"Serve a model URI or a deployment name, got {target!r}. Use "
                "'models:/NAME@ALIAS', 'models:/NAME/VERSION', 'runs:/RUN_ID/PATH' or the name "
                "given to 'keel deploy MODEL --name NAME'."
            )
        self.target = target
        self.is_uri = is_model_uri(target)
        self.deployment = (deployment or default_deployment_name(target)) if self.is_uri else target
        self.feature_service = feature_service
        self.poll_interval = poll_interval
        self._loaded: dict[tuple[str | None, int | None, str], ServedModel] = {}
        self._route: Route | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._registry: RegistryClient | None = None
        self._repo: DeploymentRepository | None = None
        self.reloads = 0
        self.reload_failures = 0
        self._failed_marker: tuple[int, ...] = ()
        self._retry_at = 0.0

    # -- wiring -------------------------------------------------------------------------------

    @property
    def registry(self) -> RegistryClient:
        """The registry client (opened on first use)."""
        if self._registry is None:
            from keel.registry import get_registry

            self._registry = get_registry()
        return self._registry

    @property
    def repo(self) -> DeploymentRepository:
        """The deployments repository over the registry's store."""
        if self._repo is None:
            from keel.store._serving import DeploymentRepository

            self._repo = DeploymentRepository(self.registry.store)
        return self._repo

    @property
    def route(self) -> Route:
        """The current route (load first with :meth:`load`)."""
        route = self._route
        if route is None:
            raise RuntimeError("The serving runtime has not loaded its models yet.")
        return route

    @property
    def ready(self) -> bool:
        """Whether a route is loaded."""
        return self._route is not None

    # -- resolving ----------------------------------------------------------------------------

    def _spec(self) -> tuple[DeploymentSpec | None, int]:
        if self.is_uri:
            return None, 0
        record = self.repo.get_deployment(self.target)
        return record.spec, record.revision

    def _serve(self, name: str, version: int, spec_service: str | None) -> ServedModel:
        return self._model(f"models:/{name}/{version}", name, version, spec_service)

    def _model(
        self, uri: str, name: str | None, version: int | None, spec_service: str | None
    ) -> ServedModel:
        key = (name, version, uri if name is None else "")
        served = self._loaded.get(key)
        if served is not None and served.feature_service == self._service_for(
            served.model, spec_service
        ):
            return served
        model = served.model if served is not None else self.registry.load(uri)
        served = _wrap(
            model,
            name,
            version,
            self._service_for(model, spec_service),
            served,
            self._example,
        )
        self._loaded[key] = served
        return served

    def _example(self, model: LoadedModel) -> bytes | None:
        """The bytes of the model's ``input_example.json`` (``None`` if it has none)."""
        entry = model.manifest.files.get("input_example.json")
        if not entry:
            return None
        try:
            return self.registry.artifacts.get_bytes(entry["digest"])
        except Exception as exc:  # no example, no fast path: serving goes on
            _logger.debug("Reading the input example of %s failed: %s", model.uri, exc)
            return None

    def _service_for(self, model: LoadedModel, spec_service: str | None) -> str | None:
        if self.feature_service is not None:
            return self.feature_service
        if spec_service is not None:
            return spec_service
        return model_feature_service(model, self.registry)

    def resolve(self) -> Route:
        """Resolve the target now and load what it needs (without swapping the route)."""
        marker = self.repo.change_marker()
        spec, revision = self._spec()
        if spec is None:
            from keel.registry import parse_model_uri

            ref = parse_model_uri(self.target)
            if ref.scheme == "runs":
                primary = self._model(self.target, None, None, None)
            else:
                _, name, version = self.registry.resolve(ref)
                primary = self._serve(str(name), int(version or 0), None)
            return Route(self.deployment, primary, revision=0, marker=marker)
        model = spec.model_name
        if spec.alias is not None:
            version = self.registry.repo.get_version_by_alias(model, spec.alias).version
        else:
            version = int(spec.version or 0)
        primary = self._serve(model, version, spec.feature_service)
        canary = None
        share = 0.0
        if spec.canary_version is not None and (spec.canary_percent or 0) > 0:
            canary = self._serve(model, spec.canary_version, spec.feature_service)
            share = float(spec.canary_percent or 0) / 100
        shadow = None
        if spec.shadow_version is not None:
            shadow = self._serve(model, spec.shadow_version, spec.feature_service)
        used = {(m.name, m.version) for m in (primary, canary, shadow) if m is not None}
        for key in [k for k in self._loaded if (k[0], k[1]) not in used and k[0] is not None]:
            del self._loaded[key]  # a version no longer served is released
        return Route(self.deployment, primary, canary, share, shadow, revision, marker)

    def load(self) -> Route:
        """Resolve and load the target, and make it the current route.

        Raises:
            NotFoundError: The deployment, model, alias or version does not exist.
        """
        route = self.resolve()
        self._swap(route)
        return route

    def _swap(self, route: Route) -> None:
        old = self._route
        self._route = route  # one assignment: requests see the old route or the new one
        if old is not None:
            self.reloads += 1
        self._record_lineage(route, old)

    def _record_lineage(self, route: Route, old: Route | None) -> None:
        before = set() if old is None else {(m.name, m.version) for _, m in old.models()}
        for _, m in route.models():
            if m.name is not None and (m.name, m.version) not in before:
                try:
                    self.registry.store.add_lineage_edge(
                        ("model_version", f"{m.name}/{m.version}"),
                        ("deployment", self.deployment),
                        "deployed",
                    )
                except Exception as exc:  # lineage must not stop serving
                    _logger.warning("Recording lineage of %s failed: %s", self.deployment, exc)

    # -- hot reload ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start polling for changes (no-op with ``poll_interval=0`` or a ``runs:/`` URI)."""
        if self.poll_interval <= 0 or self.target.startswith("runs:/"):
            return
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="keel-serving-reload", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_interval):
            self.check()

    def check(self) -> bool:
        """Check for changes once; swap the route if what should be served changed.

        Returns:
            Whether the route was replaced.
        """
        marker: tuple[int, ...] = ()
        try:
            marker = self.repo.change_marker()
            current = self._route
            if current is not None and marker == current.marker:
                return False
            if marker == self._failed_marker and time.monotonic() < self._retry_at:
                return False  # failed on this state already: retry later or on a change
            route = self.resolve()
        except Exception as exc:  # keep serving the old route; retry after the next change
            self.reload_failures += 1
            self._failed_marker = marker
            self._retry_at = time.monotonic() + 30
            _logger.warning(
                "Reloading %r failed, still serving the old models: %s", self.target, exc
            )
            return False
        if current is not None and _same(route, current):
            self._route = route  # same models: just remember the new marker
            return False
        self._swap(route)
        _logger.info(
            "%s now serves %s",
            self.deployment,
            ", ".join(f"{r} v{m.version}" for r, m in route.models()),
        )
        return True

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def _same(a: Route, b: Route) -> bool:
    def key(r: Route) -> tuple[Any, ...]:
        return (
            r.primary,
            r.canary,
            r.canary_share,
            r.shadow,
            r.revision,
        )

    return key(a) == key(b)


def model_feature_service(model: LoadedModel, registry: RegistryClient | None = None) -> str | None:
    """Return the feature service a model version reads, if one is recorded.

    Looked up in this order: the manifest's metadata ``{"feature_service": NAME}`` (pass
    ``metadata=`` to :func:`keel.log_model`), then the lineage edge ``feature_service -> run``
    that ``keel.log_input(service)`` records on the run that logged the model.
    """
    name = model.manifest.metadata.get("feature_service") if model.manifest.metadata else None
    if isinstance(name, str) and name:
        return name
    if not model.run_id:
        return None
    try:
        store = (registry or _registry()).store
        edges = store.list_lineage_edges(("run", model.run_id), "upstream")
    except Exception:  # a remote or unreachable store: no lineage, no default service
        return None
    for edge in reversed(edges):
        if edge.source_kind == "feature_service":
            return edge.source_id.partition("@")[0]
    return None


def _registry() -> RegistryClient:
    from keel.registry import get_registry

    return get_registry()


def _wrap(
    model: LoadedModel,
    name: str | None,
    version: int | None,
    service: str | None,
    previous: ServedModel | None = None,
    example: Callable[[LoadedModel], bytes | None] | None = None,
) -> ServedModel:
    if previous is not None:  # same model, another feature service: keep its calls
        return dataclasses.replace(previous, feature_service=service)
    from keel.registry._flavor import get_flavor
    from keel.serving._matrix import compiled_matrix_model, matrix_model

    manifest = model.manifest
    model_input = manifest.model_input or "frame"
    checker = InputChecker(model.signature, model_input)
    if checker.matrix_ready():
        data = example(model) if example is not None else None
        fast = None
        if model.compiled is not None:  # NumPy only: no unwrap()
            fast = compiled_matrix_model(model, checker, data)
        if fast is None and example is not None and model.flavor == "sklearn":
            fast = matrix_model(model, checker, data)
        if fast is not None:
            return ServedModel(
                model, name, version, fast.checker, service, fast.predict, fast.predict_proba,
                matrix=True,
            )  # fmt: skip
    flavor = get_flavor(model.flavor)
    native = model.unwrap()

    def predict(batch: Any) -> Any:
        return flavor.predict(native, batch, manifest)

    return ServedModel(model, name, version, checker, service, predict)
