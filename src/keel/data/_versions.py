"""Datasets and their versions: registering content, looking versions up, reading them.

A version is content-addressed: a single Parquet file is stored as one blob named by its sha256
(which is also the version's digest); a folder of Parquet files is stored as one blob per file
plus a JSON manifest whose sha256 is the version's digest. Registering content the dataset
already has returns that version and copies nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.data._client import DataClient, get_data_client
from keel.data._ingest import count_rows, describe_columns, prepare_source
from keel.errors import IntegrityError, InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    from keel.data._diff import DatasetDiff
    from keel.data._profile import Profile
    from keel.data._results import ValidationResult
    from keel.data._source import Scan
    from keel.data._suite import Suite
    from keel.store._data import DatasetRecord, DatasetVersionRecord

__all__ = [
    "Dataset",
    "DatasetVersion",
    "get",
    "list_datasets",
    "list_versions",
    "parse_ref",
    "register",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_VERSION = re.compile(r"^v?(\d+)$")
MANIFEST_FORMAT = "keel.dataset-manifest/1"


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgumentError(
            f"Invalid dataset name {name!r}: use 1 to 128 letters, digits, '_', '-' and '.', "
            "starting with a letter or digit (such as 'transactions')."
        )
    return name


def parse_ref(ref: str, version: int | str | None = None) -> tuple[str, int | None]:
    """Split ``"name@v3"`` (or ``name@3``, ``name@latest``, ``name``) into name and number.

    Args:
        ref: The reference.
        version: A version given separately (``3``, ``"v3"``, ``"latest"``); it must agree
            with one in ``ref``.

    Returns:
        The dataset name and the version number (``None`` for the latest).

    Raises:
        InvalidArgumentError: The reference is malformed.
    """
    if not isinstance(ref, str):
        raise InvalidArgumentError(
            f"A dataset reference is a string such as 'transactions@v3', got {ref!r}."
        )
    name, at, tail = ref.partition("@")
    _check_name(name)
    number = _parse_version(tail, ref) if at else None
    if version is not None:
        given = _parse_version(str(version), ref)
        if at and given != number:
            raise InvalidArgumentError(
                f"{ref!r} names a version and version={version!r} names another; give one."
            )
        number = given
    return name, number


def _parse_version(text: str, ref: str) -> int | None:
    if text.strip().lower() in ("latest", ""):
        return None
    m = _VERSION.match(text.strip().lower())
    if not m or int(m.group(1)) < 1:
        raise InvalidArgumentError(
            f"Invalid dataset version {text!r} in {ref!r}: use 'v3' (or 3) or 'latest', as in "
            "'transactions@v3'."
        )
    return int(m.group(1))


@dataclass(frozen=True)
class Dataset:
    """A named dataset: the summary ``keel.datasets.list()`` returns.

    Attributes:
        name: The dataset's name.
        description: What it holds.
        num_versions: How many versions it has.
        latest_version: The newest version's name (``"v3"``).
        created_at: When it was first registered (milliseconds since the epoch).
        created_by: Who registered it first.
        updated_at: When its newest version was registered.
    """

    name: str
    description: str
    num_versions: int
    latest_version: str | None
    created_at: int
    created_by: str
    updated_at: int | None

    def versions(self) -> list[DatasetVersion]:
        """Return every version, oldest first."""
        return list_versions(self.name)

    def latest(self) -> DatasetVersion:
        """Return the newest version."""
        return get(self.name)


def _to_dataset(r: DatasetRecord) -> Dataset:
    return Dataset(
        name=r.name,
        description=r.description,
        num_versions=r.num_versions,
        latest_version=None if r.latest_version is None else f"v{r.latest_version}",
        created_at=r.created_at,
        created_by=r.created_by,
        updated_at=r.latest_created_at,
    )


class DatasetVersion:
    """One immutable version of a dataset, stored as Parquet in the artifact store.

    Get one from :func:`register` or :func:`get`. Reading methods (:meth:`to_pandas`,
    :meth:`to_arrow`, :meth:`to_polars`, :meth:`sql`) read the stored Parquet, verified by
    digest; ``keel.log_input(ds)`` records that a run read this version.
    """

    def __init__(self, record: DatasetVersionRecord, client: DataClient | None = None) -> None:
        self._record = record
        self._client = client
        self._profile: Profile | None = None
        self._files: list[Path] | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._reused = False

    @property
    def reused(self) -> bool:
        """Whether :func:`register` found this content already registered (nothing stored)."""
        return self._reused

    @property
    def client(self) -> DataClient:
        """The data client this version was loaded through."""
        if self._client is None:
            self._client = get_data_client()
        return self._client

    # -- identity and metadata --------------------------------------------------------------

    @property
    def id(self) -> str:
        """The version's store id."""
        return self._record.id

    @property
    def name(self) -> str:
        """The dataset's name."""
        return self._record.dataset_name

    @property
    def number(self) -> int:
        """The version number (3 for ``v3``)."""
        return self._record.version

    @property
    def version(self) -> str:
        """The version's name, ``"v3"``."""
        return f"v{self._record.version}"

    @property
    def ref(self) -> str:
        """The version's reference, ``"name@v3"``."""
        return self._record.ref

    @property
    def digest(self) -> str:
        """The sha256 naming the content (the Parquet file, or the manifest of a folder)."""
        return self._record.digest

    @property
    def num_rows(self) -> int:
        """The number of rows."""
        return self._record.num_rows

    @property
    def num_columns(self) -> int:
        """The number of columns."""
        return self._record.num_columns

    @property
    def num_files(self) -> int:
        """The number of Parquet files."""
        return self._record.num_files

    @property
    def size_bytes(self) -> int:
        """The stored size of the Parquet files."""
        return self._record.size_bytes

    @property
    def schema(self) -> dict[str, str]:
        """Column names and Keel types, in order: ``{"amount": "float64", ...}``."""
        return {c["name"]: c["type"] for c in self._record.schema}

    @property
    def columns(self) -> list[str]:
        """The column names, in order."""
        return [c["name"] for c in self._record.schema]

    @property
    def source(self) -> str | None:
        """Where the data came from (a path, or ``pandas.DataFrame (n rows)``)."""
        return self._record.source

    @property
    def source_format(self) -> str:
        """``parquet``, ``csv``, ``folder``, ``pandas``, ``polars`` or ``arrow``."""
        return self._record.source_format

    @property
    def description(self) -> str:
        """What this version holds or why it was made."""
        return self._record.description

    @property
    def parents(self) -> list[str]:
        """References of the versions this one was derived from."""
        return list(self._record.parents)

    @property
    def tags(self) -> dict[str, Any]:
        """Free-form labels given at registration."""
        return dict(self._record.tags)

    @property
    def created_at(self) -> int:
        """When it was registered, in milliseconds since the epoch."""
        return self._record.created_at

    @property
    def created_by(self) -> str:
        """Who registered it."""
        return self._record.created_by

    def lineage_node(self) -> tuple[str, str]:
        """Return this version's node in the lineage graph: ``("dataset_version", "name@v3")``."""
        return ("dataset_version", self.ref)

    def __repr__(self) -> str:
        return (
            f"<DatasetVersion {self.ref}: {self.num_rows:,} rows x {self.num_columns} columns, "
            f"digest {self.digest[:12]}>"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatasetVersion) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    # -- reading ----------------------------------------------------------------------------

    def manifest(self) -> list[dict[str, Any]]:
        """Return the stored files: ``[{"path", "digest", "size", "rows"}]``."""
        if self._record.storage == "file":
            return [
                {
                    "path": "data.parquet",
                    "digest": self.digest,
                    "size": self.size_bytes,
                    "rows": self.num_rows,
                }
            ]
        data = json.loads(self.client.artifacts.get_bytes(self.digest))
        files: list[dict[str, Any]] = data["files"]
        return files

    def paths(self) -> list[Path]:
        """Return local paths of the Parquet files (verified; downloaded first from S3)."""
        if self._files is None:
            self._files = [self.client.local_blob(f["digest"]) for f in self.manifest()]
        return list(self._files)

    def scan(self) -> Scan:
        """Return how validation and profiling read this version."""
        from keel.data._source import parquet_scan

        entries = self.manifest()
        return parquet_scan(
            self.paths(),
            self.ref,
            version=self,
            schema=self._record.schema,
            rows_per_file=[int(e["rows"]) for e in entries],
        )

    def to_arrow(self, columns: Sequence[str] | None = None) -> pa.Table:
        """Read the version as an Arrow table (only ``columns``, if given)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols = self._check_columns(columns)
        tables = [pq.read_table(p, columns=cols) for p in self.paths()]
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables)

    def to_pandas(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Read the version as a pandas DataFrame (only ``columns``, if given)."""
        frame: pd.DataFrame = self.to_arrow(columns).to_pandas()
        return frame

    def to_polars(self, columns: Sequence[str] | None = None) -> pl.DataFrame:
        """Read the version as a polars DataFrame (needs ``pip install 'keel[polars]'``)."""
        try:
            import polars as pl
        except ImportError as exc:
            from keel.errors import MissingDependencyError

            raise MissingDependencyError.for_extra("polars", "polars", "to_polars()") from exc
        frame = pl.from_arrow(self.to_arrow(columns))
        assert isinstance(frame, pl.DataFrame)
        return frame

    def sql(self, query: str) -> duckdb.DuckDBPyRelation:
        """Run DuckDB SQL over the version, visible as the table ``data``.

        The result is a lazy DuckDB relation: call ``.df()``, ``.pl()``, ``.fetchall()`` or
        print it.

        Examples:
            >>> ds.sql("SELECT country, count(*) FROM data GROUP BY 1").df()  # doctest: +SKIP
        """
        from keel.data._engine import connect
        from keel.data._ingest import read_parquet_sql

        if self._con is None:
            self._con = connect()
            self._con.execute(f"CREATE VIEW data AS SELECT * FROM {read_parquet_sql(self.paths())}")
        return self._con.sql(query)

    def _check_columns(self, columns: Sequence[str] | None) -> list[str] | None:
        if columns is None:
            return None
        from keel.errors import near_matches

        cols = [columns] if isinstance(columns, str) else list(columns)
        for c in cols:
            if c not in self.schema:
                raise InvalidArgumentError(
                    f"{self.ref} has no column {c!r}.{near_matches(c, self.columns)} "
                    f"Its columns: {self.columns[:20]!r}."
                )
        return cols

    def verify(self) -> None:
        """Re-hash every stored file of the version.

        Raises:
            IntegrityError: A file's bytes do not match its digest.
        """
        for entry in self.manifest():
            self.client.check_integrity(entry["digest"])
        self._files = None

    # -- profiles, validation, comparison ---------------------------------------------------

    @property
    def profile(self) -> Profile:
        """Per-column statistics, computed on first use and stored with the version."""
        if self._profile is None:
            from keel.data._profile import load_or_compute_profile

            self._profile = load_or_compute_profile(self)
        return self._profile

    def validate(self, suite: Suite | str | os.PathLike[str], **kwargs: Any) -> ValidationResult:
        """Run a suite (or a YAML suite file) on this version and record the result."""
        from keel.data._suite import load_suite

        return load_suite(suite).validate(self, **kwargs)

    def validations(self, suite: str | None = None, limit: int = 20) -> list[ValidationResult]:
        """Return the recorded validations of this version, newest first."""
        from keel.data._store import list_validations

        return list_validations(self, suite=suite, limit=limit)

    def latest_validation(self, suite: str | None = None) -> ValidationResult | None:
        """Return the newest recorded validation (of ``suite``, if given), or ``None``."""
        found = self.validations(suite=suite, limit=1)
        return found[0] if found else None

    def diff(self, other: DatasetVersion | str) -> DatasetDiff:
        """Compare this version (the baseline) with ``other``."""
        from keel.data._diff import diff

        return diff(self, other)

    def close(self) -> None:
        """Close the DuckDB connection opened by :meth:`sql`."""
        if self._con is not None:
            self._con.close()
            self._con = None


