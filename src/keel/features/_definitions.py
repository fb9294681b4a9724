"""What users define: entities, feature views, on-demand feature views and feature services.

Definitions are plain objects until :meth:`FeatureStore.apply` stores them as versions in the
metadata store. Each has a canonical JSON spec; a changed spec is a new version.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidArgumentError, InvalidStateError
from keel.features._sources import Source, as_source, source_from_spec
from keel.features._types import (
    KEY_TYPES,
    canonical_type,
    duration_us,
    format_duration,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Entity",
    "FeatureService",
    "FeatureView",
    "FeatureViewProjection",
    "OnDemandFeatureView",
    "on_demand_feature_view",
]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-.]{0,127}$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def _check_name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgumentError(
            f"{kind} name {name!r} is not valid: use 1 to 128 letters, digits, '_', '-' and '.', "
            "starting with a letter or '_' (no ':' or '@', which feature references use)."
        )
    return name


def _check_column(what: str, name: Any) -> str:
    if not isinstance(name, str) or not _COLUMN.match(name):
        raise InvalidArgumentError(
            f"{what} {name!r} is not a valid column name: use letters, digits and '_', "
            "starting with a letter or '_'."
        )
    if name.startswith("__keel"):
        raise InvalidArgumentError(f"{what} {name!r} uses the prefix '__keel', which Keel keeps.")
    return name


def _check_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidArgumentError(f"tags must be a dict of strings, got {tags!r}.")
    return {str(k): str(v) for k, v in tags.items()}


def digest_of(spec: Mapping[str, Any]) -> str:
    """Return the sha256 of a spec's canonical JSON."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class Entity:
    """A thing features describe (a customer, a driver), identified by its join keys.

    Args:
        name: The entity's name.
        join_keys: The columns that identify one entity: a list of names (types are read from
            the sources), or a dict of name to ``"int64"`` / ``"string"``. Defaults to
            ``[name]``.
        description: What the entity is.
        tags: Free-form labels.

    Examples:
        >>> import keel
        >>> customer = keel.features.Entity("customer", join_keys=["customer_id"])
        >>> customer.join_keys
        ['customer_id']
    """

    kind = "entity"

    def __init__(
        self,
        name: str,
        join_keys: Sequence[str] | Mapping[str, str] | None = None,
        *,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = _check_name("Entity", name)
        if join_keys is None:
            join_keys = [name]
        if isinstance(join_keys, str):
            join_keys = [join_keys]
        if isinstance(join_keys, Mapping):
            types: dict[str, str | None] = {}
            for key, typ in join_keys.items():
                canon = canonical_type(typ, f"Join key {key!r} of entity {name!r}")
                if canon not in KEY_TYPES:
                    raise InvalidArgumentError(
                        f"Join key {key!r} of entity {name!r} has the type {typ!r}; join keys "
                        "are 'int64' or 'string'."
                    )
                types[key] = canon
        else:
            types = dict.fromkeys(join_keys)
        if not types:
            raise InvalidArgumentError(f"Entity {name!r} needs at least one join key.")
        for key in types:
            _check_column(f"Join key of entity {name!r}", key)
        self.key_types: dict[str, str | None] = types
        self.description = str(description)
        self.tags = _check_tags(tags)
        self.version: int | None = None

    @property
    def join_keys(self) -> list[str]:
        """The join key column names."""
        return list(self.key_types)

    def spec(self) -> dict[str, Any]:
        """Return the canonical spec stored in the metadata store."""
        return {
            "name": self.name,
            "join_keys": self.key_types,
            "description": self.description,
            "tags": self.tags,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], version: int | None = None) -> Entity:
        """Rebuild an entity from its stored spec."""
        keys = spec["join_keys"]
        obj = cls(spec["name"], list(keys), description=spec.get("description", ""))
        obj.key_types = dict(keys)
        obj.tags = dict(spec.get("tags", {}))
        obj.version = version
        return obj

    def __repr__(self) -> str:
        return f"Entity({self.name!r}, join_keys={self.join_keys!r})"


