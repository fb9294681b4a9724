"""REST routes over tracking: experiments, runs, params, metrics, tags, artifacts, lineage."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from keel._utils import validate_key
from keel.artifacts import normalize_artifact_path
from keel.errors import ArtifactPathError, InvalidArgumentError, NotFoundError
from keel.governance import DEFAULT_PROJECT
from keel.server._context import Ctx, KeelRouter, requires
from keel.store import ArtifactEntry, Experiment, NewRun, Run, RunInfo, RunStatus

__all__ = ["router", "run_to_dict"]

router = KeelRouter(prefix="/api/v1")


# -- bodies ---------------------------------------------------------------------------------


class ExperimentIn(BaseModel):
    """A new experiment, in a project (``default`` when not given)."""

    name: str = Field(min_length=1, max_length=256)
    description: str = ""
    project: str = DEFAULT_PROJECT


class RunIn(BaseModel):
    """A new run and what its client captured about its environment."""

    experiment_id: str = Field(min_length=1, max_length=64)
    name: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    parent_run_id: str | None = None
    source: str | None = None
    git_commit: str | None = Field(default=None, max_length=64)
    git_dirty: bool | None = None
    python_version: str | None = Field(default=None, max_length=64)
    environment_digest: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    hostname: str | None = Field(default=None, max_length=256)
    pid: int | None = Field(default=None, ge=0, le=2**31 - 1)
    process_start: float | None = None
    start_time: int | None = Field(default=None, ge=0, le=2**63 - 1)


#: A 64-bit integer, as the database columns hold.
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]

#: ``[run_id, key, value, step, timestamp]``; ``value`` may be NaN or an infinity.
MetricPointIn = tuple[str, str, float, Int64, Int64]


class RunEndIn(BaseModel):
    """The end of a run, with buffered metric points written in the same transaction."""

    status: RunStatus = RunStatus.FINISHED
    end_time: int | None = Field(default=None, ge=0, le=2**63 - 1)
    wall_time_s: float | None = None
    cpu_time_s: float | None = None
    peak_rss_bytes: int | None = Field(default=None, ge=0, le=2**63 - 1)
    metrics: list[MetricPointIn] = Field(default_factory=list)


class ParamsIn(BaseModel):
    """Params to record."""

    params: dict[str, str]


class TagsIn(BaseModel):
    """Tags to set."""

    tags: dict[str, str]


class MetricsIn(BaseModel):
    """Metric points of one run: ``[key, value, step, timestamp]`` each."""

    points: list[tuple[str, float, Int64, Int64]] = Field(max_length=1_000_000)


class SearchIn(BaseModel):
    """A run search."""

    experiment_ids: list[str] = Field(min_length=1, max_length=1000)
    filter: str | None = Field(default=None, max_length=10_000)
    order_by: list[str] | None = None
    max_results: int = Field(default=1000, ge=1, le=100_000)
    page_token: str | None = Field(default=None, max_length=1000)


class ArtifactIn(BaseModel):
    """A file of a run, already uploaded as a blob."""

    path: str = Field(min_length=1, max_length=1024)
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class ArtifactsIn(BaseModel):
    """Files to record in a run's namespace."""

    entries: list[ArtifactIn] = Field(max_length=100_000)


class NodeIn(BaseModel):
    """A node of the lineage graph."""

    kind: str = Field(min_length=1, max_length=64)
    id: str = Field(min_length=1, max_length=512)


class EdgeIn(BaseModel):
    """A lineage edge ``source -> target``."""

    source: NodeIn
    target: NodeIn
    relation: str = Field(min_length=1, max_length=64)
    properties: dict[str, Any] = Field(default_factory=dict)


# -- conversions ----------------------------------------------------------------------------


def _experiment(exp: Experiment, project: str) -> dict[str, Any]:
    return {**dataclasses.asdict(exp), "project": project}


def _info(info: RunInfo) -> dict[str, Any]:
    out = dataclasses.asdict(info)
    out["status"] = str(info.status)
    return out


def run_to_dict(run: Run) -> dict[str, Any]:
    """A run as JSON: ``{"info": ..., "data": {"metrics", "params", "tags"}}``."""
    return {"info": _info(run.info), "data": dataclasses.asdict(run.data)}


# -- experiments ----------------------------------------------------------------------------


@router.post("/experiments", status_code=201)
def create_experiment(
    body: ExperimentIn, ctx: Annotated[Ctx, requires("experiments.write")]
) -> dict[str, Any]:
    """Create an experiment in a project."""
    ctx.authorize(body.project, "project", body.project)
    # Created and placed in one transaction: never visible in another project meanwhile.
    exp = ctx.gov.repo.create_experiment_in(body.project, body.name, body.description)
    return _experiment(exp, body.project)


