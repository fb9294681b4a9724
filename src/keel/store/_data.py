"""Queries of the data capability: datasets, versions, suites and validation results.

:class:`DataRepository` takes a :class:`~keel.store.SqlMetadataStore` and returns the plain
records defined here; no SQLAlchemy row leaves this module. Every change is written in one
transaction with its audit event (and its lineage edges).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from keel._utils import new_id, now_ms
from keel.errors import InvalidArgumentError, NotFoundError, near_matches
from keel.store._engine import store_error, write_connection
from keel.store._repo import Repository, to_record
from keel.store._schema_data import (
    DataCheckResultRow,
    DatasetRow,
    DatasetVersionRow,
    DataSuiteRow,
    DataValidationRow,
)

__all__ = [
    "CheckResultRecord",
    "DataRepository",
    "DatasetRecord",
    "DatasetVersionRecord",
    "NewCheckResult",
    "NewDatasetVersion",
    "SuiteRecord",
    "ValidationRecord",
]

_datasets = cast(Table, DatasetRow.__table__)
_versions = cast(Table, DatasetVersionRow.__table__)
_suites = cast(Table, DataSuiteRow.__table__)
_validations = cast(Table, DataValidationRow.__table__)
_checks = cast(Table, DataCheckResultRow.__table__)

#: How often a writer retries after losing a race for a version number.
_RETRIES = 20


@dataclass(frozen=True)
class DatasetRecord:
    """A named dataset and a summary of its versions."""

    id: str
    name: str
    description: str
    created_at: int
    created_by: str
    num_versions: int = 0
    latest_version: int | None = None
    latest_created_at: int | None = None


@dataclass(frozen=True)
class DatasetVersionRecord:
    """The metadata of one dataset version."""

    id: str
    dataset_id: str
    dataset_name: str
    version: int
    digest: str
    storage: str
    num_rows: int
    num_columns: int
    num_files: int
    size_bytes: int
    schema: list[dict[str, Any]]
    source: str | None
    source_format: str
    description: str
    parents: list[str]
    tags: dict[str, Any]
    profile_digest: str | None
    created_at: int
    created_by: str

    @property
    def ref(self) -> str:
        """The version's reference, ``name@vN``."""
        return f"{self.dataset_name}@v{self.version}"


@dataclass(frozen=True)
class NewDatasetVersion:
    """What is known about a version before it is stored."""

    name: str
    digest: str
    storage: str
    num_rows: int
    num_columns: int
    num_files: int
    size_bytes: int
    schema: list[dict[str, Any]]
    source: str | None
    source_format: str
    created_by: str
    description: str = ""
    parents: Sequence[str] = ()
    tags: dict[str, Any] = field(default_factory=dict)
    dataset_description: str = ""


@dataclass(frozen=True)
class SuiteRecord:
    """One version of a validation suite."""

    id: str
    name: str
    version: int
    digest: str
    definition: dict[str, Any]
    created_at: int


@dataclass(frozen=True)
class NewCheckResult:
    """The outcome of one check, as the validator computed it."""

    check_type: str
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


@dataclass(frozen=True)
class CheckResultRecord(NewCheckResult):
    """A stored check outcome with its position in the validation."""

    position: int = 0


@dataclass(frozen=True)
class ValidationRecord:
    """A stored validation: which suite version ran on which dataset version, and the outcome."""

    id: str
    dataset_version_id: str
    dataset_ref: str
    suite: SuiteRecord
    passed: bool
    num_checks: int
    num_failed: int
    num_warnings: int
    num_rows: int
    duration_s: float
    run_id: str | None
    created_at: int
    created_by: str
    checks: list[CheckResultRecord]