class FeatureView:
    """Features of one or more entities, read from a source with an event timestamp per row.

    Args:
        name: The view's name; features are referenced as ``"name:feature"``.
        entities: The entities (or their names) whose join keys identify a row.
        source: A Parquet path or glob, a registered dataset ``"name@v3"``, a DuckDB query, or a
            :class:`ParquetSource` / :class:`DatasetSource` / :class:`SqlSource`.
        timestamp: The source column holding each row's event time.
        features: Feature names and types (``{"avg_amount_7d": "float64"}``).
        ttl: How old a feature row may be and still be served: ``"30d"``, ``"12h"``, seconds or
            a ``timedelta``; ``None`` for no limit.
        created_timestamp: An optional source column saying when a row was written; among rows
            with the same entity and event time, the latest written wins.
        online: Whether :meth:`FeatureStore.materialize` loads the view into the online store.
        description: What the view holds.
        tags: Free-form labels.

    Examples:
        >>> import keel
        >>> customer = keel.features.Entity("customer", join_keys=["customer_id"])
        >>> stats = keel.features.FeatureView(
        ...     name="customer_stats", entities=[customer], source="stats/*.parquet",
        ...     timestamp="event_time", ttl="30d", features={"avg_amount_7d": "float64"})
        >>> stats.feature_names
        ['avg_amount_7d']
    """

    kind = "feature_view"

    def __init__(
        self,
        name: str,
        *,
        entities: Sequence[Entity | str],
        source: Source | str,
        features: Mapping[str, Any],
        timestamp: str = "event_timestamp",
        ttl: Any = None,
        created_timestamp: str | None = None,
        online: bool = True,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = _check_name("Feature view", name)
        if isinstance(entities, (Entity, str)):
            entities = [entities]
        if not entities:
            raise InvalidArgumentError(f"Feature view {name!r} needs at least one entity.")
        self.entities: list[Entity | str] = list(entities)
        for ent in self.entities:
            if not isinstance(ent, (Entity, str)):
                raise InvalidArgumentError(
                    f"Feature view {name!r}: entities must be Entity objects or entity names, "
                    f"got {ent!r}."
                )
        self.source = as_source(source, f"The source of feature view {name!r}")
        if not isinstance(features, Mapping) or not features:
            raise InvalidArgumentError(
                f"Feature view {name!r} needs features as a dict of name to type, such as "
                f"{{'avg_amount_7d': 'float64'}}, got {features!r}."
            )
        self.features: dict[str, str] = {
            _check_column(f"Feature of view {name!r}", k): canonical_type(v, f"Feature {name}:{k}")
            for k, v in features.items()
        }
        self.timestamp = _check_column(f"Timestamp column of view {name!r}", timestamp)
        self.created_timestamp = (
            None
            if created_timestamp is None
            else _check_column(f"Created-timestamp column of view {name!r}", created_timestamp)
        )
        self.ttl_us = duration_us(ttl, f"The ttl of feature view {name!r}")
        self.online = bool(online)
        self.description = str(description)
        self.tags = _check_tags(tags)
        self.version: int | None = None
        #: Join key types as resolved at apply (from the entities or the source schema).
        self.key_types: dict[str, str | None] = {}
        for ent in self.entities:
            if isinstance(ent, Entity):
                self.key_types.update(ent.key_types)
        clash = sorted(set(self.features) & ({self.timestamp} | set(self.key_types)))
        if clash:
            raise InvalidArgumentError(
                f"Feature view {name!r}: {clash!r} are join keys or the timestamp column and "
                "cannot also be features."
            )

    @property
    def entity_names(self) -> list[str]:
        """The names of the view's entities."""
        return [e.name if isinstance(e, Entity) else e for e in self.entities]

    @property
    def join_keys(self) -> list[str]:
        """The view's join key columns (known once the entities are resolved)."""
        return list(self.key_types)

    @property
    def feature_names(self) -> list[str]:
        """The names of the view's features, in definition order."""
        return list(self.features)

    @property
    def ttl(self) -> str:
        """The ttl as text (``"30d"``), or ``"none"``."""
        return format_duration(self.ttl_us)

    def __getitem__(self, features: str | Sequence[str]) -> FeatureViewProjection:
        """Select some of the view's features (``view[["a", "b"]]``) for a feature service."""
        names = [features] if isinstance(features, str) else list(features)
        return FeatureViewProjection(self, names)

    def spec(self) -> dict[str, Any]:
        """Return the canonical spec stored in the metadata store."""
        data = self.data_spec()
        return {
            **data,
            "entities": self.entity_names,
            "ttl_us": self.ttl_us,
            "online": self.online,
            "description": self.description,
            "tags": self.tags,
            "data_digest": digest_of(data),
        }

    def data_spec(self) -> dict[str, Any]:
        """Return the part of the spec that decides what rows the view holds.

        A change here makes online data written under the old definition unusable, so it is
        materialized again from the start.
        """
        return {
            "name": self.name,
            "source": self.source.spec(),
            "timestamp": self.timestamp,
            "created_timestamp": self.created_timestamp,
            "join_keys": self.key_types,
            "features": [[k, v] for k, v in self.features.items()],
        }

    @property
    def data_digest(self) -> str:
        """The digest of :meth:`data_spec`."""
        return digest_of(self.data_spec())

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], version: int | None = None) -> FeatureView:
        """Rebuild a feature view from its stored spec."""
        obj = cls(
            spec["name"],
            entities=list(spec["entities"]),
            source=source_from_spec(spec["source"]),
            features=dict(spec["features"]),
            timestamp=spec["timestamp"],
            ttl=None,
            created_timestamp=spec.get("created_timestamp"),
            online=spec.get("online", True),
            description=spec.get("description", ""),
            tags=spec.get("tags"),
        )
        obj.ttl_us = spec.get("ttl_us")
        obj.key_types = dict(spec["join_keys"])
        obj.version = version
        return obj

    def __repr__(self) -> str:
        return (
            f"FeatureView({self.name!r}, entities={self.entity_names!r}, "
            f"features={self.feature_names!r}, ttl={self.ttl!r})"
        )


