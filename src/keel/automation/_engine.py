"""Policy evaluation: turn causes into triggers, and move each trigger through its states.

A trigger's life (each arrow is a compare-and-set in the store with its event, audit event and
lineage edges, so re-evaluating never acts twice)::

    training -> trained -> [awaiting_approval] -> rolling_out (step 0..n) -> promoted
        |          |                                   |
        failed     rejected (loses to the champion,     rolled_back (canary unhealthy,
        (alert)    or a gate failed)                    promotion refused)

Causes that arrive during the cool-down or while ``max_concurrent`` triggers are in progress
are recorded as ``skipped``. The rollout state (step index, when the step started) lives in
the trigger row; each evaluation first makes the deployment match it, so an agent that died
mid-rollout is followed by one that resumes the rollout (or rolls it back) from the store.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from keel._utils import now_ms
from keel.automation import _rollout
from keel.automation._policy import (
    ChampionChallenger,
    Policy,
    Trigger,
    Triggers,
    build_spec,
)

if TYPE_CHECKING:
    from keel.store._automation import AutomationRepository, Edge, TriggerRecord

__all__ = [
    "disable_policy",
    "enable_policy",
    "evaluate_policies",
    "get_policy",
    "get_trigger",
    "list_policies",
    "policy",
    "policy_history",
    "trigger_events",
]

log = logging.getLogger("keel.automation")


def _repo() -> AutomationRepository:
    from keel.registry import get_registry
    from keel.store._automation import AutomationRepository

    return AutomationRepository(get_registry().store)


# -- defining ------------------------------------------------------------------------------


def policy(
    name: str,
    *,
    when: Trigger | Triggers,
    run: Any,
    params: dict[str, Any] | None = None,
    promote: ChampionChallenger | None = None,
    cooldown: str | int | float | dt.timedelta = "6h",
    max_concurrent: int = 1,
    approval: str = "auto",
    alerts: Sequence[Any] | None = None,
    replace: bool = False,
) -> Policy:
    """Define a policy: when it triggers, run a pipeline, then compare, gate and roll out.

    Args:
        name: The policy's unique name.
        when: :func:`on_alert`, :func:`on_schedule`, :func:`on_new_data`, combined with ``|``.
        run: The training pipeline (defined at the top level of a module) or its
            ``module:function``; it registers a model version (returns it, or its
            ``ModelInfo``, or just registers one while it runs).
        params: The pipeline's parameters.
        promote: :func:`champion_challenger`; ``None`` only retrains.
        cooldown: Least time between two retrainings; causes in between are recorded as
            skipped.
        max_concurrent: Most triggers in progress (training, waiting or rolling out) at once.
        approval: ``"auto"``, or ``"manual"``: promotion waits for ``keel models approve``.
        alerts: Where failures are reported (``keel.monitoring.log()`` by default).
        replace: Replace the definition of an existing policy of that name.

    Returns:
        The stored policy.

    Raises:
        InvalidArgumentError: A part is invalid.
        AlreadyExistsError: A policy of that name exists and ``replace`` is false.

    Examples:
        >>> import keel.automation as ka  # doctest: +SKIP
        >>> ka.policy("retrain", when=ka.on_new_data("tx"), run="pipes:training")  # doctest: +SKIP
    """
    from keel._utils import validate_key

    validate_key("policy", name)
    spec = build_spec(when, run, params, promote, cooldown, max_concurrent, approval, alerts)
    record = _repo().create_policy(name, spec, _initial_cursor(spec, now_ms()), replace=replace)
    return Policy.from_record(record)


def _latest_alert_id(before: int | None = None) -> int:
    """The id of the newest alert event (created before ``before``, if given)."""
    from keel.monitoring import list_events

    last = found = 0
    while True:
        events = list_events(since_id=last, limit=1000)
        if not events:
            return found
        last = events[-1].id
        found = max([found, *(e.id for e in events if before is None or e.created_at < before)])


def _latest_data_version(dataset: str) -> int:
    from keel.data import list_versions
    from keel.errors import NotFoundError

    try:
        versions = list_versions(dataset)
    except NotFoundError:
        return 0
    return max((v.number for v in versions), default=0)


def _initial_cursor(spec: dict[str, Any], now: int) -> dict[str, Any]:
    from keel.pipelines._schedule import next_fire_ms

    cursor: dict[str, Any] = {"alert": 0, "schedule": {}, "data": {}}
    alerts = [t for t in spec["when"] if t["kind"] == "alert"]
    if alerts:
        starts = [int(t["since"]) for t in alerts if t.get("since") is not None]
        cursor["alert"] = _latest_alert_id(min(starts) if starts else None)
    for i, t in enumerate(spec["when"]):
        if t["kind"] == "schedule":
            cursor["schedule"][str(i)] = next_fire_ms(t["cron"], t["timezone"], now)
        elif t["kind"] == "new_data":
            cursor["data"][t["dataset"]] = _latest_data_version(t["dataset"])
    return cursor


def get_policy(name: str) -> Policy:
    """Return a policy.

    Raises:
        NotFoundError: No policy has that name (near names are listed).
    """
    return Policy.from_record(_repo().get_policy(name))


def list_policies() -> list[Policy]:
    """Return every policy, by name."""
    return [Policy.from_record(r) for r in _repo().list_policies()]


def enable_policy(name: str) -> Policy:
    """Let the agent evaluate ``name`` again."""
    return Policy.from_record(_repo().set_enabled(name, True))


def disable_policy(name: str) -> Policy:
    """Stop the agent from evaluating ``name`` (triggers in progress stop where they are)."""
    return Policy.from_record(_repo().set_enabled(name, False))


def policy_history(name: str, *, limit: int | None = None) -> list[TriggerRecord]:
    """Return the triggers of a policy, oldest first (the newest ``limit`` if given).

    Raises:
        NotFoundError: No such policy.
    """
    repo = _repo()
    return repo.list_triggers(repo.get_policy(name).id, limit=limit)


def get_trigger(trigger_id: str) -> TriggerRecord:
    """Return a trigger by id (or unique id prefix)."""
    return _repo().get_trigger(trigger_id)


def trigger_events(trigger_id: str) -> list[Any]:
    """Return a trigger's events (started, compared, each rollout step, ...), oldest first."""
    repo = _repo()
    return repo.list_events(repo.get_trigger(trigger_id).id)


