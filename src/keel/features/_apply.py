"""Planning an apply: resolve definitions against their sources and the stored versions, diff.

Nothing is written here. :func:`plan_apply` checks every definition (sources exist and hold
the declared columns with fitting types, references resolve) and compares its canonical spec
with the latest stored version; :class:`ApplyResult` renders the difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keel.errors import InvalidArgumentError, NotFoundError, near_matches
from keel.features._catalog import Catalog
from keel.features._definitions import (
    Entity,
    FeatureService,
    FeatureView,
    FeatureViewProjection,
    OnDemandFeatureView,
    digest_of,
)
from keel.features._sources import DatasetSource, ParquetSource
from keel.features._types import format_duration, key_type_of, source_type_fits

__all__ = ["ApplyResult", "Change", "plan_apply"]

_ORDER = ("entity", "feature_view", "on_demand_feature_view", "feature_service")
_LABEL = {
    "entity": "entity",
    "feature_view": "feature view",
    "on_demand_feature_view": "on-demand feature view",
    "feature_service": "feature service",
}


@dataclass
class Change:
    """What an apply does to one definition.

    Attributes:
        kind: The definition kind.
        name: Its name.
        action: ``"create"``, ``"update"`` (a new version) or ``"unchanged"``.
        old_version: The stored version before the apply (``None`` if new).
        new_version: The version after the apply.
        lines: The field-level differences (``features.x: 'int64' -> 'float64'``).
        spec: The new canonical spec.
        digest: Its digest.
        lineage: Edges into the new version: ``((kind, id), relation)``.
        obj: The user's object (its ``version`` is set after the apply).
    """

    kind: str
    name: str
    action: str
    old_version: int | None
    new_version: int
    lines: list[str]
    spec: dict[str, Any]
    digest: str
    lineage: list[tuple[tuple[str, str], str]] = field(default_factory=list)
    obj: Any = None

    def header(self) -> str:
        """Return the one-line summary of this change."""
        label = _LABEL[self.kind]
        if self.action == "create":
            return f"+ {label} {self.name} (new, v{self.new_version})"
        if self.action == "update":
            return f"~ {label} {self.name} v{self.old_version} -> v{self.new_version}"
        return f"= {label} {self.name} v{self.new_version} (unchanged)"


@dataclass
class ApplyResult:
    """The plan of an apply and, once written, its outcome.

    Attributes:
        changes: One :class:`Change` per definition, entities first.
        applied: Whether the changes were written (``False`` for a dry run or no change).
    """

    changes: list[Change]
    applied: bool = False

    @property
    def changed(self) -> list[Change]:
        """The changes that create or update a definition."""
        return [c for c in self.changes if c.action != "unchanged"]

    def diff(self) -> str:
        """Return the difference as text: one header per definition, its field changes below."""
        out: list[str] = []
        for change in self.changes:
            out.append(change.header())
            out.extend(f"    {line}" for line in change.lines)
        if not self.changed:
            out.append("No changes.")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.diff()


def _flatten(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in spec.items():
        if key in ("name", "data_digest"):
            continue
        if key == "features" and isinstance(value, list):
            for feat, typ in value:
                flat[f"features.{feat}"] = typ
        elif key == "ttl_us":
            flat["ttl"] = format_duration(value)
        elif key == "function" and isinstance(value, dict):
            flat["function"] = f"{value.get('name')} (sha256 {digest_of(value)[:12]})"
        elif isinstance(value, dict) and key in ("tags", "join_keys", "request_schema", "source"):
            if not value:
                flat[key] = {}
            for sub, subval in value.items():
                flat[f"{key}.{sub}"] = subval
        else:
            flat[key] = value
    return flat


def diff_specs(kind: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Return the field-level differences between two specs of one definition."""
    a, b = _flatten(kind, old), _flatten(kind, new)
    lines: list[str] = []
    for key in [*a, *[k for k in b if k not in a]]:
        if key not in b:
            lines.append(f"- {key}: {a[key]!r}")
        elif key not in a:
            lines.append(f"+ {key}: {b[key]!r}")
        elif a[key] != b[key]:
            lines.append(f"  {key}: {a[key]!r} -> {b[key]!r}")
    return lines