class FeatureViewProjection:
    """Some features of a view, as selected by ``view[["a", "b"]]`` for a feature service.

    Args:
        view: The feature view or on-demand feature view.
        features: The selected feature names.
    """

    def __init__(self, view: FeatureView | OnDemandFeatureView, features: Sequence[str]) -> None:
        from keel.errors import near_matches

        for name in features:
            if name not in view.features:
                raise InvalidArgumentError(
                    f"Feature view {view.name!r} has no feature {name!r}."
                    f"{near_matches(name, view.features)} Its features: "
                    f"{', '.join(repr(f) for f in view.features)}."
                )
        self.view = view
        self.features = list(features)

    def refs(self) -> list[str]:
        """Return the selected features as ``"view:feature"`` references."""
        return [f"{self.view.name}:{f}" for f in self.features]


class OnDemandFeatureView:
    """Features computed by a Python function from request data and other views' features.

    The function takes a pandas DataFrame with one column per request field and per source
    feature (by its short name) and returns a DataFrame (or a dict of columns) holding the
    declared features. The same function runs on the training frame offline and on the looked-up
    rows online, so both paths give the same values.

    The function is stored as source text, so another process (``keel serve``, the CLI) can run
    it: it may use ``pd`` (pandas), ``np`` (numpy) and ``math`` and must import anything else
    inside its body. Lambdas cannot be stored; use ``def``.

    Args:
        name: The view's name.
        sources: The feature views (or projections ``view[["a"]]``) whose features it reads.
        features: Output feature names and types.
        function: The transformation.
        request_schema: Fields read from the request, name to type (``{"amount": "float64"}``).
        description: What the view computes.
        tags: Free-form labels.
    """

    kind = "on_demand_feature_view"

    def __init__(
        self,
        name: str,
        *,
        sources: Sequence[FeatureView | FeatureViewProjection | str],
        features: Mapping[str, Any],
        function: Callable[[pd.DataFrame], Any],
        request_schema: Mapping[str, Any] | None = None,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = _check_name("On-demand feature view", name)
        if not isinstance(features, Mapping) or not features:
            raise InvalidArgumentError(
                f"On-demand feature view {name!r} needs features as a dict of name to type."
            )
        self.features: dict[str, str] = {
            _check_column(f"Feature of view {name!r}", k): canonical_type(v, f"Feature {name}:{k}")
            for k, v in features.items()
        }
        self.request_schema: dict[str, str] = {
            _check_column(f"Request field of view {name!r}", k): canonical_type(
                v, f"Request field {k!r} of view {name!r}"
            )
            for k, v in (request_schema or {}).items()
        }
        # Inputs as (view name, feature name or None for "all features of the view").
        self.inputs: list[tuple[str, list[str] | None]] = []
        self._source_objects: list[FeatureView] = []
        for src in sources if not isinstance(sources, (str, FeatureView)) else [sources]:
            if isinstance(src, FeatureViewProjection):
                if not isinstance(src.view, FeatureView):
                    raise InvalidArgumentError(
                        f"On-demand feature view {name!r} reads feature views, not the on-demand "
                        f"view {src.view.name!r}."
                    )
                self.inputs.append((src.view.name, list(src.features)))
                self._source_objects.append(src.view)
            elif isinstance(src, FeatureView):
                self.inputs.append((src.name, list(src.features)))
                self._source_objects.append(src)
            elif isinstance(src, str):
                self.inputs.append((_check_name("Feature view", src), None))
            else:
                raise InvalidArgumentError(
                    f"On-demand feature view {name!r}: sources must be feature views, "
                    f"projections (view[['a']]) or view names, got {src!r}."
                )
        if not self.inputs and not self.request_schema:
            raise InvalidArgumentError(
                f"On-demand feature view {name!r} reads nothing: give sources or a request_schema."
            )
        if not callable(function):
            raise InvalidArgumentError(
                f"On-demand feature view {name!r}: function must be callable, got {function!r}."
            )
        self.function = function
        self.function_source = function_source(function, name)
        self.description = str(description)
        self.tags = _check_tags(tags)
        self.version: int | None = None
        self._check_input_names()

    def _check_input_names(self) -> None:
        seen: dict[str, str] = dict.fromkeys(self.request_schema, "the request")
        for view, feats in self.inputs:
            for feat in feats or []:
                if feat in seen and seen[feat] != view:
                    raise InvalidArgumentError(
                        f"On-demand feature view {self.name!r} reads {feat!r} from both "
                        f"{seen[feat]} and view {view!r}; the function sees one column per name. "
                        "Select one of them with view[[...]]."
                    )
                seen[feat] = f"view {view!r}"

    @property
    def feature_names(self) -> list[str]:
        """The names of the computed features."""
        return list(self.features)

    def __getitem__(self, features: str | Sequence[str]) -> FeatureViewProjection:
        """Select some of the computed features for a feature service."""
        names = [features] if isinstance(features, str) else list(features)
        return FeatureViewProjection(self, names)

    def spec(self) -> dict[str, Any]:
        """Return the canonical spec stored in the metadata store."""
        return {
            "name": self.name,
            "inputs": [[v, f] for v, f in self.inputs],
            "request_schema": self.request_schema,
            "features": [[k, v] for k, v in self.features.items()],
            "function": {"name": self.function.__name__, "source": self.function_source},
            "description": self.description,
            "tags": self.tags,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], version: int | None = None) -> OnDemandFeatureView:
        """Rebuild an on-demand view from its stored spec (compiling its stored function)."""
        fn_spec = spec["function"]
        function = _compiled_functions.get(fn_spec["source"]) or compile_function(
            fn_spec["name"], fn_spec["source"], spec["name"]
        )
        obj = cls.__new__(cls)
        obj.name = spec["name"]
        obj.inputs = [(v, None if f is None else list(f)) for v, f in spec["inputs"]]
        obj._source_objects = []
        obj.request_schema = dict(spec.get("request_schema", {}))
        obj.features = dict(spec["features"])
        obj.function = function
        obj.function_source = fn_spec["source"]
        obj.description = spec.get("description", "")
        obj.tags = dict(spec.get("tags", {}))
        obj.version = version
        return obj

    def __repr__(self) -> str:
        return f"OnDemandFeatureView({self.name!r}, features={self.feature_names!r})"