class DataRepository(Repository):
    """Datasets, versions, suites and validations in the one metadata store.

    Args:
        store: The metadata store to read and write.
    """

    # -- datasets and versions --------------------------------------------------------------

    def create_version(self, new: NewDatasetVersion) -> tuple[DatasetVersionRecord, bool]:
        """Store a new version of ``new.name``, or return the version that has its content.

        The next number is read and inserted in one transaction; a writer that loses the race
        for a number (unique index) retries with the next, so concurrent registrations never
        share a number. Parents become lineage edges ``parent -> version``.

        Returns:
            The version and whether it was created (``False``: the content was registered).

        Raises:
            NotFoundError: A parent reference names no stored version.
        """
        for _ in range(_RETRIES):
            existing = self.find_version_by_digest(new.name, new.digest)
            if existing is not None:
                return existing, False
            try:
                return self._insert_version(new), True
            except SAIntegrityError:
                continue  # lost a race: for the number (retry) or the content (found above)
            except DBAPIError as exc:
                raise store_error(self.store.uri, exc) from exc
        raise store_error(
            self.store.uri,
            DBAPIError("insert dataset version", None, RuntimeError("too much contention")),
        )

    def _insert_version(self, new: NewDatasetVersion) -> DatasetVersionRecord:
        now = now_ms()
        with write_connection(self.store.engine) as conn:
            dataset_id = conn.execute(
                select(_datasets.c.id).where(_datasets.c.name == new.name)
            ).scalar_one_or_none()
            if dataset_id is None:
                dataset_id = new_id()
                conn.execute(
                    _datasets.insert().values(
                        id=dataset_id,
                        name=new.name,
                        description=new.dataset_description,
                        created_at=now,
                        created_by=new.created_by,
                    )
                )
                self.store.audit_event(conn, "dataset.create", "dataset", new.name, {})
            parent_ids = [self._require_ref(conn, ref) for ref in new.parents]
            number = (
                conn.execute(
                    select(func.max(_versions.c.version)).where(
                        _versions.c.dataset_id == dataset_id
                    )
                ).scalar_one_or_none()
                or 0
            ) + 1
            version_id = new_id()
            conn.execute(
                _versions.insert().values(
                    id=version_id,
                    dataset_id=dataset_id,
                    version=number,
                    digest=new.digest,
                    storage=new.storage,
                    num_rows=new.num_rows,
                    num_columns=new.num_columns,
                    num_files=new.num_files,
                    size_bytes=new.size_bytes,
                    schema=new.schema,
                    source=new.source,
                    source_format=new.source_format,
                    description=new.description,
                    parents=list(new.parents),
                    tags=dict(new.tags),
                    profile_digest=None,
                    created_at=now,
                    created_by=new.created_by,
                )
            )
            ref = f"{new.name}@v{number}"
            for parent_ref, _ in zip(new.parents, parent_ids, strict=True):
                self._insert_edge(
                    conn,
                    ("dataset_version", parent_ref),
                    ("dataset_version", ref),
                    "derived_from",
                    None,
                    now,
                )
                self.store.audit_event(
                    conn,
                    "lineage.add_edge",
                    "dataset_version",
                    ref,
                    {"source": f"dataset_version:{parent_ref}", "relation": "derived_from"},
                )
            self.store.audit_event(
                conn,
                "dataset_version.create",
                "dataset_version",
                ref,
                {
                    "digest": new.digest,
                    "num_rows": new.num_rows,
                    "size_bytes": new.size_bytes,
                    "source": new.source,
                },
            )
        return self.get_version(new.name, number)

    def _require_ref(self, conn: Connection, ref: str) -> str:
        name, _, rest = ref.partition("@v")
        row = None
        if rest.isdigit():
            row = conn.execute(
                select(_versions.c.id)
                .join(_datasets, _datasets.c.id == _versions.c.dataset_id)
                .where(_datasets.c.name == name, _versions.c.version == int(rest))
            ).first()
        if row is None:
            raise NotFoundError(
                f"The parent dataset version {ref!r} does not exist. Give parents as registered "
                "versions ('name@v3') or DatasetVersion objects.",
                details={"ref": ref},
            )
        return str(row[0])

    def find_version_by_digest(self, name: str, digest: str) -> DatasetVersionRecord | None:
        """Return the version of dataset ``name`` whose content has ``digest``, if any."""
        with self.store._read() as conn:
            row = conn.execute(
                self._version_query().where(_datasets.c.name == name, _versions.c.digest == digest)
            ).first()
        return None if row is None else _to_version(row)

    def find_versions_by_digest(self, digest: str) -> list[DatasetVersionRecord]:
        """Return every version (of any dataset) whose content has ``digest``."""
        with self.store._read() as conn:
            rows = conn.execute(
                self._version_query()
                .where(_versions.c.digest == digest)
                .order_by(_versions.c.created_at)
            ).all()
        return [_to_version(r) for r in rows]

    @staticmethod
    def _version_query() -> Any:
        return select(_versions, _datasets.c.name.label("dataset_name")).join(
            _datasets, _datasets.c.id == _versions.c.dataset_id
        )

    def get_dataset(self, name: str) -> DatasetRecord:
        """Return a dataset by name with a summary of its versions.

        Raises:
            NotFoundError: No dataset has that name; the message lists near names.
        """
        for ds in self.list_datasets(name=name):
            return ds
        raise self._dataset_not_found(name)

    def _dataset_not_found(self, name: str) -> NotFoundError:
        with self.store._read() as conn:
            names = conn.execute(select(_datasets.c.name)).scalars().all()
        hint = near_matches(name, names)
        if not hint and names:
            shown = sorted(names)[:10]
            hint = " Registered datasets: " + ", ".join(repr(n) for n in shown) + "."
        return NotFoundError(
            f"No dataset is named {name!r}.{hint} List datasets with 'keel data ls'.",
            details={"name": name},
        )

    def list_datasets(self, name: str | None = None) -> list[DatasetRecord]:
        """Return every dataset (or the one called ``name``), by name."""
        stats = (
            select(
                _versions.c.dataset_id,
                func.count().label("n"),
                func.max(_versions.c.version).label("latest"),
                func.max(_versions.c.created_at).label("latest_at"),
            )
            .group_by(_versions.c.dataset_id)
            .subquery()
        )
        query = (
            select(_datasets, stats.c.n, stats.c.latest, stats.c.latest_at)
            .outerjoin(stats, stats.c.dataset_id == _datasets.c.id)
            .order_by(_datasets.c.name)
        )
        if name is not None:
            query = query.where(_datasets.c.name == name)
        with self.store._read() as conn:
            rows = conn.execute(query).all()
        return [
            DatasetRecord(
                id=r.id,
                name=r.name,
                description=r.description,
                created_at=r.created_at,
                created_by=r.created_by,
                num_versions=int(r.n or 0),
                latest_version=r.latest,
                latest_created_at=r.latest_at,
            )
            for r in rows
        ]

    def get_version(self, name: str, version: int | None = None) -> DatasetVersionRecord:
        """Return version ``version`` of dataset ``name`` (the latest if ``None``).

        Raises:
            NotFoundError: The dataset or the version does not exist; the message lists near
                dataset names or the existing versions.
        """
        query = self._version_query().where(_datasets.c.name == name)
        if version is None:
            query = query.order_by(_versions.c.version.desc()).limit(1)
        else:
            query = query.where(_versions.c.version == version)
        with self.store._read() as conn:
            row = conn.execute(query).first()
        if row is not None:
            return _to_version(row)
        versions = [v.version for v in self.list_versions(name)]  # raises for unknown names
        listed = ", ".join(f"v{v}" for v in versions[-10:]) or "none"
        raise NotFoundError(
            f"Dataset {name!r} has no version {_fmt_version(version)}. Its versions: {listed}"
            f"{' (latest ten)' if len(versions) > 10 else ''}. Use 'name@vN' or 'name@latest'.",
            details={"name": name, "version": version},
        )

    def get_version_by_id(self, version_id: str) -> DatasetVersionRecord:
        """Return a version by its id.

        Raises:
            NotFoundError: No version has that id.
        """
        with self.store._read() as conn:
            row = conn.execute(self._version_query().where(_versions.c.id == version_id)).first()
        if row is None:
            raise NotFoundError(
                f"No dataset version has id {version_id!r}.", details={"id": version_id}
            )
        return _to_version(row)

    def list_versions(self, name: str) -> list[DatasetVersionRecord]:
        """Return every version of dataset ``name``, oldest first.

        Raises:
            NotFoundError: No dataset has that name.
        """
        with self.store._read() as conn:
            rows = conn.execute(
                self._version_query().where(_datasets.c.name == name).order_by(_versions.c.version)
            ).all()
            if not rows and (
                conn.execute(select(_datasets.c.id).where(_datasets.c.name == name)).first() is None
            ):
                raise self._dataset_not_found(name)
        return [_to_version(r) for r in rows]

    def set_profile(self, version_id: str, profile_digest: str) -> None:
        """Record the digest of a version's profile blob."""
        with write_connection(self.store.engine) as conn:
            ref = self._ref_of(conn, version_id)
            conn.execute(
                update(_versions)
                .where(_versions.c.id == version_id)
                .values(profile_digest=profile_digest)
            )
            self.store.audit_event(
                conn, "dataset_version.profile", "dataset_version", ref, {"digest": profile_digest}
            )

    def _ref_of(self, conn: Connection, version_id: str) -> str:
        row = conn.execute(
            select(_datasets.c.name, _versions.c.version)
            .join(_datasets, _datasets.c.id == _versions.c.dataset_id)
            .where(_versions.c.id == version_id)
        ).first()
        if row is None:
            raise NotFoundError(
                f"No dataset version has id {version_id!r}.", details={"id": version_id}
            )
        return f"{row[0]}@v{row[1]}"

    # -- suites and validations -------------------------------------------------------------

    def get_or_create_suite(
        self, name: str, digest: str, definition: dict[str, Any]
    ) -> SuiteRecord:
        """Return the version of suite ``name`` with this definition, creating it if new."""
        for _ in range(_RETRIES):
            with self.store._read() as conn:
                row = conn.execute(
                    select(_suites).where(_suites.c.name == name, _suites.c.digest == digest)
                ).first()
            if row is not None:
                return _to_suite(row)
            try:
                with write_connection(self.store.engine) as conn:
                    number = (
                        conn.execute(
                            select(func.max(_suites.c.version)).where(_suites.c.name == name)
                        ).scalar_one_or_none()
                        or 0
                    ) + 1
                    suite_id = new_id()
                    conn.execute(
                        _suites.insert().values(
                            id=suite_id,
                            name=name,
                            version=number,
                            digest=digest,
                            definition=definition,
                            created_at=now_ms(),
                        )
                    )
                    self.store.audit_event(
                        conn,
                        "data_suite.create",
                        "data_suite",
                        f"{name}@v{number}",
                        {"digest": digest},
                    )
            except SAIntegrityError:
                continue
        return self.get_suite(name, digest=digest)

    def get_suite(
        self, name: str, *, version: int | None = None, digest: str | None = None
    ) -> SuiteRecord:
        """Return a stored suite version by number or digest (the latest if neither).

        Raises:
            NotFoundError: No such suite version.
        """
        query = select(_suites).where(_suites.c.name == name)
        if version is not None:
            query = query.where(_suites.c.version == version)
        if digest is not None:
            query = query.where(_suites.c.digest == digest)
        with self.store._read() as conn:
            row = conn.execute(query.order_by(_suites.c.version.desc()).limit(1)).first()
            if row is None:
                names = conn.execute(select(_suites.c.name).distinct()).scalars().all()
        if row is None:
            raise NotFoundError(
                f"No validation suite {name!r}"
                f"{'' if version is None else f' version {version}'} is stored."
                f"{near_matches(name, names)} Suites are stored when they first validate a "
                "registered dataset version.",
                details={"name": name},
            )
        return _to_suite(row)

    def record_validation(
        self,
        *,
        version_id: str,
        suite: SuiteRecord,
        passed: bool,
        num_rows: int,
        duration_s: float,
        checks: Sequence[NewCheckResult],
        created_by: str,
        run_id: str | None = None,
    ) -> ValidationRecord:
        """Store a validation and its check results, linked to the dataset version.

        The lineage graph gets ``dataset_version -> data_validation`` (relation
        ``validated_by``).
        """
        validation_id = new_id()
        now = now_ms()
        failed = sum(1 for c in checks if not c.passed and c.severity == "error")
        warnings = sum(1 for c in checks if not c.passed and c.severity != "error")
        try:
            with write_connection(self.store.engine) as conn:
                ref = self._ref_of(conn, version_id)
                conn.execute(
                    _validations.insert().values(
                        id=validation_id,
                        dataset_version_id=version_id,
                        suite_id=suite.id,
                        passed=passed,
                        num_checks=len(checks),
                        num_failed=failed,
                        num_warnings=warnings,
                        num_rows=num_rows,
                        duration_s=duration_s,
                        run_id=run_id,
                        created_at=now,
                        created_by=created_by,
                    )
                )
                if checks:
                    conn.execute(
                        _checks.insert(),
                        [
                            {
                                "validation_id": validation_id,
                                "position": i,
                                "check_type": c.check_type,
                                "name": c.name[:512],
                                "column_name": c.column,
                                "passed": c.passed,
                                "severity": c.severity,
                                "bad_rows": c.bad_rows,
                                "total_rows": c.total_rows,
                                "observed": c.observed,
                                "samples": c.samples,
                                "sample_rows": c.sample_rows,
                                "message": c.message,
                            }
                            for i, c in enumerate(checks)
                        ],
                    )
                self._insert_edge(
                    conn,
                    ("dataset_version", ref),
                    ("data_validation", validation_id),
                    "validated_by",
                    {"suite": f"{suite.name}@v{suite.version}", "passed": passed},
                    now,
                )
                self.store.audit_event(
                    conn,
                    "data_validation.create",
                    "data_validation",
                    validation_id,
                    {
                        "dataset_version": ref,
                        "suite": f"{suite.name}@v{suite.version}",
                        "passed": passed,
                        "failed_checks": failed,
                    },
                )
        except DBAPIError as exc:
            raise store_error(self.store.uri, exc) from exc
        return self.get_validation(validation_id)

    def get_validation(self, validation_id: str) -> ValidationRecord:
        """Return a stored validation with its check results.

        Raises:
            NotFoundError: No validation has that id.
        """
        found = self._load_validations([_validations.c.id == validation_id], limit=1)
        if not found:
            raise NotFoundError(
                f"No data validation has id {validation_id!r}.", details={"id": validation_id}
            )
        return found[0]

    def list_validations(
        self, version_id: str, *, suite_name: str | None = None, limit: int = 100
    ) -> list[ValidationRecord]:
        """Return the validations of a dataset version, newest first."""
        if limit < 1:
            raise InvalidArgumentError(f"limit must be at least 1, got {limit!r}.")
        conds: list[Any] = [_validations.c.dataset_version_id == version_id]
        if suite_name is not None:
            conds.append(_suites.c.name == suite_name)
        return self._load_validations(conds, limit=limit)

    def _load_validations(self, conds: list[Any], *, limit: int) -> list[ValidationRecord]:
        query = (
            select(
                _validations,
                _suites.c.name.label("suite_name"),
                _suites.c.version.label("suite_version"),
                _suites.c.digest.label("suite_digest"),
                _suites.c.definition.label("suite_definition"),
                _suites.c.created_at.label("suite_created_at"),
                _datasets.c.name.label("dataset_name"),
                _versions.c.version.label("dataset_version"),
            )
            .join(_suites, _suites.c.id == _validations.c.suite_id)
            .join(_versions, _versions.c.id == _validations.c.dataset_version_id)
            .join(_datasets, _datasets.c.id == _versions.c.dataset_id)
            .where(*conds)
            .order_by(_validations.c.created_at.desc(), _validations.c.id.desc())
            .limit(limit)
        )
        with self.store._read() as conn:
            rows = conn.execute(query).all()
            ids = [r.id for r in rows]
            checks: dict[str, list[CheckResultRecord]] = {i: [] for i in ids}
            if ids:
                for c in conn.execute(
                    select(_checks)
                    .where(_checks.c.validation_id.in_(ids))
                    .order_by(_checks.c.validation_id, _checks.c.position)
                ):
                    checks[c.validation_id].append(
                        CheckResultRecord(
                            check_type=c.check_type,
                            name=c.name,
                            column=c.column_name,
                            passed=bool(c.passed),
                            severity=c.severity,
                            bad_rows=c.bad_rows,
                            total_rows=c.total_rows,
                            observed=c.observed,
                            samples=list(c.samples or []),
                            sample_rows=list(c.sample_rows or []),
                            message=c.message,
                            position=c.position,
                        )
                    )
        return [
            ValidationRecord(
                id=r.id,
                dataset_version_id=r.dataset_version_id,
                dataset_ref=f"{r.dataset_name}@v{r.dataset_version}",
                suite=SuiteRecord(
                    id=r.suite_id,
                    name=r.suite_name,
                    version=r.suite_version,
                    digest=r.suite_digest,
                    definition=dict(r.suite_definition or {}),
                    created_at=r.suite_created_at,
                ),
                passed=bool(r.passed),
                num_checks=r.num_checks,
                num_failed=r.num_failed,
                num_warnings=r.num_warnings,
                num_rows=r.num_rows,
                duration_s=r.duration_s,
                run_id=r.run_id,
                created_at=r.created_at,
                created_by=r.created_by,
                checks=checks[r.id],
            )
            for r in rows
        ]


def _fmt_version(version: int | None) -> str:
    return "(latest)" if version is None else f"v{version}"


def _to_version(row: Any) -> DatasetVersionRecord:
    return to_record(
        DatasetVersionRecord,
        row,
        schema=list(row.schema or []),
        parents=list(row.parents or []),
        tags=dict(row.tags or {}),
    )


def _to_suite(row: Any) -> SuiteRecord:
    return to_record(SuiteRecord, row, definition=dict(row.definition or {}))
