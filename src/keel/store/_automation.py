"""Queries of the automation capability: policies, triggers, trigger events and the agent lease.

:class:`AutomationRepository` takes a :class:`~keel.store.SqlMetadataStore` and returns the plain
records defined here. Every change writes its audit event, its trigger event and its lineage
edges in the same transaction. Triggers are unique per cause, and each state change is a
compare-and-set on ``(status, step_index)``, so a policy evaluated twice (or by two agents)
acts once. The lease is taken with a conditional ``UPDATE`` (or an ``INSERT`` when there is no
row yet), which behaves the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from keel._utils import new_id, now_ms
from keel.errors import AlreadyExistsError, NotFoundError, near_matches
from keel.store._engine import write_connection
from keel.store._repo import Repository, to_record
from keel.store._schema_automation import (
    AutomationEventRow,
    AutomationLeaseRow,
    AutomationPolicyRow,
    AutomationTriggerRow,
)

__all__ = [
    "ACTIVE_STATUSES",
    "AutomationRepository",
    "Edge",
    "PolicyRecord",
    "TriggerEventRecord",
    "TriggerRecord",
]

_policies = cast(Table, AutomationPolicyRow.__table__)
_triggers = cast(Table, AutomationTriggerRow.__table__)
_events = cast(Table, AutomationEventRow.__table__)
_leases = cast(Table, AutomationLeaseRow.__table__)

#: Trigger states in which a trigger still has work to do (counted by ``max_concurrent``).
ACTIVE_STATUSES = ("training", "trained", "awaiting_approval", "rolling_out")

#: ``(source node, target node, relation)`` of a lineage edge.
Edge = tuple[tuple[str, str], tuple[str, str], str]


@dataclass(frozen=True)
class PolicyRecord:
    """A stored policy."""

    id: str
    name: str
    spec: dict[str, Any]
    cursor: dict[str, Any]
    enabled: bool
    created_at: int
    created_by: str
    updated_at: int


@dataclass(frozen=True)
class TriggerRecord:
    """A stored trigger of a policy."""

    id: str
    policy_id: str
    policy_name: str
    cause_kind: str
    cause_id: str
    status: str
    step_index: int
    step_started_at: int | None
    pipeline_run_id: str | None
    model_name: str | None
    challenger_version: int | None
    champion_version: int | None
    details: dict[str, Any]
    message: str
    created_at: int
    updated_at: int
    finished_at: int | None

    @property
    def active(self) -> bool:
        """Whether it still has work to do."""
        return self.status in ACTIVE_STATUSES


@dataclass(frozen=True)
class TriggerEventRecord:
    """One step in the life of a trigger."""

    id: int
    trigger_id: str
    kind: str
    details: dict[str, Any] = field(default_factory=dict)
    actor: str = ""
    created_at: int = 0


class AutomationRepository(Repository):
    """Automation policies and their triggers in the one metadata store.

    Args:
        store: The metadata store to read and write.
    """

    def _edge(self, conn: Connection, edge: Edge, now: int) -> None:
        source, target, relation = edge
        self._insert_edge(conn, source, target, relation, None, now)

    def _event(
        self, conn: Connection, trigger_id: str, kind: str, details: dict[str, Any], now: int
    ) -> None:
        conn.execute(
            _events.insert().values(
                trigger_id=trigger_id,
                kind=kind,
                details=details,
                actor=self.store.actor,
                created_at=now,
            )
        )
        self.store.audit_event(
            conn, f"automation.{kind}", "automation_trigger", trigger_id, details
        )

    # -- policies -------------------------------------------------------------------------

    def create_policy(
        self, name: str, spec: dict[str, Any], cursor: dict[str, Any], *, replace: bool = False
    ) -> PolicyRecord:
        """Store a policy (or replace the definition of one of that name, keeping its cursor).

        Raises:
            AlreadyExistsError: A policy of that name exists and ``replace`` is false.
        """
        now, actor = now_ms(), self.store.actor
        try:
            with write_connection(self.store.engine) as conn:
                row = conn.execute(select(_policies).where(_policies.c.name == name)).first()
                if row is not None:
                    if not replace:
                        raise AlreadyExistsError(
                            f"A policy named {name!r} exists already. Pass replace=True to "
                            "change its definition, or pick another name.",
                            details={"policy": name},
                        )
                    conn.execute(
                        update(_policies)
                        .where(_policies.c.id == row.id)
                        .values(spec=spec, updated_at=now, enabled=True)
                    )
                    policy_id, created_at, created_by = row.id, row.created_at, row.created_by
                    cursor = dict(row.cursor or {})
                    action = "automation.policy.update"
                else:
                    policy_id, created_at, created_by = new_id(), now, actor
                    conn.execute(
                        _policies.insert().values(
                            id=policy_id,
                            name=name,
                            spec=spec,
                            cursor=cursor,
                            enabled=True,
                            created_at=now,
                            created_by=actor,
                            updated_at=now,
                        )
                    )
                    action = "automation.policy.create"
                self.store.audit_event(conn, action, "automation_policy", name, spec)
        except SAIntegrityError as exc:
            raise AlreadyExistsError(
                f"A policy named {name!r} was created at the same time; try again.",
                details={"policy": name},
            ) from exc
        return PolicyRecord(policy_id, name, spec, cursor, True, created_at, created_by, now)

    def _not_found(self, conn: Connection, name: str) -> NotFoundError:
        names = [r[0] for r in conn.execute(select(_policies.c.name))]
        return NotFoundError(
            f"No policy named {name!r}.{near_matches(name, names)} List them with "
            "'keel policies ls'.",
            details={"policy": name},
        )

    def get_policy(self, name: str) -> PolicyRecord:
        """Return a policy by name (or id).

        Raises:
            NotFoundError: No such policy; near names are listed.
        """
        with self.store._read() as conn:
            row = conn.execute(
                select(_policies).where(or_(_policies.c.name == name, _policies.c.id == name))
            ).first()
            if row is None:
                raise self._not_found(conn, name)
        return _to_policy(row)

    def list_policies(self) -> list[PolicyRecord]:
        """Return every policy, by name."""
        with self.store._read() as conn:
            rows = conn.execute(select(_policies).order_by(_policies.c.name)).all()
        return [_to_policy(r) for r in rows]

    def set_enabled(self, name: str, enabled: bool) -> PolicyRecord:
        """Enable or disable a policy.

        Raises:
            NotFoundError: No such policy.
        """
        policy = self.get_policy(name)
        with write_connection(self.store.engine) as conn:
            conn.execute(
                update(_policies)
                .where(_policies.c.id == policy.id)
                .values(enabled=enabled, updated_at=now_ms())
            )
            self.store.audit_event(
                conn,
                "automation.policy." + ("enable" if enabled else "disable"),
                "automation_policy",
                policy.name,
                {},
            )
        return self.get_policy(name)

    def set_cursor(self, policy_id: str, cursor: dict[str, Any]) -> None:
        """Record where a policy has read its causes up to (no audit: bookkeeping only)."""
        with write_connection(self.store.engine) as conn:
            conn.execute(update(_policies).where(_policies.c.id == policy_id).values(cursor=cursor))

    # -- triggers -------------------------------------------------------------------------

    def create_trigger(
        self,
        policy: PolicyRecord,
        cause_kind: str,
        cause_id: str,
        *,
        status: str,
        message: str = "",
        details: dict[str, Any] | None = None,
        cursor: dict[str, Any] | None = None,
        edges: Sequence[Edge] = (),
        model_name: str | None = None,
    ) -> TriggerRecord | None:
        """Record a trigger of ``policy`` by one cause, with its event, audit and lineage.

        Returns ``None`` when that cause has triggered the policy already (the insert hits the
        unique index), so evaluating a cause twice records it once.
        """
        now = now_ms()
        trigger_id = new_id()
        details = dict(details or {})
        try:
            with write_connection(self.store.engine) as conn:
                conn.execute(
                    _triggers.insert().values(
                        id=trigger_id,
                        policy_id=policy.id,
                        cause_kind=cause_kind,
                        cause_id=cause_id,
                        status=status,
                        step_index=0,
                        step_started_at=None,
                        model_name=model_name,
                        details=details,
                        message=message,
                        created_at=now,
                        updated_at=now,
                        finished_at=None if status in ACTIVE_STATUSES else now,
                    )
                )
                if cursor is not None:
                    conn.execute(
                        update(_policies).where(_policies.c.id == policy.id).values(cursor=cursor)
                    )
                kind = "triggered" if status in ACTIVE_STATUSES else status
                self._event(
                    conn,
                    trigger_id,
                    kind,
                    {
                        "policy": policy.name,
                        "cause": f"{cause_kind}:{cause_id}",
                        "message": message,
                    },
                    now,
                )
                trigger_node = ("automation_trigger", trigger_id)
                self._edge(conn, (("automation_policy", policy.name), trigger_node, "policy"), now)
                for src, tgt, rel in edges:  # an empty target id means this trigger
                    self._edge(conn, (src, tgt if tgt[1] else trigger_node, rel), now)
        except SAIntegrityError:
            return None
        return self.get_trigger(trigger_id)

    def transition(
        self,
        trigger: TriggerRecord,
        *,
        event: str,
        event_details: dict[str, Any] | None = None,
        edges: Sequence[Edge] = (),
        **changes: Any,
    ) -> TriggerRecord | None:
        """Change a trigger if it is still as ``trigger`` says (status and step); else ``None``.

        The change, its event, audit event and lineage edges commit together. ``details``
        in ``changes`` is merged into the stored details.
        """
        now = now_ms()
        values = dict(changes)
        if "details" in values:
            values["details"] = {**trigger.details, **values["details"]}
        values["updated_at"] = now
        status = values.get("status", trigger.status)
        if status not in ACTIVE_STATUSES and trigger.status in ACTIVE_STATUSES:
            values["finished_at"] = now
        with write_connection(self.store.engine) as conn:
            result = conn.execute(
                update(_triggers)
                .where(
                    _triggers.c.id == trigger.id,
                    _triggers.c.status == trigger.status,
                    _triggers.c.step_index == trigger.step_index,
                )
                .values(**values)
            )
            if result.rowcount != 1:
                return None
            self._event(conn, trigger.id, event, dict(event_details or {}), now)
            for edge in edges:
                self._edge(conn, edge, now)
        return self.get_trigger(trigger.id)

    def _select(self) -> Any:
        return select(_triggers, _policies.c.name.label("policy_name")).join(
            _policies, _policies.c.id == _triggers.c.policy_id
        )

    def get_trigger(self, trigger_id: str) -> TriggerRecord:
        """Return a trigger by id (or a unique prefix of it).

        Raises:
            NotFoundError: No such trigger.
        """
        with self.store._read() as conn:
            rows = conn.execute(
                self._select().where(_triggers.c.id.startswith(trigger_id)).limit(2)
            ).all()
        if len(rows) != 1:
            raise NotFoundError(
                f"No trigger has id {trigger_id!r}"
                + (" (the prefix is ambiguous)" if rows else "")
                + ". List them with 'keel policies history POLICY'.",
                details={"trigger": trigger_id},
            )
        return _to_trigger(rows[0])

    def list_triggers(
        self,
        policy_id: str | None = None,
        *,
        statuses: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[TriggerRecord]:
        """Return triggers (of one policy, in some states), oldest first."""
        query = self._select()
        if policy_id is not None:
            query = query.where(_triggers.c.policy_id == policy_id)
        if statuses is not None:
            query = query.where(_triggers.c.status.in_(list(statuses)))
        query = query.order_by(_triggers.c.created_at.desc(), _triggers.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.store._read() as conn:
            rows = conn.execute(query).all()
        return [_to_trigger(r) for r in reversed(rows)]

    def last_started(self, policy_id: str) -> int | None:
        """When the policy last started a retraining (skipped causes do not count)."""
        with self.store._read() as conn:
            value = conn.execute(
                select(func.max(_triggers.c.created_at)).where(
                    _triggers.c.policy_id == policy_id, _triggers.c.status != "skipped"
                )
            ).scalar()
        return None if value is None else int(value)

    def list_events(self, trigger_id: str) -> list[TriggerEventRecord]:
        """Return a trigger's events, oldest first."""
        with self.store._read() as conn:
            rows = conn.execute(
                select(_events).where(_events.c.trigger_id == trigger_id).order_by(_events.c.id)
            ).all()
        return [
            TriggerEventRecord(
                int(r.id), r.trigger_id, r.kind, dict(r.details or {}), r.actor, int(r.created_at)
            )
            for r in rows
        ]

    # -- lease ----------------------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, ttl_ms: int, now: int | None = None) -> bool:
        """Take or renew lease ``name`` for ``holder`` until ``now + ttl_ms``.

        Succeeds when the lease is free, expired, or held by ``holder`` already: one
        conditional ``UPDATE``, then an ``INSERT`` if no row exists (a racing insert loses on
        the primary key). Returns whether ``holder`` holds it now.
        """
        now = now_ms() if now is None else now
        with write_connection(self.store.engine) as conn:
            result = conn.execute(
                update(_leases)
                .where(
                    _leases.c.name == name,
                    or_(_leases.c.holder == holder, _leases.c.expires_at < now),
                )
                .values(holder=holder, expires_at=now + ttl_ms)
            )
            if result.rowcount == 1:
                return True
            exists = conn.execute(select(_leases.c.name).where(_leases.c.name == name)).first()
            if exists is not None:
                return False
        try:
            with write_connection(self.store.engine) as conn:
                conn.execute(
                    _leases.insert().values(
                        name=name, holder=holder, acquired_at=now, expires_at=now + ttl_ms
                    )
                )
                self.store.audit_event(
                    conn, "automation.lease.acquire", "automation_lease", name, {"holder": holder}
                )
        except SAIntegrityError:
            return False
        return True

    def release_lease(self, name: str, holder: str) -> None:
        """Give up lease ``name`` if ``holder`` holds it, so another agent can take over now."""
        with write_connection(self.store.engine) as conn:
            conn.execute(
                update(_leases)
                .where(_leases.c.name == name, _leases.c.holder == holder)
                .values(expires_at=0)
            )

    def get_lease(self, name: str) -> tuple[str, int] | None:
        """Return ``(holder, expires_at)`` of lease ``name``, or ``None``."""
        with self.store._read() as conn:
            row = conn.execute(select(_leases).where(_leases.c.name == name)).first()
        return None if row is None else (row.holder, int(row.expires_at))


def _to_policy(r: Any) -> PolicyRecord:
    return to_record(
        PolicyRecord,
        r,
        spec=dict(r.spec or {}),
        cursor=dict(r.cursor or {}),
        enabled=bool(r.enabled),
        created_at=int(r.created_at),
        updated_at=int(r.updated_at),
    )


def _to_trigger(r: Any) -> TriggerRecord:
    return to_record(
        TriggerRecord,
        r,
        step_index=int(r.step_index),
        step_started_at=None if r.step_started_at is None else int(r.step_started_at),
        details=dict(r.details or {}),
        created_at=int(r.created_at),
        updated_at=int(r.updated_at),
        finished_at=None if r.finished_at is None else int(r.finished_at),
    )
