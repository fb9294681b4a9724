"""Interoperability with other tools: importing an MLflow store into Keel.

::

    report = keel.interop.import_mlflow("sqlite:///mlflow.db")   # or ./mlruns, http://host:5000
    report.created["runs"], report.unmapped

The MLflow store is read directly (its SQL tables, its ``mlruns`` folders or its REST API);
MLflow itself is not needed. Every imported object is recorded with its MLflow id, so
importing the same store again adds nothing twice.
"""

from __future__ import annotations

from keel.interop._mlflow import ImportReport, import_mlflow

__all__ = ["ImportReport", "import_mlflow"]
