"""Starter suites inferred from a profile: types, null rates, ranges, categories and keys.

The suggestion describes the data as it is today; it is a draft to read and tighten, not a
specification. Uniqueness is suggested only after an exact count confirms it.
"""

from __future__ import annotations

import math
import re
from typing import Any

from keel.data._checks import Check, between, in_set, not_null, row_count, schema, unique
from keel.data._engine import connect, quote_ident
from keel.data._profile import ColumnProfile, Profile, compute_profile
from keel.data._suite import Suite
from keel.data._types import is_numeric, is_temporal

__all__ = ["suggest", "suggest_yaml"]

#: Text columns with at most this many distinct values are suggested as value sets.
MAX_CATEGORIES = 25


def _plan(target: Any, name: str | None) -> tuple[Suite, list[str], str]:
    from keel.data._source import open_scan

    with open_scan(target) as scan:
        prof: Profile = scan.version.profile if scan.version is not None else compute_profile(scan)
        unique_cols = _exactly_unique(scan, prof)
        label = scan.label
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", label.split("@")[0].rsplit("/", 1)[-1]).strip("-")
    suite = Suite(name or f"{base or 'dataset'}-suggested", description=f"Suggested from {label}.")
    notes: list[str] = []

    def add(check: Check, note: str) -> None:
        suite.add(check)
        notes.append(note)

    add(
        schema({c.name: c.type for c in prof.columns}),
        f"{len(prof.columns)} columns with the types seen in {label}",
    )
    complete = [c.name for c in prof.columns if c.nulls == 0 and c.nans == 0 and c.count > 0]
    if complete:
        add(not_null(complete), "these columns had no nulls")
    for c in prof.columns:
        if (c.nulls or c.nans) and c.count and c.null_fraction < 0.5:
            mostly = math.floor((1 - c.null_fraction) * 100) / 100
            if 0 < mostly < 1:
                add(
                    not_null(c.name, mostly=mostly),
                    f"{c.name}: {c.null_fraction:.2%} nulls seen",
                )
    add(
        row_count(min=max(1, prof.num_rows // 2)),
        f"{prof.num_rows:,} rows seen; fail below half of that",
    )
    for c in prof.columns:
        check = _range(c)
        if check is not None:
            add(check, f"{c.name}: observed range")
    for c in prof.columns:
        cats = c.categories
        if (
            c.type == "string"
            and cats is not None
            and 0 < len(cats) <= MAX_CATEGORIES
            and len(cats) * 10 <= max(c.count, 1)
        ):
            add(
                in_set(c.name, sorted(str(v) for v in cats)),
                f"{c.name}: {len(cats)} distinct values seen",
            )
    for col in unique_cols:
        add(unique(col), f"{col}: every value was distinct")
    return suite, notes, label


def _range(c: ColumnProfile) -> Check | None:
    if c.count == 0 or c.min is None or c.max is None:
        return None
    if is_numeric(c.type) and c.type != "bool":
        lo, hi = c.min, c.max
        if c.type.startswith(("int", "uint")):
            lo, hi = int(lo), int(hi)
        return between(c.name, lo, hi)
    if is_temporal(c.type) and c.type != "time":
        return between(c.name, str(c.min), str(c.max))
    return None


def _exactly_unique(scan: Any, prof: Profile) -> list[str]:
    candidates = [
        c.name
        for c in prof.columns
        if c.count > 1
        and c.nulls == 0
        and (c.type == "string" or c.type.startswith(("int", "uint")) or c.type == "uuid")
        and c.distinct is not None
        and c.distinct >= 0.9 * c.count
    ]
    if not candidates:
        return []
    con = connect()
    try:
        scan.attach(con)
        exprs = ", ".join(f"count(DISTINCT {quote_ident(c)})" for c in candidates)
        row = con.execute(f"SELECT count(*), {exprs} FROM {scan.relation}").fetchone()
    finally:
        con.close()
    assert row is not None
    return [c for c, d in zip(candidates, row[1:], strict=True) if d == row[0]]


def suggest(target: Any, *, name: str | None = None) -> Suite:
    """Suggest a starter suite from a dataset's profile.

    It checks the schema, columns without nulls, null rates, observed ranges of numeric and
    time columns, value sets of low-cardinality text columns, keys that are exactly unique, and
    a minimum row count.

    Args:
        target: A DatasetVersion, ``"name@v3"``, a path, or a data frame.
        name: The suite's name (``<dataset>-suggested`` by default).
    """
    return _plan(target, name)[0]


def suggest_yaml(target: Any, *, name: str | None = None) -> str:
    """Return :func:`suggest`'s suite as YAML, each check preceded by what was observed."""
    import yaml

    suite, notes, label = _plan(target, name)
    head = yaml.safe_dump(
        {"name": suite.name, "description": suite.description}, sort_keys=False, width=100
    )
    lines = [
        f"# Starter suite suggested by Keel from {label}.",
        "# It describes the data as it is today: read it, loosen or tighten it, then run",
        f"#   keel data validate {label} --suite suite.yaml",
        head.rstrip(),
        "checks:",
    ]
    for check, note in zip(suite.checks, notes, strict=True):
        lines.append(f"  # {note}")
        body = yaml.safe_dump([check.spec()], sort_keys=False, width=100, allow_unicode=True)
        lines += ["  " + line for line in body.rstrip().splitlines()]
    return "\n".join(lines) + "\n"
