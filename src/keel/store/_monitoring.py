"""Queries of the monitoring capability: monitors, window results, alert states and events.

:class:`MonitoringRepository` takes a :class:`~keel.store.SqlMetadataStore` and returns the plain
records defined here. Recording a window's result, moving its alert states and appending the
events of alerts that fire or resolve happen in one transaction with their audit events and
lineage edges, so two runners evaluating the same monitor at once cannot both record a window
or both fire an alert: the loser's insert hits the unique ``(monitor_id, window_start)`` index
and it skips the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from keel._utils import new_id, now_ms
from keel.errors import AlreadyExistsError, NotFoundError, near_matches
from keel.store._engine import write_connection
from keel.store._repo import Repository, to_record
from keel.store._schema_monitoring import (
    MonitorAlertStateRow,
    MonitorEventRow,
    MonitorResultRow,
    MonitorRow,
)

__all__ = [
    "AlertStateRecord",
    "CheckOutcomeRecord",
    "MonitorEventRecord",
    "MonitorRecord",
    "MonitorResultRecord",
    "MonitoringRepository",
    "NewMonitor",
    "NewMonitorResult",
]

_monitors = cast(Table, MonitorRow.__table__)
_results = cast(Table, MonitorResultRow.__table__)
_states = cast(Table, MonitorAlertStateRow.__table__)
_events = cast(Table, MonitorEventRow.__table__)


@dataclass(frozen=True)
class NewMonitor:
    """A monitor's definition before it is stored."""

    name: str
    deployment: str
    reference: str
    reference_digest: str
    window_ms: int
    checks: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    start_time: int | None = None
    description: str = ""
    #: Lineage node of the reference data (``("dataset_version", "tx@v3")``), if it has one.
    reference_node: tuple[str, str] | None = None


@dataclass(frozen=True)
class MonitorRecord:
    """A stored monitor."""

    id: str
    name: str
    deployment: str
    reference: str
    reference_digest: str
    baseline_digest: str | None
    window_ms: int
    start_time: int | None
    checks: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    description: str
    created_at: int
    created_by: str
    updated_at: int


@dataclass(frozen=True)
class NewMonitorResult:
    """The evaluation of one window, before it is stored."""

    window_start: int
    window_end: int
    status: str
    num_rows: int
    num_labeled: int
    metrics: dict[str, Any]
    checks: list[dict[str, Any]]
    report_digest: str | None = None
    details_digest: str | None = None
    labels_seen_at: int | None = None


@dataclass(frozen=True)
class MonitorResultRecord(NewMonitorResult):
    """A stored window result."""

    id: str = ""
    monitor_id: str = ""
    created_at: int = 0
    updated_at: int = 0


@dataclass(frozen=True)
class CheckOutcomeRecord:
    """A check's verdict on a window as the alert state machine sees it.

    ``passed`` is ``None`` when the check could not be evaluated (no labels yet, say); such an
    outcome leaves the alert state alone.
    """

    check_name: str
    passed: bool | None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertStateRecord:
    """The alert state of one check of a monitor."""

    check_name: str
    state: str
    since_window: int | None
    last_window: int


@dataclass(frozen=True)
class MonitorEventRecord:
    """An alert that fired (``"alert.fired"``) or resolved (``"alert.resolved"``)."""

    id: int
    monitor_id: str
    monitor_name: str
    result_id: str | None
    kind: str
    check_name: str
    window_start: int
    payload: dict[str, Any]
    deliveries: list[dict[str, Any]]
    created_at: int


