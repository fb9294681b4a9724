"""``FeatureStore``: apply definitions, build training data, materialize, look features up.

Definitions and materializations live in the one metadata store; online rows in the online
store named by ``KEEL_ONLINE_STORE`` (SQLite in ``KEEL_HOME`` by default, or Redis).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidArgumentError, NotFoundError, near_matches
from keel.features._apply import ApplyResult, plan_apply
from keel.features._catalog import Catalog, Plan
from keel.features._definitions import (
    KINDS,
    Entity,
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
)
from keel.features._types import to_utc_us
from keel.features.online import BaseOnlineStore, OnlineTable, open_online_store

if TYPE_CHECKING:
    import pyarrow as pa

    from keel.store import SqlMetadataStore
    from keel.store._features import FeatureRepository, MaterializationRecord

__all__ = ["FeatureStore", "get_online_features", "store"]

_OUTPUTS = ("pandas", "arrow", "polars")


def online_table(view: FeatureView) -> OnlineTable:
    """Return where a view's rows live online: a namespace per data definition."""
    return OnlineTable(
        view=view.name,
        namespace=f"{view.name}@{view.data_digest[:12]}",
        keys=tuple((k, t or "int64") for k, t in view.key_types.items()),
        features=tuple(view.features.items()),
    )


class FeatureStore:
    """The feature store over the metadata store and an online store.

    Get one with :func:`keel.features.store`.

    Args:
        metadata: The metadata store or its URI (the one named by the settings by default).
            Given as a URI or by default, it is opened on first use, and reading the
            definitions of a SQLite store does not open it at all.
        online_store: An online store or its URI (``KEEL_ONLINE_STORE`` by default).
        cache_ttl: Seconds the applied definitions are cached for lookups; an apply through
            this object refreshes them at once.
    """

    def __init__(
        self,
        metadata: SqlMetadataStore | str | None = None,
        online_store: BaseOnlineStore | str | None = None,
        *,
        cache_ttl: float = 30.0,
    ) -> None:
        from keel.config import get_settings

        settings = get_settings()
        self._metadata: SqlMetadataStore | None = None
        self._repo: FeatureRepository | None = None
        self._metadata_lock = threading.Lock()
        self._actor = settings.user
        self._owns_metadata = metadata is None or isinstance(metadata, str)
        if metadata is None or isinstance(metadata, str):
            # Opened on first use: reading definitions from a SQLite store needs no SQLAlchemy
            # (see keel.features._fastcatalog); writing, or a store the fast path declines,
            # opens it.
            self._store_uri = metadata or settings.store_uri
        else:
            self._metadata = metadata
            self._store_uri = metadata.uri
        if online_store is None:
            online_store = settings.online_store_uri or f"sqlite:///{settings.home / 'online.db'}"
        self.online_store = (
            open_online_store(online_store) if isinstance(online_store, str) else online_store
        )
        self.cache_ttl = cache_ttl
        self._catalog: Catalog | None = None
        self._catalog_at = 0.0
        self._versions: dict[tuple[str, str], tuple[int, str, dict[str, Any]]] = {}
        self._plans: dict[Any, Plan] = {}
        self._tables: dict[str, Any] = {}

    @property
    def metadata(self) -> SqlMetadataStore:
        """The metadata store, opened (and migrated if needed) on first use."""
        if self._metadata is None:
            with self._metadata_lock:
                if self._metadata is None:
                    from keel.store import SqlMetadataStore

                    self._metadata = SqlMetadataStore(self._store_uri, actor=self._actor)
        return self._metadata

    @property
    def repo(self) -> FeatureRepository:
        """The queries of the feature store over :attr:`metadata`."""
        if self._repo is None:
            from keel.store._features import FeatureRepository

            self._repo = FeatureRepository(self.metadata)
        return self._repo

    def _latest_definitions(self) -> Sequence[Any]:
        """The latest version of every definition: without SQLAlchemy when the store allows."""
        if self._metadata is None:
            from keel.features._fastcatalog import latest_definitions

            found = latest_definitions(self._store_uri)
            if found is not None:
                return found
        return self.repo.latest_definitions()

    def close(self) -> None:
        """Release the online store's connections, and the metadata store's if it opened it."""
        self.online_store.close()
        if self._metadata is not None and self._owns_metadata:
            self._metadata.close()

    # -- definitions ------------------------------------------------------------------------

    def catalog(self, *, fresh: bool = False) -> Catalog:
        """Return the latest applied definitions (cached for ``cache_ttl`` seconds)."""
        now = time.monotonic()
        if not fresh and self._catalog is not None and now - self._catalog_at < self.cache_ttl:
            return self._catalog
        catalog = Catalog()
        versions: dict[tuple[str, str], tuple[int, str, dict[str, Any]]] = {}
        for rec in self._latest_definitions():
            obj = KINDS[rec.kind].from_spec(rec.spec, rec.version)
            versions[(rec.kind, rec.name)] = (rec.version, rec.digest, rec.spec)
            if rec.kind == "entity":
                catalog.entities[rec.name] = obj
            elif rec.kind == "feature_view":
                catalog.views[rec.name] = obj
            elif rec.kind == "on_demand_feature_view":
                catalog.on_demand[rec.name] = obj
            else:
                catalog.services[rec.name] = obj
        self._catalog, self._catalog_at, self._versions = catalog, now, versions
        self._plans = {}
        self._tables = {}
        return catalog

    def plan(self, objects: Sequence[Any], *, base_dir: str | Path | None = None) -> ApplyResult:
        """Check definitions and return what :meth:`apply` would change, writing nothing.

        Raises:
            InvalidArgumentError: A definition is invalid or does not match its source.
            NotFoundError: A definition refers to something that does not exist.
        """
        catalog = self.catalog(fresh=True)
        return plan_apply(objects, catalog, dict(self._versions), Path(base_dir or Path.cwd()))

    def apply(
        self,
        objects: Sequence[Any],
        *,
        dry_run: bool = False,
        show_diff: bool = True,
        base_dir: str | Path | None = None,
    ) -> ApplyResult:
        """Store definitions as new versions where they changed, printing the diff first.

        Each definition is checked against its source (columns exist, types fit) before
        anything is written; all changes are then written in one transaction. A changed
        definition (a feature's type, its ttl, a new feature) becomes the next version; the
        earlier versions stay readable.

        Args:
            objects: Entities, feature views, on-demand feature views and feature services.
                Entities and views that a given object uses are applied with it.
            dry_run: Only print and return the difference.
            show_diff: Print the difference to standard output.
            base_dir: The folder relative Parquet paths are resolved against (the current
                folder by default).

        Returns:
            The changes; ``applied`` says whether they were written.

        Raises:
            InvalidArgumentError: A definition is invalid or does not match its source.
            NotFoundError: A definition refers to something that does not exist.
            InvalidStateError: Another apply changed one of them meanwhile (nothing written).
        """
        result = self.plan(objects, base_dir=base_dir)
        if show_diff:
            print(result.diff())
        if not dry_run:
            self.apply_plan(result)
        return result

    def apply_plan(self, result: ApplyResult) -> ApplyResult:
        """Write a plan made by :meth:`plan` (what :meth:`apply` does after printing it).

        Raises:
            InvalidStateError: Another apply changed one of the definitions since the plan
                was made; nothing is written.
        """
        if result.changed and not result.applied:
            from keel.store._features import NewDefinition

            self.repo.create_versions(
                [
                    NewDefinition(
                        kind=c.kind,
                        name=c.name,
                        digest=c.digest,
                        spec=c.spec,
                        expected_version=c.old_version or 0,
                        lineage=c.lineage,
                    )
                    for c in result.changed
                ]
            )
            result.applied = True
            self._catalog = None
        for change in result.changes:
            change.obj.version = change.new_version
        return result

    def _get(self, kind: str, name: str, version: int | None) -> Any:
        rec = self.repo.get_definition(kind, name, version)
        return KINDS[kind].from_spec(rec.spec, rec.version)

    def get_entity(self, name: str, version: int | None = None) -> Entity:
        """Return an applied entity (the latest version by default).

        Raises:
            NotFoundError: No such entity or version.
        """
        found: Entity = self._get("entity", name, version)
        return found

    def get_feature_view(self, name: str, version: int | None = None) -> FeatureView:
        """Return an applied feature view (the latest version by default).

        Raises:
            NotFoundError: No such view or version.
        """
        found: FeatureView = self._get("feature_view", name, version)
        return found

    def get_on_demand_feature_view(
        self, name: str, version: int | None = None
    ) -> OnDemandFeatureView:
        """Return an applied on-demand feature view (the latest version by default).

        Raises:
            NotFoundError: No such view or version.
        """
        found: OnDemandFeatureView = self._get("on_demand_feature_view", name, version)
        return found

    def get_feature_service(self, name: str, version: int | None = None) -> FeatureService:
        """Return an applied feature service (the latest version by default).

        Raises:
            NotFoundError: No such service or version.
        """
        found: FeatureService = self._get("feature_service", name, version)
        return found

    def list_entities(self) -> list[Entity]:
        """Return the latest version of every applied entity, by name."""
        return list(self.catalog(fresh=True).entities.values())

    def list_feature_views(self) -> list[FeatureView]:
        """Return the latest version of every applied feature view, by name."""
        return list(self.catalog(fresh=True).views.values())

    def list_on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        """Return the latest version of every applied on-demand feature view, by name."""
        return list(self.catalog(fresh=True).on_demand.values())

    def list_feature_services(self) -> list[FeatureService]:
        """Return the latest version of every applied feature service, by name."""
        return list(self.catalog(fresh=True).services.values())

    # -- offline ----------------------------------------------------------------------------

    def historical(
        self,
        entity_df: Any,
        features: Any,
        *,
        timestamp: str = "event_timestamp",
        full_feature_names: bool = False,
        output: str = "pandas",
    ) -> Any:
        """Build point-in-time correct training data: the entity rows with their features.

        For each entity row and feature view, the features come from the latest source row of
        that entity whose event time is at or before the row's ``timestamp`` and within the
        view's ttl; never a later one. Rows with no such source row get nulls. The frame's own
        columns and row order are kept.

        Args:
            entity_df: The entity rows: a pandas or polars DataFrame, an Arrow table or a DuckDB
                query. It needs every join key of the requested views, the timestamp column
                and the request fields of requested on-demand views.
            features: ``"view:feature"`` references, a feature service or its name.
            timestamp: The entity frame's timestamp column (naive means UTC).
            full_feature_names: Name feature columns ``view__feature``.
            output: ``"pandas"`` (integers and booleans nullable), ``"arrow"`` or ``"polars"``.

        Raises:
            NotFoundError: A requested feature does not exist (the message lists near matches).
            InvalidArgumentError: The entity frame lacks a key or the timestamp, mixes naive
                and aware timestamps, or two requested features share a name.
        """
        from keel.features._duck import connect
        from keel.features._frames import attach, read_entity_frame
        from keel.features._offline import retrieve
        from keel.features._sources import reads_remote

        if output not in _OUTPUTS:
            raise InvalidArgumentError(f"output must be one of {list(_OUTPUTS)!r}, got {output!r}.")
        catalog = self.catalog(fresh=True)
        plan = catalog.plan(features, full_feature_names=full_feature_names)
        frame = read_entity_frame(entity_df, plan.keys, timestamp, list(plan.request))
        base: pa.Table | None = None
        if plan.views:
            views = {n: (catalog.views[n], f) for n, f in plan.views.items()}
            con = connect(remote=any(reads_remote(v.source) for v, _ in views.values()))
            try:
                base = retrieve(con, frame, views)
            finally:
                con.close()
        columns = self._assemble_offline(catalog, plan, frame, base)
        import pyarrow as pa

        table = pa.table(columns) if columns else pa.table({})
        return attach(frame, table, output)

    def _assemble_offline(
        self, catalog: Catalog, plan: Plan, frame: Any, base: pa.Table | None
    ) -> dict[str, Any]:
        from keel.features._ondemand import run_on_demand, typed_array

        computed: dict[str, dict[str, Any]] = {}
        for name in plan.on_demand:
            odfv = catalog.on_demand[name]
            inputs: dict[str, Any] = {}
            for field, typ in odfv.request_schema.items():
                inputs[field] = typed_array(
                    frame.column_arrow(field), typ, f"Request field {field!r}"
                )
            for src, feats in odfv.inputs:
                assert base is not None
                assert feats is not None
                for feat in feats:
                    inputs[feat] = base.column(f"{src}__{feat}")
            computed[name] = run_on_demand(odfv, inputs, frame.num_rows)
        columns: dict[str, Any] = {}
        for view, feat, column in plan.outputs:
            if view in computed:
                columns[column] = computed[view][feat]
            else:
                assert base is not None
                columns[column] = base.column(f"{view}__{feat}")
        return columns

    # -- materialization --------------------------------------------------------------------

    def materialize(
        self,
        views: Sequence[str | FeatureView] | str | None = None,
        *,
        end: Any = None,
        start: Any = None,
        batch_size: int = 10_000,
    ) -> list[MaterializationRecord]:
        """Load the latest row of each entity into the online store, incrementally.

        Each view is materialized over ``[start, end)``: ``start`` defaults to the end of the
        view's last materialization into this online store (its watermark), or, the first
        time, ``end - ttl`` (all history without a ttl). Rows are written in batches of
        ``batch_size``; a stored row is only replaced by a newer one. Each run is recorded with
        its window and counts, and lineage edges link the view version (and its dataset
        version) to it.

        Args:
            views: View names or objects (every applied view with ``online=True`` by default).
            end: The window's end (now by default); naive means UTC.
            start: The window's start, to backfill or redo a range.
            batch_size: Rows per online-store write.

        Returns:
            One record per view that had a non-empty window.

        Raises:
            NotFoundError: A named view is not applied.
        """
        from keel.features._materialize import materialize_view

        if batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be at least 1, got {batch_size!r}.")
        catalog = self.catalog(fresh=True)
        if views is None:
            chosen = [v for v in catalog.views.values() if v.online]
        else:
            names = [views] if isinstance(views, (str, FeatureView)) else list(views)
            chosen = []
            for item in names:
                name = item.name if isinstance(item, FeatureView) else item
                if name not in catalog.views:
                    raise NotFoundError(
                        f"No feature view is named {name!r}.{near_matches(name, catalog.views)} "
                        f"Applied views: {', '.join(repr(v) for v in catalog.views) or 'none'}.",
                        details={"view": name},
                    )
                chosen.append(catalog.views[name])
        end_us = to_utc_us(end, "end") if end is not None else time.time_ns() // 1000
        start_us = to_utc_us(start, "start") if start is not None else None
        records = []
        for view in chosen:
            rec = materialize_view(self, view, start_us, end_us, batch_size)
            if rec is not None:
                records.append(rec)
        return records

    # -- online -----------------------------------------------------------------------------

    def online(
        self,
        features: Any,
        entities: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
        *,
        request_data: Mapping[str, Any] | None = None,
        full_feature_names: bool = False,
    ) -> dict[str, list[Any]]:
        """Look up the latest materialized features of some entities.

        Values older than a view's ttl (at the time of the call) are ``None``, as offline.

        Args:
            features: ``"view:feature"`` references, a feature service or its name.
            entities: One dict per entity (``[{"customer_id": 42}]``) or a dict of columns.
                Extra keys serve as request data for on-demand views.
            request_data: Request fields for on-demand views, a value or a list per field.
            full_feature_names: Name features ``view__feature``.

        Returns:
            Columns: the join keys, then each feature, one value per entity
            (``{"customer_id": [42], "avg_amount_7d": [12.5]}``).

        Raises:
            NotFoundError: A requested feature does not exist.
            InvalidArgumentError: An entity lacks a join key or has a key of the wrong type.
        """
        catalog = self.catalog()
        key: Any = None
        if isinstance(features, str):
            key = (features, full_feature_names)
        elif isinstance(features, (list, tuple)) and all(isinstance(f, str) for f in features):
            key = (tuple(features), full_feature_names)
        plan = self._plans.get(key) if key is not None else None
        if plan is None:
            plan = catalog.plan(features, full_feature_names=full_feature_names)
            if key is not None and len(self._plans) < 1024:
                self._plans[key] = plan
        from keel.features._online import lookup

        return lookup(self, catalog, plan, entities, request_data)

    def get_online_features(
        self,
        service: str | FeatureService,
        entities: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
        *,
        request_data: Mapping[str, Any] | None = None,
        full_feature_names: bool = False,
    ) -> dict[str, list[Any]]:
        """Look up the features of a feature service (by name or object) for some entities.

        Raises:
            NotFoundError: No such service, or it lists a feature that no longer exists.
        """
        catalog = self.catalog()
        if isinstance(service, FeatureService):
            refs = service.features
        else:
            if service not in catalog.services:
                catalog = self.catalog(fresh=True)
            refs = catalog.service(service).features
        return self.online(
            refs, entities, request_data=request_data, full_feature_names=full_feature_names
        )