#: Functions defined in this process, by their source text: in-process calls use the original
#: object (with its module's globals); other processes compile the stored text.
_compiled_functions: dict[str, Callable[..., Any]] = {}


def function_source(function: Callable[..., Any], view: str) -> str:
    """Return the stored source text of an on-demand function (decorators removed).

    Raises:
        InvalidArgumentError: The function is a lambda or its source cannot be read.
    """
    if getattr(function, "__name__", "") == "<lambda>":
        raise InvalidArgumentError(
            f"On-demand feature view {view!r}: the function is a lambda, whose source Keel "
            "cannot store. Define it with 'def'."
        )
    stored = getattr(function, "__keel_source__", None)
    if isinstance(stored, str):  # compiled from a stored definition
        return stored
    try:
        text = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError) as exc:
        raise InvalidArgumentError(
            f"On-demand feature view {view!r}: cannot read the source of {function!r} ({exc}). "
            "Define the function in a .py file."
        ) from exc
    lines = text.splitlines()
    while lines and not lines[0].lstrip().startswith(("def ", "async def ")):
        lines.pop(0)  # decorators (possibly over several lines) and blank lines
    source = "\n".join(lines) + "\n"
    _compiled_functions.setdefault(source, function)
    return source


def compile_function(name: str, source: str, view: str) -> Callable[..., Any]:
    """Compile a stored on-demand function with ``pd``, ``np`` and ``math`` in scope.

    Raises:
        InvalidStateError: The stored text does not define ``name``.
    """
    import math

    import numpy as np
    import pandas as pd

    namespace: dict[str, Any] = {"pd": pd, "np": np, "math": math}
    try:
        exec(compile(source, f"<keel on-demand view {view}>", "exec"), namespace)  # noqa: S102
    except Exception as exc:  # the stored text is user code: report any failure plainly
        raise InvalidStateError(
            f"The stored function of on-demand feature view {view!r} does not compile: {exc}. "
            "Apply the view again from its .py file."
        ) from exc
    function = namespace.get(name)
    if not callable(function):
        raise InvalidStateError(
            f"The stored source of on-demand feature view {view!r} does not define {name!r}. "
            "Apply the view again from its .py file."
        )
    function.__keel_source__ = source
    _compiled_functions[source] = function
    return function  # type: ignore[no-any-return]


