"""What the registry asks the data capability: validation results and holdout data.

The data capability owns datasets and their validations; a gate only asks two questions:
"what was the newest validation of ``name@vN``?" and "give me ``name@vN`` as a DataFrame".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ValidationSummary", "latest_validation", "read_dataset"]


@dataclass(frozen=True)
class ValidationSummary:
    """The newest validation of a dataset version, as a gate reports it."""

    dataset: str
    passed: bool
    suite: str
    failed_checks: list[str]
    created_at: int
    validation_id: str | None


def latest_validation(ref: str, suite: str | None = None) -> ValidationSummary | None:
    """Return the newest validation of dataset version ``ref`` (``name@vN``), or ``None``."""
    from keel.data import latest_validation as data_latest_validation

    result = data_latest_validation(ref, suite=suite)
    if result is None:
        return None
    return ValidationSummary(
        dataset=ref,
        passed=bool(result.passed),
        suite=f"{result.suite_name}"
        + (f" v{result.suite_version}" if result.suite_version is not None else ""),
        failed_checks=[
            c.name
            for c in result.checks
            if not c.passed and getattr(c, "severity", "error") == "error"
        ],
        created_at=int(result.created_at),
        validation_id=result.id,
    )


def read_dataset(ref: str) -> Any:
    """Return dataset version ``ref`` (``name@vN``) as a pandas DataFrame.

    Raises:
        NotFoundError: No such dataset version.
    """
    from keel.data import get

    return get(ref).to_pandas()