# -- causes --------------------------------------------------------------------------------


def _matches(trigger: dict[str, Any], event: Any) -> bool:
    if event.payload.get("deployment") != trigger["deployment"]:
        return False
    checks = trigger.get("checks")
    kinds = {event.check, str(event.payload.get("kind") or "")}
    return checks is None or bool(kinds & set(checks))


def _alert_causes(
    triggers: list[dict[str, Any]], cursor: dict[str, Any]
) -> list[tuple[str, str, list[Edge], dict[str, Any]]]:
    """New fired alerts that match any of the policy's alert triggers (read once for all)."""
    from keel.monitoring import list_events

    found = []
    since = int(cursor.get("alert") or 0)
    while True:
        events = list_events(since_id=since, kind="alert.fired", limit=500)
        if not events:
            break
        for event in events:
            since = max(since, event.id)
            if not any(_matches(t, event) for t in triggers):
                continue
            edges: list[Edge] = [
                (("alert", str(event.id)), ("automation_trigger", ""), "triggered")
            ]
            if event.result_id:
                edges.append(
                    (("monitor_result", event.result_id), ("automation_trigger", ""), "triggered")
                )
            info = {
                "monitor": event.monitor,
                "check": event.check,
                "deployment": event.payload.get("deployment"),
                "window_start": event.window_start,
            }
            found.append(("alert", str(event.id), edges, info))
    cursor["alert"] = since
    return found


def _schedule_causes(
    index: int, trigger: dict[str, Any], cursor: dict[str, Any], now: int
) -> list[tuple[str, str, list[Edge], dict[str, Any]]]:
    from keel.pipelines._schedule import next_fire_ms

    ticks = cursor.setdefault("schedule", {})
    due = ticks.get(str(index))
    if due is None:
        ticks[str(index)] = next_fire_ms(trigger["cron"], trigger["timezone"], now)
        return []
    if now < int(due):
        return []
    # Missed ticks while no agent ran fire once; the schedule continues from now.
    ticks[str(index)] = next_fire_ms(trigger["cron"], trigger["timezone"], now)
    return [("schedule", f"{trigger['cron']}@{int(due)}", [], {"tick": int(due)})]


def _data_causes(
    trigger: dict[str, Any], cursor: dict[str, Any]
) -> list[tuple[str, str, list[Edge], dict[str, Any]]]:
    dataset = trigger["dataset"]
    seen = int(cursor.setdefault("data", {}).get(dataset) or 0)
    latest = _latest_data_version(dataset)
    if latest <= seen:
        return []
    cursor["data"][dataset] = latest
    ref = f"{dataset}@v{latest}"
    return [
        (
            "new_data",
            ref,
            [(("dataset_version", ref), ("automation_trigger", ""), "triggered")],
            {"dataset_version": ref},
        )
    ]


