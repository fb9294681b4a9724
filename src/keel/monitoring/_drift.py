"""Data drift: which columns of the current data are distributed unlike the reference.

How a column is compared depends on its type and on the sample size, the smaller of the
reference's and the current's non-null values (``n``):

==========================  =========  ===============  =========================================
column                      ``n``      ``test``         drifted when
==========================  =========  ===============  =========================================
numeric                     <= 1,000   ``ks``           KS p < ``alpha`` and normalized
                                                        Wasserstein >= 0.1
numeric                     > 1,000    ``wasserstein``  normalized Wasserstein >= 0.1 (and KS
                                                        p < ``alpha``)
categorical, boolean,       <= 1,000   ``chisquare``    chi-square p < ``alpha`` and
numeric with <= 20 values                               Jensen-Shannon >= 0.1
categorical, ...            > 1,000    ``jensenshannon`` Jensen-Shannon >= 0.1 (and chi-square
                                                        p < ``alpha``)
==========================  =========  ===============  =========================================

On small samples the p-value of a test is the natural verdict; on large ones any difference is
"significant", so the verdict rests on an effect size, a distance with a threshold. Keel asks
for both at every size: a column drifts when its distance reaches the threshold *and* the
difference is significant. The distance keeps a trivial shift in a million rows from being
flagged; the p-value keeps noise in a thousand rows (or in a column with many rare categories)
from being flagged. So a verdict does not flip when the sample grows: the column's ``score``,
the distance, estimates the same quantity at every size, and only its noise shrinks.
``alpha`` is 0.01 by default: with 1,000 rows on each side, noise alone then flags a column in
well under 1% of comparisons (measured on normal, log-normal, uniform, exponential, Pareto,
bimodal and integer columns), while any shift large enough to reach the distance threshold is
significant far below 0.01 at that size.

The normalized Wasserstein distance is the earth mover's distance divided by the reference's
standard deviation (a shift of the mean by 0.1 standard deviations scores 0.1). The
Jensen-Shannon distance uses base-2 logarithms, so it lies in ``[0, 1]``.

Override the test of any column with ``tests={"amount": "psi"}`` (or one name for every
column) and its threshold with ``thresholds={"amount": 0.2}``. An explicit test decides alone:

=================  ===================================  ====================  =================
test               columns                              drifted when          default threshold
=================  ===================================  ====================  =================
``ks``             numeric                              p-value < threshold   0.05
``wasserstein``    numeric                              distance >= thresh.   0.1
``psi``            numeric (10 reference-quantile       PSI >= threshold      0.1
                   bins), categorical
``jensenshannon``  numeric (10 bins), categorical       distance >= thresh.   0.1
``chisquare``      numeric (10 bins), categorical       p-value < threshold   0.05
=================  ===================================  ====================  =================

Reported on their own: missing-value drift (the share of nulls changed: Cohen's h >= 0.2 and a
z-test p < ``alpha``) and new categories (values of the current data never seen in the
reference). Columns that are unique per row in the reference (identifiers, free text) are
skipped with a note, as are dates and times (time moves on by design). Columns present on one
side only, and columns whose type changed, are reported (a changed type counts as drift).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from keel._utils import now_ms
from keel.errors import InvalidArgumentError, near_matches
from keel.monitoring import _stats
from keel.monitoring._frames import Columns, as_columns, is_dataset_ref
from keel.monitoring._stats import CategoricalSummary, NumericSummary

__all__ = [
    "DEFAULT_THRESHOLDS",
    "TESTS",
    "ColumnProfile",
    "DriftReport",
    "FeatureDrift",
    "ReferenceProfile",
    "drift",
    "reference_profile",
]

T = TypeVar("T")
R = TypeVar("R")

#: Tests by name and the column treatments they apply to.
TESTS: dict[str, frozenset[str]] = {
    "ks": frozenset({"numeric"}),
    "wasserstein": frozenset({"numeric"}),
    "psi": frozenset({"numeric", "categorical"}),
    "jensenshannon": frozenset({"numeric", "categorical"}),
    "chisquare": frozenset({"numeric", "categorical"}),
}
#: Threshold of each test when none is given: an alpha for p-value tests, else a distance.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "ks": 0.05,
    "chisquare": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
}
_PVALUE_TESTS = frozenset({"ks", "chisquare"})
#: Sample size up to which the automatic choice reports a p-value test.
SMALL_SAMPLE = 1000
#: Non-null rows from which a column unique per row is taken for an identifier.
MIN_ID_ROWS = 50
#: Non-null values each side needs before a column gets a verdict.
MIN_VALUES = 5
_ID_NAME = re.compile(r"(^|[_\-. ])(id|uuid|guid|key)$|^(id|uuid|guid)([_\-. ]|$)", re.I)
PROFILE_FORMAT = 1
#: Identifies how profiles are computed; a cached profile with another value is recomputed.
GRID_NOTE = f"{PROFILE_FORMAT}/{_stats.GRID}"


@dataclass
class ColumnProfile:
    """How the reference holds one column, and how it will be compared.

    Attributes:
        name: The column.
        kind: Its kind in the input (``numeric``, ``string``, ``bool``, ``mixed``, ...).
        treatment: ``numeric``, ``discrete`` (numbers compared as categories),
            ``categorical``, ``empty`` (only nulls) or ``skipped``.
        summary: The statistics kept, if any.
        note: Why a column is skipped or treated specially.
    """

    name: str
    kind: str
    treatment: str
    summary: NumericSummary | CategoricalSummary | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form."""
        kind = "numeric" if isinstance(self.summary, NumericSummary) else "categorical"
        return {
            "name": self.name,
            "kind": self.kind,
            "treatment": self.treatment,
            "note": self.note,
            "summary_kind": None if self.summary is None else kind,
            "summary": None if self.summary is None else self.summary.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnProfile:
        """Rebuild a column profile from :meth:`to_dict` output."""
        summary: NumericSummary | CategoricalSummary | None = None
        if data.get("summary") is not None:
            if data["summary_kind"] == "numeric":
                summary = NumericSummary.from_dict(data["summary"])
            else:
                summary = CategoricalSummary.from_dict(data["summary"])
        return cls(data["name"], data["kind"], data["treatment"], summary, data.get("note", ""))


@dataclass
class ReferenceProfile:
    """The statistics of reference data that drift needs, computed once and reusable.

    Build one with :func:`reference_profile`; pass it to :func:`drift` in place of the reference
    data. Its size does not grow with the reference's rows (see :mod:`keel.monitoring._stats`),
    and :meth:`to_bytes` / :meth:`from_bytes` store it, which is how a monitor avoids rescanning
    its reference every window.

    Attributes:
        columns: One profile per column, in the reference's order.
        num_rows: Rows of the reference.
        source: What the reference was.
        node: The reference's lineage node, if it has one.
        created_at: When the profile was computed (epoch milliseconds).
    """

    columns: dict[str, ColumnProfile]
    num_rows: int
    source: str = ""
    node: tuple[str, str] | None = None
    created_at: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form."""
        return {
            "format": PROFILE_FORMAT,
            "num_rows": self.num_rows,
            "source": self.source,
            "node": list(self.node) if self.node else None,
            "created_at": self.created_at,
            "columns": [c.to_dict() for c in self.columns.values()],
        }

    def to_bytes(self) -> bytes:
        """Serialize the profile (compact JSON)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceProfile:
        """Rebuild a profile from :meth:`to_bytes` output.

        Raises:
            InvalidArgumentError: The bytes are not a profile of a format this Keel reads.
        """
        try:
            raw = json.loads(data)
            if raw.get("format") != PROFILE_FORMAT:
                raise ValueError(f"format {raw.get('format')!r}")
            cols = [ColumnProfile.from_dict(c) for c in raw["columns"]]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidArgumentError(
                f"The bytes are not a Keel reference profile of format {PROFILE_FORMAT} ({exc}). "
                "Compute the profile again with keel.monitoring.reference_profile()."
            ) from exc
        node = (str(raw["node"][0]), str(raw["node"][1])) if raw.get("node") else None
        return cls(
            {c.name: c for c in cols},
            int(raw["num_rows"]),
            raw.get("source", ""),
            node,
            int(raw.get("created_at", 0)),
        )

    @property
    def names(self) -> list[str]:
        """Column names."""
        return list(self.columns)


@dataclass(frozen=True)
class FeatureDrift:
    """The drift verdict on one column.

    Attributes:
        name: The column.
        kind: How it was compared: ``numeric``, ``categorical`` (including booleans and
            numbers with few values), or ``skipped``.
        test: The test that decided (``ks``, ``wasserstein``, ``chisquare``,
            ``jensenshannon``, ``psi``, ``type`` for a changed type), or ``None`` if none ran.
        statistic: The test's statistic.
        p_value: The p-value of the KS or chi-square test, when one was computed.
        score: The drift score, a distance comparable across sample sizes and windows
            (normalized Wasserstein for numbers, Jensen-Shannon for categories, PSI when the
            PSI test was asked for).
        threshold: The threshold the test's number was held against.
        drifted: The verdict.
        reference_rows: Non-null values in the reference.
        current_rows: Non-null values in the current data.
        missing: Missing-value drift: ``reference_share``, ``current_share``, ``effect``
            (Cohen's h), ``p_value`` and ``drifted``.
        new_categories: Values of the current data never seen in the reference, with counts.
        new_category_share: The share of the current's non-null rows holding such values.
        note: Why a column was skipped, or what was unusual about it.
        details: Every statistic computed (means, deviations, KS, PSI...).
        chart: The data of the reference-vs-current chart of the report.
    """

    name: str
    kind: str
    test: str | None
    statistic: float | None
    p_value: float | None
    score: float | None
    threshold: float | None
    drifted: bool
    reference_rows: int = 0
    current_rows: int = 0
    missing: dict[str, Any] = field(default_factory=dict)
    new_categories: dict[str, int] = field(default_factory=dict)
    new_category_share: float = 0.0
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    chart: dict[str, Any] = field(default_factory=dict)

    @property
    def missing_drifted(self) -> bool:
        """Whether the share of missing values drifted."""
        return bool(self.missing.get("drifted", False))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form."""
        return {
            "name": self.name,
            "kind": self.kind,
            "test": self.test,
            "statistic": _num(self.statistic),
            "p_value": _num(self.p_value),
            "score": _num(self.score),
            "threshold": _num(self.threshold),
            "drifted": self.drifted,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "missing": {k: _num(v) if isinstance(v, float) else v for k, v in self.missing.items()},
            "new_categories": dict(self.new_categories),
            "new_category_share": self.new_category_share,
            "note": self.note,
            "details": {k: _num(v) if isinstance(v, float) else v for k, v in self.details.items()},
            "chart": self.chart,
        }


def _num(x: Any) -> Any:
    if x is None:
        return None
    x = float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return 1e308 if x > 0 else -1e308
    return x


@dataclass(frozen=True)
class DriftReport:
    """The result of :func:`drift`.

    Attributes:
        features: The verdict on each column of the reference, by name.
        reference_rows: Rows of the reference.
        current_rows: Rows of the current data.
        share: The share of compared columns that drifted.
        share_threshold: The share from which the dataset counts as drifted.
        dataset_drift: Whether ``share >= share_threshold``.
        missing_columns: Columns of the reference absent from the current data.
        new_columns: Columns of the current data absent from the reference.
        type_changes: Columns whose type changed: ``{name: (reference kind, current kind)}``.
        settings: The options the report was computed with.
        reference: What the reference was.
        current: What the current data was.
        created_at: When the report was computed (epoch milliseconds).
        duration_s: How long it took.
    """

    features: dict[str, FeatureDrift]
    reference_rows: int
    current_rows: int
    share: float
    share_threshold: float
    dataset_drift: bool
    missing_columns: list[str] = field(default_factory=list)
    new_columns: list[str] = field(default_factory=list)
    type_changes: dict[str, tuple[str, str]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    reference: str = ""
    current: str = ""
    created_at: int = 0
    duration_s: float = 0.0

    @property
    def drifted_features(self) -> list[str]:
        """Names of the columns whose distribution drifted, in column order."""
        return [f.name for f in self.features.values() if f.drifted]

    @property
    def compared_features(self) -> list[str]:
        """Names of the columns a test ran on."""
        return [f.name for f in self.features.values() if f.test is not None]

    @property
    def missing_drift_features(self) -> list[str]:
        """Names of the columns whose share of missing values drifted."""
        return [f.name for f in self.features.values() if f.missing_drifted]

    @property
    def new_categories(self) -> dict[str, dict[str, int]]:
        """New categories of each column that has some."""
        return {f.name: f.new_categories for f in self.features.values() if f.new_categories}

    @property
    def skipped(self) -> dict[str, str]:
        """Columns not compared, with the reason."""
        return {f.name: f.note for f in self.features.values() if f.test is None}

    def to_dict(self) -> dict[str, Any]:
        """Return the whole report as JSON-ready data."""
        return {
            "reference": self.reference,
            "current": self.current,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "share": self.share,
            "share_threshold": self.share_threshold,
            "dataset_drift": self.dataset_drift,
            "drifted_features": self.drifted_features,
            "missing_drift_features": self.missing_drift_features,
            "missing_columns": self.missing_columns,
            "new_columns": self.new_columns,
            "type_changes": {k: list(v) for k, v in self.type_changes.items()},
            "skipped": self.skipped,
            "settings": self.settings,
            "created_at": self.created_at,
            "duration_s": self.duration_s,
            "features": {name: f.to_dict() for name, f in self.features.items()},
        }

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """Return the report as JSON, also writing it to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_html(self, path: str | os.PathLike[str] | None = None, *, title: str = "") -> str:
        """Return the report as one self-contained HTML page (inline SVG, works offline).

        Args:
            path: Also write the page there.
            title: The page's title.
        """
        from keel.monitoring._html import drift_page

        page = drift_page(self.to_dict(), title=title or "Keel drift report")
        if path is not None:
            Path(path).write_text(page, encoding="utf-8")
        return page

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return (
            f"DriftReport(drifted={self.drifted_features!r}, share={self.share:.2f}, "
            f"dataset_drift={self.dataset_drift}, reference_rows={self.reference_rows}, "
            f"current_rows={self.current_rows})"
        )


# -- profiles -----------------------------------------------------------------------------


def _parallel(fn: Callable[[T], R], items: Sequence[T], threads: int | None) -> list[R]:
    # NumPy's sort and Arrow's and pandas' hash counts release the GIL: threads scale.
    workers = threads if threads is not None else min(os.cpu_count() or 1, 8)
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


def _looks_like_id(name: str, s: NumericSummary) -> bool:
    if not s.integer or s.count < MIN_ID_ROWS or s.distinct != s.count:
        return False
    dense = (s.max - s.min + 1) <= 2 * s.count
    return bool(_ID_NAME.search(name)) or dense


def _profile_column(cols: Columns, name: str, force: str | None) -> ColumnProfile:
    kind = cols.kind(name)
    if force == "categorical" and kind in ("numeric", "mixed", "bool", "string", "empty"):
        return _categorical_profile(cols, name, kind, "")
    if kind == "datetime":
        return ColumnProfile(name, kind, "skipped", note="dates and times are not compared")
    if kind == "other":
        return ColumnProfile(name, kind, "skipped", note="values of this type are not compared")
    if kind == "empty":
        return ColumnProfile(
            name,
            kind,
            "empty",
            CategoricalSummary([], np.zeros(0, np.int64), cols.num_rows),
            note="only nulls in the reference",
        )
    if kind in ("numeric", "mixed"):
        values, invalid = cols.numeric(name)
        note = ""
        if kind == "mixed":
            count = int(np.count_nonzero(~np.isnan(values)))
            if invalid > count and force != "numeric":
                return _categorical_profile(
                    cols, name, kind, "mixed types: numbers and text, compared as text"
                )
            note = f"mixed types: {invalid:,} values that are not numbers count as invalid"
        s = _stats.summarize_numeric(values, invalid=invalid, integer=cols.is_integer(name))
        if s.count == 0:
            return ColumnProfile(name, kind, "empty", s, note="only nulls in the reference")
        if force != "numeric" and s.distinct <= _stats.MAX_DISCRETE and 2 * s.distinct <= s.count:
            return ColumnProfile(name, kind, "discrete", s, note)
        if force is None and _looks_like_id(name, s):
            return ColumnProfile(
                name, kind, "skipped", note="unique per row: looks like an identifier"
            )
        return ColumnProfile(name, kind, "numeric", s, note)
    return _categorical_profile(cols, name, kind, "")


def _categorical_profile(cols: Columns, name: str, kind: str, note: str) -> ColumnProfile:
    labels, counts, nulls = cols.value_counts(name)
    s = _stats.summarize_categories(labels, counts, nulls)
    if s.count == 0:
        return ColumnProfile(name, kind, "empty", s, note="only nulls in the reference")
    if s.count >= MIN_ID_ROWS and s.distinct >= 0.95 * s.count and kind != "bool":
        return ColumnProfile(
            name,
            kind,
            "skipped",
            note="unique per row: looks like an identifier or free text",
        )
    return ColumnProfile(name, kind, "categorical", s, note)


def reference_profile(
    reference: Any,
    *,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
    numerical: Sequence[str] = (),
    sample: int | float | None = None,
    seed: int = 0,
    threads: int | None = None,
) -> ReferenceProfile:
    """Compute the statistics of reference data once, for any number of :func:`drift` calls.

    Args:
        reference: A pandas or polars DataFrame, an Arrow table, a Parquet path or a dataset
            version (``"transactions@v3"``).
        columns: Only these columns (all by default).
        categorical: Columns to compare as categories whatever their type.
        numerical: Numeric columns to compare as numbers even with few distinct values (and
            never to skip as identifiers).
        sample: Profile only this many rows (or this fraction), drawn at random.
        seed: Seed of the sample.
        threads: Worker threads (one per core by default).

    Returns:
        The profile.

    Raises:
        InvalidArgumentError: A named column does not exist, or the input is unsupported.

    Examples:
        >>> import numpy as np, pandas as pd, keel.monitoring as km
        >>> rng = np.random.default_rng(0)
        >>> ref = km.reference_profile(pd.DataFrame({"x": rng.normal(size=100), "id": range(100)}))
        >>> ref.columns["x"].treatment, ref.columns["id"].treatment
        ('numeric', 'skipped')
    """
    cols = as_columns(reference, "reference")
    if sample is not None:
        cols = cols.sample(sample, seed)
    names = _pick(cols.names, columns, "reference", "columns")
    _pick(cols.names, categorical, "reference", "categorical")
    _pick(cols.names, numerical, "reference", "numerical")
    force = {**dict.fromkeys(numerical, "numeric"), **dict.fromkeys(categorical, "categorical")}
    profiles = _parallel(lambda n: _profile_column(cols, n, force.get(n)), names, threads)
    return ReferenceProfile(
        {p.name: p for p in profiles}, cols.num_rows, cols.source, cols.node, now_ms()
    )


def _pick(available: Sequence[str], wanted: Sequence[str] | None, role: str, arg: str) -> list[str]:
    if wanted is None:
        return list(available)
    if isinstance(wanted, str):
        wanted = [wanted]
    known = set(available)
    for name in wanted:
        if name not in known:
            raise InvalidArgumentError(
                f"{arg} names the column {name!r}, which the {role} data does not have."
                f"{near_matches(str(name), available)} Its columns: {list(available)[:30]!r}."
            )
    return list(wanted)


# -- comparison ---------------------------------------------------------------------------

_KIND_GROUP = {"numeric": "number", "bool": "bool", "string": "text", "mixed": "mixed"}


def _type_changed(ref_kind: str, cur_kind: str) -> bool:
    a, b = _KIND_GROUP.get(ref_kind), _KIND_GROUP.get(cur_kind)
    if a is None or b is None or "mixed" in (a, b):
        return False
    return a != b


def _comparable(treatment: str) -> frozenset[str]:
    if treatment == "numeric":
        return frozenset({"numeric"})
    if treatment == "discrete":
        return frozenset({"numeric", "categorical"})
    return frozenset({"categorical"})


@dataclass(frozen=True)
class _Options:
    tests: Mapping[str, str]
    thresholds: Mapping[str, float]
    alpha: float


def _current_summary(
    cols: Columns, prof: ColumnProfile
) -> tuple[str, NumericSummary | CategoricalSummary | None]:
    name = prof.name
    kind = cols.kind(name)
    if prof.treatment in ("numeric", "discrete") and kind in ("numeric", "bool", "mixed", "empty"):
        if kind == "empty":
            values, invalid = np.full(cols.num_rows, np.nan), 0
        else:
            values, invalid = cols.numeric(name)
        ref = prof.summary
        match = (
            ref.values if prof.treatment == "discrete" and isinstance(ref, NumericSummary) else None
        )
        if prof.treatment == "discrete" and match is None:
            match = np.empty(0)
        return kind, _stats.summarize_numeric(
            values, invalid=invalid, integer=cols.is_integer(name), match=match
        )
    if prof.treatment in ("categorical", "empty") and kind not in ("datetime", "other"):
        labels, counts, nulls = cols.value_counts(name)
        return kind, _stats.summarize_categories(labels, counts, nulls)
    return kind, None


def _compare(
    prof: ColumnProfile,
    cur_kind: str,
    cur: NumericSummary | CategoricalSummary | None,
    opts: _Options,
) -> FeatureDrift:
    name = prof.name
    if prof.treatment == "skipped":
        return FeatureDrift(name, "skipped", None, None, None, None, None, False, note=prof.note)
    if _type_changed(prof.kind, cur_kind) or cur is None:
        return FeatureDrift(
            name,
            "numeric" if prof.treatment == "numeric" else "categorical",
            "type",
            None,
            None,
            None,
            None,
            True,
            note=f"type changed from {prof.kind} (reference) to {cur_kind} (current)",
            details={"reference_kind": prof.kind, "current_kind": cur_kind},
        )
    ref = prof.summary
    assert ref is not None  # every compared treatment keeps a summary
    ref_missing = ref.total - ref.count
    cur_missing = cur.total - cur.count
    missing = _stats.missing_drift(ref_missing, ref.total, cur_missing, cur.total, opts.alpha)
    if isinstance(cur, NumericSummary) and cur.invalid:
        missing["current_invalid"] = cur.invalid
    notes = [prof.note] if prof.note else []
    if prof.treatment == "empty":
        notes.append("only nulls in the reference: no distribution to compare")
        return FeatureDrift(
            name,
            "categorical",
            None,
            None,
            None,
            None,
            None,
            False,
            reference_rows=0,
            current_rows=cur.count,
            missing=missing,
            note="; ".join(notes),
        )
    if cur.count == 0 or min(ref.count, cur.count) < MIN_VALUES:
        notes.append(
            "only nulls in the current data: no distribution to compare"
            if cur.count == 0
            else f"too few values to compare (reference {ref.count}, current {cur.count}; "
            f"at least {MIN_VALUES} each)"
        )
        return FeatureDrift(
            name,
            "numeric" if prof.treatment == "numeric" else "categorical",
            None,
            None,
            None,
            None,
            None,
            False,
            reference_rows=ref.count,
            current_rows=0,
            missing=missing,
            note="; ".join(notes),
        )
    test = opts.tests.get(name, "auto")
    treatment = "numeric" if prof.treatment == "numeric" else "categorical"
    if prof.treatment == "discrete" and test in ("ks", "wasserstein"):
        treatment = "numeric"  # numbers with few values, compared as numbers on request
    if test != "auto" and treatment not in TESTS[test]:
        allowed = sorted(t for t, kinds in TESTS.items() if treatment in kinds)
        raise InvalidArgumentError(
            f"The test {test!r} cannot compare column {name!r}, which is {treatment} "
            f"(kind {prof.kind!r}, {ref.distinct if hasattr(ref, 'distinct') else '?'} distinct "
            f"values). Tests for {treatment} columns: {allowed!r}."
        )
    n = min(ref.count, cur.count)
    new: dict[str, int] = {}
    new_share = 0.0
    if treatment == "numeric":
        assert isinstance(ref, NumericSummary)
        assert isinstance(cur, NumericSummary)
        stats = _stats.numeric_stats(ref, cur, frozenset({test}))
        stats.update(
            reference_mean=ref.mean,
            current_mean=cur.mean,
            reference_std=ref.std,
            current_std=cur.std,
            reference_min=ref.min,
            reference_max=ref.max,
            current_min=cur.min,
            current_max=cur.max,
        )
        qb = cur.quantiles
        outside = (
            int(np.searchsorted(qb, ref.min, side="left"))
            + len(qb)
            - int(np.searchsorted(qb, ref.max, side="right"))
        )
        stats["out_of_range_share"] = outside / len(qb)
        chart = _stats.histogram(ref, cur)
        distance, p_value = stats["wasserstein"], stats["ks_p_value"]
        auto_test = "ks" if n <= SMALL_SAMPLE else "wasserstein"
    else:
        labels, r, c, new_list = _stats.aligned_counts(ref, cur)
        stats = _stats.categorical_stats(r, c, frozenset({test}))
        chart = _stats.bars(labels, r, c)
        new = dict(new_list[:50])
        new_share = float(sum(cnt for _, cnt in new_list)) / max(cur.count, 1)
        if isinstance(cur, NumericSummary) and cur.other:
            new_share = cur.other / max(cur.count, 1)
        distance, p_value = stats["jensenshannon"], stats["chisquare_p_value"]
        auto_test = "chisquare" if n <= SMALL_SAMPLE else "jensenshannon"
    if test == "auto":
        threshold = opts.thresholds.get(
            name, DEFAULT_THRESHOLDS["wasserstein" if treatment == "numeric" else "jensenshannon"]
        )
        drifted = distance >= threshold and p_value < opts.alpha
        statistic = stats.get(auto_test, distance)
        score = distance
        shown_test = auto_test
        shown_p: float | None = p_value
    else:
        threshold = opts.thresholds.get(name, DEFAULT_THRESHOLDS[test])
        if test in _PVALUE_TESTS:
            shown_p = stats[f"{test}_p_value"]
            drifted = shown_p < threshold
            score = distance
        else:
            shown_p = None
            drifted = stats[test] >= threshold
            score = stats[test]
        statistic = stats[test]
        shown_test = test
    return FeatureDrift(
        name=name,
        kind=treatment,
        test=shown_test,
        statistic=float(statistic),
        p_value=None if shown_p is None else float(shown_p),
        score=float(score),
        threshold=float(threshold),
        drifted=bool(drifted),
        reference_rows=ref.count,
        current_rows=cur.count,
        missing=missing,
        new_categories=new,
        new_category_share=new_share,
        note="; ".join(notes),
        details={k: float(v) for k, v in stats.items()},
        chart=chart,
    )


def _check_tests(tests: str | Mapping[str, str] | None, names: Sequence[str]) -> dict[str, str]:
    if tests is None:
        return {}
    mapping = dict.fromkeys(names, tests) if isinstance(tests, str) else dict(tests)
    for column, test in mapping.items():
        if test not in TESTS and test != "auto":
            raise InvalidArgumentError(
                f"Unknown drift test {test!r} for column {column!r}."
                f"{near_matches(str(test), TESTS)} "
                f"Tests: {sorted(TESTS)!r}, or 'auto' for the default by type and sample size."
            )
    _pick(names, list(mapping), "reference", "tests")
    if isinstance(tests, str):  # one test for all: only where it applies
        return mapping
    return mapping


def _check_thresholds(
    thresholds: Mapping[str, float] | None, names: Sequence[str]
) -> dict[str, float]:
    if not thresholds:
        return {}
    _pick(names, list(thresholds), "reference", "thresholds")
    out = {}
    for column, value in thresholds.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise InvalidArgumentError(
                f"The threshold of column {column!r} must be a positive number, got {value!r}."
            )
        out[column] = float(value)
    return out


def drift(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    exclude: Iterable[str] = (),
    tests: str | Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    share: float = 0.5,
    alpha: float = 0.01,
    categorical: Sequence[str] = (),
    numerical: Sequence[str] = (),
    sample: int | float | None = None,
    seed: int = 0,
    threads: int | None = None,
) -> DriftReport:
    """Find the columns whose distribution differs between reference and current data.

    The test of each column is chosen by its type and the sample size (see the table in
    :mod:`keel.monitoring._drift`'s documentation, also in ``docs``); all columns are summarized
    in parallel with vectorized NumPy, Arrow or pandas kernels, on every row unless ``sample``
    is given.

    Args:
        reference: The data the model was trained or validated on: a pandas or polars
            DataFrame, an Arrow table, a Parquet path, a dataset version (``"tx@v3"``) or a
            :class:`ReferenceProfile` computed earlier.
        current: The data to check, in any of the same forms but a profile.
        columns: Compare only these columns of the reference (all by default).
        exclude: Columns not to compare.
        tests: A test name for every column, or ``{column: test}``; ``"auto"`` is the default.
        thresholds: ``{column: threshold}`` overriding the threshold of its test.
        share: The share of drifted columns from which the dataset counts as drifted.
        alpha: Significance level of the p-values that confirm a distance (and of the
            missing-value test).
        categorical: Columns to compare as categories whatever their type.
        numerical: Numeric columns to compare as numbers even with few values.
        sample: Compare only this many rows (or this fraction) of each side, drawn at random.
        seed: Seed of the sample.
        threads: Worker threads (one per core by default).

    Returns:
        The report: ``report.drifted_features``, ``report.features[name]``, ``to_html()``...

    Raises:
        InvalidArgumentError: An input is unsupported, a named column does not exist, or a test
            does not apply to a column's type.

    Examples:
        >>> import numpy as np, pandas as pd, keel.monitoring as km
        >>> rng = np.random.default_rng(0)
        >>> ref = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)})
        >>> cur = pd.DataFrame({"a": rng.normal(1, 1, 2000), "b": rng.normal(size=2000)})
        >>> km.drift(ref, cur).drifted_features
        ['a']
    """
    started = time.perf_counter()
    if not 0 < share <= 1:
        raise InvalidArgumentError(f"share must be in (0, 1], got {share!r}.")
    if not 0 < alpha < 1:
        raise InvalidArgumentError(f"alpha must be in (0, 1), got {alpha!r}.")
    cur_cols = as_columns(current, "current")
    if sample is not None:
        cur_cols = cur_cols.sample(sample, seed + 1)
    if isinstance(reference, ReferenceProfile):
        profile = reference
        for group, arg in ((categorical, "categorical"), (numerical, "numerical")):
            if group:
                raise InvalidArgumentError(
                    f"{arg} cannot be given with a ReferenceProfile: the profile fixed how each "
                    "column is compared. Pass it to reference_profile() instead."
                )
    elif (
        isinstance(reference, str)
        and is_dataset_ref(reference)
        and columns is None
        and not categorical
        and not numerical
        and sample is None
    ):
        from keel.monitoring._client import get_monitoring_client
        from keel.monitoring._profiles import dataset_profile

        profile = dataset_profile(get_monitoring_client(), reference)[0]
    else:
        profile = reference_profile(
            reference,
            columns=columns,
            categorical=categorical,
            numerical=numerical,
            sample=sample,
            seed=seed,
            threads=threads,
        )
    names = _pick(profile.names, columns, "reference", "columns")
    excluded = set(exclude)
    _pick(profile.names, list(excluded), "reference", "exclude")
    names = [n for n in names if n not in excluded]
    opts = _Options(_check_tests(tests, names), _check_thresholds(thresholds, names), alpha)
    if isinstance(tests, str) and tests != "auto":  # one name for all: where it applies
        opts = _Options(
            {
                n: t
                for n, t in opts.tests.items()
                if _comparable(profile.columns[n].treatment) & TESTS[t]
            },
            opts.thresholds,
            alpha,
        )
    cur_names = set(cur_cols.names)
    present = [n for n in names if n in cur_names]
    missing_columns = [n for n in names if n not in cur_names]
    new_columns = [n for n in cur_cols.names if n not in profile.columns]

    def work(name: str) -> FeatureDrift:
        prof = profile.columns[name]
        if prof.treatment == "skipped":
            return _compare(prof, prof.kind, None, opts)
        kind, summary = _current_summary(cur_cols, prof)
        return _compare(prof, kind, summary, opts)

    results = _parallel(work, present, threads)
    features = {f.name: f for f in results}
    for name in missing_columns:
        prof = profile.columns[name]
        features[name] = FeatureDrift(
            name,
            prof.treatment if prof.treatment != "discrete" else "categorical",
            None,
            None,
            None,
            None,
            None,
            False,
            note="missing from the current data",
        )
    features = {n: features[n] for n in names}
    compared = [f for f in features.values() if f.test is not None]
    drifted = sum(1 for f in compared if f.drifted)
    frac = drifted / len(compared) if compared else 0.0
    type_changes = {
        f.name: (f.details["reference_kind"], f.details["current_kind"])
        for f in features.values()
        if f.test == "type"
    }
    return DriftReport(
        features=features,
        reference_rows=profile.num_rows,
        current_rows=cur_cols.num_rows,
        share=frac,
        share_threshold=share,
        dataset_drift=bool(compared) and frac >= share,
        missing_columns=missing_columns,
        new_columns=new_columns,
        type_changes=type_changes,
        settings={
            "alpha": alpha,
            "share": share,
            "tests": dict(opts.tests) if not isinstance(tests, str) else tests,
            "thresholds": dict(opts.thresholds),
            "sample": sample,
            "small_sample": SMALL_SAMPLE,
        },
        reference=profile.source,
        current=cur_cols.source,
        created_at=now_ms(),
        duration_s=time.perf_counter() - started,
    )
