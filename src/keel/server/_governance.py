"""Governance reads over REST: lineage, the audit log and its verification, compliance, cost.

The governance functions read the server's own metadata and artifact stores (passed as
``store=`` / ``artifacts=``), whatever the process settings are.

Who may read what:

* lineage: the root's project (``models.read`` for a model version, ``runs.read`` for a run);
  other roots (datasets, deployments, predictions) need a role in some project. Runs and model
  versions of projects the caller cannot read stay in the graph with their properties hidden.
* the audit log and its verification: server administrators (it spans every project).
* a compliance report: ``models.read`` on the model.
* cost: server administrators (it groups by model, user and experiment across projects).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import Query
from starlette.responses import Response

from keel.errors import InvalidArgumentError, NotFoundError, PermissionDeniedError
from keel.governance import Principal, Resource, can
from keel.server._context import Ctx, KeelRouter, requires

__all__ = ["router"]

router = KeelRouter(prefix="/api/v1")

_REPORT_TYPES = {"html": "text/html; charset=utf-8", "md": "text/markdown; charset=utf-8"}
#: A report is user data rendered as HTML: it may not run scripts or load anything.
_REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


def _any_role(principal: Principal, action: str) -> bool:
    return principal.is_admin or any(can(principal, action, Resource(p)) for p in principal.roles)


def _authorize_root(ctx: Ctx, ref: str) -> None:
    from keel.governance import parse_lineage_ref

    kind, ident = parse_lineage_ref(ref)
    if kind == "model_version":
        name = ident.split("@", 1)[0].rsplit("/", 1)[0] if "/" in ident else ident.split("@")[0]
        ctx.authorize(ctx.model_project(name), "model", name, action="models.read")
        return
    if kind == "run":
        try:
            project = ctx.run_project(ident)
        except NotFoundError:
            project = None  # a prefix: the walk resolves it; foreign runs are hidden below
        if project is not None:
            ctx.authorize(project, "run", ident, action="runs.read")
            return
    ctx.checked = True
    if not _any_role(ctx.principal, "datasets.read"):
        raise PermissionDeniedError(
            f"{ctx.principal.name!r} has no role in any project, so it may not read lineage. "
            "Ask an admin for a role.",
            details={"action": "datasets.read"},
        )


def _hidden(ctx: Ctx, kind: str, ident: str) -> bool:
    """Whether a node belongs to a project the caller may not read."""
    try:
        if kind == "run":
            return not ctx.can(ctx.run_project(ident), "runs.read")
        if kind == "model_version":
            return not ctx.can(ctx.model_project(ident.rsplit("/", 1)[0]), "models.read")
    except NotFoundError:
        return False
    return False


@router.get("/lineage")
def get_lineage(
    ctx: Annotated[Ctx, requires("runs.read")],
    ref: Annotated[str, Query(min_length=1, max_length=500)],
    direction: Annotated[str, Query(pattern="^(upstream|downstream)$")] = "upstream",
    depth: Annotated[int | None, Query(ge=0, le=1000)] = None,
) -> dict[str, Any]:
    """Walk the lineage graph from ``ref`` (``models:/churn/4``, ``run:ID``, ``dataset:tx@v3``)."""
    from keel.governance import lineage

    _authorize_root(ctx, ref)
    state = ctx.state
    graph = lineage(ref, direction, depth, store=state.store, artifacts=state.artifacts).to_dict()
    for node in graph["nodes"][1:]:
        if _hidden(ctx, node["kind"], node["id"]):
            node["properties"] = {"hidden": "in a project you have no role in"}
    return graph


def _audit_event(event: Any) -> dict[str, Any]:
    return dataclasses.asdict(event)


@router.get("/audit-events")
def list_audit_events(
    ctx: Annotated[Ctx, requires("server.admin", on="global")],
    since: Annotated[str | None, Query(max_length=100)] = None,
    until: Annotated[str | None, Query(max_length=100)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=200)] = None,
    resource: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> dict[str, Any]:
    """Audit events, oldest first (the newest ``limit`` that match)."""
    from keel.governance import audit_log

    events = audit_log(
        since,
        until=until,
        actor=actor,
        action=action,
        resource=resource,
        limit=limit,
        store=ctx.state.store,
    )
    return {"events": [_audit_event(e) for e in events]}


@router.get("/audit-events/verify")
def verify_audit_events(
    ctx: Annotated[Ctx, requires("server.admin", on="global")],
) -> dict[str, Any]:
    """Recompute the audit log's hash chain; name the first event that does not match."""
    from keel.governance import verify_audit

    return dataclasses.asdict(verify_audit(store=ctx.state.store))


