"""Automation: policies that retrain on alerts, schedules or new data, then promote safely.

::

    keel.automation.policy("retrain-churn",
        when=keel.automation.on_alert("churn-prod", checks=["data_drift", "performance"])
             | keel.automation.on_schedule("0 3 * * 1")
             | keel.automation.on_new_data("transactions"),
        run=training, params={"version": "latest"},
        promote=keel.automation.champion_challenger(metric="roc_auc",
            holdout="transactions@latest",
            rollout=keel.automation.canary([10, 50, 100], every="15m",
                rollback_if=["error_rate", "latency", "performance"])),
        cooldown="6h")

``keel agent`` evaluates policies (with schedules and monitors) under a lease in the metadata
store; :func:`evaluate_policies` does one evaluation. Every trigger, with its cause, pipeline
run, challenger, comparison, gate results, rollout steps and any rollback, is recorded as
trigger events, audit events and lineage edges (``keel policies history NAME``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from keel.automation._policy import (
    Canary,
    ChampionChallenger,
    Policy,
    Trigger,
    Triggers,
    canary,
    champion_challenger,
    on_alert,
    on_new_data,
    on_schedule,
    parse_duration,
)

if TYPE_CHECKING:
    from keel.automation._agent import LeasedAgent, run_agent
    from keel.automation._engine import (
        disable_policy,
        enable_policy,
        evaluate_policies,
        get_policy,
        get_trigger,
        list_policies,
        policy,
        policy_history,
        trigger_events,
    )

# The parts that open the metadata store load on first use.
_LAZY = {
    **dict.fromkeys(("LeasedAgent", "run_agent"), "keel.automation._agent"),
    **dict.fromkeys(
        (
            "disable_policy",
            "enable_policy",
            "evaluate_policies",
            "get_policy",
            "get_trigger",
            "list_policies",
            "policy",
            "policy_history",
            "trigger_events",
        ),
        "keel.automation._engine",
    ),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keel.automation' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Canary",
    "ChampionChallenger",
    "LeasedAgent",
    "Policy",
    "Trigger",
    "Triggers",
    "canary",
    "champion_challenger",
    "disable_policy",
    "enable_policy",
    "evaluate_policies",
    "get_policy",
    "get_trigger",
    "list_policies",
    "on_alert",
    "on_new_data",
    "on_schedule",
    "parse_duration",
    "policy",
    "policy_history",
    "run_agent",
    "trigger_events",
]
