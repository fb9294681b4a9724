"""Recorded validations: storing results and answering "was this data validated?".

Every validation of a registered version is stored with the suite's version (a new definition
of a suite gets the next version number) and linked in the lineage graph
(``dataset_version -> data_validation``). A model registry gate asks
:func:`latest_validation` for a dataset version, or :func:`run_validations` for every dataset a
training run read (``keel.log_input(ds)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keel.data._client import get_data_client
from keel.data._results import CheckResult, ValidationResult

if TYPE_CHECKING:
    from keel.data._suite import Suite
    from keel.data._versions import DatasetVersion
    from keel.store._data import ValidationRecord

__all__ = ["latest_validation", "list_validations", "record_result", "run_validations"]


def record_result(
    version: DatasetVersion, suite: Suite, result: ValidationResult
) -> ValidationResult:
    """Store a result of ``suite`` on ``version`` and return it with its id and suite version."""
    from keel.store._data import NewCheckResult

    repo = version.client.repo
    suite_record = repo.get_or_create_suite(suite.name, suite.digest, suite.to_dict())
    record = repo.record_validation(
        version_id=version.id,
        suite=suite_record,
        passed=result.passed,
        num_rows=result.num_rows,
        duration_s=result.duration_s,
        checks=[
            NewCheckResult(
                check_type=c.check,
                name=c.name,
                column=c.column,
                passed=c.passed,
                severity=c.severity,
                bad_rows=c.bad_rows,
                total_rows=c.total_rows,
                observed=c.observed,
                samples=c.samples,
                sample_rows=c.sample_rows,
                message=c.message,
            )
            for c in result.checks
        ],
        created_by=version.client.settings.user,
        run_id=result.run_id,
    )
    return from_record(record, duration_s=result.duration_s)


def from_record(record: ValidationRecord, *, duration_s: float | None = None) -> ValidationResult:
    """Rebuild a :class:`ValidationResult` from its stored form."""
    return ValidationResult(
        suite_name=record.suite.name,
        suite_digest=record.suite.digest,
        suite_version=record.suite.version,
        suite_definition=record.suite.definition,
        dataset=record.dataset_ref,
        dataset_version=record.dataset_ref,
        num_rows=record.num_rows,
        checks=[
            CheckResult(
                check=c.check_type,
                name=c.name,
                column=c.column,
                passed=c.passed,
                severity=c.severity,
                bad_rows=c.bad_rows,
                total_rows=c.total_rows,
                observed=c.observed,
                samples=c.samples,
                sample_rows=c.sample_rows,
                message=c.message,
            )
            for c in record.checks
        ],
        duration_s=record.duration_s if duration_s is None else duration_s,
        created_at=record.created_at,
        id=record.id,
        run_id=record.run_id,
    )


def _version(dataset_version: DatasetVersion | str) -> DatasetVersion:
    from keel.data._versions import DatasetVersion, get

    if isinstance(dataset_version, DatasetVersion):
        return dataset_version
    return get(dataset_version)


def list_validations(
    dataset_version: DatasetVersion | str, *, suite: str | None = None, limit: int = 20
) -> list[ValidationResult]:
    """Return the recorded validations of a dataset version, newest first.

    Args:
        dataset_version: A DatasetVersion or ``"name@v3"``.
        suite: Only results of the suite with this name.
        limit: The most results to return.
    """
    version = _version(dataset_version)
    records = version.client.repo.list_validations(version.id, suite_name=suite, limit=limit)
    return [from_record(r) for r in records]


def latest_validation(
    dataset_version: DatasetVersion | str, *, suite: str | None = None
) -> ValidationResult | None:
    """Return the newest recorded validation of a dataset version, or ``None`` if it has none.

    This is the question a registry gate asks: ``latest_validation(ds)`` is ``None`` when the
    data was never validated, and ``.passed`` says whether the last validation passed.

    Args:
        dataset_version: A DatasetVersion or ``"name@v3"``.
        suite: Only results of the suite with this name.
    """
    found = list_validations(dataset_version, suite=suite, limit=1)
    return found[0] if found else None


def run_validations(run_id: str, *, suite: str | None = None) -> dict[str, ValidationResult | None]:
    """Return, for every dataset version a run read, its newest recorded validation.

    A run records what it read with ``keel.log_input(ds)``; a gate that asks "was this model's
    training data validated?" checks that every value is not ``None`` and ``.passed``.

    Args:
        run_id: The run's id.
        suite: Only results of the suite with this name.

    Returns:
        ``{"name@v3": result or None}`` for each dataset version the run read.
    """
    client = get_data_client()
    edges = client.store.list_lineage_edges(("run", run_id), direction="upstream")
    refs = sorted({e.source_id for e in edges if e.source_kind == "dataset_version"})
    return {ref: latest_validation(ref, suite=suite) for ref in refs}
