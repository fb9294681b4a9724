"""Policy definitions: when a policy triggers, what it runs, and how it promotes the result.

::

    keel.automation.policy("retrain-churn",
        when=on_alert("churn-prod", checks=["data_drift"]) | on_schedule("0 3 * * 1"),
        run=training, params={"version": "latest"},
        promote=champion_challenger(metric="roc_auc", holdout="transactions@latest",
            rollout=canary([10, 50, 100], every="15m")),
        cooldown="6h")

A policy is stored in the metadata store as JSON (see :func:`policy`); ``keel agent``
evaluates it (:mod:`keel.automation._engine`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keel.errors import InvalidArgumentError

__all__ = [
    "Canary",
    "ChampionChallenger",
    "Policy",
    "Trigger",
    "Triggers",
    "canary",
    "champion_challenger",
    "on_alert",
    "on_new_data",
    "on_schedule",
    "parse_duration",
]

#: What a canary can be rolled back for, with the default tolerance of each.
ROLLBACK_DEFAULTS: dict[str, float] = {
    "error_rate": 0.05,  # canary error rate above the champion's by more than this
    "latency": 1.5,  # canary p95 latency above this many times the champion's
    "performance": 0.05,  # canary accuracy on labelled predictions below the champion's by this
}


def parse_duration(value: str | int | float | dt.timedelta, name: str = "duration") -> int:
    """Return ``value`` (``"15m"``, ``"6h"``, ``"1s"``, seconds, a timedelta) in milliseconds.

    Examples:
        >>> parse_duration("15m")
        900000
        >>> parse_duration(2)
        2000

    Raises:
        InvalidArgumentError: Another form, or a negative length.
    """
    from keel.monitoring._monitors import parse_window

    if isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be a length such as '15m', got {value!r}.")
    if isinstance(value, (int, float)):
        if value < 0:
            raise InvalidArgumentError(f"{name} must not be negative, got {value!r}.")
        return int(value * 1000)
    if isinstance(value, str) and value.strip() in ("0", "0s"):
        return 0
    try:
        return parse_window(value)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(
            f"Invalid {name} {value!r}: use a number and a unit, such as '30s', '15m', '6h' or "
            "'1d'."
        ) from exc


@dataclass(frozen=True)
class Trigger:
    """One condition that starts a policy: an alert, a schedule tick or a new data version.

    Combine triggers with ``|``: the policy starts on any of them.
    """

    kind: str
    options: dict[str, Any] = field(default_factory=dict)

    def __or__(self, other: Trigger | Triggers) -> Triggers:
        """Either this trigger or ``other``."""
        return Triggers([self]) | other

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored with the policy."""
        return {"kind": self.kind, **self.options}


@dataclass(frozen=True)
class Triggers:
    """Any of several triggers."""

    items: list[Trigger]

    def __or__(self, other: Trigger | Triggers) -> Triggers:
        """Any of these triggers or ``other``."""
        if isinstance(other, Trigger):
            return Triggers([*self.items, other])
        if isinstance(other, Triggers):
            return Triggers([*self.items, *other.items])
        return NotImplemented


def on_alert(
    deployment: str,
    *,
    checks: Sequence[str] | None = None,
    since: dt.datetime | int | None = None,
) -> Trigger:
    """Trigger when a monitor of ``deployment`` fires an alert (of one of ``checks``).

    Args:
        deployment: The deployment whose monitors' alerts count.
        checks: Check names or kinds (``"data_drift"``, ``"performance"``,
            ``"error_rate"``); every alert by default.
        since: Also count alerts that fired from this time (a datetime or epoch
            milliseconds) until the policy was created; by default only alerts that fire
            after it count.
    """
    if not isinstance(deployment, str) or not deployment:
        raise InvalidArgumentError(f"on_alert needs a deployment name, got {deployment!r}.")
    names = None if checks is None else [str(c) for c in checks]
    if isinstance(since, dt.datetime):
        aware = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
        since = int(aware.timestamp() * 1000)
    elif since is not None and (isinstance(since, bool) or not isinstance(since, int)):
        raise InvalidArgumentError(
            f"since must be a datetime or epoch milliseconds, got {since!r}."
        )
    return Trigger("alert", {"deployment": deployment, "checks": names, "since": since})


def on_schedule(cron: str, *, timezone: str = "UTC") -> Trigger:
    """Trigger at each tick of the cron expression ``cron`` (``"0 3 * * 1"``), read in ``timezone``.

    Raises:
        InvalidArgumentError: The expression or zone is invalid.
    """
    from keel.pipelines import CronExpression
    from keel.pipelines._cron import parse_timezone

    CronExpression(cron)
    parse_timezone(timezone)
    return Trigger("schedule", {"cron": cron, "timezone": timezone})


