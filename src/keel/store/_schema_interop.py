"""Tables of interoperability: which objects of another tool's store were imported, and as what.

One row per imported object (an MLflow experiment, run, registered model or model version),
keyed by the source store and the object's id there, so a second import of the same store
finds what the first one did and adds nothing twice. Migration ``0011_interop`` creates it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from keel.store._schema import Base


class InteropImportRow(Base):
    """One object imported from another tool's store and the Keel object it became."""

    __tablename__ = "interop_imports"
    # The source store, normalized (``mlflow:sqlite:////abs/mlflow.db``, ``mlflow:file:///...``).
    source: Mapped[str] = mapped_column(String(512), primary_key=True)
    # ``experiment``, ``run``, ``registered_model``, ``model_version``.
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    keel_id: Mapped[str] = mapped_column(String(512))
    # ``started`` while a run's data is being copied, ``done`` once all of it arrived.
    state: Mapped[str] = mapped_column(String(16))
    imported_at: Mapped[int] = mapped_column(BigInteger)
    imported_by: Mapped[str] = mapped_column(String(256))