def _collect(objects: Sequence[Any]) -> dict[tuple[str, str], Any]:
    found: dict[tuple[str, str], Any] = {}

    def add(obj: Any, implicit: bool) -> None:
        key = (obj.kind, obj.name)
        if key in found:
            if found[key] is obj or implicit:
                return
            raise InvalidArgumentError(
                f"The {_LABEL[obj.kind]} {obj.name!r} is given twice in one apply. Keep one "
                "definition per name."
            )
        found[key] = obj
        if isinstance(obj, FeatureView):
            for ent in obj.entities:
                if isinstance(ent, Entity):
                    add(ent, True)
        elif isinstance(obj, OnDemandFeatureView):
            for src in obj._source_objects:
                add(src, True)
        elif isinstance(obj, FeatureService):
            for view in obj._objects:
                add(view, True)

    items = list(objects) if not isinstance(objects, (Entity, FeatureView)) else [objects]
    for obj in items:
        if isinstance(obj, FeatureViewProjection):
            obj = obj.view
        if not isinstance(obj, (Entity, FeatureView, OnDemandFeatureView, FeatureService)):
            raise InvalidArgumentError(
                f"apply takes entities, feature views, on-demand feature views and feature "
                f"services, got {obj!r}."
            )
    for obj in items:
        add(obj.view if isinstance(obj, FeatureViewProjection) else obj, False)
    return found


def _resolve_view(
    view: FeatureView, entities: dict[str, Entity], base_dir: Path, con: Any
) -> str | None:
    """Resolve a view's entities, source path and key types; check the source's columns.

    Returns:
        The dataset version the view reads (``name@vN``), if any.
    """
    from keel.features._offline import source_relation, user_columns

    key_types: dict[str, str | None] = {}
    for name in view.entity_names:
        ent = entities.get(name)
        if ent is None:
            raise NotFoundError(
                f"Feature view {view.name!r} uses the entity {name!r}, which is neither in this "
                f"apply nor stored.{near_matches(name, entities)} Apply the entity with the view.",
                details={"entity": name},
            )
        key_types.update(ent.key_types)
    view.key_types = key_types
    if isinstance(view.source, ParquetSource):
        view.source = view.source.resolved(base_dir)
    _, _, all_types, lineage = source_relation(con, view)
    types = {c: all_types[c] for c in user_columns(all_types)}
    what = f"The source of feature view {view.name!r}"
    for col in [view.timestamp, *([view.created_timestamp] if view.created_timestamp else [])]:
        typ = types.get(col)
        if typ is None or not source_type_fits("timestamp", typ):
            raise InvalidArgumentError(
                f"{what} has no timestamp column {col!r}{'' if typ is None else f' (it is {typ})'}."
                f"{near_matches(col, types)} Its columns: {', '.join(repr(c) for c in types)}."
            )
    for key, declared in key_types.items():
        if key not in types:
            raise InvalidArgumentError(
                f"{what} has no join key column {key!r}.{near_matches(key, types)} Its columns: "
                f"{', '.join(repr(c) for c in types)}."
            )
        found = key_type_of(types[key])
        if found is None:
            raise InvalidArgumentError(
                f"{what} has the join key {key!r} of type {types[key]}; join keys must be "
                "integers or strings."
            )
        if declared is not None and declared != found:
            raise InvalidArgumentError(
                f"{what} holds the join key {key!r} as {types[key]} but its entity declares "
                f"{declared!r}. Fix the entity's join key type or the source."
            )
        key_types[key] = found
    for feat, typ in view.features.items():
        if feat not in types:
            raise InvalidArgumentError(
                f"{what} has no column for feature {feat!r}.{near_matches(feat, types)} Its "
                f"columns: {', '.join(repr(c) for c in types)}."
            )
        if not source_type_fits(typ, types[feat]):
            raise InvalidArgumentError(
                f"Feature {view.name}:{feat} is declared {typ!r} but its source column is "
                f"{types[feat]}, which cannot be read as {typ!r} without loss. Declare the type "
                "that matches the data."
            )
    view.key_types = key_types
    return lineage