def _detect(repo: AutomationRepository, policy: Policy, now: int) -> list[TriggerRecord]:
    cursor = {
        "alert": policy.cursor.get("alert", 0),
        "schedule": dict(policy.cursor.get("schedule") or {}),
        "data": dict(policy.cursor.get("data") or {}),
    }
    alerts = [t for t in policy.when if t["kind"] == "alert"]
    causes = _alert_causes(alerts, cursor) if alerts else []
    for i, t in enumerate(policy.when):
        if t["kind"] == "schedule":
            causes += _schedule_causes(i, t, cursor, now)
        elif t["kind"] == "new_data":
            causes += _data_causes(t, cursor)
    record = repo.get_policy(policy.id)
    made = []
    for kind, cause_id, edges, info in causes:
        status, message = "training", f"{kind} {cause_id}"
        last = repo.last_started(policy.id)
        active = repo.list_triggers(policy.id, statuses=_active())
        if last is not None and policy.cooldown_ms and now - last < policy.cooldown_ms:
            status = "skipped"
            message = f"cooling down until {_iso(last + policy.cooldown_ms)}"
        elif len(active) >= policy.max_concurrent:
            status = "skipped"
            message = (
                f"{len(active)} trigger(s) in progress (max_concurrent={policy.max_concurrent})"
            )
        trigger = repo.create_trigger(
            record,
            kind,
            cause_id,
            status=status,
            message=message,
            details={"cause": info},
            cursor=cursor,
            edges=edges,
            model_name=(policy.promote or {}).get("model"),
        )
        if trigger is not None:  # None: this cause triggered the policy already
            made.append(trigger)
    if cursor != policy.cursor:  # bookkeeping only: no write (and no audit) on a quiet tick
        repo.set_cursor(policy.id, cursor)
    return made


def _active() -> tuple[str, ...]:
    from keel.store._automation import ACTIVE_STATUSES

    return ACTIVE_STATUSES


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


# -- evaluation ----------------------------------------------------------------------------


def evaluate_policies(
    name: str | None = None, *, now: Callable[[], int] | int | None = None
) -> list[TriggerRecord]:
    """Evaluate policies once: record new triggers, and move every trigger in progress on.

    Safe to call repeatedly and from several processes: each cause triggers a policy once and
    each state change is a compare-and-set. ``keel agent`` calls this every few seconds.

    Args:
        name: Only this policy (all enabled policies by default).
        now: The current time in epoch milliseconds, or a function returning it (tests
            inject one); the clock by default.

    Returns:
        The triggers created or changed, as they are now.
    """
    if callable(now):
        clock: Callable[[], int] = now
    elif now is not None:
        fixed = int(now)
        clock = lambda: fixed  # noqa: E731
    else:
        clock = now_ms
    repo = _repo()
    policies = [get_policy(name)] if name is not None else list_policies()
    touched: dict[str, TriggerRecord] = {}
    for pol in policies:
        if not pol.enabled and name is None:
            continue
        try:
            for t in _detect(repo, pol, clock()):
                touched[t.id] = t
        except Exception as exc:  # one broken policy must not stop the others
            if name is not None:
                raise
            log.exception("policy %r: reading its causes failed: %s", pol.name, exc)
        for t in repo.list_triggers(pol.id, statuses=_active()):
            moved = _advance(repo, pol, t, clock)
            if moved is not None:
                touched[moved.id] = moved
    return [repo.get_trigger(i) for i in touched]


def _advance(
    repo: AutomationRepository, pol: Policy, trig: TriggerRecord, clock: Callable[[], int]
) -> TriggerRecord | None:
    changed = None
    for _ in range(len(_HANDLERS) + 8):
        handler = _HANDLERS.get(trig.status)
        if handler is None:
            break
        try:
            moved = handler(repo, pol, trig, clock)
        except Exception as exc:  # a step that fails ends the trigger, never the agent
            log.exception("policy %r trigger %s failed: %s", pol.name, trig.id[:8], exc)
            moved = _rollout.fail(repo, pol, trig, f"{type(exc).__name__}: {exc}")
        if moved is None or (moved.status == trig.status and moved.step_index == trig.step_index):
            break
        trig = changed = moved
    return changed


_HANDLERS: dict[str, Callable[..., TriggerRecord | None]] = {
    "training": _rollout.train,
    "trained": _rollout.compare,
    "awaiting_approval": _rollout.await_approval,
    "rolling_out": _rollout.roll,
}
