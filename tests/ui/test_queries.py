"""The runs table's queries on each metadata backend (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest

from keel.errors import InvalidArgumentError
from keel.store import NewRun, RunStatus
from keel.tracking import get_client
from keel.ui._queries import column_keys, runs_page


def _runs(n: int) -> str:
    store = get_client().store
    exp = store.get_or_create_experiment("table")
    for i in range(n):
        info = store.create_run(NewRun(exp.id, name=f"r{i:02d}", start_time=1_000 + i))
        store.log_params(info.id, {"k": str(i % 3), f"only{i}" if i < 2 else "common": "x"})
        if i % 5:  # every fifth run has no score: it sorts last either way
            store.log_metrics([(info.id, "score", float(i), 0, 1_000 + i)])
        store.end_run(info.id, RunStatus.FINISHED)
    return exp.id


def test_pages_sorting_filtering_and_columns(keel_env: dict[str, Any]) -> None:
    exp = _runs(23)
    store = get_client().store
    page = runs_page(store, exp, filter_text=None, order_by=None, page=1, page_size=10)
    assert (page.total, page.pages) == (23, 3)
    assert [r.info.name for r in page.runs][:2] == ["r22", "r21"]  # newest first
    last = runs_page(store, exp, filter_text=None, order_by=None, page=99, page_size=10)
    assert last.page == 3
    assert len(last.runs) == 3
    asc = runs_page(
        store, exp, filter_text=None, order_by="metrics.score ASC", page=1, page_size=30
    )
    names = [r.info.name for r in asc.runs]
    assert names[:3] == ["r01", "r02", "r03"]
    assert set(names[-5:]) == {"r00", "r05", "r10", "r15", "r20"}  # no score: last
    desc = runs_page(
        store, exp, filter_text=None, order_by="metrics.score DESC", page=1, page_size=30
    )
    assert [r.info.name for r in desc.runs][0] == "r22"
    assert {r.info.name for r in desc.runs[-5:]} == {"r00", "r05", "r10", "r15", "r20"}
    flt = runs_page(
        store,
        exp,
        filter_text="metrics.score > 10 and params.k = '0'",
        order_by="params.k ASC",
        page=1,
        page_size=10,
    )
    assert sorted(r.info.name for r in flt.runs) == ["r12", "r18", "r21"]
    assert flt.total == 3
    metrics, params = column_keys(store, exp)
    assert metrics == ["score"]
    assert params == ["common", "k", "only0", "only1"]
    assert column_keys(store, exp, sample=5)[1] == ["common", "k"]  # the newest runs only
    with pytest.raises(InvalidArgumentError, match="Cannot parse order_by"):
        runs_page(store, exp, filter_text=None, order_by="metrics.a b c", page=1, page_size=10)
