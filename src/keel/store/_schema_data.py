"""Tables of the data capability: datasets, their versions, validation suites and results.

Migration ``0002_data`` creates exactly these tables. Times are integer milliseconds since the
epoch; bytes (Parquet files, manifests, profiles) live in the artifact store and rows hold
their sha256 digests.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from keel.store._schema import Base


class DatasetRow(Base):
    """A named dataset; its content lives in its versions."""

    __tablename__ = "datasets"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))


class DatasetVersionRow(Base):
    """One immutable, content-addressed version of a dataset.

    ``digest`` names the blob holding the content: the Parquet file itself (``storage`` is
    ``"file"``) or a JSON manifest listing one Parquet blob per file (``"manifest"``). The
    unique index on ``(dataset_id, digest)`` makes registering the same content twice return the
    first version; the one on ``(dataset_id, version)`` keeps concurrent writers from handing out
    a number twice.
    """

    __tablename__ = "dataset_versions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    storage: Mapped[str] = mapped_column(String(16))
    num_rows: Mapped[int] = mapped_column(BigInteger)
    num_columns: Mapped[int] = mapped_column(Integer)
    num_files: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    schema: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    source: Mapped[str | None] = mapped_column(Text)
    source_format: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    parents: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    profile_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))

    __table_args__ = (
        Index("ux_dataset_versions_number", "dataset_id", "version", unique=True),
        Index("ux_dataset_versions_digest", "dataset_id", "digest", unique=True),
    )


class DataSuiteRow(Base):
    """One version of a validation suite; a changed definition makes a new version."""

    __tablename__ = "data_suites"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ux_data_suites_version", "name", "version", unique=True),
        Index("ux_data_suites_digest", "name", "digest", unique=True),
    )


class DataValidationRow(Base):
    """The outcome of running one suite version on one dataset version."""

    __tablename__ = "data_validations"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dataset_version_id: Mapped[str] = mapped_column(ForeignKey("dataset_versions.id"))
    suite_id: Mapped[str] = mapped_column(ForeignKey("data_suites.id"), index=True)
    passed: Mapped[bool] = mapped_column(Boolean)
    num_checks: Mapped[int] = mapped_column(Integer)
    num_failed: Mapped[int] = mapped_column(Integer)
    num_warnings: Mapped[int] = mapped_column(Integer)
    num_rows: Mapped[int] = mapped_column(BigInteger)
    duration_s: Mapped[float] = mapped_column(Float)
    run_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))

    __table_args__ = (
        Index("ix_data_validations_version_time", "dataset_version_id", "created_at"),
    )


class DataCheckResultRow(Base):
    """The outcome of one check of a validation: counts, observed value and a short sample."""

    __tablename__ = "data_check_results"
    validation_id: Mapped[str] = mapped_column(ForeignKey("data_validations.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    check_type: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(512))
    column_name: Mapped[str | None] = mapped_column(String(256))
    passed: Mapped[bool] = mapped_column(Boolean)
    severity: Mapped[str] = mapped_column(String(16))
    bad_rows: Mapped[int | None] = mapped_column(BigInteger)
    total_rows: Mapped[int | None] = mapped_column(BigInteger)
    observed: Mapped[Any] = mapped_column(JSON, nullable=True)
    samples: Mapped[list[Any]] = mapped_column(JSON, default=list)
    sample_rows: Mapped[list[int]] = mapped_column(JSON, default=list)
    message: Mapped[str] = mapped_column(Text, default="")
