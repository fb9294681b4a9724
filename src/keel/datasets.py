"""Versioned datasets: ``keel.datasets.register``, ``get`` and ``list``.

A thin namespace over :mod:`keel.data`, which also holds validation, profiles and diffs::

    ds = keel.datasets.register("transactions", "data/tx.parquet")
    ds.version                                     # "v1"; the same content again returns it
    keel.datasets.get("transactions@v1").to_pandas()
    [d.name for d in keel.datasets.list()]
"""

from __future__ import annotations

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
    "Dataset",
    "DatasetVersion",
    "get",
    "list",
    "list_datasets",
    "list_versions",
    "parse_ref",
    "register",
    "versions",
]

#: ``keel.datasets.list()``: every dataset, by name.
list = list_datasets
#: ``keel.datasets.versions(name)``: every version of a dataset, oldest first.
versions = list_versions