def plan_apply(
    objects: Sequence[Any],
    stored: Catalog,
    versions: dict[tuple[str, str], tuple[int, str, dict[str, Any]]],
    base_dir: Path,
) -> ApplyResult:
    """Check the definitions and compare them with the stored versions.

    Args:
        objects: The definitions to apply.
        stored: The latest stored definitions.
        versions: ``(kind, name)`` to ``(version, digest, spec)`` of the latest stored ones.
        base_dir: The folder relative source paths are resolved against.

    Raises:
        InvalidArgumentError: A definition is invalid or inconsistent with its source.
        NotFoundError: A definition refers to something that does not exist.
    """
    from keel.features._duck import connect

    found = _collect(objects)
    entities = dict(stored.entities)
    entities.update({n: o for (k, n), o in found.items() if k == "entity"})
    merged = Catalog(
        entities=entities,
        views=dict(stored.views),
        on_demand=dict(stored.on_demand),
        services=dict(stored.services),
    )
    lineage: dict[tuple[str, str], list[tuple[tuple[str, str], str]]] = {}
    con = connect() if any(k == "feature_view" for k, _ in found) else None
    try:
        for (kind, name), obj in found.items():
            if kind == "feature_view":
                assert con is not None
                ref = _resolve_view(obj, entities, base_dir, con)
                merged.views[name] = obj
                edges = lineage.setdefault((kind, name), [])
                if ref is not None and isinstance(obj.source, DatasetSource):
                    edges.append((("dataset_version", ref), "source"))
    finally:
        if con is not None:
            con.close()
    for (kind, name), obj in found.items():
        if kind == "on_demand_feature_view":
            resolved: list[tuple[str, list[str] | None]] = []
            for src, feats in obj.inputs:
                view = merged.views.get(src)
                if view is None:
                    raise NotFoundError(
                        f"On-demand feature view {name!r} reads the feature view {src!r}, which "
                        f"is neither in this apply nor stored.{near_matches(src, merged.views)}",
                        details={"view": src},
                    )
                feats = list(view.features) if feats is None else feats
                for feat in feats:
                    if feat not in view.features:
                        raise NotFoundError(
                            f"On-demand feature view {name!r} reads {src}:{feat}, which does not "
                            f"exist.{near_matches(feat, view.features)}"
                        )
                resolved.append((src, feats))
            obj.inputs = resolved
            obj._check_input_names()
            merged.on_demand[name] = obj
    for (kind, name), obj in found.items():
        if kind == "feature_service":
            merged.plan(obj.features)  # every reference resolves, no two share a column name
            merged.services[name] = obj

    changes: list[Change] = []
    for kind in _ORDER:
        for (k, name), obj in found.items():
            if k != kind:
                continue
            spec = obj.spec()
            digest = digest_of(spec)
            old = versions.get((kind, name))
            if old is None:
                change = Change(kind, name, "create", None, 1, [], spec, digest)
            elif old[1] == digest:
                change = Change(kind, name, "unchanged", old[0], old[0], [], spec, digest)
            else:
                lines = diff_specs(kind, old[2], spec)
                change = Change(kind, name, "update", old[0], old[0] + 1, lines, spec, digest)
            change.obj = obj
            change.lineage = lineage.get((kind, name), [])
            changes.append(change)
    _link(changes, versions)
    return ApplyResult(changes)


def _link(
    changes: list[Change], versions: dict[tuple[str, str], tuple[int, str, dict[str, Any]]]
) -> None:
    """Add lineage edges from each definition's inputs (at their post-apply versions)."""
    after = {(c.kind, c.name): c.new_version for c in changes}

    def version(kind: str, name: str) -> int | None:
        if (kind, name) in after:
            return after[(kind, name)]
        stored = versions.get((kind, name))
        return stored[0] if stored else None

    for change in changes:
        spec = change.spec
        if change.kind == "feature_view":
            for ent in spec["entities"]:
                v = version("entity", ent)
                if v is not None:
                    change.lineage.append((("entity", f"{ent}@v{v}"), "entity"))
        elif change.kind == "on_demand_feature_view":
            for src, _ in spec["inputs"]:
                v = version("feature_view", src)
                if v is not None:
                    change.lineage.append((("feature_view", f"{src}@v{v}"), "source"))
        elif change.kind == "feature_service":
            for view in dict.fromkeys(ref.split(":")[0] for ref in spec["features"]):
                v = version("feature_view", view) or version("on_demand_feature_view", view)
                if v is not None:
                    change.lineage.append((("feature_view", f"{view}@v{v}"), "feature"))