@router.get("/experiments")
def list_experiments(
    ctx: Annotated[Ctx, requires("experiments.read")],
    name: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    """List the experiments in projects the caller can read (optionally by exact name)."""
    ctx.listing()
    placed = ctx.state.gov.placements("experiment")
    out = []
    for exp in ctx.state.store.list_experiments():
        project = placed.get(exp.id, DEFAULT_PROJECT)
        if (name is None or exp.name == name) and ctx.can(project):
            out.append(_experiment(exp, project))
    counts = ctx.state.store.count_runs([e["id"] for e in out]) if out else {}
    for e in out:
        e["run_count"] = counts.get(e["id"], 0)
    return {"experiments": out}


@router.get("/experiments/{experiment_id}")
def get_experiment(
    experiment_id: str, ctx: Annotated[Ctx, requires("experiments.read", on="experiment")]
) -> dict[str, Any]:
    """Get an experiment by id."""
    project = ctx.state.gov.project_of("experiment", experiment_id)
    return _experiment(ctx.state.store.get_experiment(experiment_id), project)


# -- runs -----------------------------------------------------------------------------------


@router.post("/runs", status_code=201)
def create_run(body: RunIn, ctx: Annotated[Ctx, requires("runs.write")]) -> dict[str, Any]:
    """Start a run in an experiment."""
    ctx.authorize(ctx.experiment_project(body.experiment_id), "experiment", body.experiment_id)
    if body.parent_run_id is not None:
        ctx.authorize(ctx.run_project(body.parent_run_id), "run", body.parent_run_id)
    if body.environment_digest:
        from keel.server._blobs import require_reference  # _blobs imports this module

        require_reference(ctx, body.environment_digest, "environment_digest")
    info = ctx.store.create_run(NewRun(user=ctx.principal.name, **body.model_dump()))
    return _info(info)


@router.get("/runs")
def find_runs(
    ctx: Annotated[Ctx, requires("runs.read")],
    prefix: Annotated[str, Query(min_length=1, max_length=32)],
) -> dict[str, Any]:
    """Find runs whose id starts with ``prefix`` (in projects the caller can read)."""
    ctx.listing()
    ids = [i for i in ctx.state.store.find_runs(prefix) if ctx.can(ctx.run_project(i))]
    return {"run_ids": ids}


@router.post("/runs/search")
def search_runs(body: SearchIn, ctx: Annotated[Ctx, requires("runs.read")]) -> dict[str, Any]:
    """Search runs of experiments with the filter language of ``keel.search_runs``."""
    for exp_id in body.experiment_ids:
        ctx.authorize(ctx.experiment_project(exp_id), "experiment", exp_id)
    runs, token = ctx.state.store.search_runs(
        body.experiment_ids, body.filter, body.order_by, body.max_results, body.page_token
    )
    return {"runs": [run_to_dict(r) for r in runs], "next_page_token": token}


@router.get("/runs/{run_id}")
def get_run(run_id: str, ctx: Annotated[Ctx, requires("runs.read", on="run")]) -> dict[str, Any]:
    """Get a run with its latest metrics, params and tags."""
    return run_to_dict(ctx.state.store.get_run(run_id))


def _check_points_runs(ctx: Ctx, run_ids: set[str]) -> None:
    for rid in run_ids:
        ctx.authorize(ctx.run_project(rid), "run", rid)


@router.patch("/runs/{run_id}")
def end_run(
    run_id: str, body: RunEndIn, ctx: Annotated[Ctx, requires("runs.write", on="run")]
) -> dict[str, Any]:
    """End a run, writing the given metric points in the same transaction."""
    _check_points_runs(ctx, {p[0] for p in body.metrics} - {run_id})
    for point in body.metrics:
        validate_key("metric", point[1])
    ctx.store.end_run(
        run_id,
        body.status,
        end_time=body.end_time,
        wall_time_s=body.wall_time_s,
        cpu_time_s=body.cpu_time_s,
        peak_rss_bytes=body.peak_rss_bytes,
        metrics=list(body.metrics),
    )
    return _info(ctx.state.store.get_run_info(run_id))


@router.post("/runs/{run_id}/params")
def log_params(
    run_id: str, body: ParamsIn, ctx: Annotated[Ctx, requires("runs.write", on="run")]
) -> dict[str, Any]:
    """Record params (immutable: another value for a key is refused)."""
    ctx.store.log_params(run_id, body.params)
    return {}


@router.post("/runs/{run_id}/tags")
def set_tags(
    run_id: str, body: TagsIn, ctx: Annotated[Ctx, requires("runs.write", on="run")]
) -> dict[str, Any]:
    """Set tags."""
    ctx.store.set_tags(run_id, body.tags)
    return {}


@router.post("/runs/{run_id}/metrics")
def log_metrics(
    run_id: str, body: MetricsIn, ctx: Annotated[Ctx, requires("runs.write", on="run")]
) -> dict[str, Any]:
    """Append a batch of metric points in one transaction."""
    for key, *_ in body.points:
        validate_key("metric", key)
    ctx.store.log_metrics([(run_id, k, v, s, t) for k, v, s, t in body.points])
    return {"points": len(body.points)}


class MetricBatchIn(BaseModel):
    """Metric points of any runs, written in one transaction."""

    points: list[MetricPointIn] = Field(max_length=1_000_000)


@router.post("/metric-batches")
def log_metric_batch(
    body: MetricBatchIn, ctx: Annotated[Ctx, requires("runs.write")]
) -> dict[str, Any]:
    """Append points of several runs in one transaction (what a client's buffer flushes).

    A run that does not exist fails the whole batch with ``not-found`` naming the run.
    """
    _check_points_runs(ctx, {p[0] for p in body.points})
    ctx.listing()  # every run was checked above (an empty batch writes nothing)
    for point in body.points:
        validate_key("metric", point[1])
    ctx.store.log_metrics(list(body.points))
    return {"points": len(body.points)}


@router.get("/runs/{run_id}/metrics/{key}")
def get_metric_history(
    run_id: str, key: str, ctx: Annotated[Ctx, requires("runs.read", on="run")]
) -> dict[str, Any]:
    """Every point of one metric of a run."""
    history = ctx.state.store.get_metric_history(run_id, key)
    return {"metrics": [dataclasses.asdict(m) for m in history]}


# -- artifacts ------------------------------------------------------------------------------


@router.get("/runs/{run_id}/artifacts")
def list_artifacts(
    run_id: str,
    ctx: Annotated[Ctx, requires("artifacts.read", on="run")],
    prefix: Annotated[str, Query(max_length=1024)] = "",
) -> dict[str, Any]:
    """List a run's files under ``prefix``."""
    entries = ctx.state.store.list_artifacts(run_id, safe_artifact_path(prefix))
    return {"artifacts": [dataclasses.asdict(e) for e in entries]}


@router.post("/runs/{run_id}/artifacts")
def add_artifacts(
    run_id: str, body: ArtifactsIn, ctx: Annotated[Ctx, requires("artifacts.write", on="run")]
) -> dict[str, Any]:
    """Record files in a run's namespace; their blobs must be uploaded already, by the caller.

    Naming a digest is not enough: the caller must be able to read the blob already or have
    sent its bytes (see :func:`keel.server._blobs.may_reference`), so a known digest cannot be
    used to copy someone else's file into a run one can read.
    """
    from keel.server._blobs import require_reference  # _blobs imports this module

    entries = []
    for e in body.entries:
        path = safe_artifact_path(e.path)
        if not path:
            raise InvalidArgumentError(f"Artifact path {e.path!r} names no file.")
        require_reference(ctx, e.digest, repr(e.path))
        try:
            size = ctx.state.artifacts.size(e.digest)
        except NotFoundError as exc:
            raise InvalidArgumentError(
                f"Blob {e.digest!r} of {e.path!r} is not uploaded; PUT it to "
                f"/api/v1/blobs/{e.digest} first.",
                details={"digest": e.digest},
            ) from exc
        if size != e.size:
            raise InvalidArgumentError(
                f"{e.path!r}: blob {e.digest!r} has {size} bytes, not {e.size}.",
                details={"digest": e.digest},
            )
        entries.append(ArtifactEntry(path, e.digest, e.size))
    ctx.store.add_artifacts(run_id, entries)
    return {"artifacts": [dataclasses.asdict(e) for e in entries]}


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def safe_artifact_path(path: str) -> str:
    """Normalize an artifact path from a request, also refusing URI-like paths (``file:...``).

    Raises:
        ArtifactPathError: The path is absolute, escapes the run's namespace, or has a scheme.
    """
    norm = normalize_artifact_path(path)
    if _SCHEME.match(norm):
        raise ArtifactPathError(
            f"Artifact path {path!r} looks like a URI; an artifact path is relative to the "
            "run's namespace, such as 'model/weights.bin'.",
            details={"path": path},
        )
    return norm


def _find_artifact(ctx: Ctx, run_id: str, path: str) -> ArtifactEntry:
    norm = safe_artifact_path(path)
    for entry in ctx.state.store.list_artifacts(run_id, norm):
        if entry.path == norm:
            return entry
    raise NotFoundError(
        f"Run {run_id!r} has no artifact {norm!r}.", details={"run_id": run_id, "path": norm}
    )


@router.get("/runs/{run_id}/artifacts/{path:path}")
def download_artifact(
    run_id: str, path: str, ctx: Annotated[Ctx, requires("artifacts.read", on="run")]
) -> StreamingResponse:
    """Stream one file of a run (clients verify it against the ``X-Keel-Digest`` header)."""
    entry = _find_artifact(ctx, run_id, path)
    from keel.server._blobs import stream_blob

    return stream_blob(ctx, entry.digest)


@router.put("/runs/{run_id}/artifacts/{path:path}")
async def upload_artifact(
    run_id: str,
    path: str,
    request: Request,
    ctx: Annotated[Ctx, requires("artifacts.write", on="run")],
) -> dict[str, Any]:
    """Upload one file of a run as a streamed body (``application/octet-stream``)."""
    norm = safe_artifact_path(path)
    if not norm:
        raise InvalidArgumentError(f"Artifact path {path!r} names no file.")
    digest, size = await receive_to_store(ctx, request, None)
    entry = ArtifactEntry(norm, digest, size)
    await run_in_threadpool(ctx.store.add_artifacts, run_id, [entry])
    return dataclasses.asdict(entry)


async def receive_to_store(ctx: Ctx, request: Request, expected: str | None) -> tuple[str, int]:
    """Stream the request body into a temp file, hashing it, then into the artifact store.

    Raises:
        InvalidArgumentError: ``expected`` is given and the bytes hash to something else.
    """
    h = hashlib.sha256()
    size = 0
    fd, name = tempfile.mkstemp(prefix="keel-upload-")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                h.update(chunk)
                size += len(chunk)
                out.write(chunk)
        digest = h.hexdigest()
        if expected is not None and digest != expected:
            # The client's claim is wrong (400), not the store's bytes (IntegrityError is 500).
            raise InvalidArgumentError(
                f"The uploaded bytes hash to {digest!r}, not {expected!r}: they were changed in "
                "transit or the digest is wrong. Nothing was stored.",
                details={"expected": expected, "actual": digest},
            )
        stored, _ = await run_in_threadpool(ctx.state.artifacts.put_file, tmp)
        return stored, size
    finally:
        tmp.unlink(missing_ok=True)


# -- lineage --------------------------------------------------------------------------------


def _node_project(ctx: Ctx, kind: str, ident: str) -> str | None:
    """The project of a lineage node Keel places in projects; ``None`` for any other node."""
    if kind == "run":
        return ctx.run_project(ident)
    if kind == "experiment":
        return ctx.experiment_project(ident)
    if kind in ("model", "model_version"):
        name = ident.split("/")[0] if kind == "model_version" else ident
        # A model not registered yet (an output named ahead of registration) has no project.
        return ctx.state.gov.placements("model").get(name)
    return None


@router.post("/lineage-edges", status_code=201)
def add_lineage_edge(body: EdgeIn, ctx: Annotated[Ctx, requires("runs.write")]) -> dict[str, Any]:
    """Add ``source -> target``: the caller must write one end and read the other."""
    ends = [(n, _node_project(ctx, n.kind, n.id)) for n in (body.source, body.target)]
    placed = [(n, p) for n, p in ends if p is not None]
    if not placed:  # neither end is in a project: only server administrators
        ctx.authorize(None, "lineage", "", action="server.admin")
    elif not any(ctx.can(p) for _, p in placed):
        node, project = placed[0]
        ctx.authorize(project, node.kind, node.id)  # raises, naming the role needed
    for node, project in placed:
        ctx.authorize(project, node.kind, node.id, action="runs.read")
    ctx.store.add_lineage_edge(
        (body.source.kind, body.source.id),
        (body.target.kind, body.target.id),
        body.relation,
        body.properties,
    )
    return {}


@router.get("/lineage-edges")
def list_lineage_edges(
    ctx: Annotated[Ctx, requires("runs.read")],
    kind: Annotated[str, Query(min_length=1, max_length=64)],
    id: Annotated[str, Query(min_length=1, max_length=512)],
    direction: Annotated[str, Query(pattern="^(upstream|downstream|both)$")] = "both",
) -> dict[str, Any]:
    """The edges around a run, experiment, model or model version the caller can read."""
    project = _node_project(ctx, kind, id)
    if project is None:
        ctx.authorize(None, "lineage", "", action="server.admin")
    else:
        ctx.authorize(project, kind, id)
    edges = ctx.state.store.list_lineage_edges((kind, id), direction)
    return {"edges": [dataclasses.asdict(e) for e in edges]}
