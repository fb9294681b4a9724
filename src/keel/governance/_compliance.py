"""Compliance reports: the technical documentation of one model version, from the store.

A report is the version's model card (:mod:`keel.registry._card`: summary, intended use,
training run, parameters, training data with validation, metrics, signature, gates, approvals,
promotions, libraries, files) extended with what governance knows across capabilities:

* the full upstream lineage (datasets and their versions, validations, features, pipeline
  steps, code commit) instead of the card's one-hop edge list;
* every validation of every dataset version upstream;
* monitoring: the deployments serving the version, their monitors, the latest window's checks
  and drift figures, alert states and recent alerts, with a small inline SVG chart per monitor;
* the resources the training used;
* the audit trail of the version, its registered model and its training run.

It renders as Markdown or as one self-contained HTML page (inline CSS and SVG, no scripts, no
external resources), through the card's renderer.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from typing import TYPE_CHECKING, Any, cast

from keel.errors import KeelError

if TYPE_CHECKING:
    from keel.artifacts import ArtifactStore
    from keel.governance._lineage import LineageGraph
    from keel.registry import RegistryClient
    from keel.registry._card import Card, Section
    from keel.registry._manifest import Manifest
    from keel.store import SqlMetadataStore

__all__ = ["compliance_report", "render_compliance_report"]

#: The most audit events a report lists (newest kept).
AUDIT_LIMIT = 500


def _when(ms: int | None) -> str:
    if not ms:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def _short(props: dict[str, Any]) -> str:
    skip = {"validations", "metrics", "source"}
    parts = []
    for k, v in props.items():
        if k in skip or v in (None, "", [], {}):
            continue
        text = v if isinstance(v, str) else _num(v) if isinstance(v, (int, float)) else str(v)
        parts.append(f"{k}={text}")
    return ", ".join(parts)[:300]


class _StoreRegistry:
    """What :func:`~keel.registry._card.build_card` reads, over given stores."""

    def __init__(self, store: SqlMetadataStore, artifacts: ArtifactStore | None) -> None:
        from keel.store._registry import RegistryRepository

        self.store = store
        self.repo = RegistryRepository(store)
        self._artifacts = artifacts

    @property
    def artifacts(self) -> ArtifactStore:
        if self._artifacts is None:
            from keel.tracking import get_client

            self._artifacts = get_client().artifacts
        return self._artifacts

    def read_manifest(self, manifest_digest: str) -> Manifest:
        from keel.registry._manifest import Manifest

        return Manifest.from_json(self.artifacts.get_bytes(manifest_digest))


def compliance_report(
    name: str,
    version: int,
    *,
    store: SqlMetadataStore | None = None,
    artifacts: ArtifactStore | None = None,
) -> Card:
    """Build the compliance report of model ``name`` version ``version``.

    Args:
        name: The registered model.
        version: The version number.
        store: The metadata store to read; the process's (:func:`keel.registry.get_registry`)
            by default. A server or the UI passes its own.
        artifacts: The artifact store holding the model's manifest and the prediction log;
            the process's by default.

    Returns:
        A :class:`~keel.registry._card.Card` to render with :func:`render_compliance_report`.

    Raises:
        NotFoundError: The model or version does not exist.

    Examples:
        >>> card = keel.governance.compliance_report("churn", 4)  # doctest: +SKIP
        >>> html = keel.governance.render_compliance_report(card, "html")  # doctest: +SKIP
    """
    from keel.governance._lineage import lineage
    from keel.registry._card import build_card

    client: RegistryClient
    if store is None:
        from keel.registry import get_registry

        client = get_registry()
        store = client.store
    else:
        client = cast("RegistryClient", _StoreRegistry(store, artifacts))
    mv = client.repo.get_version(name, version)
    card = build_card(client, name, version)
    card.title = f"Compliance report: {name} v{mv.version}"
    graph = lineage(f"models:/{name}/{mv.version}", "upstream", store=store, artifacts=artifacts)
    extra: list[Section] = [
        _lineage_section(graph),
        _validation_section(graph),
        _features_section(graph),
    ]
    extra += _monitoring_sections(store, name, mv.version)
    extra.append(_resources_section(store, mv.run_id))
    extra.append(_audit_section(store, name, mv.version, mv.run_id))
    # The card's one-hop lineage table is superseded by the full walk; libraries and files
    # stay last, as appendices.
    at = next((i for i, s in enumerate(card.sections) if s.title == "Lineage"), None)
    if at is None:
        card.sections += extra
    else:
        card.sections[at : at + 1] = extra
    return card


def render_compliance_report(card: Card, format: str = "html") -> str:
    """Render a compliance report as ``html`` (self-contained) or ``md``.

    Raises:
        InvalidArgumentError: Another format was asked for.
    """
    from keel.registry._card import render

    text = render(card, format)
    if format == "html":
        # Charts are SVG kept in sections' text as markers: swap them in after escaping.
        for i, svg in enumerate(_charts(card)):
            text = text.replace(html.escape(_chart_marker(i)), svg)
        text = text.replace("<p><figure>", "<figure>").replace("</figure></p>", "</figure>")
    else:
        for i, _ in enumerate(_charts(card)):
            text = text.replace(_chart_marker(i), "(chart in the HTML report)")
    return text


# -- sections ------------------------------------------------------------------------------


def _lineage_section(graph: LineageGraph) -> Section:
    from keel.registry._card import Section

    rows = []
    for e in graph.edges:
        far = graph.node(e.source_kind, e.source_id)
        rows.append(
            [
                str(far.depth),
                far.key,
                e.relation + (" (derived)" if e.properties.get("derived") else ""),
                f"{e.target_kind}:{e.target_id}",
                _short(far.properties),
            ]
        )
    return Section(
        "Data and its lineage",
        text="Everything this version was built from, walked upstream through the lineage "
        "graph: datasets and their versions, validations, features, pipeline steps, runs and "
        "the code commit." + (" The walk stopped at its size limit." if graph.truncated else ""),
        header=["depth", "from", "relation", "to", "details"],
        table=rows,
    )


def _validation_section(graph: LineageGraph) -> Section:
    from keel.registry._card import Section

    rows = []
    for node in graph.of_kind("dataset_version"):
        for v in node.properties.get("validations", []):
            rows.append(
                [
                    node.id,
                    v["suite"],
                    "passed" if v["passed"] else "FAILED",
                    str(v["failed_checks"]),
                    str(v["when"]),
                ]
            )
        if not node.properties.get("validations"):
            rows.append([node.id, "-", "never validated", "-", "-"])
    return Section(
        "Data validation",
        text="" if rows else "No dataset version is upstream of this model.",
        header=["dataset version", "suite", "result", "failed checks", "when"] if rows else [],
        table=rows,
    )


def _features_section(graph: LineageGraph) -> Section:
    from keel.registry._card import Section

    kinds = ("feature_service", "feature_view", "entity", "feature_materialization")
    rows = [[n.kind, n.id] for k in kinds for n in graph.of_kind(k)]
    return Section(
        "Features",
        text="" if rows else "The training records no feature views or services as inputs.",
        header=["kind", "name and version"] if rows else [],
        table=rows,
    )


def _monitoring_sections(store: Any, name: str, version: int) -> list[Section]:
    from keel.registry._card import Section
    from keel.store._governance_reads import GovernanceReads
    from keel.store._monitoring import MonitoringRepository

    reads = GovernanceReads(store)
    ref = f"{name}/{version}"
    deployments: dict[str, str] = {}
    for e in store.list_lineage_edges(("model_version", ref), "downstream"):
        if e.target_kind == "deployment":
            deployments[e.target_id] = f"since {_when(e.created_at)}"
    for served in reads.deployments_serving(name, version):
        deployments[served.deployment] = (
            f"{served.rows:,} predictions logged, {_when(served.first_time)} to "
            f"{_when(served.last_time)}"
        )
    sections = [
        Section(
            "Deployments",
            text=""
            if deployments
            else "This version is not deployed, and no predictions of it were logged.",
            header=["deployment", "serving"] if deployments else [],
            table=[[d, s] for d, s in sorted(deployments.items())],
        )
    ]
    repo = MonitoringRepository(store)
    monitors = [m for m in repo.list_monitors() if m.deployment in deployments]
    rows: list[list[str]] = []
    alerts: list[list[str]] = []
    charts: list[str] = []
    for m in monitors:
        results = repo.list_results(m.id, limit=30)
        if results:
            last = results[-1]
            failed = [c.get("name", "?") for c in last.checks if c.get("passed") is False]
            rows.append(
                [
                    m.name,
                    m.deployment,
                    f"{_when(last.window_start)} .. {_when(last.window_end)}",
                    "passed" if last.status == "ok" else f"FAILED ({last.status})",
                    ", ".join(failed) or "-",
                    _drift_summary(last.metrics),
                ]
            )
            svg = _chart_svg(m.name, results)
            if svg:
                charts.append(svg)
        else:
            rows.append([m.name, m.deployment, "no window evaluated yet", "-", "-", "-"])
        for state in repo.alert_states(m.id):
            if state.state != "ok":
                alerts.append([m.name, state.check_name, state.state, _when(state.since_window)])
        for ev in repo.list_events(monitor_id=m.id)[-10:]:
            alerts.append([m.name, ev.check_name, ev.kind, _when(ev.created_at)])
    text = "" if monitors else "No monitor watches a deployment of this version."
    if charts:
        text += " ".join(_chart_marker(i) for i in range(len(charts)))
    section = Section(
        "Monitoring",
        text=text,
        header=["monitor", "deployment", "latest window", "checks", "failing", "drift"]
        if rows
        else [],
        table=rows,
    )
    section.charts = charts  # type: ignore[attr-defined]
    sections.append(section)
    sections.append(
        Section(
            "Alerts",
            text="" if alerts else "No alert is firing and none has fired.",
            header=["monitor", "check", "state or event", "when"] if alerts else [],
            table=alerts,
        )
    )
    return sections


def _drift_summary(metrics: dict[str, Any]) -> str:
    items = []
    for key, value in sorted(metrics.items()):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            items.append(f"{key}={_num(float(value))}")
    return ", ".join(items[:6]) + (" ..." if len(items) > 6 else "") if items else "-"


def _resources_section(store: Any, run_id: str) -> Section:
    from keel.registry._card import Section

    try:
        info = store.get_run_info(run_id)
    except KeelError:
        return Section("Resources", text="The training run is no longer in the store.")
    rows = [
        ("Wall time", "-" if info.wall_time_s is None else f"{info.wall_time_s:.2f} s"),
        ("CPU time", "-" if info.cpu_time_s is None else f"{info.cpu_time_s:.2f} s"),
        (
            "Peak memory",
            "-" if info.peak_rss_bytes is None else f"{info.peak_rss_bytes / 2**20:.1f} MiB",
        ),
        ("Host", info.hostname or "-"),
    ]
    return Section("Resources", rows=rows)


def _audit_section(store: Any, name: str, version: int, run_id: str) -> Section:
    from keel.registry._card import Section
    from keel.store._governance_reads import GovernanceReads

    reads = GovernanceReads(store)
    ref = f"{name}/{version}"
    events = reads.search_audit_events(
        resources=[("model_version", ref), ("run", run_id), ("registered_model", name)],
        limit=AUDIT_LIMIT,
    )
    rows = []
    for ev in events:
        if ev.resource_kind == "registered_model" and not _about_version(ev.details, version):
            continue
        details = ", ".join(f"{k}={v}" for k, v in sorted(ev.details.items()))[:240]
        rows.append(
            [
                str(ev.id),
                _when(ev.timestamp),
                ev.actor,
                ev.action,
                f"{ev.resource_kind}:{ev.resource_id}",
                details or "-",
            ]
        )
    chain = store.verify_audit_chain()
    verdict = (
        f"The audit chain verifies: {chain.events_checked} events, none altered."
        if chain.ok
        else f"FAILED: the audit chain is broken at event {chain.first_bad_event_id}: "
        f"{chain.reason}."
    )
    return Section(
        "Audit trail",
        text=verdict,
        header=["event", "when", "who", "action", "resource", "details"] if rows else [],
        table=rows,
    )


def _about_version(details: dict[str, Any], version: int) -> bool:
    """Whether a registered-model event concerns ``version`` (or every version: a gate)."""
    for key in ("version", "to_version", "from_version", "previous_version"):
        if key in details and str(details[key]) == str(version):
            return True
    return "gate" in details or "gate_name" in details


# -- charts --------------------------------------------------------------------------------


def _chart_marker(i: int) -> str:
    return f"[[keel-chart-{i}]]"


def _charts(card: Card) -> list[str]:
    out: list[str] = []
    for s in card.sections:
        out += getattr(s, "charts", [])
    return out


def _chart_svg(title: str, results: list[Any]) -> str:
    """A small inline SVG: the share of failing checks per window (0 at the bottom)."""
    values = []
    for r in results:
        checks = [c for c in r.checks if c.get("passed") is not None]
        failing = sum(1 for c in checks if c.get("passed") is False)
        values.append(failing / len(checks) if checks else 0.0)
    if len(values) < 2:
        return ""
    w, h, pad = 480, 90, 6
    step = (w - 2 * pad) / (len(values) - 1)
    points = " ".join(
        f"{pad + i * step:.1f},{h - pad - v * (h - 2 * pad):.1f}" for i, v in enumerate(values)
    )
    label = html.escape(f"{title}: share of failing checks per window, last {len(values)}")
    return (
        f'<figure><svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'role="img" aria-label="{label}"><rect width="{w}" height="{h}" fill="#f6f8fb"/>'
        f'<polyline fill="none" stroke="#cf222e" stroke-width="2" points="{points}"/></svg>'
        f"<figcaption>{label}</figcaption></figure>"
    )
