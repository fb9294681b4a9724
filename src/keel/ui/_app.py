"""The pages of the web UI, as one FastAPI router, and the app ``keel ui`` serves.

Every page is rendered on the server (Jinja2) and checks its action with the principal hook
of :mod:`keel.ui._access` before it reads anything; a page the principal may not see answers
403. Charts are inline SVG (:mod:`keel.ui._charts`); the only script is ``static/ui.js``.
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from keel._version import __version__
from keel.config import Settings, get_settings, require_embedded
from keel.errors import (
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from keel.store import Run
from keel.ui import _pages_data as data
from keel.ui._access import PrincipalHook, embedded_principal
from keel.ui._charts import bar_chart, line_chart
from keel.ui._handlers import page_wrapper, require
from keel.ui._ops import add_ops_pages
from keel.ui._queries import ATTRIBUTE_SORTS, column_keys, runs_page
from keel.ui._state import UiState

__all__ = ["create_ui_app", "create_ui_router", "serve_ui"]

_STATIC = Path(__file__).parent / "static"
_STATIC_FILES = {p.name for p in _STATIC.iterdir() if p.is_file()} if _STATIC.exists() else set()
_PAGE_SIZES = (25, 50, 100, 250)
_PREVIEW_BYTES = 256 * 1024
_TEXT_SUFFIXES = {".txt", ".log", ".md", ".csv", ".yaml", ".yml", ".py", ".toml", ".ini", ".html"}
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}
_INLINE_TYPES = {
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "text/plain",
    "text/csv",
    "application/json",
}


def create_ui_router(
    settings: Settings | None = None,
    *,
    principal: PrincipalHook | None = None,
    prefix: str = "",
    csrf_secret: bytes | None = None,
) -> APIRouter:
    """Build the UI's pages as a router to include in an app.

    Args:
        settings: Where the stores are (the current settings by default).
        principal: Returns the principal of a request; every request is the local
            administrator by default (``keel ui``).
        prefix: The path the router is included under (``""``: at the root), used in links.
        csrf_secret: The key that signs form tokens; random per process by default (give
            one shared key when several worker processes serve the UI).

    Returns:
        The router; include it with ``app.include_router(router, prefix=prefix)``.

    Raises:
        InvalidArgumentError: The settings point at a remote server (the UI reads a store).
    """
    settings = settings or get_settings()
    require_embedded(settings, "the web UI")
    state = UiState(settings, principal or embedded_principal(settings.user), prefix)
    if csrf_secret is not None:
        state.access.secret = csrf_secret
    router = APIRouter(include_in_schema=False)
    page = page_wrapper(state)

    @router.get("/", response_class=HTMLResponse)
    @page
    async def home(request: Request) -> Response:
        require(state, request, "experiments.read")
        experiments = state.store.list_experiments()
        counts = state.store.count_runs([e.id for e in experiments])
        visible = [
            e for e in experiments if state.access.can(request, "runs.read", "experiment", e.id)
        ]
        return state.render(
            request, "experiments.html", title="Experiments", experiments=visible, counts=counts
        )

    @router.get("/experiments/{experiment_id}", response_class=HTMLResponse)
    @page
    async def experiment(request: Request, experiment_id: str) -> Response:
        require(state, request, "runs.read", "experiment", experiment_id)
        exp = state.store.get_experiment(experiment_id)
        q = request.query_params
        metric_keys, param_keys = column_keys(state.store, experiment_id)
        chosen_metrics = _chosen(q.getlist("metric"), metric_keys, 4)
        chosen_params = _chosen(q.getlist("param"), param_keys, 4)
        metric_keys = sorted({*metric_keys, *chosen_metrics})
        param_keys = sorted({*param_keys, *chosen_params})
        filter_text = q.get("filter", "").strip() or None
        sort = q.get("sort", "start")
        desc = q.get("dir", "desc") != "asc"
        order_by = _order_by(sort, desc)
        size = _int(q.get("size"), 50)
        size = size if size in _PAGE_SIZES else 50
        error = None
        try:
            result = runs_page(
                state.store,
                experiment_id,
                filter_text=filter_text,
                order_by=order_by,
                page=_int(q.get("page"), 1),
                page_size=size,
            )
        except InvalidArgumentError as exc:
            error = exc.message
            result = runs_page(
                state.store,
                experiment_id,
                filter_text=None,
                order_by=None,
                page=1,
                page_size=size,
            )
        base_query: list[tuple[str, str]] = [("filter", filter_text or "")]
        base_query += [("metric", m) for m in chosen_metrics]
        base_query += [("param", p) for p in chosen_params]
        base_query += [("size", str(size))]
        return state.render(
            request,
            "runs.html",
            title=f"Runs of {exp.name}",
            experiment=exp,
            page=result,
            metric_keys=metric_keys,
            param_keys=param_keys,
            chosen_metrics=chosen_metrics,
            chosen_params=chosen_params,
            filter_text=filter_text or "",
            sort=sort,
            desc=desc,
            size=size,
            sizes=_PAGE_SIZES,
            error=error,
            base_query=base_query,
        )

    @router.get("/runs/{run_id}", response_class=HTMLResponse)
    @page
    async def run_page(request: Request, run_id: str) -> Response:
        run = state.store.get_run(run_id)
        require(state, request, "runs.read", "experiment", run.info.experiment_id)
        exp = state.store.get_experiment(run.info.experiment_id)
        charts = [
            line_chart(
                {key: [(m.step, m.value) for m in state.store.get_metric_history(run_id, key)]},
                title=key,
            )
            for key in sorted(run.data.metrics)
        ]
        artifacts = state.store.list_artifacts(run_id)
        preview_path = request.query_params.get("preview")
        preview = _preview(state, run_id, preview_path) if preview_path else None
        inputs, outputs = data.run_io(state.store, run_id)
        return state.render(
            request,
            "run.html",
            title=f"Run {run.info.name}",
            run=run,
            experiment=exp,
            charts=charts,
            artifacts=artifacts,
            preview=preview,
            preview_path=preview_path,
            inputs=inputs,
            outputs=outputs,
            models=data.models_of_run(state.store, run_id),
            node_href=lambda kind, ident: data.node_href(state.prefix, kind, ident),
        )

    @router.get("/runs/{run_id}/artifacts/{path:path}")
    @page
    async def artifact(request: Request, run_id: str, path: str) -> Response:
        info = state.store.get_run_info(run_id)
        require(state, request, "artifacts.read", "experiment", info.experiment_id)
        body = state.tracking.read_artifact(run_id, path)
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        # Stored files never run in the UI's origin: only types that cannot carry script are
        # shown inline, the rest (HTML, SVG, XML, ...) download; all of them sandboxed.
        headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}
        if kind not in _INLINE_TYPES:
            headers["Content-Disposition"] = "attachment"
            kind = "application/octet-stream"
        return Response(body, media_type=kind, headers=headers)

    @router.get("/compare", response_class=HTMLResponse)
    @page
    async def compare(request: Request) -> Response:
        ids = [i for i in request.query_params.getlist("run") if i]
        if len(ids) < 2:
            raise InvalidArgumentError(
                f"Compare needs at least two runs, got {len(ids)}. Tick two runs in an "
                "experiment's table and press Compare."
            )
        runs: list[Run] = []
        for rid in ids[:8]:
            r = state.store.get_run(rid)
            require(state, request, "runs.read", "experiment", r.info.experiment_id)
            runs.append(r)
        metric_keys = sorted({k for r in runs for k in r.data.metrics})
        param_keys = sorted({k for r in runs for k in r.data.params})
        charts = [
            line_chart(
                {
                    f"{r.info.name}": [
                        (m.step, m.value) for m in state.store.get_metric_history(r.info.id, key)
                    ]
                    for r in runs
                    if key in r.data.metrics
                },
                title=key,
            )
            for key in metric_keys
        ]
        diff = [
            (k, [r.data.params.get(k) for r in runs], len({r.data.params.get(k) for r in runs}) > 1)
            for k in param_keys
        ]
        return state.render(
            request,
            "compare.html",
            title="Compare runs",
            runs=runs,
            charts=charts,
            metric_keys=metric_keys,
            diff=diff,
            only_changed=request.query_params.get("changed") == "1",
        )

    # -- registry -----------------------------------------------------------------------------

    @router.get("/models", response_class=HTMLResponse)
    @page
    async def models(request: Request) -> Response:
        found = [
            m
            for m in data.registry(state.store).list_models()
            if state.access.can(request, "models.read", "model", m.name)
        ]
        return state.render(request, "models.html", title="Models", models=found)

    @router.get("/models/{name}", response_class=HTMLResponse)
    @page
    async def model(request: Request, name: str) -> Response:
        require(state, request, "models.read", "model", name)
        repo = data.registry(state.store)
        record = repo.get_model(name)
        return state.render(
            request,
            "model.html",
            title=f"Model {name}",
            model=record,
            versions=repo.list_versions(name),
            gates=repo.list_gates(name),
            history=repo.list_alias_history(name)[-20:],
        )

    @router.get("/models/{name}/versions/{version}", response_class=HTMLResponse)
    @page
    async def model_version(request: Request, name: str, version: int) -> Response:
        require(state, request, "models.read", "model", name)
        repo = data.registry(state.store)
        mv = repo.get_version(name, version)
        gates = repo.list_gates(name)
        approval_roles = sorted(
            {"approver"}
            | {str(g.spec.get("role", "approver")) for g in gates if g.kind == "approval"}
        )
        return state.render(
            request,
            "model_version.html",
            title=f"Model {name} version {version}",
            mv=mv,
            gates=gates,
            results=repo.list_gate_results(name, version)[:50],
            approvals=repo.list_approvals(name, version),
            promotions=repo.list_promotions(name, version)[:20],
            approval_roles=approval_roles,
            notice=request.query_params.get("notice"),
        )

    @router.post("/models/{name}/versions/{version}/approve")
    @page
    async def approve(request: Request, name: str, version: int) -> Response:
        form = await _form(request)
        token = request.headers.get("x-csrf-token") or (form.get("csrf") or [""])[0]
        if not state.access.csrf_ok(request, token):
            raise PermissionDeniedError(
                "The form's CSRF token is missing or not this server's. Reload the page and "
                "submit the form again."
            )
        require(state, request, "models.approve", "model", name)
        role = (form.get("role") or ["approver"])[0]
        comment = (form.get("comment") or [""])[0][:1000]
        principal = state.access.principal(request)
        data.approve(state, principal, name, version, role, comment)
        target = state.url(f"/models/{data.q(name)}/versions/{version}?notice=approved")
        return RedirectResponse(target, status_code=303)

    @router.get("/models/{name}/versions/{version}/card", response_class=HTMLResponse)
    @page
    async def model_card(request: Request, name: str, version: int) -> Response:
        require(state, request, "models.read", "model", name)
        text = data.card_markdown(state, name, version)
        return state.render(
            request,
            "card.html",
            title=f"Model card of {name} v{version}",
            text=text,
            name=name,
            version=version,
        )

    # -- lineage, data, audit -----------------------------------------------------------------

    @router.get("/lineage", response_class=HTMLResponse)
    @page
    async def lineage_page(request: Request) -> Response:
        require(state, request, "runs.read")
        q = request.query_params
        ref = q.get("ref", "").strip()
        direction = q.get("direction", "upstream")
        depth = _int(q.get("depth"), 4)
        graph = svg = None
        error = None
        deployments = data.recorded_deployments(state.store)
        if ref:
            try:
                graph, svg = data.lineage_graph(state, ref, direction, depth, deployments)
            except (InvalidArgumentError, NotFoundError) as exc:
                error = exc.message
        return state.render(
            request,
            "lineage.html",
            title=f"Lineage of {ref}" if ref else "Lineage",
            ref=ref,
            direction=direction,
            depth=depth,
            graph=graph,
            svg=svg,
            error=error,
            node_href=lambda kind, ident: data.node_href(state.prefix, kind, ident, deployments),
        )

    @router.get("/datasets", response_class=HTMLResponse)
    @page
    async def datasets(request: Request) -> Response:
        require(state, request, "datasets.read")
        return state.render(
            request,
            "datasets.html",
            title="Datasets",
            datasets=data.data_repo(state).list_datasets(),
        )

    @router.get("/datasets/{name}", response_class=HTMLResponse)
    @page
    async def dataset(request: Request, name: str) -> Response:
        require(state, request, "datasets.read")
        repo = data.data_repo(state)
        record = repo.get_dataset(name)
        return state.render(
            request,
            "dataset.html",
            title=f"Dataset {name}",
            dataset=record,
            versions=list(reversed(repo.list_versions(name))),
        )

    @router.get("/datasets/{name}/versions/{number}", response_class=HTMLResponse)
    @page
    async def dataset_version(request: Request, name: str, number: int) -> Response:
        require(state, request, "datasets.read")
        version = data.dataset_version(state, name, number)
        profile = version.profile
        charts = []
        for col in profile.columns:
            if col.histogram and col.histogram.get("counts"):
                edges = col.histogram.get("edges") or col.histogram.get("bins") or []
                counts = [float(c) for c in col.histogram["counts"]]
                labels = [f"{_edge(edges, i)} to {_edge(edges, i + 1)}" for i in range(len(counts))]
                axis = (_edge(edges, 0), _edge(edges, len(counts)))
                chart = bar_chart(labels, counts, title=f"{col.name} histogram", axis=axis)
                charts.append((col.name, chart))
            elif col.top_values:
                labels = [str(v[0]) for v in col.top_values[:20]]
                counts = [float(v[1]) for v in col.top_values[:20]]
                charts.append((col.name, bar_chart(labels, counts, title=f"{col.name} top values")))
        from keel.data._store import list_validations

        return state.render(
            request,
            "dataset_version.html",
            title=f"Dataset {version.ref}",
            version=version,
            profile=profile,
            charts=charts,
            validations=list_validations(version, limit=20),
        )

    @router.get("/audit", response_class=HTMLResponse)
    @page
    async def audit(request: Request) -> Response:
        require(state, request, "server.admin")
        q = request.query_params
        actor = q.get("actor", "").strip() or None
        action = q.get("action", "").strip() or None
        limit = min(max(_int(q.get("limit"), 100), 1), 1000)
        events = data.audit_events(state.store, actor=actor, action=action, limit=limit)
        return state.render(
            request,
            "audit.html",
            title="Audit log",
            events=list(reversed(events)),
            verification=state.store.verify_audit_chain(),
            actor=actor or "",
            action=action or "",
            limit=limit,
            dumps=lambda d: json.dumps(d, sort_keys=True, default=str)[:300],
        )

    @router.get("/static/{name}")
    async def static(name: str) -> Response:
        if name not in _STATIC_FILES:
            return Response("not found", status_code=404, media_type="text/plain")
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return Response(
            (_STATIC / name).read_bytes(),
            media_type=kind,
            headers={"Cache-Control": "max-age=3600"},
        )

    add_ops_pages(router, state, page)
    router.state = state  # type: ignore[attr-defined]
    return router


async def _form(request: Request) -> dict[str, list[str]]:
    """The POSTed fields: a form (``keel ui`` without JavaScript) or a JSON object.

    ``static/ui.js`` posts forms as JSON, which servers that refuse form posts (as ``keel
    server`` does, against cross-site requests) accept.
    """
    body = (await request.body()).decode("utf-8", "replace")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            raw = json.loads(body or "{}")
        except ValueError as exc:
            raise InvalidArgumentError(f"The request body is not JSON: {exc}.") from exc
        if not isinstance(raw, dict):
            raise InvalidArgumentError("The request body must be a JSON object of form fields.")
        return {str(k): [str(v)] for k, v in raw.items() if v is not None}
    return parse_qs(body)


def _edge(edges: list[Any], i: int) -> str:
    if i < len(edges):
        v = edges[i]
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    return str(i)


def _int(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw is not None else default
    except ValueError:
        return default


def _chosen(asked: list[str], known: list[str], default_n: int) -> list[str]:
    if asked:
        # Keys outside the sampled ones are kept: older runs may have them.
        return [k for k in dict.fromkeys(asked) if k and len(k) <= 250][:20]
    return known[:default_n]


def _order_by(sort: str, desc: bool) -> str:
    direction = "DESC" if desc else "ASC"
    if sort in ATTRIBUTE_SORTS:
        return f"{ATTRIBUTE_SORTS[sort]} {direction}"
    entity, _, key = sort.partition(":")
    if entity in ("metric", "param") and key:
        return f"{entity}s.`{key}` {direction}"
    return f"attributes.start_time {direction}"


def _preview(state: UiState, run_id: str, path: str) -> dict[str, Any]:
    suffix = Path(path).suffix.lower()
    src = state.url(f"/runs/{run_id}/artifacts/{data.q(path, safe='/')}")
    if suffix in _IMAGE_SUFFIXES and suffix != ".svg":
        return {"kind": "image", "src": src}
    body = state.tracking.read_artifact(run_id, path)
    if suffix == ".json":
        try:
            return {"kind": "json", "text": json.dumps(json.loads(body), indent=2)[:_PREVIEW_BYTES]}
        except ValueError:
            pass
    if suffix in _TEXT_SUFFIXES or suffix == ".json" or _looks_textual(body):
        text = body[:_PREVIEW_BYTES].decode("utf-8", "replace")
        return {"kind": "text", "text": text, "truncated": len(body) > _PREVIEW_BYTES}
    return {"kind": "binary", "src": src, "size": len(body)}


def _looks_textual(body: bytes) -> bool:
    head = body[:2048]
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def create_ui_app(
    settings: Settings | None = None, *, principal: PrincipalHook | None = None
) -> FastAPI:
    """Build the app of ``keel ui``: the UI's router at ``/`` over the store of ``settings``.

    Args:
        settings: Where the stores are (the current settings by default).
        principal: The principal hook; the local administrator by default.
    """
    app = FastAPI(
        title="Keel UI", version=__version__, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.include_router(create_ui_router(settings, principal=principal))
    return app


def serve_ui(host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the UI under uvicorn until interrupted.

    Args:
        host: Address to bind.
        port: Port to bind.
    """
    import uvicorn

    uvicorn.run(create_ui_app(), host=host, port=port, log_level="info", access_log=False)
