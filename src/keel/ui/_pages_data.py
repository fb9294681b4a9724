"""What the pages read beyond runs: run inputs and outputs, the registry, lineage, data, audit."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from keel.errors import PermissionDeniedError
from keel.governance import Principal, has_role
from keel.store import AuditEvent, LineageEdge, SqlMetadataStore
from keel.ui._charts import GraphBox, graph_svg

if TYPE_CHECKING:
    from markupsafe import Markup

    from keel.data._versions import DatasetVersion
    from keel.governance._lineage import LineageGraph
    from keel.store._data import DataRepository
    from keel.store._registry import ModelVersionRecord, RegistryRepository
    from keel.ui._state import UiState

__all__ = [
    "approve",
    "audit_events",
    "card_markdown",
    "data_repo",
    "dataset_version",
    "lineage_graph",
    "models_of_run",
    "node_href",
    "q",
    "recorded_deployments",
    "registry",
    "run_io",
]

_KIND_COLOURS = {
    "run": "#dbeafe",
    "step_run": "#e0f2fe",
    "dataset_version": "#dcfce7",
    "data_validation": "#ecfccb",
    "model_version": "#fde68a",
    "deployment": "#fed7aa",
    "commit": "#e5e7eb",
    "feature_view": "#f3e8ff",
}


def q(text: str, safe: str = "") -> str:
    """Quote a path segment for a URL."""
    return quote(str(text), safe=safe)


def node_href(
    prefix: str, kind: str, ident: str, deployments: set[str] | frozenset[str] = frozenset()
) -> str | None:
    """The UI page of a lineage node, if the UI has one for it.

    A deployment has a page only if it was recorded (``deployments``); serving can log
    predictions under a name no deployment record has.
    """
    if kind == "run" and len(ident) == 32:
        return f"{prefix}/runs/{q(ident)}"
    if kind == "model_version" and "/" in ident:
        name, _, number = ident.rpartition("/")
        if number.isdigit():
            return f"{prefix}/models/{q(name)}/versions/{number}"
    if kind == "deployment" and ident in deployments:
        return f"{prefix}/deployments/{q(ident)}"
    if kind == "monitor":
        return f"{prefix}/monitors/{q(ident)}"
    if kind == "dataset_version" and "@v" in ident:
        name, _, number = ident.rpartition("@v")
        if number.isdigit():
            return f"{prefix}/datasets/{q(name)}/versions/{number}"
    return None


def run_io(store: SqlMetadataStore, run_id: str) -> tuple[list[LineageEdge], list[LineageEdge]]:
    """The lineage edges into a run (its inputs) and out of it (its outputs)."""
    edges = store.list_lineage_edges(("run", run_id))
    inputs = [e for e in edges if (e.target_kind, e.target_id) == ("run", run_id)]
    outputs = [e for e in edges if (e.source_kind, e.source_id) == ("run", run_id)]
    return inputs, outputs


def registry(store: SqlMetadataStore) -> RegistryRepository:
    """The registry's repository over ``store``."""
    from keel.store._registry import RegistryRepository

    return RegistryRepository(store)


def models_of_run(store: SqlMetadataStore, run_id: str) -> list[ModelVersionRecord]:
    """The model versions a run logged."""
    return registry(store).find_versions_by_run(run_id)


def approve(
    state: UiState, principal: Principal, name: str, version: int, role: str, comment: str
) -> None:
    """Record ``principal``'s approval of a version in ``role`` (audited as them).

    Raises:
        PermissionDeniedError: The principal does not hold ``role`` in the model's project.
    """
    project = state.access.project_of("model", name)
    if not has_role(principal, role, project):
        raise PermissionDeniedError(
            f"{principal.name!r} does not hold the role {role!r} in project {project!r}, so it "
            f"may not approve {name!r} version {version} in that role."
        )
    repo = registry(state.store_as(principal.name))
    repo.get_version(name, version)
    repo.add_approval(name, version, role, principal.name, comment)


def card_markdown(state: UiState, name: str, version: int) -> str:
    """The model card of a version, as Markdown."""
    from keel.registry._card import build_card, render
    from keel.registry._client import RegistryClient

    return render(build_card(RegistryClient(state.tracking), name, version), "md")


def recorded_deployments(store: SqlMetadataStore) -> set[str]:
    """The names of the recorded deployments."""
    from keel.store._serving import DeploymentRepository

    return {d.name for d in DeploymentRepository(store).list_deployments()}


def lineage_graph(
    state: UiState, ref: str, direction: str, depth: int, deployments: set[str]
) -> tuple[LineageGraph, Markup]:
    """Walk the lineage graph from ``ref`` over the UI's stores and draw it.

    Every node links to its page. Upstream graphs are drawn with the root on the right, so
    data always flows left to right.
    """
    from keel.governance._lineage import lineage

    prefix = state.prefix
    graph = lineage(ref, direction, depth, store=state.store, artifacts=state.tracking.artifacts)
    deepest = max((n.depth for n in graph.nodes), default=0)
    boxes = []
    for n in graph.nodes:
        page = node_href(prefix, n.kind, n.id, deployments)
        href = page or f"{prefix}/lineage?ref={q(n.key)}&direction={direction}&depth={depth}"
        boxes.append(
            GraphBox(
                key=n.key,
                label=n.id,
                sublabel=n.kind,
                column=deepest - n.depth if direction == "upstream" else n.depth,
                href=href,
                root=n is graph.root,
            )
        )
    edges = [
        (f"{e.source_kind}:{e.source_id}", f"{e.target_kind}:{e.target_id}", e.relation)
        for e in graph.edges
    ]
    svg = graph_svg(
        boxes,
        edges,
        title=f"{direction} lineage of {graph.root.key}",
        colour_of=lambda key: _KIND_COLOURS.get(key.partition(":")[0], "#f1f5f9"),
    )
    return graph, svg


def data_repo(state: UiState) -> DataRepository:
    """The data capability's repository over the UI's store."""
    from keel.store._data import DataRepository

    return DataRepository(state.store)


def dataset_version(state: UiState, name: str, number: int) -> DatasetVersion:
    """A dataset version, able to compute and read its profile."""
    from keel.data._versions import DatasetVersion

    client = state.data_client
    return DatasetVersion(client.repo.get_version(name, number), client)


def audit_events(
    store: SqlMetadataStore, *, actor: str | None, action: str | None, limit: int
) -> list[AuditEvent]:
    """The newest ``limit`` audit events matching, oldest first."""
    from keel.store._governance_reads import GovernanceReads

    return GovernanceReads(store).search_audit_events(actor=actor, action=action, limit=limit)
