"""The queries behind the runs table: one page of runs, their count, and the columns to offer.

Filtering, sorting and paging happen in SQL with the tracking filter language
(:mod:`keel.store._search`), so a page of a 10,000-run experiment costs one indexed query for
the ids, one count, and a few lookups for the page's own values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, select

from keel.store import Run, SqlMetadataStore, _search
from keel.store._schema import LatestMetricRow, ParamRow, RunRow
from keel.store._sql import _encode_token

__all__ = ["RunsPage", "column_keys", "runs_page"]

_runs = cast(Table, RunRow.__table__)
_latest = cast(Table, LatestMetricRow.__table__)
_params = cast(Table, ParamRow.__table__)

#: Sortable attribute columns of the table and their field in the filter language.
ATTRIBUTE_SORTS = {
    "name": "attributes.run_name",
    "status": "attributes.status",
    "start": "attributes.start_time",
    "user": "attributes.user",
}


@dataclass(frozen=True)
class RunsPage:
    """One page of the runs table.

    Attributes:
        runs: The page's runs with their latest metrics, params and tags.
        total: How many runs match the filter.
        page: The page number, from 1.
        page_size: Runs per page.
    """

    runs: list[Run]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        """How many pages the matching runs fill (at least 1)."""
        return max(1, -(-self.total // self.page_size))


def runs_page(
    store: SqlMetadataStore,
    experiment_id: str,
    *,
    filter_text: str | None,
    order_by: str | None,
    page: int,
    page_size: int,
) -> RunsPage:
    """Return one page of an experiment's runs.

    Args:
        store: The metadata store.
        experiment_id: The experiment.
        filter_text: A filter in the tracking filter language, or ``None``.
        order_by: One ordering such as ``metrics.auc DESC``, or ``None`` (newest first).
        page: The page, from 1.
        page_size: Runs per page.

    Raises:
        InvalidArgumentError: The filter or ordering does not parse.
    """
    order = [order_by] if order_by else None
    _search.parse_order_by(order)  # a bad ordering fails here, before any query runs
    # Counted without the ordering's joins: they change the order, never the count.
    query = _search.build_query([experiment_id], filter_text, None)
    with store.engine.connect() as conn:
        total = int(conn.execute(_search.count_query(query)).scalar_one())
    pages = max(1, -(-total // page_size))
    page = min(max(page, 1), pages)
    offset = (page - 1) * page_size
    runs, _ = store.search_runs(
        [experiment_id],
        filter_text,
        order,
        max_results=page_size,
        page_token=_encode_token(offset) if offset else None,
    )
    return RunsPage(runs, total, page, page_size)


def column_keys(
    store: SqlMetadataStore, experiment_id: str, sample: int = 500
) -> tuple[list[str], list[str]]:
    """Return the metric keys and the param keys of an experiment's newest runs, sorted.

    Only the newest ``sample`` runs are read, so offering columns costs the same for 100 runs
    or 100,000; a key logged only by older runs can still be filtered and sorted on by name.
    """
    newest = (
        select(_runs.c.id)
        .where(_runs.c.experiment_id == experiment_id)
        .order_by(_runs.c.start_time.desc())
        .limit(sample)
        .scalar_subquery()
    )
    out: list[list[str]] = []
    with store.engine.connect() as conn:
        for table in (_latest, _params):
            query: Any = (
                select(table.c.key)
                .distinct()
                .where(table.c.run_id.in_(newest))
                .order_by(table.c.key)
                .limit(500)
            )
            out.append(list(conn.execute(query).scalars()))
    return out[0], out[1]
