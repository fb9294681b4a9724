"""REST routes over the model registry: models, versions, aliases, gates, approvals, promotion.

Promotion and gate checks run here, on the server, against the server's stores: a client
cannot claim its own gate results. Approving needs the ``models.approve`` action and the role
named by the approval, both in the model's project.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Path as PathParam
from fastapi import Query
from pydantic import BaseModel, Field

from keel.governance import DEFAULT_PROJECT, require_role
from keel.registry._uri import validate_model_name
from keel.server._context import Ctx, KeelRouter, requires
from keel.store._registry import ANY_VERSION, NewModelVersion, RegistryRepository

__all__ = ["router"]

router = KeelRouter(prefix="/api/v1")

#: A version number in a path: positive and small enough for every database.
VersionNumber = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


class ModelIn(BaseModel):
    """A new registered model, in a project."""

    name: str = Field(min_length=1, max_length=256)
    description: str = ""
    intended_use: str = ""
    project: str = DEFAULT_PROJECT


class ModelUpdateIn(BaseModel):
    """Changes to a registered model."""

    description: str | None = None
    intended_use: str | None = None


class VersionIn(BaseModel):
    """A new version: its run, files and signature are already stored."""

    run_id: str = Field(min_length=1, max_length=64)
    artifact_path: str = Field(max_length=1024)
    flavor: str = Field(min_length=1, max_length=64)
    serialization: str = Field(min_length=1, max_length=64)
    manifest_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    signature: dict[str, Any] | None = None
    description: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    metric_source: str = "run"
    project: str = DEFAULT_PROJECT


class AliasIn(BaseModel):
    """Point an alias at a version (no gates)."""

    version: int = Field(ge=1, le=2**31 - 1)
    expected_version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    any_version: bool = True
    reason: str = ""


class GateIn(BaseModel):
    """A promotion gate."""

    name: str = Field(min_length=1, max_length=512)
    kind: str = Field(min_length=1, max_length=64)
    spec: dict[str, Any] = Field(default_factory=dict)
    alias: str = ""


class ApprovalIn(BaseModel):
    """An approval in a role."""

    role: str = Field(default="approver", min_length=1, max_length=64)
    comment: str = ""


class PromotionIn(BaseModel):
    """Promote a version to an alias, if its gates pass."""

    to: str = Field(default="champion", min_length=1, max_length=128)
    reason: str = ""


class VersionMetricsIn(BaseModel):
    """Metrics of a version."""

    metrics: dict[str, float]
    source: str = "evaluation"


def _d(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


def _repo(ctx: Ctx) -> RegistryRepository:
    return RegistryRepository(ctx.store)


@router.get("/models")
def list_models(
    ctx: Annotated[Ctx, requires("models.read")],
    name_like: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    """Registered models in projects the caller can read."""
    ctx.listing()
    placed = ctx.state.gov.placements("model")
    models = RegistryRepository(ctx.state.store).list_models(name_like)
    return {"models": [_d(m) for m in models if ctx.can(placed.get(m.name, DEFAULT_PROJECT))]}


@router.post("/models", status_code=201)
def create_model(body: ModelIn, ctx: Annotated[Ctx, requires("models.write")]) -> dict[str, Any]:
    """Register a model in a project."""
    validate_model_name(body.name)
    ctx.authorize(body.project, "project", body.project)
    _check_unplaced_or_same(ctx, body.name, body.project)
    rec = _repo(ctx).create_model(
        body.name,
        description=body.description,
        intended_use=body.intended_use,
        actor=ctx.principal.name,
    )
    ctx.gov.place("model", body.name, body.project)
    return _d(rec)


def _check_unplaced_or_same(ctx: Ctx, name: str, project: str) -> None:
    current = ctx.state.gov.project_of("model", name)
    if current != project and name in ctx.state.gov.placements("model"):
        ctx.authorize(current, "model", name)


@router.get("/models/{name}")
def get_model(
    name: str, ctx: Annotated[Ctx, requires("models.read", on="model")]
) -> dict[str, Any]:
    """One registered model with its aliases."""
    return _d(RegistryRepository(ctx.state.store).get_model(name))


@router.patch("/models/{name}")
def update_model(
    name: str, body: ModelUpdateIn, ctx: Annotated[Ctx, requires("models.write", on="model")]
) -> dict[str, Any]:
    """Change a model's description or intended use."""
    return _d(
        _repo(ctx).update_model(name, description=body.description, intended_use=body.intended_use)
    )


