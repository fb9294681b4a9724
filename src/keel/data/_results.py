"""Validation results: a :class:`CheckResult` per check, in a :class:`ValidationResult`."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.errors import ValidationFailedError

if TYPE_CHECKING:
    from keel.data._profile import Profile

__all__ = ["CheckResult", "ValidationResult", "json_safe"]

#: Bad values shown per failed check: enough to recognize the problem, never a dump.
SAMPLE_SIZE = 5
_MAX_SAMPLE_CHARS = 80


def json_safe(value: Any) -> Any:
    """Turn a value DuckDB returned into something JSON can hold, shortened for display."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return "0x" + raw[:32].hex() + ("..." if len(raw) > 32 else "")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in list(value.items())[:20]}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value[:20]]
    text = str(value)
    return text if len(text) <= _MAX_SAMPLE_CHARS else text[: _MAX_SAMPLE_CHARS - 3] + "..."


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    Attributes:
        check: The check's kind (``"between"``).
        name: The check's label (``"between(amount, [0, 50000])"``).
        column: The column it judged, if one.
        passed: Whether it passed.
        severity: ``"error"`` or ``"warn"``.
        bad_rows: The exact number of rows that break it (``None`` for table-level checks).
        total_rows: The number of rows it judged (non-null rows for value checks).
        observed: What was measured, for table-level checks (row count, newest time, mean).
        samples: Up to five bad values (or duplicated keys, or schema problems).
        sample_rows: Row numbers (0-based, in file order) of up to five bad rows.
        message: One readable line.
    """

    check: str
    name: str
    column: str | None
    passed: bool
    severity: str
    bad_rows: int | None
    total_rows: int | None
    observed: Any
    samples: list[Any]
    sample_rows: list[int]
    message: str

    @property
    def bad_fraction(self) -> float | None:
        """``bad_rows / total_rows``, when both are known."""
        if self.bad_rows is None or not self.total_rows:
            return None
        return self.bad_rows / self.total_rows

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of a suite on a dataset.

    Attributes:
        suite_name: The suite's name.
        suite_digest: The sha256 of the suite's definition.
        suite_version: The stored suite version (``None`` if the result was not recorded).
        dataset: What was validated: ``name@vN`` or a path or ``pandas.DataFrame``.
        dataset_version: ``name@vN`` when a registered version was validated.
        num_rows: The rows validated.
        checks: One result per check, in suite order.
        duration_s: Wall time of the validation.
        id: The stored validation's id (``None`` if not recorded).
        created_at: When it ran, in milliseconds since the epoch.
    """

    suite_name: str
    suite_digest: str
    dataset: str
    num_rows: int
    checks: list[CheckResult]
    duration_s: float
    created_at: int
    suite_version: int | None = None
    dataset_version: str | None = None
    id: str | None = None
    run_id: str | None = None
    suite_definition: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether no check of severity ``error`` failed."""
        return not self.failures

    @property
    def failures(self) -> list[CheckResult]:
        """The failed checks of severity ``error``."""
        return [c for c in self.checks if not c.passed and c.severity == "error"]

    @property
    def warnings(self) -> list[CheckResult]:
        """The failed checks of severity ``warn``."""
        return [c for c in self.checks if not c.passed and c.severity != "error"]

    def __getitem__(self, name: str) -> CheckResult:
        """Return the result of the check with this label."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def __repr__(self) -> str:
        state = "passed" if self.passed else f"FAILED {len(self.failures)} of {len(self.checks)}"
        return (
            f"<ValidationResult {self.suite_name!r} on {self.dataset}: {state} "
            f"({self.num_rows:,} rows, {self.duration_s:.2f}s)>"
        )

    def summary(self) -> str:
        """Return a few readable lines: the verdict, then one line per failed check."""
        head = (
            f"Suite {self.suite_name!r} on {self.dataset} ({self.num_rows:,} rows): "
            + ("passed" if self.passed else "FAILED")
            + f", {len(self.checks) - len(self.failures) - len(self.warnings)} of "
            f"{len(self.checks)} checks passed"
        )
        lines = [head]
        for c in self.failures + self.warnings:
            tag = "FAIL" if c.severity == "error" else "WARN"
            lines.append(f"  {tag} {c.name}: {c.message}")
        return "\n".join(lines)

    def raise_for_failures(self) -> ValidationResult:
        """Raise :class:`~keel.errors.ValidationFailedError` if the suite failed, else return self.

        Raises:
            ValidationFailedError: A check of severity ``error`` failed; the message summarizes.
        """
        if not self.passed:
            raise ValidationFailedError(
                self.summary(),
                details={
                    "suite": self.suite_name,
                    "dataset": self.dataset,
                    "failed_checks": [c.name for c in self.failures],
                },
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dict."""
        return {
            "id": self.id,
            "suite": {
                "name": self.suite_name,
                "version": self.suite_version,
                "digest": self.suite_digest,
            },
            "dataset": self.dataset,
            "dataset_version": self.dataset_version,
            "passed": self.passed,
            "num_rows": self.num_rows,
            "duration_s": self.duration_s,
            "created_at": self.created_at,
            "run_id": self.run_id,
            "checks": [c.to_dict() for c in self.checks],
        }

    def to_json(self) -> str:
        """Return :meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=2, default=str)

    def to_html(self, path: str | Path | None = None, *, profile: Profile | None = None) -> str:
        """Render an offline, self-contained HTML report with a chart per column.

        Args:
            path: Write the report there too.
            profile: The dataset's profile (charts); looked up for registered versions.

        Returns:
            The HTML text.
        """
        from keel.data._report import render_report

        html = render_report(self, profile=profile)
        if path is not None:
            Path(path).write_text(html, encoding="utf-8")
        return html