def on_new_data(dataset: str) -> Trigger:
    """Trigger when dataset ``dataset`` gets a new version."""
    if not isinstance(dataset, str) or not dataset or "@" in dataset:
        raise InvalidArgumentError(
            f"on_new_data needs a dataset name without a version, such as 'transactions', got "
            f"{dataset!r}."
        )
    return Trigger("new_data", {"dataset": dataset})


@dataclass(frozen=True)
class Canary:
    """A rollout in steps: the challenger gets each percent of traffic for ``every``."""

    steps: list[float]
    every_ms: int
    rollback_if: dict[str, float]
    min_rows: int = 20

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored with the policy."""
        return {
            "steps": self.steps,
            "every_ms": self.every_ms,
            "rollback_if": self.rollback_if,
            "min_rows": self.min_rows,
        }


def canary(
    steps: Sequence[float] = (10, 50, 100),
    *,
    every: str | int | float | dt.timedelta = "15m",
    rollback_if: Sequence[str] | Mapping[str, float] = ("error_rate", "latency"),
    min_rows: int = 20,
) -> Canary:
    """Roll the challenger out through canary percentages, then make it the champion.

    Args:
        steps: Increasing percents of traffic; the last is 100 (promotion; added if missing).
        every: How long each step lasts before the next.
        rollback_if: What rolls back: ``"error_rate"``, ``"latency"``, ``"performance"``, or a
            mapping of them to tolerances (defaults: 0.05 more errors, 1.5 times the p95
            latency, 0.05 less accuracy than the champion on the same traffic).
        min_rows: Canary predictions needed before its health is judged.

    Raises:
        InvalidArgumentError: Steps not increasing within 0 to 100, or an unknown criterion.
    """
    values = [float(s) for s in steps]
    if not values or any(not 0 < v <= 100 for v in values) or values != sorted(set(values)):
        raise InvalidArgumentError(
            f"Canary steps must be increasing percents in (0, 100], such as [10, 50, 100], got "
            f"{list(steps)!r}."
        )
    if values[-1] != 100:
        values.append(100.0)
    criteria = (
        {str(k): float(v) for k, v in rollback_if.items()}
        if isinstance(rollback_if, Mapping)
        else {str(k): ROLLBACK_DEFAULTS.get(str(k), 0.0) for k in rollback_if}
    )
    unknown = sorted(set(criteria) - set(ROLLBACK_DEFAULTS))
    if unknown:
        raise InvalidArgumentError(
            f"Unknown rollback criteria {unknown!r}; use {sorted(ROLLBACK_DEFAULTS)!r}."
        )
    return Canary(values, parse_duration(every, "every"), criteria, int(min_rows))


@dataclass(frozen=True)
class ChampionChallenger:
    """Compare the new version with the champion on one holdout, then promote or not."""

    metric: str
    holdout: str | None
    target: str | None
    model: str | None
    alias: str
    deployment: str | None
    min_delta: float
    rollout: Canary | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored with the policy."""
        return {
            "kind": "champion_challenger",
            "metric": self.metric,
            "holdout": self.holdout,
            "target": self.target,
            "model": self.model,
            "alias": self.alias,
            "deployment": self.deployment,
            "min_delta": self.min_delta,
            "rollout": None if self.rollout is None else self.rollout.to_dict(),
        }


def champion_challenger(
    metric: str,
    *,
    holdout: str | None = None,
    target: str | None = None,
    model: str | None = None,
    alias: str = "champion",
    deployment: str | None = None,
    min_delta: float = 0.0,
    rollout: Canary | None = None,
) -> ChampionChallenger:
    """Promote the retrained version only if it beats the champion on the same holdout.

    Args:
        metric: The metric compared (``"roc_auc"``, ``"accuracy"``, ...).
        holdout: A dataset version (``"transactions@latest"``: the newest when compared);
            the registered model's holdout by default.
        target: The holdout's label column (the model holdout's, else ``"label"``).
        model: The registered model (the deployment's, or the one the pipeline registered).
        alias: The alias the winner takes.
        deployment: The deployment to roll out on (the alert's deployment by default).
        min_delta: How much better the challenger must be.
        rollout: A :func:`canary` rollout; without one the alias moves at once.

    Raises:
        InvalidArgumentError: An unknown metric.
    """
    from keel.registry._metrics import check_metric

    check_metric(metric)
    if rollout is not None and not isinstance(rollout, Canary):
        raise InvalidArgumentError(f"rollout must be made by canary(...), got {rollout!r}.")
    return ChampionChallenger(
        metric, holdout, target, model, alias, deployment, float(min_delta), rollout
    )