@router.get("/models/{name}/versions")
def list_versions(
    name: str, ctx: Annotated[Ctx, requires("models.read", on="model")]
) -> dict[str, Any]:
    """Every version, newest first."""
    return {"versions": [_d(v) for v in RegistryRepository(ctx.state.store).list_versions(name)]}


@router.post("/models/{name}/versions", status_code=201)
def create_version(
    name: str, body: VersionIn, ctx: Annotated[Ctx, requires("models.write")]
) -> dict[str, Any]:
    """Register a new version (creating the model in ``project`` if it is new)."""
    validate_model_name(name)
    project = ctx.state.gov.project_of("model", name)
    if name not in ctx.state.gov.placements("model"):
        project = body.project
    ctx.authorize(project, "model", name)
    ctx.authorize(ctx.run_project(body.run_id), "run", body.run_id, action="runs.read")
    from keel.server._blobs import require_reference

    require_reference(ctx, body.manifest_digest, "The model manifest")
    fields = body.model_dump()
    fields.pop("project")
    rec = _repo(ctx).create_version(
        NewModelVersion(model_name=name, created_by=ctx.principal.name, **fields)
    )
    ctx.gov.place("model", name, project)
    return _d(rec)


@router.get("/models/{name}/versions/latest")
def get_latest_version(
    name: str, ctx: Annotated[Ctx, requires("models.read", on="model")]
) -> dict[str, Any]:
    """The newest version (declared before ``/versions/{version}``, which it would match)."""
    return _d(RegistryRepository(ctx.state.store).get_latest_version(name))


@router.get("/models/{name}/versions/{version}")
def get_version(
    name: str, version: VersionNumber, ctx: Annotated[Ctx, requires("models.read", on="model")]
) -> dict[str, Any]:
    """One version."""
    return _d(RegistryRepository(ctx.state.store).get_version(name, version))


@router.get("/models/{name}/manifests")
def resolve_manifest(
    name: str,
    ctx: Annotated[Ctx, requires("models.read", on="model")],
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    alias: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, Any]:
    """The version a ``models:/`` URI names (by version, alias, or the latest)."""
    repo = RegistryRepository(ctx.state.store)
    return _d(repo.resolve_manifest(name, version=version, alias=alias))


@router.post("/models/{name}/versions/{version}/metrics")
def add_version_metrics(
    name: str,
    version: VersionNumber,
    body: VersionMetricsIn,
    ctx: Annotated[Ctx, requires("models.write", on="model")],
) -> dict[str, Any]:
    """Record metrics of a version (evaluation results, say)."""
    return {"metrics": _repo(ctx).add_version_metrics(name, version, body.metrics, body.source)}


@router.get("/models/{name}/aliases/{alias}")
def get_version_by_alias(
    name: str, alias: str, ctx: Annotated[Ctx, requires("models.read", on="model")]
) -> dict[str, Any]:
    """The version an alias points at."""
    return _d(RegistryRepository(ctx.state.store).get_version_by_alias(name, alias))


@router.put("/models/{name}/aliases/{alias}")
def set_alias(
    name: str,
    alias: str,
    body: AliasIn,
    ctx: Annotated[Ctx, requires("models.promote", on="model")],
) -> dict[str, Any]:
    """Point an alias at a version without gates (compare-and-set with ``expected_version``)."""
    from keel.registry._uri import validate_alias

    expected = ANY_VERSION if body.any_version else body.expected_version
    rec = _repo(ctx).move_alias(
        name,
        validate_alias(alias),
        body.version,
        expected=expected,
        action="set",
        reason=body.reason,
        actor=ctx.principal.name,
    )
    return _d(rec)


@router.delete("/models/{name}/aliases/{alias}")
def delete_alias(
    name: str,
    alias: str,
    ctx: Annotated[Ctx, requires("models.promote", on="model")],
    reason: Annotated[str, Query(max_length=1000)] = "",
) -> dict[str, Any]:
    """Remove an alias (kept in its history)."""
    rec = _repo(ctx).move_alias(
        name,
        alias,
        None,
        expected=ANY_VERSION,
        action="delete",
        reason=reason,
        actor=ctx.principal.name,
    )
    return _d(rec)


@router.get("/models/{name}/alias-history")
def list_alias_history(
    name: str,
    ctx: Annotated[Ctx, requires("models.read", on="model")],
    alias: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, Any]:
    """Every move of the model's aliases (or one alias), oldest first."""
    moves = RegistryRepository(ctx.state.store).list_alias_history(name, alias)
    return {"moves": [_d(m) for m in moves]}


