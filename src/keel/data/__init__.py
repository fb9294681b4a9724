"""Datasets and data quality: versioned datasets, validation suites, profiles, diffs and reports.

Datasets (also reachable as :mod:`keel.datasets`)::

    ds = keel.datasets.register("transactions", "data/tx.parquet")   # or CSV, a folder, a frame
    ds = keel.datasets.get("transactions@v3")                         # or "@latest"
    df = ds.to_pandas()                                               # .to_arrow(), .to_polars()
    ds.sql("SELECT country, count(*) FROM data GROUP BY 1").df()

Validation::

    suite = keel.data.Suite("tx-quality", checks=[
        keel.data.not_null(["amount", "customer_id"]),
        keel.data.between("amount", 0, 50_000),
        keel.data.in_set("country", ["DE", "FR", "IT"]),
        keel.data.unique("tx_id"),
        keel.data.row_count(min=1_000),
    ])                                     # or keel.data.Suite.from_yaml("suite.yaml")
    result = suite.validate(ds)            # recorded and linked to the dataset version
    result.passed, result.failures         # each failure: check, column, bad_rows, samples

Profiles, suggestions, comparisons and reports::

    ds.profile                             # per column: type, nulls, distinct, stats, histogram
    keel.data.suggest(ds).to_yaml()        # a starter suite from the profile
    keel.data.diff("transactions@v1", "transactions@v2").summary()
    result.to_html("report.html")          # offline, self-contained

Custom checks come in two kinds, both judged per row, counted exactly and sampled like the
built-in ones (rows where they return NULL pass, as in a SQL ``CHECK`` constraint)::

    keel.data.expression("fee <= amount", columns=["fee", "amount"], name="fee below amount")

    def plausible_email(email: pd.Series) -> pd.Series:      # one argument per column
        return email.str.len().between(6, 254)                # one boolean per row
    keel.data.python(plausible_email, columns=["email"])      # input="pandas" | "arrow" | "numpy"

The SQL expression is DuckDB SQL over the dataset's columns. The Python function is called by
DuckDB on batches of rows (a few thousand at a time), so it never holds the whole table. In a
YAML suite, name it by import path: ``- python: {function: "mypkg.checks:plausible_email",
columns: [email]}``.

Validation and profiling run as DuckDB SQL over Parquet, out of core: set
``KEEL_DATA_MEMORY_LIMIT`` (or :func:`configure_engine`) and DuckDB spills to
``$KEEL_HOME/tmp/duckdb`` instead of running out of memory. With an ``s3://`` artifact store,
a version's Parquet blobs are downloaded once to ``$KEEL_HOME/cache/data`` (their sha256
verified while copying, and again when a cached copy is reused in a new process) and DuckDB
reads them there; a damaged cached copy is fetched again.

Every validation of a registered version is recorded with the suite's name and version (a
changed definition gets the next version) and linked in the lineage graph. A registry gate asks
:func:`latest_validation` (``None`` if never validated) or :func:`run_validations` (every
dataset version a run read with ``keel.log_input``).

Column types in :func:`schema` checks: ``int8`` ... ``int64``, ``uint8`` ... ``uint64``,
``float32``, ``float64``, ``decimal``, ``bool``, ``string``, ``binary``, ``date``, ``time``,
``timestamp``, ``timestamp_tz``; aliases such as ``double``, ``str``, ``datetime``; and the
families ``integer``, ``floating``, ``numeric`` and ``temporal``.
"""

from __future__ import annotations

from typing import Any

from keel.data._checks import (
    Check,
    between,
    expression,
    fresh,
    in_set,
    matches,
    mean_between,
    not_null,
    python,
    row_count,
    schema,
    unique,
)
from keel.data._diff import ColumnDiff, DatasetDiff, diff
from keel.data._engine import EngineOptions, configure_engine, engine_options
from keel.data._profile import ColumnProfile, Profile, profile
from keel.data._report import render_report
from keel.data._results import CheckResult, ValidationResult
from keel.data._store import latest_validation, list_validations, run_validations
from keel.data._suggest import suggest, suggest_yaml
from keel.data._suite import Suite, load_suite
from keel.data._versions import (
    Dataset,
    DatasetVersion,
    get,
    list_datasets,
    list_versions,
    parse_ref,
    register,
)

__all__ = [
    "Check",
    "CheckResult",
    "ColumnDiff",
    "ColumnProfile",
    "Dataset",
    "DatasetDiff",
    "DatasetVersion",
    "EngineOptions",
    "Profile",
    "Suite",
    "ValidationResult",
    "between",
    "configure_engine",
    "diff",
    "engine_options",
    "expression",
    "fresh",
    "get",
    "in_set",
    "latest_validation",
    "list_datasets",
    "list_validations",
    "list_versions",
    "load_suite",
    "matches",
    "mean_between",
    "not_null",
    "parse_ref",
    "profile",
    "python",
    "register",
    "render_report",
    "row_count",
    "run_validations",
    "schema",
    "suggest",
    "suggest_yaml",
    "unique",
    "validate",
]


def validate(
    target: Any,
    suite: Suite | str | Any,
    *,
    record: bool = True,
    run_id: str | None = None,
) -> ValidationResult:
    """Run a suite on a dataset and return the result.

    Args:
        target: A DatasetVersion, ``"name@v3"``, a Parquet/CSV path or folder, or a data frame
            or Arrow table.
        suite: A :class:`Suite`, a YAML suite file or YAML text, or the suite as a mapping.
        record: Store the result when ``target`` is a registered version.
        run_id: A tracked run to attach the result to.

    Returns:
        The result; ``result.passed`` and ``result.failures`` say what broke.
    """
    return load_suite(suite).validate(target, record=record, run_id=run_id)
