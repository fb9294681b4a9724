"""Lineage queries: walk the one lineage graph upstream or downstream from any object.

Every capability writes its edges into the ``lineage_edges`` table; this module reads them and
fills in what the table implies but does not hold as an edge:

* a run's code commit (``commit -> run``, from the run's git commit) and its parent run
  (``run -> run``, ``parent_of``: a pipeline step's tracked run is a child of the pipeline run);
* the model version that answered a prediction batch (``model_version -> prediction_batch``)
  and the versions a deployment served (``model_version -> deployment``), from the prediction
  log's segments, when serving did not record them as edges;
* a single prediction (``prediction_batch -> prediction``), found by its id in the segments'
  Parquet files with DuckDB.

Such edges carry ``properties["derived"]`` saying where they came from. Node kinds written
today: ``run``, ``step_run``, ``artifact``, ``dataset_version``, ``data_validation``,
``entity``, ``feature_view``, ``feature_service``, ``feature_materialization``,
``model_version``, ``deployment``, ``prediction_batch``, ``monitor``, ``monitor_result``,
``report``, ``drift_profile``, ``batch_prediction``, ``prompt_version``, ``llm_evaluation``,
``trace_batch``; plus the derived ``commit`` and ``prediction``. Any other kind a
user records with ``keel.log_input(kind, id)`` is walked the same way.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidArgumentError, KeelError, NotFoundError, near_matches
from keel.store import LineageEdge
from keel.store._runids import resolve_run_prefix

if TYPE_CHECKING:
    from keel.artifacts import ArtifactStore
    from keel.store import SqlMetadataStore
    from keel.store._governance_reads import GovernanceReads, SegmentRef

__all__ = ["NODE_KINDS", "LineageGraph", "LineageNode", "lineage", "parse_lineage_ref"]

#: Node kinds Keel writes, and what each is.
NODE_KINDS: dict[str, str] = {
    "run": "a tracked run (a pipeline run is one too)",
    "step_run": "one step of a pipeline run",
    "artifact": "a content-addressed blob (a step's input or output)",
    "dataset_version": "a dataset version, name@vN",
    "data_validation": "a validation of a dataset version by a suite",
    "entity": "a feature entity, name@vN",
    "feature_view": "a feature view, name@vN",
    "feature_service": "a feature service, name@vN",
    "feature_materialization": "a load of a feature view into the online store",
    "model_version": "a registered model version, name/N",
    "deployment": "a serving deployment, by name",
    "prediction_batch": "a segment of a deployment's prediction log",
    "prediction": "one served prediction, by prediction id",
    "monitor": "a monitor of a deployment",
    "monitor_result": "a monitor's evaluation of one window",
    "report": "a stored report (HTML or JSON)",
    "drift_profile": "a reference profile for drift statistics",
    "batch_prediction": "a batch scoring job's output",
    "prompt_version": "a registered prompt version, name/N",
    "llm_evaluation": "an evaluation of prompts or models",
    "trace_batch": "a segment of an LLM trace log",
    "commit": "a git commit of the code a run ran",
}

#: Shorter spellings accepted in references (``dataset:tx@v3``, ``model:churn/4``).
_ALIASES = {
    "dataset": "dataset_version",
    "model": "model_version",
    "models": "model_version",
    "step": "step_run",
    "validation": "data_validation",
    "blob": "artifact",
    "batch": "prediction_batch",
    "segment": "prediction_batch",
    "pipeline_run": "run",
}

_DIRECTIONS = ("upstream", "downstream")
#: A walk stops adding nodes past this many (a busy deployment has many prediction batches).
MAX_NODES = 5000


@dataclass
class LineageNode:
    """A node of a lineage graph.

    Attributes:
        kind: The node kind (a key of :data:`NODE_KINDS`, or a user's own kind).
        id: Its id within the kind (``churn/4``, ``tx@v3``, a run id).
        depth: How many edges away from the graph's root it was first reached.
        properties: What the store knows about it (status, rows, validation results, ...).
    """

    kind: str
    id: str
    depth: int = 0
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """``kind:id``, the node's name in :meth:`LineageGraph.to_dict`."""
        return f"{self.kind}:{self.id}"

    def to_dict(self) -> dict[str, Any]:
        """Return the node as a JSON-ready dict."""
        return {
            "key": self.key,
            "kind": self.kind,
            "id": self.id,
            "depth": self.depth,
            "properties": _jsonable(self.properties),
        }


@dataclass
class LineageGraph:
    """The part of the lineage graph reached from one root in one direction.

    Attributes:
        root: The node the walk started from.
        direction: ``"upstream"`` (what it came from) or ``"downstream"`` (what came from it).
        depth: The most edges walked from the root (``None``: no limit).
        nodes: Every node reached, root first, in the order reached.
        edges: Every edge walked, each ``source -> target`` as stored.
        truncated: The walk stopped at :data:`MAX_NODES` nodes.
    """

    root: LineageNode
    direction: str
    depth: int | None
    nodes: list[LineageNode] = field(default_factory=list)
    edges: list[LineageEdge] = field(default_factory=list)
    truncated: bool = False

    def node(self, kind: str, id: str) -> LineageNode:
        """Return the node ``kind:id``.

        Raises:
            NotFoundError: The graph does not hold it.
        """
        for n in self.nodes:
            if n.kind == kind and n.id == id:
                return n
        raise NotFoundError(
            f"The lineage graph of {self.root.key!r} has no node {kind}:{id}.",
            details={"kind": kind, "id": id},
        )

    def of_kind(self, kind: str) -> list[LineageNode]:
        """Return the nodes of one kind, in the order reached."""
        return [n for n in self.nodes if n.kind == kind]

    def children(self, node: LineageNode) -> list[tuple[LineageEdge, LineageNode]]:
        """Return the edges leaving ``node`` away from the root, with the node at the far end."""
        by_key = {n.key: n for n in self.nodes}
        out = []
        for e in self.edges:
            if self.direction == "upstream" and (e.target_kind, e.target_id) == (
                node.kind,
                node.id,
            ):
                far = by_key.get(f"{e.source_kind}:{e.source_id}")
            elif self.direction == "downstream" and (e.source_kind, e.source_id) == (
                node.kind,
                node.id,
            ):
                far = by_key.get(f"{e.target_kind}:{e.target_id}")
            else:
                continue
            if far is not None:
                out.append((e, far))
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return the graph as a JSON-ready dict: root, direction, depth, nodes and edges."""
        return {
            "root": self.root.key,
            "direction": self.direction,
            "depth": self.depth,
            "truncated": self.truncated,
            "nodes": [n.to_dict() for n in self.nodes],
            "edges": [
                {
                    "source": f"{e.source_kind}:{e.source_id}",
                    "target": f"{e.target_kind}:{e.target_id}",
                    "relation": e.relation,
                    "created_at": e.created_at,
                    "properties": _jsonable(e.properties),
                }
                for e in self.edges
            ],
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# -- the stores ----------------------------------------------------------------------------


class _Context:
    """The stores and repositories one walk reads, opened once.

    Args:
        store: The metadata store to read; the process's (:func:`keel.tracking.get_client`)
            by default.
        artifacts: The artifact store prediction logs are read from; the process's by default
            (or, with ``store`` given and no ``artifacts``, the process's artifact store too).
    """

    def __init__(
        self, store: SqlMetadataStore | None = None, artifacts: ArtifactStore | None = None
    ) -> None:
        from keel.store._data import DataRepository
        from keel.store._governance_reads import GovernanceReads
        from keel.store._registry import RegistryRepository

        if store is None:
            from keel.tracking import get_client

            store = get_client().store
        self.store: SqlMetadataStore = store
        self._artifacts = artifacts
        self.reads: GovernanceReads = GovernanceReads(self.store)
        self.registry = RegistryRepository(self.store)
        self.data = DataRepository(self.store)
        self.predictions: dict[str, dict[str, Any]] = {}
        self.experiments: dict[str, str] = {}

    @property
    def artifacts(self) -> ArtifactStore:
        if self._artifacts is None:
            from keel.tracking import get_client

            self._artifacts = get_client().artifacts
        return self._artifacts

    def local_blob(self, digest: str) -> Path:
        """A local file with the blob's verified bytes, for DuckDB to read."""
        from keel.artifacts import LocalArtifactStore, blob_key
        from keel.config import get_settings

        store = self.artifacts
        if isinstance(store, LocalArtifactStore):
            store.get_bytes(digest)  # raises NotFoundError / IntegrityError on a bad blob
            return store.root / blob_key(digest)
        path = get_settings().home / "cache" / "governance" / blob_key(digest)
        if not path.exists():
            store.download(digest, path)
        return path

    def resolve_run_id(self, run_id: str) -> str:
        """Expand a unique prefix of a run id into the full id."""
        return resolve_run_prefix(self.store, run_id)


# -- references ----------------------------------------------------------------------------


def parse_lineage_ref(ref: str) -> tuple[str, str]:
    """Split a reference into ``(kind, id)`` without looking anything up.

    Accepted: ``models:/name/N``, ``models:/name@alias``, ``runs:/RUN_ID``, and
    ``kind:id`` for any kind of :data:`NODE_KINDS` or its short form (``dataset:tx@v3``,
    ``model:churn/4``, ``prediction:ID``, ``deployment:churn-prod``, ``run:ID``).

    Raises:
        InvalidArgumentError: The reference has no ``kind:`` prefix, or an unknown kind.
    """
    if not isinstance(ref, str) or ":" not in ref:
        raise InvalidArgumentError(
            f"Lineage reference {ref!r} needs a kind: write 'kind:id', such as "
            "'models:/churn/4', 'dataset:transactions@v3', 'run:RUN_ID', 'prediction:ID' or "
            "'deployment:churn-prod'."
        )
    if ref.startswith("models:/"):
        return "model_version", ref[len("models:/") :]
    if ref.startswith("runs:/"):
        return "run", ref[len("runs:/") :].split("/")[0]
    kind, _, ident = ref.partition(":")
    kind = _ALIASES.get(kind, kind)
    if not ident:
        raise InvalidArgumentError(f"Lineage reference {ref!r} has no id after {kind + ':'!r}.")
    if kind not in NODE_KINDS:
        known = sorted({*NODE_KINDS, *_ALIASES})
        raise InvalidArgumentError(
            f"Unknown lineage node kind {kind!r} in {ref!r}.{near_matches(kind, known)} "
            f"Known kinds: {', '.join(sorted(NODE_KINDS))}."
        )
    return kind, ident


def _resolve(ctx: _Context, ref: str) -> tuple[str, str]:
    """Turn a reference into the exact node it names (versions, aliases and prefixes resolved)."""
    kind, ident = parse_lineage_ref(ref)
    if kind == "model_version":
        name, version, alias = _split_model(ident)
        if alias is not None:
            mv = ctx.registry.get_version_by_alias(name, alias)
        elif version is None:
            mv = ctx.registry.get_latest_version(name)
        else:
            mv = ctx.registry.get_version(name, version)
        return "model_version", mv.ref
    if kind == "dataset_version":
        name, _, v = ident.partition("@")
        number = None if v in ("", "latest") else _version_number(v, ref)
        return "dataset_version", ctx.data.get_version(name, number).ref
    if kind == "run":
        return "run", ctx.resolve_run_id(ident)
    if kind == "prediction":
        _find_prediction(ctx, ident)
        return kind, ident
    if kind == "deployment":
        if not ctx.store.list_lineage_edges((kind, ident)) and not ctx.reads.list_segments(
            deployment=ident
        ):
            known = sorted(
                {
                    *ctx.reads.list_deployment_names(),
                }
            )
            raise NotFoundError(
                f"No deployment {ident!r} appears in the lineage graph or the prediction log."
                f"{near_matches(ident, known)}"
                + (f" Known deployments: {', '.join(known[:10])}." if known else ""),
                details={"deployment": ident},
            )
        return kind, ident
    if not ctx.store.list_lineage_edges((kind, ident)):
        raise NotFoundError(
            f"{kind}:{ident} has no edges in the lineage graph: nothing was recorded about it. "
            "Check the id (lineage ids are exact).",
            details={"kind": kind, "id": ident},
        )
    return kind, ident


def _version_number(text: str, ref: str) -> int:
    digits = text[1:] if text.startswith("v") else text
    if not digits.isdigit():
        raise InvalidArgumentError(
            f"{ref!r}: {text!r} is not a version; write 'name@vN', 'name@N' or 'name@latest'."
        )
    return int(digits)


def _split_model(ident: str) -> tuple[str, int | None, str | None]:
    if "@" in ident:
        name, _, alias = ident.partition("@")
        return name, None, alias
    name, _, v = ident.partition("/")
    if v in ("", "latest"):
        return name, None, None
    if not v.isdigit():
        raise InvalidArgumentError(
            f"Model reference {ident!r}: {v!r} is not a version number; write "
            "'models:/name/N', 'models:/name@alias' or 'models:/name/latest'."
        )
    return name, int(v), None


# -- predictions ---------------------------------------------------------------------------


def _find_prediction(ctx: _Context, prediction_id: str) -> dict[str, Any]:
    """Find one prediction in the prediction log's Parquet segments (DuckDB over the files).

    Raises:
        NotFoundError: No segment holds that prediction id.
    """
    if prediction_id in ctx.predictions:
        return ctx.predictions[prediction_id]
    import duckdb

    from keel.data._engine import literal

    segments = ctx.reads.list_segments()
    by_path: dict[str, SegmentRef] = {}
    for seg in segments:
        try:
            by_path[str(ctx.local_blob(seg.digest))] = seg
        except KeelError:
            continue  # a missing or damaged segment cannot hold the answer we can trust
    row = None
    if by_path:
        paths = "[" + ", ".join(literal(p) for p in by_path) + "]"
        con = duckdb.connect(":memory:")
        try:
            row = con.execute(
                'SELECT filename, epoch_ms("timestamp") AS ts, CAST(prediction AS VARCHAR), '
                f"error FROM read_parquet({paths}, filename = true, union_by_name = true) "
                f"WHERE prediction_id = {literal(prediction_id)} LIMIT 1"
            ).fetchone()
        finally:
            con.close()
    if row is None:
        raise NotFoundError(
            f"No logged prediction has id {prediction_id!r} (searched {len(by_path)} "
            "prediction-log segments). Prediction ids are the 'prediction_id' values serving "
            "returns and logs.",
            details={"prediction_id": prediction_id},
        )
    seg = by_path[str(row[0])]
    found = {
        "segment": seg,
        "timestamp": _iso(int(row[1])) if row[1] is not None else None,
        "prediction": row[2],
        "error": bool(row[3]) if row[3] is not None else False,
    }
    ctx.predictions[prediction_id] = found
    return found


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat(timespec="milliseconds")


# -- the walk ------------------------------------------------------------------------------


def _derived(kind: str, ident: str, relation: str, props: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "id": ident, "relation": relation, "properties": props}


def _edges(ctx: _Context, node: tuple[str, str], direction: str) -> list[LineageEdge]:
    """Stored edges around ``node`` in ``direction``, plus the ones the store implies."""
    kind, ident = node
    edges = [] if kind == "prediction" else ctx.store.list_lineage_edges(node, direction)
    extra: list[LineageEdge] = []
    stored_sources = {(e.source_kind, e.source_id) for e in edges}
    stored_targets = {(e.target_kind, e.target_id) for e in edges}
    if direction == "upstream":
        if kind == "prediction":
            seg = _find_prediction(ctx, ident)["segment"]
            extra.append(
                LineageEdge(
                    "prediction_batch",
                    seg.id,
                    kind,
                    ident,
                    "contains",
                    seg.end_time,
                    {"derived": "prediction log"},
                )
            )
        elif kind == "prediction_batch":
            for seg in ctx.reads.list_segments(segment_id=ident):
                mv = _model_node(seg.model_name, seg.model_version)
                if mv is not None and mv not in stored_sources:
                    extra.append(
                        LineageEdge(
                            *mv,
                            kind,
                            ident,
                            "served",
                            seg.end_time,
                            {"derived": "prediction log"},
                        )
                    )
        elif kind == "deployment":
            for name, version in ctx.reads.models_served_by(ident):
                mv = _model_node(name, version)
                if mv is not None and mv not in stored_sources:
                    extra.append(
                        LineageEdge(
                            *mv, kind, ident, "deployed_to", 0, {"derived": "prediction log"}
                        )
                    )
        elif kind == "run":
            try:
                info = ctx.store.get_run_info(ident)
            except NotFoundError:
                info = None
            if info is not None and info.git_commit:
                extra.append(
                    LineageEdge(
                        "commit",
                        info.git_commit,
                        kind,
                        ident,
                        "code",
                        info.start_time,
                        {"derived": "run", "source": info.source, "dirty": info.git_dirty},
                    )
                )
            if info is not None and info.parent_run_id:
                parent = ("run", info.parent_run_id)
                if parent not in stored_sources:
                    extra.append(
                        LineageEdge(
                            *parent, kind, ident, "parent_of", info.start_time, {"derived": "run"}
                        )
                    )
    elif kind == "run":
        for child in ctx.reads.child_run_ids(ident):
            if ("run", child) not in stored_targets:
                extra.append(
                    LineageEdge(kind, ident, "run", child, "parent_of", 0, {"derived": "run"})
                )
    elif kind == "model_version":
        name, _, version = ident.rpartition("/")
        if version.isdigit():
            for served in ctx.reads.deployments_serving(name, int(version)):
                target = ("deployment", served.deployment)
                if target not in stored_targets:
                    extra.append(
                        LineageEdge(
                            kind,
                            ident,
                            *target,
                            "deployed_to",
                            served.first_time,
                            {"derived": "prediction log", "rows": served.rows},
                        )
                    )
    return edges + extra


def _model_node(name: str | None, version: str | None) -> tuple[str, str] | None:
    if not name or version is None:
        return None
    v = str(version).removeprefix("v")
    return ("model_version", f"{name}/{v}") if v.isdigit() else None


def lineage(
    ref: str,
    direction: str = "upstream",
    depth: int | None = None,
    *,
    store: SqlMetadataStore | None = None,
    artifacts: ArtifactStore | None = None,
) -> LineageGraph:
    """Walk the lineage graph from ``ref`` and return what was reached.

    Args:
        ref: What to start from: ``models:/churn/4`` (or ``@alias``), ``dataset:tx@v3``,
            ``run:ID`` (a unique prefix is enough), ``prediction:ID``,
            ``deployment:churn-prod``, or ``kind:id`` for any kind of :data:`NODE_KINDS`.
        direction: ``"upstream"`` (what it came from: data, features, code, runs) or
            ``"downstream"`` (what came from it: models, deployments, predictions, monitors).
        depth: The most edges to walk from ``ref``; ``None`` walks to the end.
        store: The metadata store to read; the process's (:func:`keel.tracking.get_client`)
            by default. A server or the UI passes its own.
        artifacts: The artifact store holding the prediction log (read for ``prediction:``
            references); the process's by default.

    Returns:
        The nodes reached, with what the store knows about each, and the edges walked.

    Raises:
        InvalidArgumentError: A malformed reference, direction or depth.
        NotFoundError: ``ref`` names nothing the store knows.

    Examples:
        >>> graph = keel.governance.lineage("models:/churn/4")  # doctest: +SKIP
        >>> [n.id for n in graph.of_kind("dataset_version")]  # doctest: +SKIP
        ['transactions@v3']
    """
    if direction not in _DIRECTIONS:
        raise InvalidArgumentError(
            f"direction must be 'upstream' or 'downstream', got {direction!r}."
        )
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise InvalidArgumentError(
            f"depth must be a whole number of edges (0 or more) or None, got {depth!r}."
        )
    ctx = _Context(store, artifacts)
    root_kind, root_id = _resolve(ctx, ref)
    root = LineageNode(root_kind, root_id, 0)
    graph = LineageGraph(root=root, direction=direction, depth=depth, nodes=[root])
    seen = {(root_kind, root_id): root}
    walked: set[tuple[str, str, str, str, str]] = set()
    queue: deque[LineageNode] = deque([root])
    while queue:
        node = queue.popleft()
        if depth is not None and node.depth >= depth:
            continue
        for e in _edges(ctx, (node.kind, node.id), direction):
            ident = (e.source_kind, e.source_id, e.target_kind, e.target_id, e.relation)
            if ident in walked:
                continue
            far = (
                (e.source_kind, e.source_id)
                if direction == "upstream"
                else (e.target_kind, e.target_id)
            )
            if far not in seen:
                if len(graph.nodes) >= MAX_NODES:
                    graph.truncated = True
                    continue
                new = LineageNode(far[0], far[1], node.depth + 1)
                seen[far] = new
                graph.nodes.append(new)
                queue.append(new)
            walked.add(ident)
            graph.edges.append(e)
    for n in graph.nodes:
        n.properties = _describe(ctx, n, graph)
    return graph


# -- what the store knows about each node ---------------------------------------------------


def _describe(ctx: _Context, node: LineageNode, graph: LineageGraph) -> dict[str, Any]:
    try:
        return _describe_kind(ctx, node, graph)
    except KeelError as exc:  # a node whose record is gone still shows in the graph
        return {"missing": exc.message}


def _describe_kind(ctx: _Context, node: LineageNode, graph: LineageGraph) -> dict[str, Any]:
    kind, ident = node.kind, node.id
    if kind == "run":
        run = ctx.store.get_run(ident)
        i = run.info
        exp = ctx.experiments.get(i.experiment_id)
        if exp is None:
            exp = ctx.experiments[i.experiment_id] = ctx.store.get_experiment(i.experiment_id).name
        props: dict[str, Any] = {
            "name": i.name,
            "experiment": exp,
            "status": str(i.status),
            "user": i.user,
            "started": _iso(i.start_time),
            "git_commit": i.git_commit,
            "source": i.source,
        }
        for tag, key in (("keel.pipeline", "pipeline"), ("keel.step", "step")):
            if tag in run.data.tags:
                props[key] = run.data.tags[tag]
        if run.data.metrics:
            props["metrics"] = dict(sorted(run.data.metrics.items())[:20])
        return props
    if kind == "dataset_version":
        name, _, v = ident.rpartition("@v")
        dv = ctx.data.get_version(name, int(v))
        validations = ctx.data.list_validations(dv.id, limit=5)
        return {
            "rows": dv.num_rows,
            "columns": dv.num_columns,
            "digest": dv.digest,
            "created": _iso(dv.created_at),
            "created_by": dv.created_by,
            "validations": [
                {
                    "id": val.id,
                    "suite": f"{val.suite.name}@v{val.suite.version}",
                    "passed": val.passed,
                    "failed_checks": val.num_failed,
                    "when": _iso(val.created_at),
                }
                for val in validations
            ],
        }
    if kind == "data_validation":
        val = ctx.data.get_validation(ident)
        return {
            "dataset_version": val.dataset_ref,
            "suite": f"{val.suite.name}@v{val.suite.version}",
            "passed": val.passed,
            "checks": val.num_checks,
            "failed_checks": val.num_failed,
            "when": _iso(val.created_at),
        }
    if kind == "model_version":
        name, _, v = ident.rpartition("/")
        mv = ctx.registry.get_version(name, int(v))
        return {
            "run_id": mv.run_id,
            "flavor": mv.flavor,
            "aliases": list(mv.aliases),
            "created": _iso(mv.created_at),
            "created_by": mv.created_by,
            "metrics": dict(mv.metrics),
        }
    if kind == "prediction":
        found = _find_prediction(ctx, ident)
        seg = found["segment"]
        return {
            "deployment": seg.deployment,
            "timestamp": found["timestamp"],
            "prediction": found["prediction"],
            "error": found["error"],
            "model": f"{seg.model_name}/{seg.model_version}" if seg.model_name else None,
        }
    if kind == "prediction_batch":
        for seg in ctx.reads.list_segments(segment_id=ident):
            return {
                "deployment": seg.deployment,
                "rows": seg.num_rows,
                "from": _iso(seg.start_time),
                "to": _iso(seg.end_time),
                "model": f"{seg.model_name}/{seg.model_version}" if seg.model_name else None,
            }
        return {}
    # Other kinds: what the edges around the node say (a step's name, an artifact's type).
    keys = _EDGE_KEYS.get(kind, ("role", "suite", "format"))
    props = {}
    for e in graph.edges:
        if (e.source_kind, e.source_id) == (kind, ident) or (e.target_kind, e.target_id) == (
            kind,
            ident,
        ):
            for key in keys:
                if key in e.properties and key not in props:
                    props[key] = e.properties[key]
    return props


#: Edge properties that describe the node at either end, by node kind.
_EDGE_KEYS: dict[str, tuple[str, ...]] = {
    "step_run": ("step",),
    "artifact": ("type", "from_step"),
    "commit": ("source", "dirty"),
}
