"""Reading the latest feature definitions of a SQLite store with the standard library only.

A process that only reads features (a training job's ``historical``, a serving worker's
``online``) should not pay for SQLAlchemy, in time or memory (about 28 MB resident), just to
read a few definition rows. When the store is a SQLite file that already holds the feature
tables, :func:`latest_definitions` answers with one read-only query through :mod:`sqlite3`;
anything unusual (another backend, a URI with options, a missing file or table, a locked or
damaged file) returns ``None`` and the caller takes the full path through
:class:`~keel.store.SqlMetadataStore`, which migrates and explains. A test checks that both
paths return the same definitions.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from keel._utils._sqlite import connect_existing

__all__ = ["FastDefinition", "latest_definitions"]


@dataclass(frozen=True)
class FastDefinition:
    """The latest version of one definition, as the catalog needs it."""

    kind: str
    name: str
    version: int
    digest: str
    spec: dict[str, Any]


# The same rows, in the same order, as FeatureRepository.latest_definitions().
_LATEST = (
    "SELECT d.kind, d.name, d.version, d.digest, d.spec FROM feature_definitions d "
    "JOIN (SELECT kind, name, MAX(version) AS v FROM feature_definitions "
    "GROUP BY kind, name) l ON d.kind = l.kind AND d.name = l.name AND d.version = l.v "
    "ORDER BY d.kind, d.name"
)


def latest_definitions(uri: str) -> list[FastDefinition] | None:
    """Return the latest version of every definition, or ``None`` to take the full path."""
    conn = connect_existing(uri)
    if conn is None:
        return None
    try:
        rows = conn.execute(_LATEST).fetchall()
    except sqlite3.Error:  # no feature tables yet, a locked or damaged file: full path
        return None
    finally:
        conn.close()
    out: list[FastDefinition] = []
    for kind, name, version, digest, spec in rows:
        try:
            # Stored by SQLAlchemy's JSON type as text; NULL reads as an empty spec there too.
            value = json.loads(spec) if isinstance(spec, (str, bytes)) else spec
        except ValueError:
            return None
        if value is not None and not isinstance(value, dict):
            return None
        out.append(FastDefinition(str(kind), str(name), int(version), str(digest), value or {}))
    return out