_default: tuple[tuple[str, str | None], FeatureStore] | None = None


def store(metadata_uri: str | None = None, online_store: str | None = None) -> FeatureStore:
    """Return the feature store for the current settings (or the given URIs).

    Without arguments the same object is returned until the settings change.

    Args:
        metadata_uri: A metadata store URI instead of ``KEEL_STORE_URI``.
        online_store: An online store URI instead of ``KEEL_ONLINE_STORE``.

    Examples:
        >>> import keel
        >>> fs = keel.features.store()  # doctest: +SKIP
    """
    global _default
    from keel.config import get_settings

    settings = get_settings()
    if metadata_uri is not None or online_store is not None:
        return FeatureStore(metadata_uri or settings.store_uri, online_store)
    key = (settings.store_uri, settings.online_store_uri)
    if _default is None or _default[0] != key:
        if _default is not None:
            _default[1].close()
        _default = (key, FeatureStore())
    return _default[1]


def get_online_features(
    service_name: str | FeatureService,
    entities: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
    *,
    request_data: Mapping[str, Any] | None = None,
) -> dict[str, list[Any]]:
    """Look up a feature service's features for some entities (what serving calls).

    Args:
        service_name: The feature service's name (or the service).
        entities: One dict per entity, or a dict of columns.
        request_data: Request fields for on-demand views.

    Returns:
        Columns: the join keys, then each feature of the service.

    Raises:
        NotFoundError: No such service.
    """
    return store().get_online_features(service_name, entities, request_data=request_data)