def on_demand_feature_view(
    *,
    sources: Sequence[FeatureView | FeatureViewProjection | str] = (),
    features: Mapping[str, Any],
    request_schema: Mapping[str, Any] | None = None,
    name: str | None = None,
    description: str = "",
    tags: Mapping[str, Any] | None = None,
) -> Callable[[Callable[[pd.DataFrame], Any]], OnDemandFeatureView]:
    """Decorate a function to make it an :class:`OnDemandFeatureView` named after it.

    Examples:
        >>> import keel
        >>> @keel.features.on_demand_feature_view(
        ...     request_schema={"amount": "float64"}, features={"amount_x2": "float64"})
        ... def doubled(df):
        ...     return {"amount_x2": df["amount"] * 2}
        >>> doubled.feature_names
        ['amount_x2']
    """

    def wrap(function: Callable[[pd.DataFrame], Any]) -> OnDemandFeatureView:
        return OnDemandFeatureView(
            name or function.__name__,
            sources=sources,
            features=features,
            function=function,
            request_schema=request_schema,
            description=description,
            tags=tags,
        )

    return wrap


class FeatureService:
    """The named list of features a model uses.

    Record it on a run with ``keel.log_input(service)`` (after it is applied) and look its
    features up with :func:`keel.features.get_online_features`.

    Args:
        name: The service's name.
        features: ``"view:feature"`` references, views (all their features) or projections
            (``view[["a", "b"]]``).
        description: What the features are for.
        tags: Free-form labels.
    """

    kind = "feature_service"

    def __init__(
        self,
        name: str,
        features: Iterable[str | FeatureView | OnDemandFeatureView | FeatureViewProjection],
        *,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = _check_name("Feature service", name)
        refs: list[str] = []
        self._objects: list[FeatureView | OnDemandFeatureView] = []
        for item in [features] if isinstance(features, str) else features:
            if isinstance(item, str):
                refs.append(item)
            elif isinstance(item, (FeatureView, OnDemandFeatureView)):
                refs.extend(f"{item.name}:{f}" for f in item.features)
                self._objects.append(item)
            elif isinstance(item, FeatureViewProjection):
                refs.extend(item.refs())
                self._objects.append(item.view)
            else:
                raise InvalidArgumentError(
                    f"Feature service {name!r}: features must be 'view:feature' strings, views "
                    f"or projections, got {item!r}."
                )
        if not refs:
            raise InvalidArgumentError(f"Feature service {name!r} lists no features.")
        self.features: list[str] = list(dict.fromkeys(refs))
        self.description = str(description)
        self.tags = _check_tags(tags)
        self.version: int | None = None

    def spec(self) -> dict[str, Any]:
        """Return the canonical spec stored in the metadata store."""
        return {
            "name": self.name,
            "features": self.features,
            "description": self.description,
            "tags": self.tags,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], version: int | None = None) -> FeatureService:
        """Rebuild a feature service from its stored spec."""
        obj = cls(
            spec["name"],
            list(spec["features"]),
            description=spec.get("description", ""),
            tags=spec.get("tags"),
        )
        obj.version = version
        return obj

    def lineage_node(self) -> tuple[str, str]:
        """Return ``("feature_service", "name@vN")`` for ``keel.log_input(service)``.

        Raises:
            InvalidStateError: The service has not been applied, so it has no version yet.
        """
        if self.version is None:
            raise InvalidStateError(
                f"Feature service {self.name!r} has no version yet: apply it first "
                "(keel.features.store().apply([...])) or load it with "
                f"store().get_feature_service({self.name!r})."
            )
        return ("feature_service", f"{self.name}@v{self.version}")

    def __repr__(self) -> str:
        version = "" if self.version is None else f"@v{self.version}"
        return f"FeatureService({self.name + version!r}, features={self.features!r})"


Definition = Entity | FeatureView | OnDemandFeatureView | FeatureService

#: Classes by stored kind.
KINDS: dict[str, Any] = {
    "entity": Entity,
    "feature_view": FeatureView,
    "on_demand_feature_view": OnDemandFeatureView,
    "feature_service": FeatureService,
}
