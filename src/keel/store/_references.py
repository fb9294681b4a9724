"""Every place the metadata store names an artifact blob: the *mark* of garbage collection.

A blob may be freed only when no row names it. :data:`REFERENCES` lists each table column that
holds a digest (or, for JSON columns, a structure holding ``"digest"`` entries) and what kind of
data it is; :data:`NOT_BLOBS` lists the digest columns that hash something else (a definition's
spec), so they name no blob. A test fails when a table gains a ``*digest*`` column found in
neither list, so a new capability cannot forget to register the blobs it keeps.

Columns of tables that do not exist in this store (a capability not installed) are skipped. As a
second safety net, a digest column found in neither list is still treated as a reference.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection

from keel.store._schema import all_metadata

__all__ = [
    "NOT_BLOBS",
    "REFERENCES",
    "BlobReference",
    "FoundReference",
    "digests_in",
    "iter_references",
    "unregistered_digest_columns",
]

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class BlobReference:
    """A column that names blobs.

    Attributes:
        table: The table.
        column: The column: a digest, or JSON holding ``{"digest": ...}`` entries.
        kind: What the blob is, as ``keel gc`` reports it (``"prediction log"``).
        owner: The kind of object a row belongs to and the column holding its id, so a collector
            can ask "what would stay referenced without these objects" (``("run", "run_id")``).
        json: Whether the column is JSON to search for digests.
        manifest_when: ``(column, value)``: the blob is a JSON manifest naming more blobs when the
            row's ``column`` equals ``value``; ``("", "")`` when it always is.
    """

    table: str
    column: str
    kind: str
    owner: tuple[str, str] | None = None
    json: bool = False
    manifest_when: tuple[str, str] | None = None


#: Every column that names blobs. Register yours here when a capability stores bytes.
REFERENCES: tuple[BlobReference, ...] = (
    # tracking
    BlobReference("runs", "environment_digest", "run environment", ("run", "id")),
    BlobReference("run_artifacts", "digest", "run artifact", ("run", "run_id")),
    # data
    BlobReference(
        "dataset_versions",
        "digest",
        "dataset",
        ("dataset_version", "id"),
        manifest_when=("storage", "manifest"),
    ),
    BlobReference(
        "dataset_versions", "profile_digest", "dataset profile", ("dataset_version", "id")
    ),
    # registry: the manifest lists every file of the model
    BlobReference(
        "model_versions",
        "manifest_digest",
        "model",
        ("model_version", "id"),
        manifest_when=("", ""),
    ),
    # pipelines: step outputs, cached outputs, a pipeline's returned value
    BlobReference("pipeline_runs", "outputs", "pipeline output", ("run", "run_id"), json=True),
    BlobReference(
        "pipeline_step_runs", "outputs", "pipeline step output", ("run", "pipeline_run_id"), True
    ),
    BlobReference(
        "pipeline_step_runs", "inputs", "pipeline step input", ("run", "pipeline_run_id"), True
    ),
    BlobReference(
        "pipeline_cache", "outputs", "pipeline cache", ("pipeline_cache", "cache_key"), json=True
    ),
    # serving / monitoring: the prediction log and its labels, reports, profiles
    BlobReference("prediction_segments", "digest", "prediction log", ("prediction_segment", "id")),
    BlobReference("prediction_label_segments", "digest", "label log", ("label_segment", "id")),
    BlobReference("monitors", "reference_digest", "monitor reference", ("monitor", "id")),
    BlobReference("monitors", "baseline_digest", "monitor baseline", ("monitor", "id")),
    BlobReference(
        "monitor_results", "report_digest", "monitoring report", ("monitor_result", "id")
    ),
    BlobReference(
        "monitor_results", "details_digest", "monitoring report", ("monitor_result", "id")
    ),
    # LLM operations
    BlobReference("llm_evaluations", "rows_digest", "LLM evaluation", ("llm_evaluation", "id")),
    # The evaluation set's digest: kept conservatively (a hash that names no blob costs nothing).
    BlobReference("llm_evaluations", "data_digest", "LLM evaluation", ("llm_evaluation", "id")),
    BlobReference("trace_segments", "digest", "trace log", ("trace_segment", "id")),
)

#: Digest columns that hash a definition rather than name a blob, and why.
NOT_BLOBS: Mapping[tuple[str, str], str] = {
    ("feature_definitions", "digest"): "the hash of the definition's spec",
    ("feature_materializations", "data_digest"): "the hash of the feature view's data spec",
    ("data_suites", "digest"): "the hash of the suite's definition",
    ("prompt_versions", "digest"): "the hash of the template and model parameters",
}


@dataclass(frozen=True)
class FoundReference:
    """One digest named by one row.

    Attributes:
        digest: The blob.
        kind: What it is (:attr:`BlobReference.kind`).
        is_manifest: Whether the blob is a JSON manifest naming more blobs.
    """

    digest: str
    kind: str
    is_manifest: bool = False


def unregistered_digest_columns() -> list[tuple[str, str]]:
    """Return ``(table, column)`` of each digest column in neither REFERENCES nor NOT_BLOBS."""
    known = {(r.table, r.column) for r in REFERENCES} | set(NOT_BLOBS)
    found = []
    for table in all_metadata().sorted_tables:
        for column in table.columns:
            if "digest" in column.name and (table.name, column.name) not in known:
                found.append((table.name, column.name))
    return found


def digests_in(value: Any) -> Iterator[str]:
    """Yield every digest under a ``"digest"``-like key of a JSON value (decoded or text)."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            return
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, sub in item.items():
                if isinstance(sub, str):
                    if "digest" in str(key) and _DIGEST.match(sub):
                        yield sub
                elif isinstance(sub, dict | list):
                    stack.append(sub)
        elif isinstance(item, list):
            stack.extend(x for x in item if isinstance(x, dict | list))


def iter_references(
    conn: Connection, exclude: Mapping[str, Collection[str]] | None = None
) -> Iterator[FoundReference]:
    """Yield every blob reference in the store.

    Args:
        conn: A connection; read inside one transaction for a consistent view.
        exclude: Object ids to leave out, by owner kind (``{"run": {...}}``): the references that
            would remain once those objects are purged.
    """
    exclude = exclude or {}
    tables = all_metadata().tables
    specs = list(REFERENCES)
    # The safety net: an unregistered digest column still protects what it names.
    specs += [BlobReference(t, c, "unregistered") for t, c in unregistered_digest_columns()]
    for spec in specs:
        table: Table | None = tables.get(spec.table)
        if table is None or spec.column not in table.c:
            continue
        cols = [table.c[spec.column]]
        skip: Collection[str] = ()
        if spec.owner is not None and exclude.get(spec.owner[0]):
            cols.append(table.c[spec.owner[1]])
            skip = exclude[spec.owner[0]]
        when = spec.manifest_when
        if when is not None and when[0]:
            cols.append(table.c[when[0]])
        query = select(*cols).where(table.c[spec.column].is_not(None))
        for row in conn.execute(query):
            value = row[0]
            rest = list(row[1:])
            if skip and str(rest.pop(0)) in skip:
                continue
            if spec.json:
                for digest in digests_in(value):
                    yield FoundReference(digest, spec.kind)
                continue
            is_manifest = when is not None and (not when[0] or rest[-1] == when[1])
            if isinstance(value, str) and _DIGEST.match(value):
                yield FoundReference(value, spec.kind, is_manifest)
