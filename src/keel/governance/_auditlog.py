"""Reading the audit log: searching events and verifying the hash chain.

Every change to the metadata store appends an event in the same transaction, chained to the
one before it by SHA-256 (see :mod:`keel.store._audit`). :func:`audit_log` searches the events
by time, actor, action and resource; :func:`verify_audit` recomputes the whole chain and names
the first event that was altered, removed or reordered.
"""

from __future__ import annotations

import datetime as dt
import re
import time

from keel.errors import InvalidArgumentError
from keel.store import AuditEvent, ChainVerification, SqlMetadataStore

__all__ = ["audit_log", "parse_since", "verify_audit"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_since(value: str | int | dt.datetime | None, *, now_ms: int | None = None) -> int | None:
    """Turn ``1d``, ``12h``, ``30m``, ``2w``, an ISO date or datetime, or epoch ms into epoch ms.

    Args:
        value: How far back: a duration (``s m h d w``), an ISO 8601 date or datetime (UTC if
            no zone is given), a datetime, or epoch milliseconds. ``None`` means no bound.
        now_ms: The current time for durations (defaults to now).

    Raises:
        InvalidArgumentError: The value is none of those.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp() * 1000)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            now = now_ms if now_ms is not None else int(time.time() * 1000)
            return now - int(float(match.group(1)) * _UNITS[match.group(2)] * 1000)
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return parse_since(parsed)
    raise InvalidArgumentError(
        f"Cannot read {value!r} as a point in time. Give a duration back from now ('30m', "
        "'12h', '1d', '2w'), an ISO date or datetime ('2026-11-01', '2026-11-01T08:00'), "
        "or epoch milliseconds."
    )


def _split_resource(resource: str | None) -> tuple[str | None, str | None]:
    if resource is None:
        return None, None
    kind, sep, ident = resource.partition(":")
    if not kind:
        raise InvalidArgumentError(
            f"Resource {resource!r} needs a kind: write 'kind' or 'kind:id', such as "
            "'model_version:churn/4' or 'run'."
        )
    return kind, (ident if sep else None)


def audit_log(
    since: str | int | dt.datetime | None = None,
    *,
    until: str | int | dt.datetime | None = None,
    actor: str | None = None,
    action: str | None = None,
    resource: str | None = None,
    limit: int = 100,
    store: SqlMetadataStore | None = None,
) -> list[AuditEvent]:
    """Return audit events, oldest first (the newest ``limit`` of those that match).

    Args:
        since: Only events at or after this time: ``"1d"``, ``"12h"``, an ISO date, ...
            (see :func:`parse_since`).
        until: Only events before this time.
        actor: Only events by this user.
        action: Only this action (``model_version.create``) or family of actions
            (``model_version`` matches every ``model_version.*``).
        resource: Only events on this resource: ``kind`` or ``kind:id``
            (``model_version:churn/4``, ``run:RUN_ID``).
        limit: The most events to return.
        store: The metadata store to read; the process's (:func:`keel.tracking.get_client`)
            by default. A server or the UI passes its own.

    Raises:
        InvalidArgumentError: A time, resource or limit that cannot be read.

    Examples:
        >>> for ev in keel.governance.audit_log("1d", action="model_version"):  # doctest: +SKIP
        ...     print(ev.actor, ev.action, ev.resource_id)
    """
    from keel.store._governance_reads import GovernanceReads

    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidArgumentError(f"limit must be a positive whole number, got {limit!r}.")
    kind, ident = _split_resource(resource)
    reads = GovernanceReads(_store(store))
    return reads.search_audit_events(
        since=parse_since(since),
        until=parse_since(until),
        actor=actor,
        action=action,
        resource_kind=kind,
        resource_id=ident,
        limit=limit,
    )


def verify_audit(*, store: SqlMetadataStore | None = None) -> ChainVerification:
    """Recompute the audit log's hash chain from the first event on.

    Args:
        store: The metadata store to check; the process's (:func:`keel.tracking.get_client`)
            by default. A server or the UI passes its own.

    Returns:
        ``ok`` and the number of events checked; when the chain is broken, the id of the first
        event that does not match (altered, or not chained to its predecessor because an event
        was removed or reordered) and why.

    Examples:
        >>> result = keel.governance.verify_audit()  # doctest: +SKIP
        >>> result.ok, result.first_bad_event_id  # doctest: +SKIP
        (True, None)
    """
    return _store(store).verify_audit_chain()


def _store(store: SqlMetadataStore | None) -> SqlMetadataStore:
    """``store``, or the process's metadata store."""
    if store is not None:
        return store
    from keel.tracking import get_client

    return get_client().store