@dataclass(frozen=True)
class Policy:
    """A stored policy.

    Attributes:
        id: Its id.
        name: Its unique name.
        when: Its triggers, as JSON.
        target: The pipeline it runs (``module:function``).
        params: The pipeline's parameters.
        promote: How it promotes (JSON), or ``None`` to only retrain.
        cooldown_ms: Least time between two retrainings.
        max_concurrent: Most triggers in progress at once.
        approval: ``"auto"`` or ``"manual"`` (promotion waits for ``keel models approve``).
        alerts: Where failures and rollbacks are reported (alert targets as JSON).
        enabled: Whether the agent evaluates it.
        cursor: Where it has read its causes up to.
        created_at: When it was first defined.
    """

    id: str
    name: str
    when: list[dict[str, Any]]
    target: str
    params: dict[str, Any]
    promote: dict[str, Any] | None
    cooldown_ms: int
    max_concurrent: int
    approval: str
    alerts: list[dict[str, Any]]
    enabled: bool
    cursor: dict[str, Any]
    created_at: int

    @classmethod
    def from_record(cls, r: Any) -> Policy:
        """Build from a stored :class:`~keel.store._automation.PolicyRecord`."""
        s = r.spec
        return cls(
            id=r.id,
            name=r.name,
            when=list(s.get("when") or []),
            target=str(s["target"]),
            params=dict(s.get("params") or {}),
            promote=s.get("promote"),
            cooldown_ms=int(s.get("cooldown_ms") or 0),
            max_concurrent=int(s.get("max_concurrent") or 1),
            approval=str(s.get("approval") or "auto"),
            alerts=list(s.get("alerts") or []),
            enabled=r.enabled,
            cursor=dict(r.cursor),
            created_at=r.created_at,
        )


def build_spec(
    when: Trigger | Triggers,
    run: Any,
    params: Mapping[str, Any] | None,
    promote: ChampionChallenger | None,
    cooldown: str | int | float | dt.timedelta,
    max_concurrent: int,
    approval: str,
    alerts: Sequence[Any] | None,
) -> dict[str, Any]:
    """Check a policy's parts and return the JSON stored for it.

    Raises:
        InvalidArgumentError: A part is invalid (the message says which and how to fix it).
    """
    from keel.pipelines import Pipeline, load_pipeline

    triggers = (
        [when] if isinstance(when, Trigger) else when.items if isinstance(when, Triggers) else None
    )
    if not triggers:
        raise InvalidArgumentError(
            f"when= takes on_alert(...), on_schedule(...) or on_new_data(...), combined with '|'; "
            f"got {when!r}."
        )
    if isinstance(run, str):
        target, pipeline = run, load_pipeline(run)
    elif isinstance(run, Pipeline):
        found = run.target
        if found is None:
            raise InvalidArgumentError(
                f"Pipeline {run.name!r} cannot be run by the agent: it imports pipelines by "
                "module and name, and this one is defined in a script run as __main__ or inside "
                "a function. Define it at the top level of a module, or pass 'module:function'."
            )
        target, pipeline = found, run
    else:
        raise InvalidArgumentError(f"run= takes a pipeline or 'module:function', got {run!r}.")
    given = dict(params or {})
    pipeline.bind(given)
    try:
        json.dumps(given, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"Policy parameters must be plain JSON values; {exc}. Pass identifiers such as "
            "'transactions@latest' instead of objects."
        ) from exc
    if promote is not None and not isinstance(promote, ChampionChallenger):
        raise InvalidArgumentError(
            f"promote= takes champion_challenger(...) or None, got {promote!r}."
        )
    if approval not in ("auto", "manual"):
        raise InvalidArgumentError(
            f"approval must be 'auto' or 'manual' (wait for 'keel models approve'), got "
            f"{approval!r}."
        )
    if (
        isinstance(max_concurrent, bool)
        or not isinstance(max_concurrent, int)
        or max_concurrent < 1
    ):
        raise InvalidArgumentError(
            f"max_concurrent must be an integer of at least 1, got {max_concurrent!r}."
        )
    from keel.monitoring._alerts import LogAlert, WebhookAlert

    alert_list = list(alerts) if alerts is not None else []
    for a in alert_list:
        if not isinstance(a, (WebhookAlert, LogAlert)):
            raise InvalidArgumentError(
                f"alerts must be made by keel.monitoring.webhook() or log(), got {a!r}."
            )
    return {
        "when": [t.to_dict() for t in triggers],
        "target": target,
        "pipeline": pipeline.name,
        "params": given,
        "promote": None if promote is None else promote.to_dict(),
        "cooldown_ms": parse_duration(cooldown, "cooldown"),
        "max_concurrent": max_concurrent,
        "approval": approval,
        "alerts": [a.to_dict() for a in alert_list],
    }
