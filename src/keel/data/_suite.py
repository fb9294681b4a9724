"""Validation suites: a named list of checks, written in Python or YAML, versioned by digest.

A suite file looks like this::

    name: tx-quality
    description: Transactions as the payments team sends them.
    checks:
      - not_null: [amount, customer_id]
      - between: {column: amount, min: 0, max: 50000}
      - in_set: {column: country, values: [DE, FR, IT]}
      - unique: tx_id
      - row_count: {min: 1000}
      - matches: {column: email, pattern: "^[^@]+@[^@]+$"}
      - fresh: {column: event_time, max_age: 2d}
      - schema: {columns: {amount: float64, country: string}}
      - expression: {sql: "fee <= amount", name: fee below amount, severity: warn}
      - python: {function: "mypkg.checks:plausible_email", columns: [email]}

Each entry has one key, the check's kind; its value is the check's keyword arguments, or a
scalar or list standing for its main argument. The suite's digest is the sha256 of its canonical
JSON form: when a recorded suite's definition changes, the store gives it the next version.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from keel._utils import now_ms
from keel.data._checks import Check, check_from_spec
from keel.data._results import ValidationResult
from keel.errors import InvalidArgumentError, NotFoundError

__all__ = ["Suite", "load_suite"]

_SUITE_KEYS = ("name", "description", "checks")


class Suite:
    """A named list of checks to run together on a dataset.

    Args:
        name: The suite's name; results and stored versions are filed under it.
        checks: The checks, in the order results are reported.
        description: What the suite guards, for people reading results.

    Examples:
        >>> suite = keel.data.Suite("tx-quality", checks=[keel.data.unique("tx_id")])
        >>> suite.to_yaml().splitlines()[:3]
        ['name: tx-quality', 'checks:', '- unique:']
    """

    def __init__(self, name: str, checks: Iterable[Check] = (), *, description: str = "") -> None:
        if not isinstance(name, str) or not name.strip():
            raise InvalidArgumentError(f"A suite needs a non-empty name, got {name!r}.")
        self.name = name.strip()
        self.description = description
        self.checks: list[Check] = []
        for c in checks:
            self.add(c)

    def add(self, check: Check) -> Suite:
        """Append a check and return the suite, for chaining.

        Raises:
            InvalidArgumentError: ``check`` is not a check.
        """
        if not isinstance(check, Check):
            raise InvalidArgumentError(
                f"Suite {self.name!r}: {check!r} is not a check. Build checks with "
                "keel.data.not_null(...), keel.data.between(...) and the other check functions."
            )
        self.checks.append(check)
        return self

    def __repr__(self) -> str:
        return f"<Suite {self.name!r}: {len(self.checks)} checks, digest {self.digest[:12]}>"

    def __len__(self) -> int:
        return len(self.checks)

    # -- serialization ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the suite as plain data (the YAML form)."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["checks"] = [c.spec() for c in self.checks]
        return out

    @property
    def digest(self) -> str:
        """The sha256 of the suite's canonical JSON: equal definitions, equal digests."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_yaml(self, path: str | os.PathLike[str] | None = None) -> str:
        """Return the suite as YAML text, and write it to ``path`` if given."""
        import yaml

        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "suite") -> Suite:
        """Build a suite from its plain-data form.

        Raises:
            InvalidArgumentError: The data is not a suite; the message says where.
        """
        if not isinstance(data, Mapping):
            raise InvalidArgumentError(
                f"{where}: a suite is a mapping with 'name' and 'checks', got "
                f"{type(data).__name__}."
            )
        unknown = sorted(set(data) - set(_SUITE_KEYS))
        if unknown:
            raise InvalidArgumentError(
                f"{where}: unknown suite keys {unknown!r}; a suite has {list(_SUITE_KEYS)!r}."
            )
        if "name" not in data:
            raise InvalidArgumentError(f"{where}: the suite has no 'name'.")
        checks = data.get("checks") or []
        if not isinstance(checks, list):
            raise InvalidArgumentError(f"{where}: 'checks' must be a list, got {checks!r}.")
        built = [check_from_spec(spec, f"{where}, check {i + 1}") for i, spec in enumerate(checks)]
        return cls(str(data["name"]), built, description=str(data.get("description") or ""))

    @classmethod
    def from_yaml(cls, source: str | os.PathLike[str]) -> Suite:
        """Read a suite from a YAML file, or from YAML text.

        Raises:
            NotFoundError: ``source`` looks like a path but no such file exists.
            InvalidArgumentError: The YAML is malformed or is not a suite.
        """
        import yaml

        where = "suite"
        text: str
        if isinstance(source, os.PathLike) or (
            isinstance(source, str)
            and "\n" not in source
            and (source.endswith((".yaml", ".yml")) or Path(source).is_file())
        ):
            path = Path(source)
            if not path.is_file():
                raise NotFoundError(
                    f"No suite file at {str(path)!r}. Write one by hand or start from "
                    "'keel data suggest NAME@VERSION > suite.yaml'.",
                    details={"path": str(path)},
                )
            text, where = path.read_text(encoding="utf-8"), str(path)
        else:
            text = str(source)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidArgumentError(f"{where} is not valid YAML: {exc}") from exc
        return cls.from_dict(data, where=where)

    # -- running ----------------------------------------------------------------------------

    def validate(
        self,
        target: Any,
        *,
        record: bool = True,
        run_id: str | None = None,
        csv_options: Mapping[str, Any] | None = None,
    ) -> ValidationResult:
        """Run every check on a dataset and return the result.

        When ``target`` is a registered dataset version (a :class:`DatasetVersion` or
        ``"name@v3"``) and ``record`` is true, the result is stored with the suite's version and
        linked to the dataset version in the lineage graph.

        Args:
            target: A DatasetVersion, ``"name@v3"``, a Parquet/CSV path or folder, or a data
                frame or Arrow table.
            record: Store the result (registered versions only).
            run_id: A tracked run to attach the result to (by default the run active in this
                thread, if any).
            csv_options: DuckDB ``read_csv`` options when ``target`` is a CSV file.

        Returns:
            The result: ``result.passed``, ``result.failures``, one entry per check.
        """
        from keel.data._engine import connect
        from keel.data._source import open_scan
        from keel.data._validate import run_checks

        started = time.perf_counter()
        created = now_ms()
        con = connect()
        try:
            with open_scan(target, csv_options=csv_options, con=con) as scan:
                num_rows, results = run_checks(self.checks, scan, con=con)
                version = scan.version
                label = scan.label
        finally:
            con.close()
        result = ValidationResult(
            suite_name=self.name,
            suite_digest=self.digest,
            dataset=label,
            dataset_version=version.ref if version is not None else None,
            num_rows=num_rows,
            checks=results,
            duration_s=time.perf_counter() - started,
            created_at=created,
            run_id=run_id,
            suite_definition=self.to_dict(),
        )
        if record and version is not None:
            from keel.data._store import record_result

            result = record_result(version, self, replace(result, run_id=run_id or _active_run()))
        return result


def _active_run() -> str | None:
    """The id of the tracked run active in this thread, if tracking is in use."""
    tracking = sys.modules.get("keel.tracking")  # never import it just to find no run
    if tracking is None:
        return None
    run = tracking.active_run()
    return None if run is None else str(run.id)


def load_suite(suite: Suite | str | os.PathLike[str] | Mapping[str, Any]) -> Suite:
    """Return ``suite`` as a :class:`Suite`: itself, a YAML file or text, or a mapping."""
    if isinstance(suite, Suite):
        return suite
    if isinstance(suite, Mapping):
        return Suite.from_dict(suite)
    if isinstance(suite, (str, os.PathLike)):
        return Suite.from_yaml(suite)
    raise InvalidArgumentError(
        f"Expected a Suite, a YAML suite file or a mapping, got {type(suite).__name__!r}."
    )