@router.get("/models/{name}/gates")
def list_gates(
    name: str,
    ctx: Annotated[Ctx, requires("models.read", on="model")],
    alias: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, Any]:
    """The model's promotion gates."""
    return {"gates": [_d(g) for g in RegistryRepository(ctx.state.store).list_gates(name, alias)]}


@router.post("/models/{name}/gates", status_code=201)
def add_gate(
    name: str, body: GateIn, ctx: Annotated[Ctx, requires("policies.write", on="model")]
) -> dict[str, Any]:
    """Add a promotion gate (a policy: project admins)."""
    from keel.registry.gates import gate_from_spec

    gate_from_spec(body.kind, body.spec)  # refuse an unknown kind or a bad spec now
    rec, created = _repo(ctx).add_gate(
        name, body.name, body.kind, body.spec, body.alias, ctx.principal.name
    )
    return {**_d(rec), "created": created}


@router.delete("/models/{name}/gates/{gate_name}")
def remove_gate(
    name: str,
    gate_name: str,
    ctx: Annotated[Ctx, requires("policies.write", on="model")],
    alias: Annotated[str, Query(max_length=128)] = "",
) -> dict[str, Any]:
    """Remove a promotion gate (project admins)."""
    _repo(ctx).remove_gate(name, gate_name, alias)
    return {}


@router.get("/models/{name}/versions/{version}/gate-results")
def list_gate_results(
    name: str, version: VersionNumber, ctx: Annotated[Ctx, requires("models.read", on="model")]
) -> dict[str, Any]:
    """Recorded gate results of a version, newest first."""
    results = RegistryRepository(ctx.state.store).list_gate_results(name, version)
    return {"results": [_d(r) for r in results]}


@router.get("/models/{name}/versions/{version}/approvals")
def list_approvals(
    name: str, version: VersionNumber, ctx: Annotated[Ctx, requires("models.read", on="model")]
) -> dict[str, Any]:
    """Approvals of a version, oldest first."""
    approvals = RegistryRepository(ctx.state.store).list_approvals(name, version)
    return {"approvals": [_d(a) for a in approvals]}


@router.post("/models/{name}/versions/{version}/approvals", status_code=201)
def approve(
    name: str,
    version: VersionNumber,
    body: ApprovalIn,
    ctx: Annotated[Ctx, requires("models.approve", on="model")],
) -> dict[str, Any]:
    """Approve a version as the caller, in a role it holds in the model's project."""
    project = ctx.model_project(name)
    require_role(ctx.principal, body.role, f"approve {name!r} version {version}", project)
    rec, created = _repo(ctx).add_approval(
        name, version, body.role, ctx.principal.name, body.comment
    )
    return {**_d(rec), "created": created}


@router.get("/models/{name}/promotions")
def list_promotions(
    name: str,
    ctx: Annotated[Ctx, requires("models.read", on="model")],
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> dict[str, Any]:
    """Promotion attempts, newest first."""
    records = RegistryRepository(ctx.state.store).list_promotions(name, version)
    return {"promotions": [_d(p) for p in records]}


@contextmanager
def _registry_client(ctx: Ctx) -> Iterator[Any]:
    """A registry client on the server's stores acting as the caller (gates read through it)."""
    from dataclasses import replace

    from keel.registry import RegistryClient
    from keel.tracking import TrackingClient

    tracking = TrackingClient(replace(ctx.state.settings, user=ctx.principal.name))
    try:
        yield RegistryClient(tracking)
    finally:
        tracking.close()


@router.post("/models/{name}/versions/{version}/gate-checks")
def check_gates(
    name: str,
    version: VersionNumber,
    body: PromotionIn,
    ctx: Annotated[Ctx, requires("models.write", on="model")],
) -> dict[str, Any]:
    """Evaluate the gates for promoting a version, here, and record the results (dry run)."""
    from keel.registry._uri import validate_alias
    from keel.registry.models import check_gates_on

    with _registry_client(ctx) as client:
        alias = validate_alias(body.to)
        results = check_gates_on(client, name, version, alias, actor=ctx.principal.name)
    return {"results": [_d(r) for r in results]}


@router.post("/models/{name}/versions/{version}/promotions", status_code=201)
def promote(
    name: str,
    version: VersionNumber,
    body: PromotionIn,
    ctx: Annotated[Ctx, requires("models.promote", on="model")],
) -> dict[str, Any]:
    """Move an alias to a version if every gate passes (gates run here, on the server)."""
    from keel.registry._uri import validate_alias
    from keel.registry.models import promote_on

    with _registry_client(ctx) as client:
        alias = validate_alias(body.to)
        record = promote_on(
            client, name, version, alias, reason=body.reason, actor=ctx.principal.name
        )
    return _d(record)