# -- module functions --------------------------------------------------------------------------


def register(
    name: str,
    source: Any,
    *,
    description: str = "",
    parents: Iterable[DatasetVersion | str] = (),
    tags: Mapping[str, Any] | None = None,
    csv_options: Mapping[str, Any] | None = None,
) -> DatasetVersion:
    """Register data as the next version of dataset ``name``.

    Content the dataset already has is not stored again: the existing version is returned.

    Args:
        name: The dataset's name (letters, digits, ``_ - .``).
        source: A Parquet file, a CSV file, a folder of Parquet files, a pandas or polars
            DataFrame, or an Arrow table.
        description: What this version holds or why it was made.
        parents: Versions this one was derived from (lineage edges ``parent -> version``).
        tags: Free-form labels.
        csv_options: DuckDB ``read_csv`` options for CSV sources (``{"delim": ";"}``).

    Returns:
        The new version, or the existing one with the same content.

    Raises:
        NotFoundError: The path or a parent does not exist.
        InvalidArgumentError: The name, the file or the options are invalid (a malformed CSV
            names its bad line; an empty file is refused).

    Examples:
        >>> ds = keel.datasets.register("transactions", "data/tx.parquet")  # doctest: +SKIP
        >>> ds.version  # doctest: +SKIP
        'v1'
    """
    from keel.artifacts import sha256_file
    from keel.store._data import NewDatasetVersion

    _check_name(name)
    client = get_data_client()
    parent_refs = [_parent_ref(p) for p in parents]
    tags = dict(tags or {})
    try:
        json.dumps(tags)
    except TypeError as exc:
        raise InvalidArgumentError(f"tags must be JSON values, got {tags!r}.") from exc
    workdir = client.settings.home / "tmp" / "data"
    workdir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="register-", dir=workdir))
    try:
        prepared = prepare_source(source, scratch, csv_options=csv_options)
        hashed = [(f, *sha256_file(f)) for f in prepared.files]
        if len(hashed) == 1:
            storage, digest, manifest = "file", hashed[0][1], None
        else:
            storage = "manifest"
            entries = [
                {"path": rel, "digest": d, "size": size, "rows": count_rows(f)}
                for (f, d, size), rel in zip(hashed, prepared.relative, strict=True)
            ]
            manifest = json.dumps(
                {"format": MANIFEST_FORMAT, "files": entries}, sort_keys=True
            ).encode()
            import hashlib

            digest = hashlib.sha256(manifest).hexdigest()
        existing = client.repo.find_version_by_digest(name, digest)
        if existing is not None:
            found = DatasetVersion(existing, client)
            found._reused = True
            return found
        schema = describe_columns(prepared.files)
        rows = sum(count_rows(f) for f, _, _ in hashed)
        store = client.artifacts
        for f, d, _ in hashed:
            if not store.exists(d):
                stored, _size = store.put_file(f)
                if stored != d:
                    raise IntegrityError(
                        f"{str(f)!r} changed while it was being registered (its digest went "
                        f"from {d[:12]} to {stored[:12]}). Register it again once it is complete."
                    )
        if manifest is not None:
            store.put_bytes(manifest)
        record, created = client.repo.create_version(
            NewDatasetVersion(
                name=name,
                digest=digest,
                storage=storage,
                num_rows=rows,
                num_columns=len(schema),
                num_files=len(hashed),
                size_bytes=sum(size for _, _, size in hashed),
                schema=schema,
                source=prepared.source,
                source_format=prepared.source_format,
                created_by=client.settings.user,
                description=description,
                parents=parent_refs,
                tags=tags,
            )
        )
        version = DatasetVersion(record, client)
        version._reused = not created  # a concurrent writer registered the same content first
        return version
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _parent_ref(parent: DatasetVersion | str) -> str:
    if isinstance(parent, DatasetVersion):
        return parent.ref
    if isinstance(parent, str):
        return get(parent).ref  # resolves "@latest" and checks that it exists
    raise InvalidArgumentError(
        f"A parent must be a DatasetVersion or a reference such as 'raw@v2', got {parent!r}."
    )


