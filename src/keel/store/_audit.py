"""The hash-chained audit log: appending events and verifying the chain."""

from __future__ import annotations

import hashlib
import json
from typing import Any, cast

from sqlalchemy import Table, select, text
from sqlalchemy.engine import Connection

from keel.store import _hot
from keel.store._schema import AuditEventRow
from keel.store.entities import AuditEvent, ChainVerification

GENESIS_HASH = "0" * 64
# Serializes audit appends on PostgreSQL so each event chains to exactly one predecessor;
# on SQLite, BEGIN IMMEDIATE already serializes writers.
_PG_AUDIT_LOCK = 0x6B65656C0002
_audit = cast(Table, AuditEventRow.__table__)


def event_hash(
    prev_hash: str,
    timestamp: int,
    actor: str,
    action: str,
    resource_kind: str,
    resource_id: str,
    details: dict[str, Any],
) -> str:
    """Hash an event's content together with its predecessor's hash."""
    payload = json.dumps(
        [prev_hash, timestamp, actor, action, resource_kind, resource_id, details],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


_PG_LOCK = text("SELECT pg_advisory_xact_lock(:k)")


def append_event(
    conn: Connection,
    *,
    timestamp: int,
    actor: str,
    action: str,
    resource_kind: str,
    resource_id: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one event inside the caller's transaction, chained to the latest one."""
    append_events(conn, [(timestamp, actor, action, resource_kind, resource_id, details)])


def append_events(
    conn: Connection,
    events: list[tuple[int, str, str, str, str, dict[str, Any] | None]],
) -> None:
    """Append events ``(timestamp, actor, action, kind, id, details)`` in order, in one go."""
    if not events:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(_PG_LOCK, {"k": _PG_AUDIT_LOCK})
    prev_hash = _hot.run(conn, "last_audit_hash", ()).scalar() or GENESIS_HASH
    rows = []
    for timestamp, actor, action, kind, ident, details in events:
        # Hash exactly what the JSON column will give back, so verification recomputes it.
        stored = json.loads(json.dumps(details or {}, default=str))
        digest = event_hash(prev_hash, timestamp, actor, action, kind, ident, stored)
        rows.append((timestamp, actor, action, kind, ident, json.dumps(stored), prev_hash, digest))
        prev_hash = digest
    _hot.run_many(conn, "insert_audit", rows)


def row_to_event(row: Any) -> AuditEvent:
    """Convert a row of ``audit_log`` into an :class:`AuditEvent`."""
    return AuditEvent(
        id=row.id,
        timestamp=row.timestamp,
        actor=row.actor,
        action=row.action,
        resource_kind=row.resource_kind,
        resource_id=row.resource_id,
        details=dict(row.details or {}),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def verify_chain(conn: Connection, batch: int = 5000) -> ChainVerification:
    """Recompute every hash in order and report the first event that does not match."""
    expected_prev = GENESIS_HASH
    checked = 0
    last_id = 0
    while True:
        rows = conn.execute(
            select(_audit).where(_audit.c.id > last_id).order_by(_audit.c.id).limit(batch)
        ).all()
        if not rows:
            return ChainVerification(ok=True, events_checked=checked)
        for row in rows:
            ev = row_to_event(row)
            if ev.prev_hash != expected_prev:
                return ChainVerification(
                    ok=False,
                    events_checked=checked,
                    first_bad_event_id=ev.id,
                    reason=f"event {ev.id} does not chain to the event before it "
                    "(an event was removed or reordered)",
                )
            recomputed = event_hash(
                ev.prev_hash,
                ev.timestamp,
                ev.actor,
                ev.action,
                ev.resource_kind,
                ev.resource_id,
                ev.details,
            )
            if recomputed != ev.hash:
                return ChainVerification(
                    ok=False,
                    events_checked=checked,
                    first_bad_event_id=ev.id,
                    reason=f"event {ev.id} ({ev.action} on {ev.resource_kind} "
                    f"{ev.resource_id!r}) was altered after it was written",
                )
            expected_prev = ev.hash
            checked += 1
            last_id = ev.id
