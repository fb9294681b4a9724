"""The applied definitions at one moment, and turning feature references into a retrieval plan.

A feature reference is ``"view:feature"`` (``"view:*"`` for every feature of a view). A plan
lists the feature views to join, the on-demand views to compute and the output columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from keel.errors import InvalidArgumentError, NotFoundError, near_matches
from keel.features._definitions import (
    Entity,
    FeatureService,
    FeatureView,
    FeatureViewProjection,
    OnDemandFeatureView,
)

__all__ = ["Catalog", "Plan"]


@dataclass
class Plan:
    """What a retrieval needs.

    Attributes:
        outputs: ``(view, feature, column)`` for each requested feature, in request order.
        views: Feature view name to the features to read from it (requested or needed by an
            on-demand view), in first-use order.
        on_demand: On-demand view names to compute, in first-use order.
        keys: Join key columns the entity rows must have.
        request: Request fields (name to type) on-demand views read.
    """

    outputs: list[tuple[str, str, str]]
    views: dict[str, list[str]] = field(default_factory=dict)
    on_demand: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    request: dict[str, str] = field(default_factory=dict)


@dataclass
class Catalog:
    """The latest applied version of every definition."""

    entities: dict[str, Entity] = field(default_factory=dict)
    views: dict[str, FeatureView] = field(default_factory=dict)
    on_demand: dict[str, OnDemandFeatureView] = field(default_factory=dict)
    services: dict[str, FeatureService] = field(default_factory=dict)

    def view_or_on_demand(self, name: str) -> FeatureView | OnDemandFeatureView:
        """Return the feature view or on-demand view called ``name``.

        Raises:
            NotFoundError: Neither exists; the message lists near names.
        """
        found = self.views.get(name) or self.on_demand.get(name)
        if found is None:
            names = [*self.views, *self.on_demand]
            known = ", ".join(repr(n) for n in sorted(names)) or "none"
            raise NotFoundError(
                f"No feature view is named {name!r}.{near_matches(name, names)} Applied views: "
                f"{known}.",
                details={"view": name},
            )
        return found

    def service(self, name: str) -> FeatureService:
        """Return the feature service called ``name``.

        Raises:
            NotFoundError: It does not exist; the message lists near names.
        """
        found = self.services.get(name)
        if found is None:
            known = ", ".join(repr(n) for n in sorted(self.services)) or "none"
            raise NotFoundError(
                f"No feature service is named {name!r}.{near_matches(name, self.services)} "
                f"Applied services: {known}.",
                details={"service": name},
            )
        return found

    def all_refs(self) -> list[str]:
        """Return every ``view:feature`` reference that exists."""
        out = [f"{v.name}:{f}" for v in self.views.values() for f in v.features]
        out += [f"{v.name}:{f}" for v in self.on_demand.values() for f in v.features]
        return out

    def expand(self, features: Any) -> list[str]:
        """Turn a features argument into a list of ``view:feature`` references.

        Raises:
            InvalidArgumentError: The argument is not a list of references, a service or a view.
        """
        if isinstance(features, FeatureService):
            return list(features.features)
        if isinstance(features, (FeatureView, OnDemandFeatureView)):
            return [f"{features.name}:{f}" for f in features.features]
        if isinstance(features, FeatureViewProjection):
            return features.refs()
        if isinstance(features, str):
            if ":" not in features and features in self.services:
                return list(self.services[features].features)
            return [features]
        if isinstance(features, Sequence):
            refs: list[str] = []
            for item in features:
                refs.extend(self.expand(item))
            return refs
        raise InvalidArgumentError(
            "features must be a list of 'view:feature' references, a feature service (or its "
            f"name) or a feature view, got {features!r}."
        )

    def parse_ref(self, ref: Any) -> tuple[str, list[str]]:
        """Split ``"view:feature"`` into the view and its feature(s) (``view:*``: all).

        Raises:
            InvalidArgumentError: The reference is malformed.
            NotFoundError: The view or feature does not exist; the message lists near matches.
        """
        if not isinstance(ref, str) or ref.count(":") != 1:
            hint = ""
            if isinstance(ref, str):
                owners = [r for r in self.all_refs() if r.split(":", 1)[1] == ref]
                hint = (
                    f" {ref!r} is a feature of {', '.join(repr(o) for o in owners)}."
                    if owners
                    else near_matches(ref, self.all_refs())
                )
            raise InvalidArgumentError(
                f"Feature reference {ref!r} is not 'view:feature'.{hint} Write references as "
                "'customer_stats:avg_amount_7d'.",
                details={"ref": str(ref)},
            )
        view_name, feature = ref.split(":")
        if view_name not in self.views and view_name not in self.on_demand:
            names = [*self.views, *self.on_demand]
            close = near_matches(ref, self.all_refs()) or near_matches(view_name, names)
            known = ", ".join(repr(n) for n in sorted(names)) or "none"
            raise NotFoundError(
                f"Unknown feature {ref!r}: no feature view is named {view_name!r}.{close} "
                f"Applied views: {known}.",
                details={"ref": ref},
            )
        view = self.view_or_on_demand(view_name)
        if feature == "*":
            return view_name, list(view.features)
        if feature not in view.features:
            close = near_matches(ref, self.all_refs()) or near_matches(feature, view.features)
            raise NotFoundError(
                f"Unknown feature {ref!r}: view {view_name!r} has no feature {feature!r}.{close} "
                f"Its features: {', '.join(repr(f) for f in view.features)}.",
                details={"ref": ref},
            )
        return view_name, [feature]

    def plan(self, features: Any, *, full_feature_names: bool = False) -> Plan:
        """Resolve references into a :class:`Plan`.

        Raises:
            InvalidArgumentError: No features, a malformed reference, or two requested
                features of different views share a name (without ``full_feature_names``).
            NotFoundError: A view or feature does not exist.
        """
        refs = self.expand(features)
        if not refs:
            raise InvalidArgumentError("No features were requested: pass 'view:feature' refs.")
        outputs: list[tuple[str, str, str]] = []
        seen: dict[str, str] = {}
        for ref in refs:
            view_name, feats = self.parse_ref(ref)
            for feat in feats:
                if any(o[0] == view_name and o[1] == feat for o in outputs):
                    continue
                column = f"{view_name}__{feat}" if full_feature_names else feat
                if column in seen:
                    raise InvalidArgumentError(
                        f"The feature name {feat!r} is requested from two views, "
                        f"{seen[column]!r} and {view_name!r}, so the output would have two "
                        f"columns {column!r}. Pass full_feature_names=True to name columns "
                        "'view__feature', or request it from one view only.",
                        details={"feature": feat, "views": [seen[column], view_name]},
                    )
                seen[column] = view_name
                outputs.append((view_name, feat, column))
        plan = Plan(outputs=outputs)
        for view_name, feat, _ in outputs:
            if view_name in self.views:
                _add(plan.views, view_name, feat)
            elif view_name not in plan.on_demand:
                plan.on_demand.append(view_name)
        for name in plan.on_demand:
            odfv = self.on_demand[name]
            for src, wanted in odfv.inputs:
                source_view = self.views.get(src)
                if source_view is None:
                    raise NotFoundError(
                        f"On-demand feature view {name!r} reads view {src!r}, which is not "
                        "applied. Apply it first.",
                        details={"view": src},
                    )
                for feat in wanted if wanted is not None else list(source_view.features):
                    _add(plan.views, src, feat)
            for field_name, typ in odfv.request_schema.items():
                if plan.request.get(field_name, typ) != typ:
                    raise InvalidArgumentError(
                        f"Request field {field_name!r} is read as {plan.request[field_name]!r} "
                        f"and as {typ!r} by the requested on-demand views."
                    )
                plan.request[field_name] = typ
        keys: dict[str, None] = {}
        for view_name in plan.views:
            keys.update(dict.fromkeys(self.views[view_name].join_keys))
        plan.keys = list(keys)
        return plan


def _add(views: dict[str, list[str]], view: str, feature: str) -> None:
    feats = views.setdefault(view, [])
    if feature not in feats:
        feats.append(feature)
