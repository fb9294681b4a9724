"""Pages for what runs after training: pipeline runs and their DAG, feature views, monitors.

A pipeline run's DAG is drawn with each step's status, duration and cache hit; the feature
page lists the latest definitions and each view's materializations; a monitor's page charts
its window metrics over time (drift score per feature, latency, quality), draws reference vs
current per feature for the latest window and lists its alerts; a deployment's page charts its
requests, errors and latency over time (see :mod:`keel.ui._monitor_charts`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from keel.ui._charts import GraphBox, graph_svg, line_chart
from keel.ui._handlers import Handler, require

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from keel.store._pipelines import PipelineRunRecord
    from keel.ui._state import UiState

__all__ = ["add_ops_pages", "dag_depths"]

_STEP_COLOURS = {
    "COMPLETED": "#c6f7d0",
    "CACHED": "#d9f99d",
    "FAILED": "#facdcd",
    "RUNNING": "#bae3ff",
    "SKIPPED": "#e4e7eb",
    "KILLED": "#facdcd",
    "PENDING": "#f1f5f9",
}
_MAX_SERIES = 8


def dag_depths(dag: list[dict[str, Any]]) -> dict[str, int]:
    """Each node's column: the length of the longest path from a node with no upstream."""
    deps = {n["name"]: [*n.get("upstream", []), *n.get("after", [])] for n in dag}
    depth: dict[str, int] = {}

    def visit(name: str, seen: frozenset[str]) -> int:
        if name in depth:
            return depth[name]
        parents = [p for p in deps.get(name, []) if p in deps and p not in seen]
        d = 0 if not parents else 1 + max(visit(p, seen | {name}) for p in parents)
        depth[name] = d
        return d

    for name in deps:
        visit(name, frozenset())
    return depth


def _duration(step_or_run: Any) -> float | None:
    start, end = getattr(step_or_run, "start_time", None), getattr(step_or_run, "end_time", None)
    return None if start is None or end is None else (end - start) / 1000


def _dag_svg(prefix: str, run: PipelineRunRecord) -> Any:
    steps = {s.name: s for s in run.steps}
    depths = dag_depths(run.dag)
    boxes = []
    for node in run.dag:
        name = node["name"]
        step = steps.get(name)
        status = "PENDING" if step is None else ("CACHED" if step.cache_hit else step.status)
        secs = None if step is None else (step.wall_time_s or _duration(step))
        sub = status.lower() + ("" if secs is None else f" · {secs:.2f}s")
        href = (
            f"{prefix}/runs/{step.tracked_run_id}" if step and step.tracked_run_id else None
        ) or f"#step-{name}"
        boxes.append(GraphBox(f"step:{name}", name, sub, depths.get(name, 0), href))
    edges = [
        (f"step:{parent}", f"step:{n['name']}", "feeds")
        for n in run.dag
        for parent in [*n.get("upstream", []), *n.get("after", [])]
    ]

    def colour(key: str) -> str:
        step = steps.get(key.partition(":")[2])
        if step is None:
            return "#f1f5f9"
        return _STEP_COLOURS["CACHED" if step.cache_hit else step.status.upper()]

    return graph_svg(
        boxes, edges, title=f"DAG of pipeline run {run.run_id}", colour_of=_safe(colour)
    )


def _safe(fn: Callable[[str], str]) -> Callable[[str], str]:
    def inner(key: str) -> str:
        try:
            return fn(key)
        except KeyError:
            return "#f1f5f9"

    return inner


def _metric_charts(results: list[Any]) -> list[Any]:
    """One chart per metric family (``drift.score.*`` overlays every feature), over time."""
    if not results:
        return []
    t0 = results[0].window_start
    families: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(dict)
    for r in results:
        hours = (r.window_start - t0) / 3_600_000
        for key, value in r.metrics.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            family, _, rest = key.rpartition(".")
            family = family or key
            families[family].setdefault(rest or key, []).append((hours, float(value)))
    charts = []
    for family in sorted(families):
        shown: dict[str, Sequence[tuple[float, float]]] = dict(
            sorted(families[family].items())[:_MAX_SERIES]
        )
        charts.append(line_chart(shown, title=family, x_label="hours since first window"))
    return charts