def get(ref: str, version: int | str | None = None) -> DatasetVersion:
    """Return a dataset version.

    Args:
        ref: ``"name@v3"``, ``"name@3"``, ``"name@latest"`` or ``"name"`` (the latest).
        version: The version, if not in ``ref`` (``3``, ``"v3"`` or ``"latest"``).

    Raises:
        NotFoundError: No such dataset (near names are listed) or version (existing versions
            are listed).
        InvalidArgumentError: The reference is malformed.
    """
    if isinstance(ref, os.PathLike) or (isinstance(ref, str) and ("/" in ref or os.sep in ref)):
        raise NotFoundError(
            f"{str(ref)!r} is neither an existing file nor a dataset reference ('name@v3').",
            details={"ref": str(ref)},
        )
    name, number = parse_ref(ref, version)
    client = get_data_client()
    return DatasetVersion(client.repo.get_version(name, number), client)


def list_datasets() -> list[Dataset]:
    """Return every dataset, by name, with its number of versions and its latest version."""
    return [_to_dataset(r) for r in get_data_client().repo.list_datasets()]


def list_versions(name: str) -> list[DatasetVersion]:
    """Return every version of dataset ``name``, oldest first.

    Raises:
        NotFoundError: No dataset has that name.
    """
    client = get_data_client()
    return [DatasetVersion(r, client) for r in client.repo.list_versions(_check_name(name))]