@router.get("/models/{name}/versions/{version}/compliance-report")
def get_compliance_report(
    name: str,
    version: int,
    ctx: Annotated[Ctx, requires("models.read", on="model")],
    format: Annotated[str, Query(pattern="^(html|md)$")] = "html",
) -> Response:
    """The compliance report of a model version, as self-contained HTML or Markdown."""
    from keel.governance import compliance_report, render_compliance_report

    state = ctx.state
    card = compliance_report(name, version, store=state.store, artifacts=state.artifacts)
    text = render_compliance_report(card, format)
    headers = {"X-Content-Type-Options": "nosniff"}
    if format == "html":
        headers["Content-Security-Policy"] = _REPORT_CSP
    return Response(text, media_type=_REPORT_TYPES[format], headers=headers)


@router.get("/costs")
def get_costs(
    ctx: Annotated[Ctx, requires("server.admin", on="global")],
    by: Annotated[str, Query(max_length=50)] = "model",
    since: Annotated[str | None, Query(max_length=100)] = "30d",
    until: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    """CPU, wall time, memory (and GPU) of runs started in a window, grouped and priced."""
    from keel.governance import CostRates, cost

    rates = CostRates.parse(ctx.state.settings.cost_rates)
    return cost(by=by, since=since, until=until, rates=rates, store=ctx.state.store).to_dict()


@router.post("/features/online")
def get_online_features(
    body: dict[str, Any],
    ctx: Annotated[Ctx, requires("datasets.read")],
) -> dict[str, Any]:
    """Online feature values: ``{"features": ["view:feat"]} | {"feature_service": name}``.

    With ``"entities": [{"customer_id": 42}, ...]`` (and ``"request_data"`` for on-demand
    views). Answers the columns: the join keys, then each feature.
    """
    ctx.checked = True
    if not _any_role(ctx.principal, "datasets.read"):
        raise PermissionDeniedError(
            f"{ctx.principal.name!r} has no role in any project, so it may not read features. "
            "Ask an admin for a role.",
            details={"action": "datasets.read"},
        )
    features, service = body.get("features"), body.get("feature_service")
    entities, request_data = body.get("entities"), body.get("request_data")
    if (features is None) == (service is None):
        raise InvalidArgumentError(
            "Send either 'features' (a list of 'view:feature') or 'feature_service' (a name), "
            f"not {'both' if features is not None else 'neither'}."
        )
    if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
        raise InvalidArgumentError(
            f"'entities' must be a list of objects such as [{{'customer_id': 42}}], got "
            f"{type(entities).__name__}."
        )
    if request_data is not None and not isinstance(request_data, dict):
        raise InvalidArgumentError("'request_data' must be an object of request fields.")
    fs = ctx.state.feature_store()
    if service is not None:
        if not isinstance(service, str):
            raise InvalidArgumentError(f"'feature_service' must be a name, got {service!r}.")
        return dict(fs.get_online_features(service, entities, request_data=request_data))
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise InvalidArgumentError(
            f"'features' must be a list of 'view:feature' names, got {features!r}."
        )
    return dict(fs.online(features, entities, request_data=request_data))