def add_ops_pages(router: APIRouter, state: UiState, page: Callable[[Handler], Handler]) -> None:
    """Add the pipeline, feature and monitor pages to ``router``."""

    @router.get("/pipelines", response_class=HTMLResponse)
    @page
    async def pipelines(request: Request) -> Response:
        require(state, request, "runs.read")
        from keel.store._pipelines import PipelineRepository

        runs = PipelineRepository(state.store).list_runs(limit=100)
        return state.render(
            request, "pipelines.html", title="Pipeline runs", runs=runs, duration=_duration
        )

    @router.get("/pipelines/runs/{run_id}", response_class=HTMLResponse)
    @page
    async def pipeline_run(request: Request, run_id: str) -> Response:
        require(state, request, "runs.read")
        from keel.store._pipelines import PipelineRepository

        run = PipelineRepository(state.store).get_run(run_id)
        return state.render(
            request,
            "pipeline_run.html",
            title=f"Pipeline run of {run.pipeline}",
            run=run,
            svg=_dag_svg(state.prefix, run),
            duration=_duration,
        )

    @router.get("/features", response_class=HTMLResponse)
    @page
    async def features(request: Request) -> Response:
        require(state, request, "datasets.read")
        from keel.store._features import FeatureRepository

        repo = FeatureRepository(state.store)
        definitions = repo.latest_definitions()
        materializations = repo.list_materializations(limit=200)
        last: dict[str, Any] = {}
        for m in materializations:  # newest first
            last.setdefault(m.view_name, m)
        return state.render(
            request,
            "features.html",
            title="Feature views",
            definitions=definitions,
            last=last,
            materializations=materializations[:50],
        )

    @router.get("/deployments", response_class=HTMLResponse)
    @page
    async def deployments(request: Request) -> Response:
        require(state, request, "models.read")
        from keel.store._serving import DeploymentRepository

        found = [
            d
            for d in DeploymentRepository(state.store).list_deployments()
            if state.access.can(request, "models.read", "model", d.spec.model_name)
        ]
        return state.render(request, "deployments.html", title="Deployments", deployments=found)

    @router.get("/deployments/{name}", response_class=HTMLResponse)
    @page
    async def deployment(request: Request, name: str) -> Response:
        from keel.store._monitoring import MonitoringRepository
        from keel.store._serving import DeploymentRepository

        repo = DeploymentRepository(state.store)
        record = repo.get_deployment(name)
        require(state, request, "models.read", "model", record.spec.model_name)
        monitoring = MonitoringRepository(state.store)
        monitors = [m for m in monitoring.list_monitors() if m.deployment == name]
        firing = {
            m.name: [a.check_name for a in monitoring.alert_states(m.id) if a.state == "firing"]
            for m in monitors
        }
        from keel.ui._monitor_charts import traffic

        return state.render(
            request,
            "deployment.html",
            title=f"Deployment {name}",
            deployment=record,
            events=list(reversed(repo.list_events(name)))[:50],
            monitors=monitors,
            firing=firing,
            traffic=traffic(state, name),
        )

    @router.get("/monitors", response_class=HTMLResponse)
    @page
    async def monitors(request: Request) -> Response:
        require(state, request, "models.read")
        from keel.store._monitoring import MonitoringRepository

        repo = MonitoringRepository(state.store)
        found = repo.list_monitors()
        latest = {m.id: next(iter(repo.list_results(m.id, limit=1)), None) for m in found}
        return state.render(
            request, "monitors.html", title="Monitors", monitors=found, latest=latest
        )

    @router.get("/monitors/{name}/results/{result_id}/report", response_class=HTMLResponse)
    @page
    async def monitor_report(request: Request, name: str, result_id: str) -> Response:
        require(state, request, "models.read")
        from keel.errors import NotFoundError
        from keel.store._monitoring import MonitoringRepository

        repo = MonitoringRepository(state.store)
        record = repo.get_monitor(name)
        found = [r for r in repo.list_results(record.id) if r.id == result_id]
        if not found or not found[0].report_digest:
            raise NotFoundError(
                f"Monitor {name!r} has no window {result_id!r} with a stored report. Open the "
                "monitor's page for its windows.",
                details={"monitor": name, "result_id": result_id},
            )
        body = state.tracking.artifacts.get_bytes(found[0].report_digest)
        # The stored report (reference vs current per feature) is shown as it was written,
        # sandboxed: it can run nothing with the UI's origin or cookies.
        return Response(
            body,
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"},
        )

    @router.get("/monitors/{name}", response_class=HTMLResponse)
    @page
    async def monitor(request: Request, name: str) -> Response:
        require(state, request, "models.read")
        from keel.store._monitoring import MonitoringRepository

        repo = MonitoringRepository(state.store)
        record = repo.get_monitor(name)
        from keel.ui._monitor_charts import feature_charts
        from keel.ui._pages_data import recorded_deployments

        recorded = recorded_deployments(state.store)
        results = repo.list_results(record.id, limit=500)
        events = repo.list_events(record.id, limit=1000)[-100:]
        newest_first = list(reversed(results))
        charted, features = feature_charts(
            state, newest_first, request.query_params.get("window") or None
        )
        return state.render(
            request,
            "monitor.html",
            title=f"Monitor {name}",
            monitor=record,
            deployment_recorded=record.deployment in recorded,
            results=newest_first,
            charts=_metric_charts(results),
            charted=charted,
            features=features,
            events=list(reversed(events)),
        )