class MonitoringRepository(Repository):
    """Monitors and their results in the one metadata store.

    Args:
        store: The metadata store to read and write.
    """

    def _edge(
        self,
        conn: Connection,
        source: tuple[str, str],
        target: tuple[str, str],
        relation: str,
        properties: dict[str, Any] | None = None,
    ) -> None:
        self._insert_edge(conn, source, target, relation, properties, now_ms())
        self.store.audit_event(
            conn,
            "lineage.add_edge",
            target[0],
            target[1],
            {"source": f"{source[0]}:{source[1]}", "relation": relation},
        )

    # -- monitors ---------------------------------------------------------------------------

    def create_monitor(self, new: NewMonitor, *, replace: bool = False) -> MonitorRecord:
        """Store a monitor, or with ``replace`` update the definition of the one of that name.

        Replacing keeps the monitor's results and alert states.

        Raises:
            AlreadyExistsError: A monitor of that name exists and ``replace`` is false.
        """
        now = now_ms()
        values = {
            "deployment": new.deployment,
            "reference": new.reference,
            "reference_digest": new.reference_digest,
            "window_ms": new.window_ms,
            "start_time": new.start_time,
            "checks": new.checks,
            "alerts": new.alerts,
            "description": new.description,
            "updated_at": now,
        }
        try:
            with write_connection(self.store.engine) as conn:
                existing = conn.execute(
                    select(_monitors.c.id, _monitors.c.reference_digest).where(
                        _monitors.c.name == new.name
                    )
                ).first()
                if existing is not None and replace:
                    if existing.reference_digest != new.reference_digest:
                        values["baseline_digest"] = None
                    conn.execute(
                        update(_monitors).where(_monitors.c.id == existing.id).values(**values)
                    )
                    action = "monitor.update"
                else:
                    conn.execute(
                        _monitors.insert().values(
                            id=new_id(),
                            name=new.name,
                            baseline_digest=None,
                            created_at=now,
                            created_by=self.store.actor,
                            **values,
                        )
                    )
                    action = "monitor.create"
                if new.reference_node is not None:
                    self._edge(conn, new.reference_node, ("monitor", new.name), "reference")
                self._edge(conn, ("deployment", new.deployment), ("monitor", new.name), "monitors")
                self.store.audit_event(
                    conn,
                    action,
                    "monitor",
                    new.name,
                    {
                        "deployment": new.deployment,
                        "reference": new.reference,
                        "window_ms": new.window_ms,
                        "checks": [c.get("name") for c in new.checks],
                    },
                )
        except SAIntegrityError as exc:
            raise AlreadyExistsError(
                f"A monitor named {new.name!r} exists already. Pass replace=True to change its "
                "definition (its results are kept), or choose another name.",
                details={"name": new.name},
            ) from exc
        return self.get_monitor(new.name)

    def get_monitor(self, name: str) -> MonitorRecord:
        """Return the monitor called ``name``.

        Raises:
            NotFoundError: No monitor has that name; the message lists near names.
        """
        with self.store._read() as conn:
            row = conn.execute(select(_monitors).where(_monitors.c.name == name)).first()
            if row is None:
                names = conn.execute(select(_monitors.c.name)).scalars().all()
        if row is None:
            raise NotFoundError(
                f"No monitor is named {name!r}.{near_matches(name, names)} List monitors with "
                "'keel monitor ls'; create one with keel.monitoring.create_monitor().",
                details={"name": name},
            )
        return _to_monitor(row)

    def list_monitors(self) -> list[MonitorRecord]:
        """Return every monitor, by name."""
        with self.store._read() as conn:
            rows = conn.execute(select(_monitors).order_by(_monitors.c.name)).all()
        return [_to_monitor(r) for r in rows]

    def set_baseline(self, monitor_id: str, digest: str) -> bool:
        """Record the prediction baseline of a monitor unless one is set; return whether set."""
        with write_connection(self.store.engine) as conn:
            result = conn.execute(
                update(_monitors)
                .where(_monitors.c.id == monitor_id, _monitors.c.baseline_digest.is_(None))
                .values(baseline_digest=digest, updated_at=now_ms())
            )
            if result.rowcount:
                self.store.audit_event(
                    conn, "monitor.set_baseline", "monitor", monitor_id, {"digest": digest}
                )
            return bool(result.rowcount)

    def delete_monitor(self, name: str) -> None:
        """Delete a monitor with its results, alert states and events.

        Raises:
            NotFoundError: No monitor has that name.
        """
        monitor = self.get_monitor(name)
        with write_connection(self.store.engine) as conn:
            for table in (_events, _states, _results):
                conn.execute(delete(table).where(table.c.monitor_id == monitor.id))
            conn.execute(delete(_monitors).where(_monitors.c.id == monitor.id))
            self.store.audit_event(conn, "monitor.delete", "monitor", name, {"id": monitor.id})

    # -- results ----------------------------------------------------------------------------

    def evaluated_windows(self, monitor_id: str) -> set[int]:
        """Return the start of every window of the monitor that has a result."""
        with self.store._read() as conn:
            return {
                int(v)
                for v in conn.execute(
                    select(_results.c.window_start).where(_results.c.monitor_id == monitor_id)
                ).scalars()
            }

    def record_result(
        self,
        monitor: MonitorRecord,
        new: NewMonitorResult,
        outcomes: Sequence[CheckOutcomeRecord],
        result_id: str | None = None,
    ) -> tuple[MonitorResultRecord, list[MonitorEventRecord]] | None:
        """Store a window's result, move alert states and append the events, in one commit.

        Args:
            monitor: The monitor evaluated.
            new: The window's result.
            outcomes: The checks' verdicts, with the payload of the event each would raise.
            result_id: The id to give the result (a new one by default).

        Returns:
            The stored result and the events of alerts that fired or resolved, or ``None`` when
            another runner recorded this window first.
        """
        now = now_ms()
        record = MonitorResultRecord(
            **new.__dict__,
            id=result_id or new_id(),
            monitor_id=monitor.id,
            created_at=now,
            updated_at=now,
        )
        try:
            with write_connection(self.store.engine) as conn:
                conn.execute(_results.insert().values(**record.__dict__))
                self._edge(
                    conn, ("monitor", monitor.name), ("monitor_result", record.id), "evaluated"
                )
                for digest, kind in ((new.report_digest, "html"), (new.details_digest, "json")):
                    if digest:
                        self._edge(
                            conn,
                            ("monitor_result", record.id),
                            ("report", digest),
                            "report",
                            {"format": kind, "monitor": monitor.name},
                        )
                events = self._transition(conn, monitor, record.id, new.window_start, outcomes)
                self.store.audit_event(
                    conn,
                    "monitor.record_result",
                    "monitor",
                    monitor.name,
                    {
                        "result_id": record.id,
                        "window_start": new.window_start,
                        "status": new.status,
                        "rows": new.num_rows,
                    },
                )
        except SAIntegrityError:
            return None  # the unique window index: someone else evaluated it
        return record, events

    def update_result(
        self,
        monitor: MonitorRecord,
        result: MonitorResultRecord,
        *,
        status: str,
        num_labeled: int,
        metrics: dict[str, Any],
        checks: list[dict[str, Any]],
        labels_seen_at: int,
        outcomes: Sequence[CheckOutcomeRecord],
    ) -> list[MonitorEventRecord]:
        """Rewrite a result after late labels arrived, moving alert states; return the events."""
        with write_connection(self.store.engine) as conn:
            conn.execute(
                update(_results)
                .where(_results.c.id == result.id)
                .values(
                    status=status,
                    num_labeled=num_labeled,
                    metrics=metrics,
                    checks=checks,
                    labels_seen_at=labels_seen_at,
                    updated_at=now_ms(),
                )
            )
            events = self._transition(conn, monitor, result.id, result.window_start, outcomes)
            self.store.audit_event(
                conn,
                "monitor.update_result",
                "monitor",
                monitor.name,
                {"result_id": result.id, "status": status, "labeled": num_labeled},
            )
        return events

    def _transition(
        self,
        conn: Connection,
        monitor: MonitorRecord,
        result_id: str,
        window: int,
        outcomes: Sequence[CheckOutcomeRecord],
    ) -> list[MonitorEventRecord]:
        # The state machine of "fire once per breach": ok -> firing appends alert.fired,
        # firing -> ok appends alert.resolved, and staying put appends nothing. A window older
        # than the last one a check saw changes nothing (results can be evaluated late).
        query = select(_states).where(_states.c.monitor_id == monitor.id)
        if self.store.dialect == "postgresql":
            query = query.with_for_update()
        states = {r.check_name: r for r in conn.execute(query)}
        events: list[MonitorEventRecord] = []
        now = now_ms()
        for outcome in outcomes:
            if outcome.passed is None:
                continue
            state = states.get(outcome.check_name)
            if state is not None and window < state.last_window:
                continue
            firing = state is not None and state.state == "firing"
            kind = None
            if not outcome.passed and not firing:
                kind, new_state, since = "alert.fired", "firing", window
            elif outcome.passed and firing:
                kind, new_state, since = "alert.resolved", "ok", None
            else:
                new_state = "firing" if firing else "ok"
                since = state.since_window if state is not None else None
            values = {
                "state": new_state,
                "since_window": since,
                "last_window": window,
                "updated_at": now,
            }
            if state is None:
                conn.execute(
                    _states.insert().values(
                        monitor_id=monitor.id, check_name=outcome.check_name, **values
                    )
                )
            else:
                conn.execute(
                    update(_states)
                    .where(
                        _states.c.monitor_id == monitor.id,
                        _states.c.check_name == outcome.check_name,
                    )
                    .values(**values)
                )
            if kind is None:
                continue
            inserted = conn.execute(
                _events.insert().values(
                    monitor_id=monitor.id,
                    result_id=result_id,
                    kind=kind,
                    check_name=outcome.check_name,
                    window_start=window,
                    payload=outcome.payload,
                    deliveries=[],
                    created_at=now,
                )
            ).inserted_primary_key
            event_id = int(inserted[0]) if inserted is not None else 0
            self.store.audit_event(
                conn,
                f"monitor.{kind}",
                "monitor",
                monitor.name,
                {"check": outcome.check_name, "window_start": window, "event_id": int(event_id)},
            )
            events.append(
                MonitorEventRecord(
                    id=int(event_id),
                    monitor_id=monitor.id,
                    monitor_name=monitor.name,
                    result_id=result_id,
                    kind=kind,
                    check_name=outcome.check_name,
                    window_start=window,
                    payload=outcome.payload,
                    deliveries=[],
                    created_at=now,
                )
            )
        return events

    def list_results(
        self,
        monitor_id: str,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> list[MonitorResultRecord]:
        """Return a monitor's results with windows starting in ``[start, end)``, oldest first.

        With ``limit``, the newest ``limit`` of them (still oldest first).
        """
        query = select(_results).where(_results.c.monitor_id == monitor_id)
        if start is not None:
            query = query.where(_results.c.window_start >= start)
        if end is not None:
            query = query.where(_results.c.window_start < end)
        if limit is not None:
            query = query.order_by(_results.c.window_start.desc()).limit(limit)
        else:
            query = query.order_by(_results.c.window_start)
        with self.store._read() as conn:
            rows = conn.execute(query).all()
        records = [_to_result(r) for r in rows]
        return sorted(records, key=lambda r: r.window_start)

    def latest_results(self) -> list[tuple[MonitorRecord, MonitorResultRecord]]:
        """Return each monitor with its newest window result (monitors without one are left out)."""
        latest = (
            select(_results.c.monitor_id, func.max(_results.c.window_start).label("ws"))
            .group_by(_results.c.monitor_id)
            .subquery()
        )
        query = select(_results).join(
            latest,
            (_results.c.monitor_id == latest.c.monitor_id)
            & (_results.c.window_start == latest.c.ws),
        )
        with self.store._read() as conn:
            results = {r.monitor_id: _to_result(r) for r in conn.execute(query)}
            monitors = conn.execute(select(_monitors).order_by(_monitors.c.name)).all()
        return [(_to_monitor(m), results[m.id]) for m in monitors if m.id in results]

    def alert_states(self, monitor_id: str) -> list[AlertStateRecord]:
        """Return the alert state of every check of a monitor that has been evaluated."""
        with self.store._read() as conn:
            rows = conn.execute(
                select(_states)
                .where(_states.c.monitor_id == monitor_id)
                .order_by(_states.c.check_name)
            ).all()
        return [
            AlertStateRecord(r.check_name, r.state, r.since_window, r.last_window) for r in rows
        ]

    # -- events -----------------------------------------------------------------------------

    def set_deliveries(self, event_id: int, deliveries: list[dict[str, Any]]) -> None:
        """Record how the notifications of an event went."""
        with write_connection(self.store.engine) as conn:
            conn.execute(
                update(_events).where(_events.c.id == event_id).values(deliveries=deliveries)
            )
            failed = [d for d in deliveries if not d.get("ok")]
            self.store.audit_event(
                conn,
                "monitor.deliver",
                "monitor_event",
                str(event_id),
                {"targets": len(deliveries), "failed": len(failed)},
            )

    def list_events(
        self,
        monitor_id: str | None = None,
        since_id: int = 0,
        kind: str | None = None,
        limit: int = 1000,
    ) -> list[MonitorEventRecord]:
        """Return events with ids above ``since_id``, oldest first (a cursor for automation)."""
        query = (
            select(_events, _monitors.c.name.label("monitor_name"))
            .join(_monitors, _monitors.c.id == _events.c.monitor_id)
            .where(_events.c.id > since_id)
        )
        if monitor_id is not None:
            query = query.where(_events.c.monitor_id == monitor_id)
        if kind is not None:
            query = query.where(_events.c.kind == kind)
        with self.store._read() as conn:
            rows = conn.execute(query.order_by(_events.c.id).limit(limit)).all()
        return [
            MonitorEventRecord(
                id=int(r.id),
                monitor_id=r.monitor_id,
                monitor_name=r.monitor_name,
                result_id=r.result_id,
                kind=r.kind,
                check_name=r.check_name,
                window_start=r.window_start,
                payload=dict(r.payload or {}),
                deliveries=list(r.deliveries or []),
                created_at=r.created_at,
            )
            for r in rows
        ]


def _to_monitor(r: Any) -> MonitorRecord:
    return to_record(
        MonitorRecord,
        r,
        window_ms=int(r.window_ms),
        checks=list(r.checks or []),
        alerts=list(r.alerts or []),
    )


def _to_result(r: Any) -> MonitorResultRecord:
    return to_record(
        MonitorResultRecord,
        r,
        window_start=int(r.window_start),
        window_end=int(r.window_end),
        num_rows=int(r.num_rows),
        num_labeled=int(r.num_labeled),
        metrics=dict(r.metrics or {}),
        checks=list(r.checks or []),
    )
