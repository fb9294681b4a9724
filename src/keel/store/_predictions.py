"""Queries of the prediction log: segments of predictions and of labels, per deployment.

:class:`PredictionLogRepository` takes a :class:`~keel.store.SqlMetadataStore` and returns the
plain records defined here. Each appended segment is written in one transaction with its audit
event and its lineage edge ``deployment -> prediction_batch``. The Parquet layout of a segment
is documented in :mod:`keel.store._schema_predictions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, func, select

from keel._utils import new_id, now_ms
from keel.errors import NotFoundError, near_matches
from keel.store._engine import write_connection
from keel.store._repo import Repository, to_record
from keel.store._schema_predictions import LabelSegmentRow, PredictionSegmentRow

__all__ = [
    "DeploymentLogSummary",
    "LabelSegmentRecord",
    "NewLabelSegment",
    "NewPredictionSegment",
    "PredictionLogRepository",
    "PredictionSegmentRecord",
]

_segments = cast(Table, PredictionSegmentRow.__table__)
_labels = cast(Table, LabelSegmentRow.__table__)


@dataclass(frozen=True)
class NewPredictionSegment:
    """A Parquet segment of predictions, already stored in the artifact store."""

    deployment: str
    start_time: int
    end_time: int
    num_rows: int
    num_errors: int
    digest: str
    size_bytes: int
    columns: list[dict[str, Any]] = field(default_factory=list)
    model_name: str | None = None
    model_version: str | None = None


@dataclass(frozen=True)
class PredictionSegmentRecord(NewPredictionSegment):
    """A stored prediction segment."""

    id: str = ""
    created_at: int = 0
    created_by: str = ""


@dataclass(frozen=True)
class NewLabelSegment:
    """A Parquet segment of labels, already stored in the artifact store."""

    deployment: str
    num_rows: int
    digest: str
    size_bytes: int


@dataclass(frozen=True)
class LabelSegmentRecord(NewLabelSegment):
    """A stored label segment; ``created_at`` is when the labels arrived."""

    id: str = ""
    created_at: int = 0
    created_by: str = ""


@dataclass(frozen=True)
class DeploymentLogSummary:
    """What the log holds for one deployment."""

    deployment: str
    num_segments: int
    num_rows: int
    start_time: int
    end_time: int


class PredictionLogRepository(Repository):
    """Prediction and label segments in the one metadata store.

    Args:
        store: The metadata store to read and write.
    """

    def add_segment(self, new: NewPredictionSegment) -> PredictionSegmentRecord:
        """Record a prediction segment, its audit event and its lineage edge, in one commit."""
        record = PredictionSegmentRecord(
            **new.__dict__, id=new_id(), created_at=now_ms(), created_by=self.store.actor
        )
        with write_connection(self.store.engine) as conn:
            conn.execute(_segments.insert().values(**record.__dict__))
            self._insert_edge(
                conn,
                ("deployment", new.deployment),
                ("prediction_batch", record.id),
                "logged",
                {"digest": new.digest, "rows": new.num_rows},
                record.created_at,
            )
            self.store.audit_event(
                conn,
                "prediction_log.append",
                "deployment",
                new.deployment,
                {
                    "segment_id": record.id,
                    "digest": new.digest,
                    "num_rows": new.num_rows,
                    "start_time": new.start_time,
                    "end_time": new.end_time,
                },
            )
        return record

    def add_label_segment(self, new: NewLabelSegment) -> LabelSegmentRecord:
        """Record a label segment and its audit event in one commit."""
        record = LabelSegmentRecord(
            **new.__dict__, id=new_id(), created_at=now_ms(), created_by=self.store.actor
        )
        with write_connection(self.store.engine) as conn:
            conn.execute(_labels.insert().values(**record.__dict__))
            self.store.audit_event(
                conn,
                "prediction_log.add_labels",
                "deployment",
                new.deployment,
                {"segment_id": record.id, "digest": new.digest, "num_rows": new.num_rows},
            )
        return record

    def list_segments(
        self, deployment: str, start: int | None = None, end: int | None = None
    ) -> list[PredictionSegmentRecord]:
        """Return the segments of ``deployment`` that overlap ``[start, end)``, oldest first."""
        query = select(_segments).where(_segments.c.deployment == deployment)
        if start is not None:
            query = query.where(_segments.c.end_time >= start)
        if end is not None:
            query = query.where(_segments.c.start_time < end)
        with self.store._read() as conn:
            rows = conn.execute(query.order_by(_segments.c.start_time, _segments.c.id)).all()
        return [_to_segment(r) for r in rows]

    def list_label_segments(
        self, deployment: str, since: int | None = None
    ) -> list[LabelSegmentRecord]:
        """Return ``deployment``'s label segments that arrived after ``since``, oldest first."""
        query = select(_labels).where(_labels.c.deployment == deployment)
        if since is not None:
            query = query.where(_labels.c.created_at > since)
        with self.store._read() as conn:
            rows = conn.execute(query.order_by(_labels.c.created_at, _labels.c.id)).all()
        return [
            LabelSegmentRecord(
                deployment=r.deployment,
                num_rows=r.num_rows,
                digest=r.digest,
                size_bytes=r.size_bytes,
                id=r.id,
                created_at=r.created_at,
                created_by=r.created_by,
            )
            for r in rows
        ]

    def latest_label_time(self, deployment: str) -> int | None:
        """Return when the newest label segment of ``deployment`` arrived (``None``: none did)."""
        with self.store._read() as conn:
            value = conn.execute(
                select(func.max(_labels.c.created_at)).where(_labels.c.deployment == deployment)
            ).scalar()
        return None if value is None else int(value)

    def list_deployments(self) -> list[DeploymentLogSummary]:
        """Return every deployment that has logged predictions, by name."""
        with self.store._read() as conn:
            rows = conn.execute(
                select(
                    _segments.c.deployment,
                    func.count(),
                    func.sum(_segments.c.num_rows),
                    func.min(_segments.c.start_time),
                    func.max(_segments.c.end_time),
                )
                .group_by(_segments.c.deployment)
                .order_by(_segments.c.deployment)
            ).all()
        return [
            DeploymentLogSummary(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows
        ]

    def require_deployment(self, deployment: str) -> DeploymentLogSummary:
        """Return the summary of ``deployment``'s log.

        Raises:
            NotFoundError: Nothing was logged for it; the message lists near names.
        """
        known = self.list_deployments()
        for summary in known:
            if summary.deployment == deployment:
                return summary
        names = [s.deployment for s in known]
        raise NotFoundError(
            f"No predictions were logged for deployment {deployment!r}."
            f"{near_matches(deployment, names)} Log some with "
            "keel.monitoring.log_predictions(deployment, frame).",
            details={"deployment": deployment},
        )


def _to_segment(r: Any) -> PredictionSegmentRecord:
    return to_record(
        PredictionSegmentRecord,
        r,
        columns=list(r.columns or []),
    )
